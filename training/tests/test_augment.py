"""Recording-identity augmentations (augment.py; batch versions in batch_augment.py): each keeps
the length, stays finite and changes what it should; the batch versions equal the numpy ones on
the same parameters; both loaders apply them when switched on and nothing changes when off."""

import numpy as np
import pytest
import torch

from instrument_meter_training import augment as A
from instrument_meter_training import batch_augment as B
from instrument_meter_training.batch_augment import DeviceBatches
from instrument_meter_training.data import rms
from instrument_meter_training.dataset import AugmentConfig, TrainSet

SR = 22050
N = SR


def sine(f, n=N, amp=0.3):
    return (amp * np.sin(2 * np.pi * f * np.arange(n) / SR)).astype(np.float32)


def peak_hz(x):
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    k = int(np.argmax(spec))
    a, b, c = np.log(spec[k - 1 : k + 2] + 1e-12)  # parabolic interpolation of the peak bin
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * SR / len(x)


def band_db(x, lo, hi):
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / SR)
    return 10 * np.log10(spec[(f >= lo) & (f < hi)].sum() + 1e-20)


def crest(x):
    return float(np.max(np.abs(x)) / rms(x))


def noise(seed=0, n=N):
    return (0.1 * np.random.default_rng(seed).standard_normal(n)).astype(np.float32)


@pytest.mark.parametrize("semitones", [-2.0, -0.5, 1.0, 2.0])
def test_pitch_shift_moves_f0_by_the_ratio(semitones):
    ratio = 2 ** (semitones / 12)
    seg = sine(440.0, A.segment_length(N, ratio))
    y = A.pitch_shift(seg, ratio, N)
    assert y.shape == (N,) and np.isfinite(y).all()
    assert peak_hz(y) == pytest.approx(440.0 * ratio, rel=2e-3)


def test_spectral_envelope_changes_the_envelope_not_the_length():
    x = noise()
    rng = np.random.default_rng(1)
    nodes = A.draw_envelope(rng, 6.0)
    y = A.spectral_envelope(x, nodes)
    assert y.shape == x.shape and np.isfinite(y).all()
    bands = [(60, 200), (200, 800), (800, 3000), (3000, 10000)]
    change = [band_db(y, *b) - band_db(x, *b) for b in bands]
    assert max(change) - min(change) > 1.0  # the shape of the spectrum changed
    assert all(abs(c) <= 6.5 for c in change)  # within the drawn ±6 dB
    np.testing.assert_allclose(A.spectral_envelope(x, np.zeros(A.ENVELOPE_NODES)), x, atol=1e-6)


def test_reverb_adds_a_decaying_tail():
    x = np.zeros(N, np.float32)
    x[1000] = 1.0  # a click
    rng = np.random.default_rng(2)
    h = A.room_response(0.8, 0.4, rng.standard_normal(N))
    assert h[0] == 1.0 and np.sum(h[1:] ** 2) == pytest.approx(0.4, rel=1e-6)
    y = A.reverb(x, h)
    assert y.shape == x.shape and np.isfinite(y).all()
    early = np.sum(y[1100:3000] ** 2)
    late = np.sum(y[12000:13900] ** 2)
    assert np.sum(y[1001:] ** 2) > 0.2 and early > 10 * late > 0  # a tail that decays
    assert y[1000] == pytest.approx(1.0, abs=1e-4) and np.abs(y[:999]).max() < 1e-5  # causal


