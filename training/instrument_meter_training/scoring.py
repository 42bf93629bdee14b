"""Scoring audio with fold models: where models run, window logits, clip scores (mean of the window
sigmoids, a silent window scoring 0 and not run, as the Rust runtime does) and validation metrics."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from .data import cut_windows, load_audio, rms, silence_floor
from .dataset import ValSet, normalize
from .metrics import f1_scores, lrap


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        return torch.device("cuda", local_rank)
    return torch.device(name)


def scoring_device(device: str, engine: str) -> torch.device:
    """Where the fold models' inputs and outputs live: ONNX Runtime runs on the CPU."""
    return torch.device("cpu") if engine == "onnxruntime" else pick_device(device)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(logits, np.float64)))


def prepared_windows(x: np.ndarray, window: int, hop: int | None, how: str) -> tuple[np.ndarray, np.ndarray]:
    """What the model sees of decoded mono audio: windows ``[n, window]`` (normalised) and which
    are silent (below the silence floor before normalisation)."""
    w = cut_windows(x, window, hop)
    return normalize(w, how), rms(w, axis=-1) < silence_floor()


def predict_windows(model: nn.Module, windows: np.ndarray, silent: np.ndarray, device, batch: int = 256):
    """Logits of the non-silent windows (``nan`` rows for silent ones) in eval mode."""
    model.eval()
    idx = np.flatnonzero(~silent)
    chunks = []
    with torch.no_grad():
        for s in range(0, len(idx), batch):
            xb = torch.from_numpy(windows[idx[s : s + batch]][:, None, :]).to(device)
            chunks.append(model(xb).float().cpu().numpy())
    logits = np.concatenate(chunks) if chunks else None
    ncls = logits.shape[1] if logits is not None else 0
    out = np.full((len(windows), ncls), np.nan, np.float32)
    if logits is not None:
        out[idx] = logits
    return out


def clip_scores(window_probs: np.ndarray, window_clip: np.ndarray, n_clips: int) -> np.ndarray:
    """Mean of window probabilities per clip, silent windows (nan) counting as 0."""
    p = np.nan_to_num(window_probs, nan=0.0)
    sums = np.zeros((n_clips, p.shape[1]), np.float64)
    np.add.at(sums, window_clip, p)
    counts = np.bincount(window_clip, minlength=n_clips)[:, None]
    return (sums / np.maximum(counts, 1)).astype(np.float32)


def score_clips(models, paths, cfg, device, hop=None, cache_dir=None, chunk_windows: int = 1024):
    """Clip scores ``[models, clips, classes]`` of audio files (``cfg``: a ``TrainConfig``)."""
    out = np.zeros((len(models), len(paths), len(cfg.labels)), np.float32)
    buf_w, buf_s, buf_c, first = [], [], [], 0

    def flush(upto):
        nonlocal buf_w, buf_s, buf_c, first
        if not buf_w:
            return
        w, s, c = np.concatenate(buf_w), np.concatenate(buf_s), np.concatenate(buf_c) - first
        for m_i, m in enumerate(models):
            out[m_i, first:upto] = clip_scores(sigmoid(predict_windows(m, w, s, device)), c, upto - first)
        buf_w, buf_s, buf_c, first = [], [], [], upto

    n_buf = 0
    for j, p in enumerate(tqdm(paths, desc="test clips", leave=False, disable=len(paths) < 50)):
        w, s = prepared_windows(load_audio(p, cfg.sample_rate, cache_dir), cfg.window_samples, hop,
                                cfg.augment.normalize)  # fmt: skip
        buf_w.append(w)
        buf_s.append(s)
        buf_c.append(np.full(len(w), j))
        n_buf += len(w)
        if n_buf >= chunk_windows:
            flush(j + 1)
            n_buf = 0
    flush(len(paths))
    return out


def validate(model: nn.Module, val: ValSet, device) -> dict:
    """Validation loss (non-silent windows), clip LRAP and F1 at 0.5, and the clip scores."""
    logits = predict_windows(model, val.windows, val.silent, device)
    ok = ~val.silent
    z, y = torch.from_numpy(logits[ok]), torch.from_numpy(val.window_targets[ok])
    loss = float(nn.functional.binary_cross_entropy_with_logits(z, y).item()) if ok.any() else math.nan
    clips = clip_scores(sigmoid(logits), val.window_clip, len(val.clip_targets))
    f = f1_scores(val.clip_targets, clips >= 0.5)
    return {
        "val_loss": loss,
        "val_lrap": lrap(val.clip_targets, clips),
        "val_f1_micro@0.5": f["f1_micro"],
        "val_f1_macro@0.5": f["f1_macro"],
        "clip_scores": clips,
    }
