"""Pitch of a steady tone, for the corpus engine tests."""

from __future__ import annotations

import numpy as np

SR = 44100


def f0(x: np.ndarray, lo: float = 100.0, hi: float = 2000.0) -> float:
    """Fundamental of a steady tone by normalised autocorrelation (first peak above 0.8 of the max)."""
    x = x - x.mean()
    n = len(x)
    ac = np.fft.irfft(np.abs(np.fft.rfft(x, 2 * n)) ** 2)[:n]
    ac /= ac[0]
    a, b = int(SR / hi), int(SR / lo)
    seg = ac[a:b]
    lag = a + int(np.argmax(seg > 0.8 * seg.max()))
    while lag + 1 < b and ac[lag + 1] > ac[lag]:
        lag += 1
    y0, y1, y2 = ac[lag - 1], ac[lag], ac[lag + 1]  # parabolic refinement
    return SR / (lag + 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2))


def cents(a: float, b: float) -> float:
    return 1200 * np.log2(a / b)
