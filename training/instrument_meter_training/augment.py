"""Domain-generalisation augmentations aimed at recording identity (issue 12): what changes from one
sample set, room or recording chain to another, applied per source before mixing.

Each augmentation is a pure function of the audio and explicit parameters (numpy here, torch for
whole batches in ``batch_augment.py``, tested equal on the same parameters); the parameter ranges
below are the one place both draw from, so the CPU loader and ``--batch-augment`` share the
distributions.

- pitch shift by resampling (±``pitch_semitones``): moves the partials and the formants together,
  as another sample set recorded at other pitches does (linear interpolation);
- smooth random spectral envelope: a gain curve through ``ENVELOPE_NODES`` random node gains
  (±``envelope_db``) equally spaced in log frequency, 50 Hz to Nyquist;
- convolution reverb with a synthetic room: unit direct path plus exponentially decaying noise
  (RT60 ``REVERB_RT60``, wet/direct energy ``REVERB_WET``);
- dynamic-range compression: look-ahead 10-ms RMS envelope, threshold ``COMPRESS_BELOW_DB`` under the crop's
  RMS, ratio ``COMPRESS_RATIO`` (static curve, no make-up gain: the crop is RMS-normalised later);
- amp-style distortion (electric guitar): drive ``DISTORT_DRIVE_DB`` on the RMS-normalised crop,
  asymmetric ``tanh`` (bias ``DISTORT_BIAS``), then a cabinet-like low-pass ``DISTORT_CAB_HZ``;
- codec round trip: low-pass ``CODEC_LOWPASS_HZ`` and 8-bit mu-law (mu 255) quantisation.
"""

from __future__ import annotations

import math

import numpy as np

from . import SAMPLE_RATE

ENVELOPE_NODES = 8
ENVELOPE_FMIN = 50.0
REVERB_RT60 = (0.2, 1.2)  # seconds
REVERB_WET = (0.1, 0.6)  # reverberant energy relative to the direct path
COMPRESS_BELOW_DB = (0.0, 20.0)
COMPRESS_RATIO = (2.0, 8.0)
COMPRESS_WINDOW_S = 0.01
DISTORT_DRIVE_DB = (0.0, 24.0)
DISTORT_BIAS = (-0.3, 0.3)
DISTORT_CAB_HZ = (3000.0, 6000.0)
CODEC_LOWPASS_HZ = (3000.0, 8000.0)
MU = 255.0


# ------------------------------------------------------------------------------------------- draws


def draw_pitch_ratio(rng: np.random.Generator, semitones: float) -> float:
    return float(2.0 ** (rng.uniform(-semitones, semitones) / 12.0))


def draw_envelope(rng: np.random.Generator, db: float) -> np.ndarray:
    return rng.uniform(-db, db, ENVELOPE_NODES)


def draw_reverb(rng: np.random.Generator, n: int) -> tuple[float, float, np.ndarray]:
    return rng.uniform(*REVERB_RT60), rng.uniform(*REVERB_WET), rng.standard_normal(n)


def draw_compress(rng: np.random.Generator) -> tuple[float, float]:
    return rng.uniform(*COMPRESS_BELOW_DB), rng.uniform(*COMPRESS_RATIO)


def draw_distort(rng: np.random.Generator) -> tuple[float, float, float]:
    return rng.uniform(*DISTORT_DRIVE_DB), rng.uniform(*DISTORT_BIAS), rng.uniform(*DISTORT_CAB_HZ)


def draw_codec(rng: np.random.Generator) -> float:
    return rng.uniform(*CODEC_LOWPASS_HZ)


# --------------------------------------------------------------------------------------- functions


def segment_length(n: int, ratio: float) -> int:
    """Source samples a pitch shift by ``ratio`` reads to produce ``n`` samples."""
    return int(math.ceil((n - 1) * ratio)) + 1


def pitch_shift(seg: np.ndarray, ratio: float, n: int) -> np.ndarray:
    """``n`` samples read from ``seg`` every ``ratio`` samples (linear interpolation): every
    frequency is multiplied by ``ratio``."""
    pos = np.arange(n, dtype=np.float64) * ratio
    return np.interp(pos, np.arange(len(seg)), seg).astype(np.float32)


