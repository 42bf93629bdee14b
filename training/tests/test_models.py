import numpy as np
import pytest
import torch

from instrument_meter_training.models import (
    ARCHS,
    LogMel,
    WithSigmoid,
    build_model,
    count_macs,
    count_params,
    describe,
    mel_filterbank,
)

# parameter counts documented in training/README.md (11 classes, width 1)
EXPECTED_PARAMS = {
    "bigru128": 184_715,
    "bigru256": 533_131,
    "bigru2": 306_955,
    "dcnn": 334_811,
    "fcn": 232_283,
    "rfcn": 243_483,
    "rcnn": 428_187,
    "melcnn": 329_565,
    "sincrfcn": 243_243,
}


@pytest.mark.parametrize("arch", ARCHS)
def test_forward_shape_and_size(arch):
    torch.manual_seed(0)
    m = build_model(arch, 11).eval()
    with torch.no_grad():
        y = m(torch.randn(3, 1, 22050))
    assert y.shape == (3, 11) and torch.isfinite(y).all()
    assert count_params(m) == EXPECTED_PARAMS[arch]
    assert count_params(m) <= 2_000_000
    assert 1e6 < count_macs(m) < 200e6
    assert describe(arch).startswith(arch)
    p = WithSigmoid([m]).eval()(torch.randn(2, 1, 22050))
    assert ((p >= 0) & (p <= 1)).all()


def test_other_class_count():
    assert build_model("rfcn", 5)(torch.randn(2, 1, 22050)).shape == (2, 5)


@pytest.mark.parametrize("arch", ARCHS)
def test_one_step_lowers_loss(arch):
    torch.manual_seed(0)
    m = build_model(arch, 11)
    m.train()
    for mod in m.modules():  # keep BN in batch mode, remove dropout noise for the comparison
        if isinstance(mod, torch.nn.Dropout):
            mod.eval()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(16, 1, 22050, generator=g)
    x = x / x.pow(2).mean(-1, keepdim=True).sqrt()
    y = (torch.rand(16, 11, generator=g) < 0.2).float()
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    before = loss_fn(m(x), y)
    opt.zero_grad()
    before.backward()
    opt.step()
    with torch.no_grad():
        after = loss_fn(m(x), y)
    assert after.item() < before.item()


def test_logmel_matches_reference_stft():
    lm = LogMel()
    x = torch.randn(2, 1, 22050)
    got = lm(x)
    assert got.shape == (2, 1, 128, 42)
    spec = torch.stft(x[:, 0], 1024, 512, window=torch.hann_window(1024), center=False, return_complex=True)
    ref = torch.log(torch.matmul(spec.abs().pow(2).transpose(1, 2), lm.fb) + 1e-6).transpose(1, 2)
    torch.testing.assert_close(got[:, 0], ref, atol=2e-3, rtol=1e-3)


def test_mel_filterbank():
    fb = mel_filterbank(513, 128, 22050)
    assert fb.shape == (513, 128) and (fb >= 0).all()
    assert (fb.sum(0) > 0).all()  # no empty band
    peaks = fb.argmax(0)
    assert (np.diff(peaks) >= 0).all()


def test_sinc_filters_are_mel_spaced_band_passes():
    from instrument_meter_training.models import SincConv

    sc = SincConv(16, 101, stride=3)
    low, high = (v[:, 0].detach().numpy() for v in sc.cutoffs())
    assert low[0] == pytest.approx(30.0) and high[-1] == pytest.approx(11025 - 30.0, rel=1e-4)
    widths = high - low
    # mel (Slaney: linear below 1 kHz): equal bands low down, wider ones higher up
    assert (np.diff(low) > 0).all() and (np.diff(widths) > -1e-2).all() and widths[-1] > 5 * widths[0]
    k = sc.filters().detach().numpy()[:, 0]
    assert k.shape == (16, 101)
    np.testing.assert_allclose(k, k[:, ::-1], atol=1e-6)  # linear phase (symmetric)
    # each filter passes its own band and stops far outside it
    f = np.fft.rfftfreq(4096, 1 / 22050)
    resp = np.abs(np.fft.rfft(k, 4096, axis=1))
    for i in (3, 8, 14):
        centre = (low[i] + high[i]) / 2
        inside = resp[i, np.argmin(np.abs(f - centre))]
        far = resp[i, (f > high[i] * 2 + 500) | (f < max(low[i] / 3 - 200, 0))]
        assert far.size == 0 or inside > 10 * far.max()
    # the cut-offs are what is learnt
    names = {n for n, _ in sc.named_parameters()}
    assert names == {"low", "band"}
    out = sc(torch.randn(2, 1, 22050))
    out.square().mean().backward()
    assert sc.low.grad is not None and sc.low.grad.abs().sum() > 0
