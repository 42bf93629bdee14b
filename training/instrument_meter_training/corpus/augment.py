"""Offline audio augmentation: synthetic-IR reverb, EQ, band-limiting, noise, level.

Every function takes the numpy Generator of its item, so a file depends only on (seed, item).
Each returns the processed audio and a dict of the parameters for the manifest.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from .sources import SAMPLE_RATE as SR


def reverb_ir(rng: np.random.Generator, rt60: float) -> np.ndarray:
    """Exponentially decaying noise with frequency-dependent damping (highs decay faster)."""
    n = int(rt60 * 1.1 * SR)
    t = np.arange(n) / SR
    noise = rng.standard_normal(n)
    low = signal.lfilter([0.15], [1, -0.85], noise)
    env_hi = np.exp(-6.91 * t / (rt60 * 0.5))
    env_lo = np.exp(-6.91 * t / rt60)
    ir = (noise - low) * env_hi + low * 3 * env_lo
    pre = int(rng.uniform(0.005, 0.03) * SR)  # pre-delay
    ir = np.concatenate([np.zeros(pre), ir])
    return ir / np.sqrt(np.sum(ir**2) + 1e-12)


def reverb(x: np.ndarray, rng: np.random.Generator, rt60=None, wet=None, ir=None):
    rt60 = float(rng.uniform(0.2, 2.2)) if rt60 is None else rt60
    wet = float(rng.uniform(0.05, 0.45)) if wet is None else wet
    ir = reverb_ir(rng, rt60) if ir is None else ir
    y = signal.fftconvolve(x, ir)[: len(x)]
    dry = np.sqrt(np.mean(x**2)) + 1e-12
    wr = np.sqrt(np.mean(y**2)) + 1e-12
    out = (1 - wet) * x + wet * y * (dry / wr)
    return out, {"rt60": round(rt60, 3), "wet": round(wet, 3)}


def _peaking(f0, gain_db, q):
    a = 10 ** (gain_db / 40)
    w = 2 * np.pi * f0 / SR
    al = np.sin(w) / (2 * q)
    b = [1 + al * a, -2 * np.cos(w), 1 - al * a]
    d = [1 + al / a, -2 * np.cos(w), 1 - al / a]
    return np.array(b) / d[0], np.array(d) / d[0]


def eq(x: np.ndarray, rng: np.random.Generator, max_db: float = 6.0):
    bands = []
    for _ in range(int(rng.integers(1, 4))):
        f0 = float(np.exp(rng.uniform(np.log(80), np.log(8000))))
        g = float(rng.uniform(-max_db, max_db))
        q = float(rng.uniform(0.5, 2.0))
        b, a = _peaking(f0, g, q)
        x = signal.lfilter(b, a, x)
        bands.append([round(f0), round(g, 2), round(q, 2)])
    return x, {"eq_bands": bands}


def bandlimit(x: np.ndarray, rng: np.random.Generator, p_low: float = 0.5, p_high: float = 0.3):
    info = {}
    if rng.random() < p_low:
        fc = float(rng.uniform(4000, 16000))
        sos = signal.butter(8, fc, "low", fs=SR, output="sos")
        x = signal.sosfilt(sos, x)
        info["lowpass_hz"] = round(fc)
    if rng.random() < p_high:
        fc = float(rng.uniform(40, 200))
        sos = signal.butter(2, fc, "high", fs=SR, output="sos")
        x = signal.sosfilt(sos, x)
        info["highpass_hz"] = round(fc)
    return x, info


def noise(x: np.ndarray, rng: np.random.Generator, p: float = 0.5):
    if rng.random() >= p:
        return x, {}
    snr = float(rng.uniform(25, 55))
    kind = "pink" if rng.random() < 0.5 else "white"
    n = rng.standard_normal(len(x))
    if kind == "pink":
        n = signal.lfilter(
            [0.049922035, -0.095993537, 0.050612699, -0.004408786],
            [1, -2.494956002, 2.017265875, -0.522189400],
            n,
        )
    px = np.mean(x**2) + 1e-12
    n *= np.sqrt(px / (np.mean(n**2) + 1e-12) / 10 ** (snr / 10))
    return x + n, {"noise": kind, "snr_db": round(snr, 1)}


def level(x: np.ndarray, rng: np.random.Generator, lo_db: float = -14.0, hi_db: float = -1.0):
    peak_db = float(rng.uniform(lo_db, hi_db))
    peak = np.max(np.abs(x)) + 1e-12
    return x * (10 ** (peak_db / 20) / peak), {"peak_dbfs": round(peak_db, 2)}


def frame_db(x: np.ndarray, frame: int = 2048, hop: int = 1024) -> np.ndarray:
    if len(x) < frame:
        x = np.pad(x, (0, frame - len(x)))
    n = 1 + (len(x) - frame) // hop
    idx = np.arange(frame)[None, :] + hop * np.arange(n)[:, None]
    rms = np.sqrt(np.mean(x[idx] ** 2, axis=1) + 1e-20)
    return 20 * np.log10(rms)


def active_fraction(x: np.ndarray, rel_db: float = 35.0, floor_db: float = -65.0) -> float:
    """Fraction of frames within rel_db of the loudest frame and above an absolute floor."""
    d = frame_db(x)
    return float(np.mean((d > d.max() - rel_db) & (d > floor_db)))


def rms_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.asarray(x, np.float64) ** 2) + 1e-20))
