import numpy as np
import pytest

from instrument_meter_training.data import rms
from instrument_meter_training.dataset import AugmentConfig, TrainSet, ValSet, random_eq


def _audio(n_per_class=2, classes=4, seconds=3.0):
    rng = np.random.default_rng(0)
    audio, labels = [], []
    for c in range(classes):
        for _ in range(n_per_class):
            audio.append((rng.standard_normal(int(seconds * 22050)) * 0.1).astype(np.float32))
            labels.append(c)
    audio[0][: 22050 * 2] = 0  # first two seconds silent
    return audio, np.array(labels)


def test_trainset_deterministic_mixing_normalised():
    audio, labels = _audio()
    aug = AugmentConfig(mix_prob=1.0, wave_prob=1.0, eq_prob=1.0)
    ds = TrainSet(audio, labels, 11, aug, crop="random", crops_per_excerpt=2, seed=3)
    assert len(ds) == 16
    ds.set_epoch(1)
    x1, y1 = ds[5]
    x2, y2 = ds[5]
    assert x1.shape == (1, 22050) and y1.shape == (11,)
    assert np.array_equal(x1.numpy(), x2.numpy()) and np.array_equal(y1.numpy(), y2.numpy())
    ds.set_epoch(2)
    assert not np.array_equal(ds[5][0].numpy(), x1.numpy())
    for i in range(len(ds)):
        x, y = ds[i]
        assert 2 <= y.sum() <= 3  # a mixture of 2-3 different classes, union of labels
        assert y[labels[ds.items[i][0]]] == 1
        assert rms(x.numpy()[0]) == pytest.approx(1.0, rel=1e-3)


def test_trainset_windows_mode_skips_silence():
    audio, labels = _audio()
    ds = TrainSet(audio, labels, 11, AugmentConfig(mix_prob=0, wave_prob=0), crop="windows", augment=False)
    assert len(ds) == 8 * 3 - 2  # the two silent windows of excerpt 0 are dropped
    x, y = ds[0]
    assert y.sum() == 1


def test_valset_clips_and_mixtures():
    audio, labels = _audio()
    v = ValSet.build(audio, labels, 11, mix_fraction=0.5, seed=0)
    assert len(v.clip_targets) == 8 + 4
    assert (v.clip_targets[:8].sum(1) == 1).all() and (v.clip_targets[8:].sum(1) >= 2).all()
    assert v.silent.sum() == 2 and len(v.windows) == 36
    v2 = ValSet.build(audio, labels, 11, mix_fraction=0.5, seed=0)
    np.testing.assert_array_equal(v.windows, v2.windows)


def test_random_eq_finite():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(22050).astype(np.float32)
    for _ in range(6):
        y = random_eq(x, rng)
        assert y.shape == x.shape and np.isfinite(y).all()


def test_loader_workers_see_the_epoch():
    """Worker processes draw the same items as the main process, for the current epoch."""
    import torch

    audio, labels = _audio()
    ds = TrainSet(audio, labels, 11, AugmentConfig(mix_prob=0.5), seed=1)
    ds.set_epoch(4)
    want = torch.stack([ds[i][0] for i in range(len(ds))])
    loader = torch.utils.data.DataLoader(ds, batch_size=len(ds), num_workers=1)
    ((got, _),) = list(loader)
    assert torch.equal(got, want)
