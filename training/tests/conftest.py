"""Shared fixtures: a tiny fake IRMAS tree of synthetic tones, one timbre per class.

Training: ``IRMAS-TrainingData/<cls>/<song>[<cls>][<dru|nod>][<genre>]<n>__<k>.wav`` (some without
tags, some with an empty song prefix, some 44.1 kHz stereo and some 22.05 kHz mono, 16-bit).
Test: ``IRMAS-TestingData-Part{1,2,3}/<sub>/<clip>.wav`` + ``.txt`` (labels with trailing whitespace).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from instrument_meter_training import LABELS

SOURCES_PER_CLASS = 3
EXCERPTS_PER_SOURCE = 2


def tone(cls_index: int, seconds: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """A note sequence whose harmonic profile, vibrato and envelope depend on the class."""
    n = int(seconds * sr)
    t = np.arange(n) / sr
    f0 = 110.0 * 2 ** ((cls_index * 3 + rng.integers(0, 5)) / 12)
    out = np.zeros(n)
    n_harm = 1 + (cls_index % 6) * 2
    for h in range(1, n_harm + 1):
        amp = (1.0 / h) ** (0.5 + 0.25 * (cls_index % 4))
        if cls_index % 3 == 0 and h % 2 == 0:  # odd harmonics only (clarinet-like)
            continue
        vib = 1 + 0.004 * np.sin(2 * np.pi * (4 + cls_index % 3) * t) * (cls_index % 2)
        out += amp * np.sin(2 * np.pi * f0 * h * vib * t + rng.uniform(0, 2 * np.pi))
    period = 0.25 + 0.05 * (cls_index % 5)
    phase = (t % period) / period
    env = np.exp(-phase * (1 + 6 * (cls_index % 4))) if cls_index % 2 else np.minimum(1, phase * 10)
    out *= env
    out += 0.01 * rng.standard_normal(n)
    return (0.3 * out / (np.max(np.abs(out)) + 1e-9)).astype(np.float32)


def _write(path: Path, x: np.ndarray, sr: int, stereo: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.stack([x, 0.9 * x], axis=1) if stereo else x
    sf.write(str(path), data, sr, subtype="PCM_16")


def make_fake_irmas(root: Path, seed: int = 0, test_clips: int = 12) -> tuple[Path, Path]:
    rng = np.random.default_rng(seed)
    train = root / "IRMAS-TrainingData"
    genres = ["cla", "pop_roc", "jaz_blu", ""]
    for c, cls in enumerate(LABELS):
        for s in range(SOURCES_PER_CLASS):
            song = f"{c:02d}{s}__" if (c + s) % 5 else ""  # some names have no song prefix
            num = 100 * c + s
            for k in range(1, EXCERPTS_PER_SOURCE + 1):
                tags = f"[{cls}]"
                if s % 3 != 2:
                    tags += "[dru]" if s % 2 else "[nod]"
                if genres[(c + s) % 4]:
                    tags += f"[{genres[(c + s) % 4]}]"
                stereo = (c + s + k) % 2 == 0
                sr = 44100 if stereo else 22050
                _write(train / cls / f"{song}{tags}{num:04d}__{k}.wav", tone(c, 3.0, sr, rng), sr, stereo)
    for j in range(test_clips):
        part = root / "test" / f"IRMAS-TestingData-Part{j % 3 + 1}" / f"Part{j % 3 + 1}"
        k = 1 + j % 3
        classes = sorted(rng.choice(len(LABELS), size=k, replace=False).tolist())
        secs = 2.0 + (j % 3) * 0.75
        x = sum(tone(c, secs, 44100, rng) for c in classes) / k
        if j == 0:
            x[:44100] = 0.0  # one silent second
        _write(part / f"clip {j:02d} - song.wav", x, 44100, True)
        (part / f"clip {j:02d} - song.txt").write_text("".join(f"{LABELS[c]} \t\n" for c in classes) + "\n")
    return train, root / "test"


@pytest.fixture(scope="session")
def fake_irmas(tmp_path_factory) -> tuple[Path, Path]:
    """(training folder, test root holding the Part folders)."""
    return make_fake_irmas(tmp_path_factory.mktemp("irmas"))


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


def make_untrained_run(
    run_dir: Path, arch: str, data: Path, cache: Path, folds: int = 2, seed: int = 0
) -> Path:
    """A run directory as `train` leaves it, with untrained fold models (fast export tests)."""
    import json

    import torch

    from instrument_meter_training.models import build_model
    from instrument_meter_training.runs import TrainConfig

    cfg = TrainConfig(data=str(data), arch=arch, folds=folds, cache_dir=str(cache), seed=seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(cfg.to_json()))
    for k in range(folds):
        torch.manual_seed(seed + k)
        m = build_model(arch, len(cfg.labels)).eval()
        d = run_dir / f"fold{k}"
        d.mkdir(exist_ok=True)
        torch.save({"model": m.state_dict(), "epoch": 0, "val_loss": 0.5 + k}, d / "best.pt")
        done = {
            "fold": k, "best_epoch": 0, "val_loss": 0.5 + k, "val_lrap": 0.5, "val_f1_micro": 0.4,
            "val_f1_macro": 0.3, "thresholds": [0.3 + 0.01 * i for i in range(len(cfg.labels))],
        }  # fmt: skip
        (d / "done.json").write_text(json.dumps(done))
    return run_dir