def envelope_gain(freqs: np.ndarray, node_db: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    lo, hi = math.log2(ENVELOPE_FMIN), math.log2(sr / 2)
    p = (np.log2(np.maximum(freqs, ENVELOPE_FMIN)) - lo) / (hi - lo) * (ENVELOPE_NODES - 1)
    p = np.clip(p, 0.0, ENVELOPE_NODES - 1)
    i = np.minimum(np.floor(p).astype(int), ENVELOPE_NODES - 2)
    frac = p - i
    db = node_db[i] * (1 - frac) + node_db[i + 1] * frac
    return 10.0 ** (db / 20.0)


def spectral_envelope(x: np.ndarray, node_db: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    f = np.fft.rfftfreq(len(x), 1.0 / sr)
    return np.fft.irfft(np.fft.rfft(x) * envelope_gain(f, node_db, sr), n=len(x)).astype(np.float32)


def room_response(rt60: float, wet: float, noise: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Unit direct path plus a decaying noise tail (60 dB down after ``rt60``) of energy ``wet``."""
    t = np.arange(len(noise)) / sr
    tail = noise * np.exp(-3.0 * math.log(10.0) * t / rt60) * (t < rt60)
    tail[0] = 0.0
    h = tail * math.sqrt(wet / max(float(np.sum(tail * tail)), 1e-12))
    h[0] = 1.0
    return h


def reverb(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    n = len(x)
    m = n + len(h)
    return np.fft.irfft(np.fft.rfft(x, m) * np.fft.rfft(h, m), n=m)[:n].astype(np.float32)


def _envelope_power(x: np.ndarray, k: int) -> np.ndarray:
    """Look-ahead power envelope: the largest ``k``-sample mean power within ``k // 2`` samples
    either side, so that a burst's first peak is already turned down."""
    p = np.convolve(x * x, np.ones(k) / k, mode="same")
    padded = np.pad(p, k // 2)
    return np.lib.stride_tricks.sliding_window_view(padded, k).max(axis=-1)


def compress(x: np.ndarray, below_db: float, ratio: float, sr: int = SAMPLE_RATE) -> np.ndarray:
    k = int(round(COMPRESS_WINDOW_S * sr)) | 1
    x64 = x.astype(np.float64)
    level = 10.0 * np.log10(_envelope_power(x64, k) + 1e-12)
    thr = 10.0 * np.log10(np.mean(x64 * x64) + 1e-12) - below_db
    gain_db = np.minimum(0.0, (thr - level) * (1.0 - 1.0 / ratio))
    return (x64 * 10.0 ** (gain_db / 20.0)).astype(np.float32)


def lowpass(x: np.ndarray, fc: float, order: int = 8, sr: int = SAMPLE_RATE) -> np.ndarray:
    f = np.fft.rfftfreq(len(x), 1.0 / sr)
    return np.fft.irfft(np.fft.rfft(x) / np.sqrt(1.0 + (f / fc) ** order), n=len(x)).astype(np.float32)


def distort(x: np.ndarray, drive_db: float, bias: float, cab_hz: float, sr: int = SAMPLE_RATE) -> np.ndarray:
    r = max(float(np.sqrt(np.mean(x.astype(np.float64) ** 2))), 1e-8)
    y = np.tanh(x / r * 10.0 ** (drive_db / 20.0) + bias) - math.tanh(bias)
    return lowpass(y.astype(np.float32), cab_hz, 4, sr)


def mu_law_8bit(x: np.ndarray) -> np.ndarray:
    peak = max(float(np.max(np.abs(x))), 1e-8)
    u = x.astype(np.float64) / peak
    enc = np.sign(u) * np.log1p(MU * np.abs(u)) / math.log1p(MU)
    q = np.round(enc * 127.0) / 127.0
    return (np.sign(q) * np.expm1(np.abs(q) * math.log1p(MU)) / MU * peak).astype(np.float32)


def codec(x: np.ndarray, fc: float, sr: int = SAMPLE_RATE) -> np.ndarray:
    return mu_law_8bit(lowpass(x, fc, 8, sr))


def identity_augment(
    x: np.ndarray, rng: np.random.Generator, aug, label: int, sr: int = SAMPLE_RATE
) -> np.ndarray:
    """The switched-on augmentations of ``aug`` (an ``AugmentConfig``) for one source, each with
    its probability, in the order envelope, distortion, compression, reverb, codec. Nothing is
    drawn from ``rng`` for a switch that is off."""
    if aug.envelope_prob > 0 and rng.random() < aug.envelope_prob:
        x = spectral_envelope(x, draw_envelope(rng, aug.envelope_db), sr)
    if aug.distort_prob > 0 and label in aug.distort_classes and rng.random() < aug.distort_prob:
        x = distort(x, *draw_distort(rng), sr)
    if aug.compress_prob > 0 and rng.random() < aug.compress_prob:
        x = compress(x, *draw_compress(rng), sr)
    if aug.reverb_prob > 0 and rng.random() < aug.reverb_prob:
        x = reverb(x, room_response(*draw_reverb(rng, len(x)), sr))
    if aug.codec_prob > 0 and rng.random() < aug.codec_prob:
        x = codec(x, draw_codec(rng), sr)
    return x
