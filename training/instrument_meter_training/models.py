"""The architectures: raw-waveform BiGRUs, DCNN, FCN, RFCN, RCNN (Avramidis et al. 2021) and a
log-mel 2D CNN baseline (Han et al. 2017, halved widths). Every model maps ``[batch, 1, samples]``
(mono, 22,050 Hz, RMS-normalised) to logits ``[batch, classes]``; the exporter appends the sigmoid.

Filter counts and kernel sizes are not public; ours are chosen for small models (see README.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from . import SAMPLE_RATE, WINDOW_SAMPLES

ARCHS = ("bigru128", "bigru256", "bigru2", "dcnn", "fcn", "rfcn", "rcnn", "melcnn", "sincrfcn")

#: channel plan of the 8 CNN cells (×width); the stride-3 front conv has CELL_CHANNELS[0] filters
CELL_CHANNELS = (16, 16, 32, 32, 64, 64, 128, 128)


def _act() -> nn.Module:
    return nn.LeakyReLU(0.01)


class ConvCell(nn.Module):
    """CNN cell: 2 stacked identical Conv1d(k=3) + BatchNorm + LeakyReLU, then MaxPool(3).
    With ``residual`` the cell input is added (1×1 projection when channels change) before the
    second activation, ResNet style, so low-level features are carried forward."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, pool: int = 3, residual: bool = False):
        super().__init__()
        self.conv1 = nn.Conv1d(cin, cout, kernel, padding=kernel // 2, bias=False)
        self.bn1 = nn.BatchNorm1d(cout)
        self.act1 = _act()
        self.conv2 = nn.Conv1d(cout, cout, kernel, padding=kernel // 2, bias=False)
        self.bn2 = nn.BatchNorm1d(cout)
        self.act2 = _act()
        self.residual = residual
        if residual:
            self.proj = (
                nn.Identity()
                if cin == cout
                else nn.Sequential(nn.Conv1d(cin, cout, 1, bias=False), nn.BatchNorm1d(cout))
            )
        self.pool = nn.MaxPool1d(pool) if pool > 1 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv2(self.act1(self.bn1(self.conv1(x)))))
        if self.residual:
            y = y + self.proj(x)
        return self.pool(self.act2(y))


class WaveFront(nn.Module):
    """Stride-3 front conv on the raw waveform (k=3, SampleCNN-style): 22,050 → 7,350 frames."""

    def __init__(self, cout: int):
        super().__init__()
        self.conv = nn.Conv1d(1, cout, 3, stride=3, bias=False)
        self.bn = nn.BatchNorm1d(cout)
        self.act = _act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class CNNTrunk(nn.Module):
    def __init__(self, channels: tuple[int, ...], residual: bool):
        super().__init__()
        self.front = WaveFront(channels[0])
        cells, cin = [], channels[0]
        for c in channels:
            cells.append(ConvCell(cin, c, residual=residual))
            cin = c
        self.cells = nn.Sequential(*cells)
        self.out_channels = cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cells(self.front(x))


def _widen(width: float, chans=CELL_CHANNELS) -> tuple[int, ...]:
    return tuple(max(4, int(round(c * width))) for c in chans)


class FCN(nn.Module):
    """8 CNN cells, 1×1 conv head, mean over time (RFCN: with residual cells)."""

    def __init__(self, num_classes: int, width: float = 1.0, residual: bool = False):
        super().__init__()
        self.trunk = CNNTrunk(_widen(width), residual)
        self.head = nn.Conv1d(self.trunk.out_channels, num_classes, 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x)).mean(dim=-1)


class DCNN(nn.Module):
    """7 CNN cells (the FCN's first seven: 7,350 → 3 frames), flatten, Dense(512) + dropout 0.5,
    Dense(classes)."""

    def __init__(
        self, num_classes: int, width: float = 1.0, samples: int = WINDOW_SAMPLES, hidden: int = 512
    ):
        super().__init__()
        self.trunk = CNNTrunk(_widen(width)[:7], residual=False)
        with torch.no_grad():
            n = self.trunk(torch.zeros(1, 1, samples)).numel()
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(n, hidden), _act(), nn.Dropout(0.5), nn.Linear(hidden, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x))