def test_compression_reduces_the_crest_factor():
    x = sine(220.0) * np.where((np.arange(N) // 2205) % 4 == 0, 1.0, 0.1).astype(np.float32)
    y = A.compress(x, 6.0, 6.0)
    assert y.shape == x.shape and np.isfinite(y).all()
    assert crest(y) < crest(x) - 0.1

    def contrast(z):  # loud over quiet sections, dB
        loud = np.concatenate([z[i : i + 2205] for i in range(0, N, 4 * 2205)])
        quiet = np.concatenate([z[i + 2205 : i + 4 * 2205] for i in range(0, N, 4 * 2205)])
        return 20 * np.log10(rms(loud) / rms(quiet))

    assert contrast(x) == pytest.approx(20.0, abs=0.5)
    assert contrast(y) < contrast(x) - 6.0  # the loud sections turned down


def test_distortion_adds_harmonics_for_guitar_items_only():
    x = sine(220.0)
    y = A.distort(x, 18.0, 0.2, 5000.0)
    assert y.shape == x.shape and np.isfinite(y).all()
    gain = [band_db(y, 220 * k - 20, 220 * k + 20) - band_db(y, 200, 240) for k in (2, 3)]
    base = [band_db(x, 220 * k - 20, 220 * k + 20) - band_db(x, 200, 240) for k in (2, 3)]
    assert all(g > b + 40 for g, b in zip(gain, base))  # strong 2nd (bias) and 3rd harmonics
    aug = AugmentConfig(distort_prob=1.0)
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(A.identity_augment(x, rng, aug, label=0), x)  # cello: untouched
    assert not np.array_equal(A.identity_augment(x, rng, aug, label=4), x)  # electric guitar


def test_codec_band_limits_and_quantises():
    x = noise(3)
    y = A.codec(x, 4000.0)
    assert y.shape == x.shape and np.isfinite(y).all()
    # 24 dB per octave above the cut-off: about -28 dB an octave up (8-11 kHz)
    assert band_db(y, 8000, 11000) < band_db(x, 8000, 11000) - 25
    assert band_db(y, 1000, 3000) == pytest.approx(band_db(x, 1000, 3000), abs=1.0)
    q = A.mu_law_8bit(x)
    assert len(np.unique(np.round(q / np.max(np.abs(x)), 6))) <= 255
    assert np.corrcoef(q, x)[0, 1] > 0.99


def test_batch_versions_equal_numpy():
    rng = np.random.default_rng(4)
    x = np.stack([noise(5), sine(330.0) + noise(6) * 0.1]).astype(np.float32)
    xt = torch.from_numpy(x)

    def t(v):
        return torch.tensor(v, dtype=torch.float32)

    nodes = np.stack([A.draw_envelope(rng, 6.0) for _ in x])
    got = B.envelope_t(xt, t(nodes)).numpy()
    np.testing.assert_allclose(got, [A.spectral_envelope(a, n) for a, n in zip(x, nodes)], atol=1e-4)
    noises = rng.standard_normal((2, N))
    h = B.room_response_t(t([0.3, 1.1]), t([0.2, 0.5]), t(noises))
    want = np.stack([A.room_response(r, w, z) for r, w, z in zip([0.3, 1.1], [0.2, 0.5], noises)])
    np.testing.assert_allclose(h.numpy(), want, atol=1e-5)
    np.testing.assert_allclose(
        B.reverb_t(xt, h).numpy(), [A.reverb(a, b) for a, b in zip(x, want)], atol=1e-4
    )
    got = B.compress_t(xt, t([3.0, 12.0]), t([2.0, 8.0])).numpy()
    np.testing.assert_allclose(got, [A.compress(x[0], 3.0, 2.0), A.compress(x[1], 12.0, 8.0)], atol=1e-4)
    got = B.distort_t(xt, t([6.0, 20.0]), t([-0.2, 0.1]), t([3500.0, 5500.0])).numpy()
    want = [A.distort(x[0], 6.0, -0.2, 3500.0), A.distort(x[1], 20.0, 0.1, 5500.0)]
    np.testing.assert_allclose(got, want, atol=1e-4)
    got = B.codec_t(xt, t([3000.0, 7000.0])).numpy()
    want = [A.codec(x[0], 3000.0), A.codec(x[1], 7000.0)]
    # a value on a quantisation boundary may round to the neighbouring level: compare nearly all
    assert np.mean(np.abs(got - np.array(want)) < 1e-4) > 0.99


EVERY = dict(pitch_prob=1.0, envelope_prob=1.0, reverb_prob=1.0, compress_prob=1.0, distort_prob=1.0,
             codec_prob=1.0, cross_family_mix=True)  # fmt: skip


def _audio(n_per_class=2, classes=5):
    rng = np.random.default_rng(0)
    audio = [(rng.standard_normal(3 * N) * 0.1).astype(np.float32) for _ in range(n_per_class * classes)]
    labels = np.repeat(np.arange(classes), n_per_class)
    families = ["a" if i % 2 else "b" for i in range(len(audio))]
    return audio, labels, families


def test_trainset_applies_the_switches():
    audio, labels, fams = _audio()
    plain = TrainSet(audio, labels, 11, AugmentConfig(mix_prob=0.5), seed=2, families=fams)
    on = TrainSet(audio, labels, 11, AugmentConfig(mix_prob=0.5, **EVERY), seed=2, families=fams)
    for i in range(len(plain)):
        x, y = on[i]
        assert x.shape == (1, N) and torch.isfinite(x).all()
        assert rms(x.numpy()[0]) == pytest.approx(1.0, rel=1e-3)
        assert not torch.equal(x, plain[i][0])


def test_cross_family_partners():
    audio, labels, fams = _audio()
    ds = TrainSet(audio, labels, 11, AugmentConfig(cross_family_mix=True), families=fams)
    rng = np.random.default_rng(0)
    for e in range(len(audio)):
        for c in range(5):
            assert fams[ds._partner(c, e, rng)] != fams[e]


def test_device_batches_apply_the_switches_and_mix_across_families():
    audio, labels, fams = _audio(4)
    aug = AugmentConfig(mix_prob=1.0, mix_max_sources=2, **EVERY)
    b = DeviceBatches(audio, labels, 5, aug, 8, 2, seed=1, families=fams)
    calls = []
    source = b._source
    b._source = lambda e, g: calls.append(e.clone()) or source(e, g)
    for x, _ in b.epoch(0):
        assert x.shape == (8, 1, N) and torch.isfinite(x).all()
        np.testing.assert_allclose(x.square().mean(-1).sqrt().numpy(), 1.0, rtol=1e-3)
    fam = np.array([f == "a" for f in fams])
    items, partners = calls[0::2], calls[1::2]
    same = np.concatenate([fam[i.numpy()] == fam[p.numpy()] for i, p in zip(items, partners)])
    assert same.mean() < 0.1  # each partner redrawn up to 3 times: ~1/16 stay in the family
    plain = DeviceBatches(audio, labels, 5, AugmentConfig(mix_prob=1.0, mix_max_sources=2), 8, 2, seed=1)
    assert not torch.equal(next(plain.epoch(0))[0], next(b.epoch(0))[0])


@pytest.mark.parametrize("batch_augment", ["off", "on"])
def test_training_with_every_switch(fake_irmas, cache_dir, tmp_path, batch_augment):
    from instrument_meter_training.cli import main

    args = ["train", "--data", str(fake_irmas[0]), "--arch", "fcn", "--folds", "2", "--fold-index", "0",
            "--out", str(tmp_path / "run"), "--cache-dir", str(cache_dir), "--epochs", "1", "--batch-size", "8",
            "--crops-per-excerpt", "1", "--max-excerpts", "24", "--batch-augment", batch_augment,
            "--pitch-prob", "0.5", "--envelope-prob", "0.5", "--reverb-prob", "0.5", "--compress-prob", "0.5",
            "--distort-prob", "1", "--codec-prob", "0.5", "--cross-family-mix"]  # fmt: skip
    assert main(args) == 0
    import json

    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["augment"]["reverb_prob"] == 0.5 and cfg["augment"]["cross_family_mix"] is True
    done = json.loads((tmp_path / "run" / "fold0" / "done.json").read_text())
    assert np.isfinite(done["val_loss"]) and done["batches_on_device"] == (batch_augment == "on")
