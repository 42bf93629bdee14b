"""Training and validation sets built from decoded excerpts: 1-s crops, on-the-fly mixing
(Kratimenos et al. 2020: sum of 2–3 single-label excerpts of different classes, union of labels,
random gains), cheap waveform augmentations and per-window RMS normalisation.

Every random draw of item ``i`` in epoch ``e`` comes from ``numpy.random.default_rng((seed, e, i))``,
so a run is reproducible whatever the number of loader workers or ranks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from . import SAMPLE_RATE, WINDOW_SAMPLES
from .augment import draw_pitch_ratio, identity_augment, pitch_shift, segment_length
from .data import cut_windows, fit_length, rms, rms_normalize, silence_floor


@dataclass
class AugmentConfig:
    mix_prob: float = 0.5  # probability that an item is a mixture (0 disables mixing)
    mix_max_sources: int = 3  # mixtures hold 2..mix_max_sources sources of different classes
    mix_gain_db: float = 9.0  # each mixed source gets a gain uniform in [-mix_gain_db, 0] dB
    wave_prob: float = 0.5  # probability of the cheap waveform augmentations per item
    gain_db: float = 12.0  # random gain uniform in [-gain_db, +gain_db/2] dB
    noise_snr_db: tuple[float, float] = (20.0, 60.0)  # additive white noise SNR range
    eq_prob: float = 0.0  # probability of a random EQ / band-limit (0 disables)
    normalize: str = "rms"  # "rms" or "none"
    # domain generalisation aimed at recording identity (augment.py), per source, each 0 = off
    pitch_prob: float = 0.0  # pitch shift by resampling, uniform in ±pitch_semitones
    pitch_semitones: float = 2.0
    envelope_prob: float = 0.0  # smooth random spectral envelope (±envelope_db over log frequency)
    envelope_db: float = 6.0
    reverb_prob: float = 0.0  # convolution with a synthetic room response (RT60 0.2-1.2 s)
    compress_prob: float = 0.0  # dynamic-range compression (ratio 2-8, threshold 0-20 dB under RMS)
    distort_prob: float = 0.0  # amp-style soft clipping, only for the distort_classes items
    distort_classes: tuple[int, ...] = (4,)  # class indices (default: gel, electric guitar)
    codec_prob: float = 0.0  # low-pass 3-8 kHz + 8-bit mu-law round trip
    cross_family_mix: bool = False  # mixture partners from other recording families than the item


def random_eq(x: np.ndarray, rng: np.random.Generator, sr: int = SAMPLE_RATE) -> np.ndarray:
    """A random smooth spectral curve: low-pass band-limit (2.5–10 kHz), tilt, or one peaking band."""
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(len(x), 1.0 / sr)
    kind = rng.integers(3)
    if kind == 0:  # band-limit (e.g. MBROLA voices stop near 5.5 kHz)
        fc = rng.uniform(2500.0, 10000.0)
        g = 1.0 / np.sqrt(1.0 + (f / fc) ** 8)
    elif kind == 1:  # tilt, ±6 dB per octave around 1 kHz, bounded
        slope = rng.uniform(-6.0, 6.0)
        db = np.clip(slope * np.log2(np.maximum(f, 20.0) / 1000.0), -18.0, 18.0)
        g = 10.0 ** (db / 20.0)
    else:  # peaking band
        fc = np.exp(rng.uniform(np.log(100.0), np.log(8000.0)))
        q = rng.uniform(0.5, 2.0)
        db = rng.uniform(-12.0, 12.0)
        g = 10.0 ** (db * np.exp(-0.5 * (np.log2(np.maximum(f, 1.0) / fc) * q * 2) ** 2) / 20.0)
    return np.fft.irfft(spec * g, n=len(x)).astype(np.float32)


def wave_augment(x: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    if rng.random() < 0.5:
        x = -x
    x = x * np.float32(10.0 ** (rng.uniform(-cfg.gain_db, cfg.gain_db / 2) / 20.0))
    if cfg.eq_prob > 0 and rng.random() < cfg.eq_prob:
        x = random_eq(x, rng)
    if rng.random() < 0.5:
        snr = rng.uniform(*cfg.noise_snr_db)
        level = float(rms(x)) * 10.0 ** (-snr / 20.0)
        x = x + rng.standard_normal(len(x)).astype(np.float32) * np.float32(level)
    return x.astype(np.float32, copy=False)


def normalize(x: np.ndarray, how: str) -> np.ndarray:
    return rms_normalize(x) if how == "rms" else x.astype(np.float32, copy=False)


class TrainSet(Dataset):
    """Items are 1-s windows of single-label excerpts, optionally mixed and augmented.

    ``crop="random"``: each epoch draws ``crops_per_excerpt`` random 1-s crops per excerpt (cheap
    epochs, see DESIGN.md's compute budget). ``crop="windows"``: every non-overlapping, non-silent
    1-s window of every excerpt (the paper's setting).
    """

    def __init__(
        self,
        audio: list[np.ndarray],
        labels: np.ndarray,
        num_classes: int,
        aug: AugmentConfig,
        crop: str = "random",
        crops_per_excerpt: int = 1,
        seed: int = 0,
        window: int = WINDOW_SAMPLES,
        augment: bool = True,
        families: list[str] | None = None,
    ):
        self.audio = [fit_length(a, window) if len(a) < window else a for a in audio]
        self.families = list(families) if families is not None else None
        self.labels = np.asarray(labels, np.int64)
        self.num_classes = num_classes
        self.aug = aug
        self.crop = crop
        self.seed = seed
        self.window = window
        self.augment = augment
        self.epoch = 0
        self.floor = silence_floor()
        self.by_class = {c: np.flatnonzero(self.labels == c) for c in range(num_classes)}
        self.by_class = {c: v for c, v in self.by_class.items() if len(v)}
        self._other_family: dict[tuple[int, str], np.ndarray] = {}
        if crop == "random":
            self.items = [(e, -1) for e in range(len(self.audio)) for _ in range(crops_per_excerpt)]
        elif crop == "windows":
            self.items = []
            for e, a in enumerate(self.audio):
                for k in range(max(1, len(a) // window)):
                    seg = a[k * window : (k + 1) * window]
                    if rms(seg) >= self.floor:
                        self.items.append((e, k * window))
            if not self.items:
                raise ValueError("every training window is silent")
        else:
            raise ValueError(f"unknown crop mode {crop!r}")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.items)

    def _crop(
        self, e: int, rng: np.random.Generator, offset: int = -1, length: int | None = None
    ) -> np.ndarray:
        a, n = self.audio[e], length or self.window
        if len(a) < n:
            a = fit_length(a, n)
        if offset >= 0:
            return fit_length(a[offset : offset + n], n)
        seg = a[:n]
        for _ in range(4):  # avoid silent crops where the excerpt has sound elsewhere
            o = int(rng.integers(0, len(a) - n + 1))
            seg = a[o : o + n]
            if rms(seg) >= self.floor:
                break
        return seg

    def _source(self, e: int, rng: np.random.Generator, offset: int = -1) -> np.ndarray:
        """A crop of excerpt ``e`` with the recording-identity augmentations (augment.py) that are
        switched on: pitch shift (a longer or shorter crop resampled to the window), then the
        others. With every switch off, exactly ``_crop``."""
        a = self.aug
        if not self.augment:
            return self._crop(e, rng, offset)
        if a.pitch_prob > 0 and rng.random() < a.pitch_prob:
            ratio = draw_pitch_ratio(rng, a.pitch_semitones)
            x = pitch_shift(
                self._crop(e, rng, offset, segment_length(self.window, ratio)), ratio, self.window
            )
        else:
            x = self._crop(e, rng, offset)
        return identity_augment(np.asarray(x, np.float32), rng, a, int(self.labels[e]))

    def _partner(self, c: int, e: int, rng: np.random.Generator) -> int:
        """A random excerpt of class ``c`` to mix with item ``e`` (with ``cross_family_mix``: of
        another recording family than ``e``'s where the class has one)."""
        if self.aug.cross_family_mix and self.families is not None:
            key = (c, self.families[e])
            if key not in self._other_family:
                members = self.by_class[c]
                others = np.array([i for i in members if self.families[i] != self.families[e]], np.int64)
                self._other_family[key] = others if len(others) else members
            return int(rng.choice(self._other_family[key]))
        return int(rng.choice(self.by_class[c]))

    def __getitem__(self, i: int):
        e, offset = self.items[i]
        rng = np.random.default_rng((self.seed, self.epoch, i))
        x = self._source(e, rng, offset)
        y = np.zeros(self.num_classes, np.float32)
        y[self.labels[e]] = 1.0
        if (
            self.augment
            and self.aug.mix_prob > 0
            and len(self.by_class) > 1
            and rng.random() < self.aug.mix_prob
        ):
            n_src = int(rng.integers(2, max(2, self.aug.mix_max_sources) + 1))
            others = [c for c in self.by_class if c != self.labels[e]]
            picks = rng.choice(others, size=min(n_src - 1, len(others)), replace=False)
            g = self.aug.mix_gain_db
            x = rms_normalize(x) * np.float32(10 ** (rng.uniform(-g, 0) / 20))
            for c in picks:
                o = self._partner(int(c), e, rng)
                s = rms_normalize(self._source(o, rng))
                x = x + s * np.float32(10 ** (rng.uniform(-g, 0) / 20))
                y[int(c)] = 1.0
        if self.augment and self.aug.wave_prob > 0 and rng.random() < self.aug.wave_prob:
            x = wave_augment(np.array(x, np.float32), rng, self.aug)
        x = normalize(np.asarray(x, np.float32), self.aug.normalize)
        return torch.from_numpy(np.ascontiguousarray(x)[None, :]), torch.from_numpy(y)


@dataclass
class ValSet:
    """Fixed validation windows, grouped into clips for clip-level (mean of windows) predictions.

    Clean excerpts plus, when ``n_mix > 0``, deterministic mixtures of 2–3 excerpts of different
    classes, so that thresholds are chosen on polyphonic material as well.
    """

    windows: np.ndarray  # [n, window] normalised
    silent: np.ndarray  # [n] bool: windows below the silence floor (score 0, excluded from loss)
    window_clip: np.ndarray  # [n] clip index of each window
    clip_targets: np.ndarray  # [clips, classes]

    @property
    def window_targets(self) -> np.ndarray:
        return self.clip_targets[self.window_clip]

    @classmethod
    def build(
        cls,
        audio: list[np.ndarray],
        labels: np.ndarray,
        num_classes: int,
        normalize_how: str = "rms",
        mix_fraction: float = 0.5,
        mix_max_sources: int = 3,
        seed: int = 0,
        window: int = WINDOW_SAMPLES,
    ) -> ValSet:
        floor = silence_floor()
        labels = np.asarray(labels)
        clips: list[tuple[np.ndarray, np.ndarray]] = []
        for a, c in zip(audio, labels):
            y = np.zeros(num_classes, np.float32)
            y[c] = 1.0
            clips.append((a, y))
        rng = np.random.default_rng((seed, 424242))
        classes = sorted(set(labels.tolist()))
        n_mix = int(round(mix_fraction * len(audio))) if len(classes) > 1 else 0
        for _ in range(n_mix):
            n_src = int(rng.integers(2, max(2, mix_max_sources) + 1))
            cs = rng.choice(classes, size=min(n_src, len(classes)), replace=False)
            srcs = [int(rng.choice(np.flatnonzero(labels == c))) for c in cs]
            n = max(window, min(len(audio[s]) for s in srcs))
            x = np.zeros(n, np.float32)
            y = np.zeros(num_classes, np.float32)
            for s in srcs:
                a = fit_length(audio[s], n)
                x += a / max(float(rms(a)), 1e-8) * np.float32(10 ** (rng.uniform(-9, 0) / 20))
                y[labels[s]] = 1.0
            clips.append((x, y))
        wins, clip_of = [], []
        for j, (a, _) in enumerate(clips):
            w = cut_windows(a, window)
            wins.append(w)
            clip_of.append(np.full(len(w), j))
        windows = np.concatenate(wins)
        silent = rms(windows, axis=-1) < floor
        windows = normalize(windows, normalize_how)
        return cls(windows, silent, np.concatenate(clip_of), np.stack([y for _, y in clips]))