class FrameFront(nn.Module):
    """Cheap framing of the raw waveform for the recurrent models: a strided Conv1d (k=512, stride
    256: 85 frames of 23 ms per second, i.e. a learned linear transform of each frame) + BN + LeakyReLU."""

    def __init__(self, cout: int = 64, frame: int = 512, hop: int = 256):
        super().__init__()
        self.conv = nn.Conv1d(1, cout, frame, stride=hop, bias=False)
        self.bn = nn.BatchNorm1d(cout)
        self.act = _act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class BiGRUEncoder(nn.Module):
    """Framing front end, 1 or 2 bidirectional GRU layers (dropout 0.5 between), mean over time."""

    def __init__(self, units: tuple[int, ...], frame_channels: int = 64):
        super().__init__()
        self.front = FrameFront(frame_channels)
        grus, cin = [], frame_channels
        for u in units:
            grus.append(nn.GRU(cin, u, batch_first=True, bidirectional=True))
            cin = 2 * u
        self.grus = nn.ModuleList(grus)
        self.drop = nn.Dropout(0.5)
        self.out_features = cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.front(x).transpose(1, 2)  # [B, T, C]
        for i, g in enumerate(self.grus):
            if i:
                h = self.drop(h)
            h, _ = g(h)
        return h.mean(dim=1)


class BiGRU(nn.Module):
    def __init__(self, num_classes: int, units: tuple[int, ...] = (128,)):
        super().__init__()
        self.enc = BiGRUEncoder(units)
        self.drop = nn.Dropout(0.5)
        self.out = nn.Linear(self.enc.out_features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.drop(self.enc(x)))


class RCNN(nn.Module):
    """RFCN and the BiGRU-128 side by side on the raw waveform; their time-averaged features
    (128 + 256) are concatenated, dropout 0.5, Dense(classes)."""

    def __init__(self, num_classes: int, width: float = 1.0, units: tuple[int, ...] = (128,)):
        super().__init__()
        self.cnn = CNNTrunk(_widen(width), residual=True)
        self.rnn = BiGRUEncoder(units)
        self.drop = nn.Dropout(0.5)
        self.out = nn.Linear(self.cnn.out_channels + self.rnn.out_features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = torch.cat([self.cnn(x).mean(dim=-1), self.rnn(x)], dim=1)
        return self.out(self.drop(f))


def _hz_to_mel(f):
    f = np.asarray(f, np.float64)
    lin = f / (200.0 / 3)
    return np.where(f >= 1000.0, 15.0 + np.log(np.maximum(f, 1e-9) / 1000.0) / (np.log(6.4) / 27.0), lin)


def _mel_to_hz(m):
    m = np.asarray(m, np.float64)
    return np.where(m >= 15.0, 1000.0 * np.exp((m - 15.0) * (np.log(6.4) / 27.0)), m * (200.0 / 3))


def mel_filterbank(bins: int, n_mels: int, sample_rate: int, fmin: float = 0.0, fmax: float | None = None):
    """Slaney-style mel filterbank ``[bins, n_mels]`` (area-normalised triangles, as librosa's and
    torchaudio's ``norm="slaney", mel_scale="slaney"``)."""
    fmax = sample_rate / 2 if fmax is None else fmax
    freqs = np.linspace(0.0, sample_rate / 2, bins)
    pts = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))
    lo, ce, hi = pts[:-2, None], pts[1:-1, None], pts[2:, None]
    up = (freqs[None, :] - lo) / (ce - lo)
    down = (hi - freqs[None, :]) / (hi - ce)
    fb = np.maximum(0.0, np.minimum(up, down)) * (2.0 / (hi - lo))
    return fb.T.astype(np.float32)


