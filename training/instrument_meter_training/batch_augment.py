"""``TrainSet``'s sampling and augmentation, vectorised over whole batches on the training device.

On a GPU the per-item numpy pipeline of ``dataset.TrainSet`` (~1 ms per window on one CPU core)
starves the model. Here the decoded excerpts live on the device (float16) and each step draws a batch
of random 1-s crops, mixtures of 2..``mix_max_sources`` excerpts of different classes (union of
labels), polarity/gain/EQ/noise and RMS normalisation in a handful of tensor ops. The distributions
are those of ``TrainSet`` (same ``AugmentConfig``); the random streams differ, so a run is
reproducible per seed and device but not bit-identical to the CPU loader's.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from . import SAMPLE_RATE, WINDOW_SAMPLES
from . import augment as A
from .data import RMS_FLOOR, silence_floor
from .dataset import AugmentConfig


def _rms(x: torch.Tensor) -> torch.Tensor:
    return x.square().mean(dim=-1).sqrt()


def _rms_normalize(x: torch.Tensor) -> torch.Tensor:
    return x / _rms(x).clamp_min(RMS_FLOOR)[:, None]


# ---------------------------------------- augment.py's recording-identity functions, for batches [B, N]
# (parameters: one value per item, tensors [B]; tested equal to the numpy versions)


def envelope_t(x: torch.Tensor, node_db: torch.Tensor, sr: int = SAMPLE_RATE) -> torch.Tensor:
    f = torch.fft.rfftfreq(x.shape[-1], 1.0 / sr, device=x.device)
    lo, hi, k = math.log2(A.ENVELOPE_FMIN), math.log2(sr / 2), A.ENVELOPE_NODES
    p = ((torch.log2(f.clamp_min(A.ENVELOPE_FMIN)) - lo) / (hi - lo) * (k - 1)).clamp(0.0, k - 1)
    i = p.floor().long().clamp_max(k - 2)
    frac = (p - i)[None, :]
    db = node_db[:, i] * (1 - frac) + node_db[:, i + 1] * frac
    return torch.fft.irfft(torch.fft.rfft(x) * 10.0 ** (db / 20.0), n=x.shape[-1])


def room_response_t(rt60: torch.Tensor, wet: torch.Tensor, noise: torch.Tensor, sr: int = SAMPLE_RATE):
    t = torch.arange(noise.shape[-1], device=noise.device)[None, :] / sr
    tail = noise * torch.exp(-3.0 * math.log(10.0) * t / rt60[:, None]) * (t < rt60[:, None])
    tail[:, 0] = 0.0
    h = tail * torch.sqrt(wet / tail.square().sum(-1).clamp_min(1e-12))[:, None]
    h[:, 0] = 1.0
    return h


def reverb_t(x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    n, m = x.shape[-1], x.shape[-1] + h.shape[-1]
    return torch.fft.irfft(torch.fft.rfft(x, m) * torch.fft.rfft(h, m), n=m)[:, :n]


def compress_t(x: torch.Tensor, below_db: torch.Tensor, ratio: torch.Tensor, sr: int = SAMPLE_RATE):
    k = int(round(A.COMPRESS_WINDOW_S * sr)) | 1
    p = torch.nn.functional.avg_pool1d(x.square()[:, None], k, 1, k // 2, count_include_pad=True)
    p = torch.nn.functional.max_pool1d(p, k, 1, k // 2)[:, 0]  # look-ahead (augment._envelope_power)
    level = 10.0 * torch.log10(p + 1e-12)
    thr = 10.0 * torch.log10(x.square().mean(-1) + 1e-12) - below_db
    gain_db = torch.clamp_max((thr[:, None] - level) * (1.0 - 1.0 / ratio[:, None]), 0.0)
    return x * 10.0 ** (gain_db / 20.0)


def lowpass_t(x: torch.Tensor, fc: torch.Tensor, order: int = 8, sr: int = SAMPLE_RATE) -> torch.Tensor:
    f = torch.fft.rfftfreq(x.shape[-1], 1.0 / sr, device=x.device)[None, :]
    return torch.fft.irfft(torch.fft.rfft(x) / torch.sqrt(1.0 + (f / fc[:, None]) ** order), n=x.shape[-1])


def distort_t(x, drive_db, bias, cab_hz, sr: int = SAMPLE_RATE) -> torch.Tensor:
    r = _rms(x).clamp_min(1e-8)[:, None]
    y = torch.tanh(x / r * 10.0 ** (drive_db[:, None] / 20.0) + bias[:, None]) - torch.tanh(bias)[:, None]
    return lowpass_t(y, cab_hz, 4, sr)


def mu_law_8bit_t(x: torch.Tensor) -> torch.Tensor:
    peak = x.abs().amax(-1, keepdim=True).clamp_min(1e-8)
    u = x / peak
    enc = torch.sign(u) * torch.log1p(A.MU * u.abs()) / math.log1p(A.MU)
    q = torch.round(enc * 127.0) / 127.0
    return torch.sign(q) * torch.expm1(q.abs() * math.log1p(A.MU)) / A.MU * peak


def codec_t(x: torch.Tensor, fc: torch.Tensor, sr: int = SAMPLE_RATE) -> torch.Tensor:
    return mu_law_8bit_t(lowpass_t(x, fc, 8, sr))


class DeviceBatches:
    """Epochs of ``(x [B, 1, window], y [B, classes])`` batches drawn on ``device``.

    One epoch holds ``len(audio) * crops_per_excerpt`` windows (the last partial batch dropped), each
    excerpt cropped ``crops_per_excerpt`` times in a random order, as ``TrainSet(crop="random")``.
    """

    def __init__(
        self,
        audio: list[np.ndarray],
        labels: np.ndarray,
        num_classes: int,
        aug: AugmentConfig,
        batch_size: int,
        crops_per_excerpt: int = 1,
        seed: int = 0,
        window: int = WINDOW_SAMPLES,
        device: torch.device | str = "cpu",
        augment: bool = True,
        sample_rate: int = SAMPLE_RATE,
        storage: torch.dtype = torch.float16,  # halves device memory; ~1e-3 relative precision
        families: list[str] | None = None,
    ):
        self.device = torch.device(device)
        self.window, self.aug, self.augment = window, aug, augment
        self.num_classes, self.batch_size, self.seed = num_classes, batch_size, seed
        longest = max(window, max(len(a) for a in audio))
        buf = torch.zeros(len(audio), longest, dtype=storage)
        for i, a in enumerate(audio):
            buf[i, : len(a)] = torch.from_numpy(np.asarray(a, np.float32))
        self.audio = buf.to(self.device)
        self.spans = torch.tensor([max(len(a), window) - window + 1 for a in audio], device=self.device)
        self.lengths = torch.tensor([max(len(a), window) for a in audio], device=self.device)
        self.longest = longest
        self.sample_rate = sample_rate
        self.family = None  # family index per excerpt (cross-family mixing)
        if families is not None:
            names = {f: i for i, f in enumerate(sorted(set(families)))}
            self.family = torch.tensor([names[f] for f in families], device=self.device)
        labels = np.asarray(labels, np.int64)
        self.labels = torch.from_numpy(labels).to(self.device)
        counts = np.bincount(labels, minlength=num_classes)
        self.class_members = torch.from_numpy(np.argsort(labels, kind="stable")).to(self.device)
        self.class_start = torch.from_numpy(np.concatenate([[0], np.cumsum(counts)[:-1]])).to(self.device)
        self.class_count = torch.from_numpy(counts).to(self.device)
        self.present = self.class_count > 0
        self.can_mix = int((counts > 0).sum()) > 1  # host-side: no device sync per batch
        self.n_items = len(audio) * crops_per_excerpt
        self.floor = silence_floor()
        self.offsets = torch.arange(window, device=self.device)
        freqs = torch.fft.rfftfreq(window, 1.0 / sample_rate).to(self.device)
        self.freqs = freqs[None, :]

    def __len__(self) -> int:
        return max(1, self.n_items // self.batch_size)

    def epoch(self, epoch: int):
        g = torch.Generator(device=self.device)
        g.manual_seed(self.seed * 1_000_003 + epoch)
        order = torch.randperm(self.n_items, generator=g, device=self.device) % len(self.spans)
        for b in range(len(self)):
            yield self._batch(order[b * self.batch_size : (b + 1) * self.batch_size], g)

    # -------------------------------------------------------------------------------- pieces

    def _uniform(self, n: int, lo: float, hi: float, g: torch.Generator) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(n, generator=g, device=self.device)

    def _chance(self, n: int, p: float, g: torch.Generator) -> torch.Tensor:
        return torch.rand(n, generator=g, device=self.device) < p

    def _crop(self, e: torch.Tensor, g: torch.Generator, ratio: torch.Tensor | None = None) -> torch.Tensor:
        """Random 1-s crops of excerpts ``e``; silent crops are redrawn (up to 3 times) where the
        excerpt has sound elsewhere, as ``TrainSet._crop``. With ``ratio`` (pitch shift), each
        crop reads ``ratio`` samples per output sample (linear interpolation, ``augment.pitch_shift``)."""
        x = None
        for _ in range(4):
            if ratio is None:
                off = (torch.rand(len(e), generator=g, device=self.device) * self.spans[e]).long()
                off = torch.minimum(off, self.spans[e] - 1)
                cand = self.audio[e[:, None], off[:, None] + self.offsets[None, :]].float()
            else:
                need = torch.ceil((self.window - 1) * ratio).long() + 1
                span = (self.lengths[e] - need).clamp_min(0) + 1
                off = (torch.rand(len(e), generator=g, device=self.device) * span).long()
                pos = torch.minimum(off, span - 1)[:, None] + self.offsets[None, :] * ratio[:, None]
                i0 = pos.floor().long().clamp_max(self.longest - 1)
                frac = pos - i0
                a0 = self.audio[e[:, None], i0].float()
                a1 = self.audio[e[:, None], (i0 + 1).clamp_max(self.longest - 1)].float()
                cand = a0 * (1 - frac) + a1 * frac
            x = cand if x is None else torch.where((_rms(x) < self.floor)[:, None], cand, x)
        return x

    def _source(self, e: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """``TrainSet._source`` for a batch: crops (pitch-shifted where drawn), then the switched-on
        recording-identity augmentations, each item with its probability. Nothing is drawn for a
        switch that is off."""
        a, n, sr = self.aug, len(e), self.sample_rate
        if not self.augment:
            return self._crop(e, g)
        ratio = None
        if a.pitch_prob > 0:
            shift = 2.0 ** (self._uniform(n, -a.pitch_semitones, a.pitch_semitones, g) / 12.0)
            ratio = torch.where(self._chance(n, a.pitch_prob, g), shift, torch.ones_like(shift))
        x = self._crop(e, g, ratio)

        def maybe(p: float, y: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
            on = self._chance(n, p, g) if extra is None else self._chance(n, p, g) & extra
            return torch.where(on[:, None], y, x)

        if a.envelope_prob > 0:
            db = self._uniform(n * A.ENVELOPE_NODES, -a.envelope_db, a.envelope_db, g).view(n, -1)
            x = maybe(a.envelope_prob, envelope_t(x, db, sr))
        if a.distort_prob > 0:
            cls = torch.tensor(list(a.distort_classes), device=self.device)
            params = [self._uniform(n, *r, g) for r in (A.DISTORT_DRIVE_DB, A.DISTORT_BIAS, A.DISTORT_CAB_HZ)]
            x = maybe(a.distort_prob, distort_t(x, *params, sr), torch.isin(self.labels[e], cls))
        if a.compress_prob > 0:
            params = [self._uniform(n, *r, g) for r in (A.COMPRESS_BELOW_DB, A.COMPRESS_RATIO)]
            x = maybe(a.compress_prob, compress_t(x, *params, sr))
        if a.reverb_prob > 0:
            rt60, wet = self._uniform(n, *A.REVERB_RT60, g), self._uniform(n, *A.REVERB_WET, g)
            noise = torch.randn(x.shape, generator=g, device=self.device)
            x = maybe(a.reverb_prob, reverb_t(x, room_response_t(rt60, wet, noise, sr)))
        if a.codec_prob > 0:
            x = maybe(a.codec_prob, codec_t(x, self._uniform(n, *A.CODEC_LOWPASS_HZ, g), sr))
        return x

    def _gain(self, n: int, max_cut_db: float, g: torch.Generator) -> torch.Tensor:
        return (10.0 ** (self._uniform(n, -max_cut_db, 0.0, g) / 20.0))[:, None]

    def _member(self, c: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """A random excerpt of each class in ``c``."""
        member = (torch.rand(len(c), generator=g, device=self.device) * self.class_count[c]).long()
        member = torch.minimum(member, (self.class_count[c] - 1).clamp_min(0))
        return self.class_members[(self.class_start[c] + member).clamp_max(len(self.class_members) - 1)]

    def _mix(self, x: torch.Tensor, y: torch.Tensor, e: torch.Tensor, g: torch.Generator):
        a, n = self.aug, len(e)
        mix = self._chance(n, a.mix_prob, g)
        n_src = torch.randint(2, max(2, a.mix_max_sources) + 1, (n,), generator=g, device=self.device)
        # distinct partner classes, never the item's own: the first k of a random order per item
        keys = torch.rand(n, self.num_classes, generator=g, device=self.device)
        keys[:, ~self.present] = math.inf
        keys[torch.arange(n, device=self.device), self.labels[e]] = math.inf
        picks = keys.argsort(dim=1)
        out = _rms_normalize(x) * self._gain(n, a.mix_gain_db, g)
        for k in range(max(2, a.mix_max_sources) - 1):
            c = picks[:, k]
            active = mix & (k + 1 < n_src) & torch.isfinite(keys.gather(1, c[:, None]))[:, 0]
            src = self._member(c, g)
            if a.cross_family_mix and self.family is not None:
                for _ in range(3):  # redraw partners of the item's own family (up to 3 times)
                    same = self.family[src] == self.family[e]
                    src = torch.where(same, self._member(c, g), src)
            s = _rms_normalize(self._source(src, g)) * self._gain(n, a.mix_gain_db, g)
            out = out + s * active[:, None]
            y = torch.maximum(y, torch.nn.functional.one_hot(c, self.num_classes).float() * active[:, None])
        return torch.where(mix[:, None], out, x), y

    def _eq(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """``dataset.random_eq`` for every item: band-limit, tilt or one peaking band."""
        n, f = len(x), self.freqs
        kind = torch.randint(0, 3, (n, 1), generator=g, device=self.device)
        fc = self._uniform(n, 2500.0, 10000.0, g)[:, None]
        g0 = 1.0 / torch.sqrt(1.0 + (f / fc) ** 8)
        slope = self._uniform(n, -6.0, 6.0, g)[:, None]
        g1 = 10.0 ** ((slope * torch.log2(f.clamp_min(20.0) / 1000.0)).clamp(-18.0, 18.0) / 20.0)
        fp = torch.exp(self._uniform(n, math.log(100.0), math.log(8000.0), g))[:, None]
        q = self._uniform(n, 0.5, 2.0, g)[:, None]
        db = self._uniform(n, -12.0, 12.0, g)[:, None]
        g2 = 10.0 ** (db * torch.exp(-0.5 * (torch.log2(f.clamp_min(1.0) / fp) * q * 2) ** 2) / 20.0)
        curve = torch.where(kind == 0, g0, torch.where(kind == 1, g1, g2))
        return torch.fft.irfft(torch.fft.rfft(x) * curve, n=x.shape[-1])

    def _wave(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """``dataset.wave_augment`` on the items that draw it (probability ``wave_prob``)."""
        a, n = self.aug, len(x)
        on = self._chance(n, a.wave_prob, g)[:, None]
        sign = torch.where(self._chance(n, 0.5, g), -1.0, 1.0)[:, None]
        gain = (10.0 ** (self._uniform(n, -a.gain_db, a.gain_db / 2, g) / 20.0))[:, None]
        w = x * sign * gain
        if a.eq_prob > 0:
            w = torch.where(self._chance(n, a.eq_prob, g)[:, None], self._eq(w, g), w)
        snr = self._uniform(n, *a.noise_snr_db, g)
        level = (_rms(w) * 10.0 ** (-snr / 20.0))[:, None]
        noisy = w + torch.randn(w.shape, generator=g, device=self.device) * level
        w = torch.where(self._chance(n, 0.5, g)[:, None], noisy, w)
        return torch.where(on, w, x)

    def _batch(self, e: torch.Tensor, g: torch.Generator):
        x = self._source(e, g)
        y = torch.nn.functional.one_hot(self.labels[e], self.num_classes).float()
        if self.augment and self.aug.mix_prob > 0 and self.can_mix:
            x, y = self._mix(x, y, e, g)
        if self.augment and self.aug.wave_prob > 0:
            x = self._wave(x, g)
        if self.aug.normalize == "rms":
            x = _rms_normalize(x)
        return x[:, None, :].contiguous(), y