class LogMel(nn.Module):
    """Log-mel spectrogram with ONNX-friendly ops: STFT as a Conv1d with a fixed Hann-windowed DFT
    basis (no padding), power, mel matrix (Slaney), log. Out: ``[B, 1, n_mels, frames]``."""

    def __init__(self, n_fft: int = 1024, hop: int = 512, n_mels: int = 128, sample_rate: int = SAMPLE_RATE):
        super().__init__()
        bins = n_fft // 2 + 1
        n = torch.arange(n_fft, dtype=torch.float64)
        k = torch.arange(bins, dtype=torch.float64)[:, None]
        win = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
        ang = 2 * math.pi * k * n / n_fft
        basis = torch.cat([torch.cos(ang) * win, -torch.sin(ang) * win])[:, None, :]
        self.register_buffer("basis", basis.float(), persistent=False)
        fb = mel_filterbank(bins, n_mels, sample_rate)
        self.register_buffer("fb", torch.from_numpy(fb), persistent=False)
        self.hop, self.bins, self.n_mels = hop, bins, n_mels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = nn.functional.conv1d(x, self.basis, stride=self.hop)  # [B, 2*bins, T]
        re, im = z[:, : self.bins], z[:, self.bins :]
        power = re * re + im * im
        mel = torch.matmul(power.transpose(1, 2), self.fb)  # [B, T, mels]
        return torch.log(mel + 1e-6).transpose(1, 2).unsqueeze(1)


class MelCNN(nn.Module):
    """Han et al. 2017 style: log-mel (128 bands, 1024/512), BN on the input, 4 blocks of
    2×[Conv2d 3×3 + BN + LeakyReLU] (16, 32, 64, 128 filters; Han used 32..256) with 3×3
    max-pooling after the first three, global max pooling, Dense(256) + dropout 0.5, Dense(classes)."""

    def __init__(self, num_classes: int, width: float = 1.0, chans=(16, 32, 64, 128)):
        super().__init__()
        self.mel = LogMel()
        self.norm = nn.BatchNorm2d(1)
        layers, cin = [], 1
        chans = tuple(max(4, int(round(c * width))) for c in chans)
        for i, c in enumerate(chans):
            for _ in range(2):
                layers += [nn.Conv2d(cin, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), _act()]
                cin = c
            if i < len(chans) - 1:
                layers += [nn.MaxPool2d(3), nn.Dropout(0.25)]
        self.body = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Linear(cin, 256), _act(), nn.Dropout(0.5), nn.Linear(256, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(self.norm(self.mel(x)))
        return self.head(torch.amax(h, dim=(2, 3)))


class SincConv(nn.Module):
    """SincNet-style band-pass filterbank (Ravanelli & Bengio 2018) on the raw waveform: filter i is
    the difference of two windowed-sinc low-passes, ``2 f_hi sinc(2 f_hi t) - 2 f_lo sinc(2 f_lo t)``
    (Hamming window, divided by ``2 (f_hi - f_lo)``), where only the cut-offs are learnt: the low
    cut-off ``min_low + |low|`` and the bandwidth ``min_band + |band|``, initialised to mel-spaced
    bands from 30 Hz to Nyquist. The kernels are a function of the parameters; the ONNX export
    writes them as one constant weight."""

    def __init__(self, n_filters: int = 32, kernel: int = 101, stride: int = 3, sample_rate: int = SAMPLE_RATE,
                 min_low: float = 30.0, min_band: float = 50.0):  # fmt: skip
        super().__init__()
        if kernel % 2 == 0:
            raise ValueError("the sinc kernel must have an odd length")
        self.n_filters, self.kernel, self.stride, self.sr = n_filters, kernel, stride, sample_rate
        self.min_low, self.min_band = min_low, min_band
        edges = _mel_to_hz(np.linspace(_hz_to_mel(30.0), _hz_to_mel(sample_rate / 2 - (min_low + min_band)),
                                       n_filters + 1))  # fmt: skip
        self.low = nn.Parameter(torch.tensor(edges[:-1] - min_low, dtype=torch.float32)[:, None])
        self.band = nn.Parameter(torch.tensor(np.diff(edges), dtype=torch.float32)[:, None])
        half = (kernel - 1) // 2
        i = torch.arange(half, dtype=torch.float64)
        window = 0.54 - 0.46 * torch.cos(2 * math.pi * i / (kernel - 1))  # left half of a Hamming window
        self.register_buffer("window", window.float()[None, :], persistent=False)
        t = 2 * math.pi * torch.arange(-half, 0, dtype=torch.float64) / sample_rate  # 2π t, t < 0
        self.register_buffer("t", t.float()[None, :], persistent=False)

    def cutoffs(self) -> tuple[torch.Tensor, torch.Tensor]:
        low = self.min_low + self.low.abs()
        high = torch.clamp(low + self.min_band + self.band.abs(), self.min_low, self.sr / 2)
        return low, high

    def filters(self) -> torch.Tensor:
        low, high = self.cutoffs()
        band = high - low
        left = (torch.sin(high * self.t) - torch.sin(low * self.t)) / (self.t / 2) * self.window
        k = torch.cat([left, 2 * band, left.flip(dims=[1])], dim=1) / (2 * band)
        return k.view(self.n_filters, 1, self.kernel)

    def train(self, mode: bool = True):
        super().train(mode)
        if not mode:  # the kernels of the current cut-offs, for the ONNX export (see forward)
            with torch.no_grad():
                self.register_buffer("frozen", self.filters().detach().clone(), persistent=False)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # An ONNX export (always of a model just put in eval mode) takes the kernels as one
        # constant weight: a plain convolution, which conv2d.py can lift to its faster 2-D form.
        frozen = torch.onnx.is_in_onnx_export() and not self.training and hasattr(self, "frozen")
        w = self.frozen if frozen else self.filters()
        return nn.functional.conv1d(x, w, stride=self.stride, padding=self.kernel // 2)


class SincRFCN(nn.Module):
    """``sincrfcn``: a SincConv front end (32 learnt band-passes of 101 taps, stride 3:
    22,050 → 7,350 frames), magnitude, MaxPool(3) (→ 2,450 frames, as SincNet pools after its
    first layer), log compression ``log(1 + |x|)`` and BatchNorm, then the ``rfcn`` body without
    its first cell (7 residual cells → 3 frames, 1×1 conv head, mean over time)."""

    def __init__(self, num_classes: int, width: float = 1.0, n_filters: int = 32, kernel: int = 101):
        super().__init__()
        self.sinc = SincConv(n_filters, kernel, stride=3)
        self.pool = nn.MaxPool1d(3)
        self.bn = nn.BatchNorm1d(n_filters)
        cells, cin = [], n_filters
        for c in _widen(width)[1:]:
            cells.append(ConvCell(cin, c, residual=True))
            cin = c
        self.cells = nn.Sequential(*cells)
        self.head = nn.Conv1d(cin, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.bn(torch.log1p(self.pool(self.sinc(x).abs())))
        return self.head(self.cells(h)).mean(dim=-1)


_BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "bigru128": lambda c, w: BiGRU(c, (128,)),
    "bigru256": lambda c, w: BiGRU(c, (256,)),
    "bigru2": lambda c, w: BiGRU(c, (128, 64)),
    "dcnn": lambda c, w: DCNN(c, w),
    "fcn": lambda c, w: FCN(c, w, residual=False),
    "rfcn": lambda c, w: FCN(c, w, residual=True),
    "rcnn": lambda c, w: RCNN(c, w),
    "melcnn": lambda c, w: MelCNN(c, w),
    "sincrfcn": lambda c, w: SincRFCN(c, w),
}


def build_model(arch: str, num_classes: int, width: float = 1.0) -> nn.Module:
    if arch not in _BUILDERS:
        raise ValueError(f"unknown architecture {arch!r}; choose from {', '.join(ARCHS)}")
    return _BUILDERS[arch](num_classes, width)


def describe(arch: str, width: float = 1.0) -> str:
    """Architecture id with its hyper-parameters (the ``architecture`` metadata field)."""
    chans = ",".join(map(str, _widen(width)))
    return {
        "bigru128": "bigru128: frame conv 64x(512/256), BiGRU 128, dropout 0.5, dense",
        "bigru256": "bigru256: frame conv 64x(512/256), BiGRU 256, dropout 0.5, dense",
        "bigru2": "bigru2: frame conv 64x(512/256), BiGRU 128 + BiGRU 64, dropout 0.5, dense",
        "dcnn": f"dcnn: stride-3 front, 7 cells 2xConv1d(k3)+BN+LReLU+MaxPool3 [{chans}][:7], dense 512, dense",
        "fcn": f"fcn: stride-3 front, 8 cells 2xConv1d(k3)+BN+LReLU+MaxPool3 [{chans}], 1x1 conv head, mean",
        "rfcn": f"rfcn: stride-3 front, 8 residual cells 2xConv1d(k3)+BN+LReLU+MaxPool3 [{chans}], 1x1 conv head, mean",
        "rcnn": f"rcnn: rfcn [{chans}] in parallel with BiGRU 128 (frame conv 64x(512/256)), concat, dropout 0.5, dense",
        "sincrfcn": f"sincrfcn: SincConv 32 band-passes (k101, stride 3, mel init), |x|, MaxPool3, log(1+x), BN, 7 residual cells [{chans}][1:], 1x1 conv head, mean",
        "melcnn": f"melcnn: log-mel 128 (1024/512) + 4x2 Conv2d 3x3 [{','.join(str(int(round(c * width))) for c in (16, 32, 64, 128))}], global max, dense 256, dense",
    }[arch] + (f" (width {width:g})" if width != 1.0 else "")


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_macs(model: nn.Module, samples: int = WINDOW_SAMPLES) -> int:
    """Multiply-accumulates for one window (batch 1): convolutions, linear layers, GRUs and the
    log-mel matrix products; element-wise ops, BN and pooling are not counted."""
    total = 0

    def conv_hook(m, inp, out):
        nonlocal total
        k = math.prod(m.kernel_size) * (m.in_channels // m.groups)
        total += out.numel() // out.shape[0] * k

    def linear_hook(m, inp, out):
        nonlocal total
        total += out.numel() // out.shape[0] * m.in_features

    def gru_hook(m, inp, out):
        nonlocal total
        x = inp[0]
        steps = x.shape[1] if m.batch_first else x.shape[0]
        dirs = 2 if m.bidirectional else 1
        cin = m.input_size
        for _layer in range(m.num_layers):
            total += dirs * steps * 3 * (cin * m.hidden_size + m.hidden_size * m.hidden_size)
            cin = dirs * m.hidden_size

    def mel_hook(m, inp, out):
        nonlocal total
        frames = out.shape[-1]
        total += frames * (2 * m.bins * m.basis.shape[-1] + m.bins * m.n_mels)

    def sinc_hook(m, inp, out):
        nonlocal total
        total += out.shape[-1] * m.n_filters * m.kernel

    hooks = []
    for m in model.modules():
        if isinstance(m, nn.Conv1d | nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
        elif isinstance(m, nn.GRU):
            hooks.append(m.register_forward_hook(gru_hook))
        elif isinstance(m, LogMel):
            hooks.append(m.register_forward_hook(mel_hook))
        elif isinstance(m, SincConv):
            hooks.append(m.register_forward_hook(sinc_hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, 1, samples))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return int(total)


class WithSigmoid(nn.Module):
    """What is exported: probabilities, averaged over an ensemble of fold models if several."""

    def __init__(self, models: list[nn.Module]):
        super().__init__()
        self.models = nn.ModuleList(models)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        p = torch.sigmoid(self.models[0](audio))
        for m in self.models[1:]:
            p = p + torch.sigmoid(m(audio))
        return p / len(self.models) if len(self.models) > 1 else p
