import json

import numpy as np
import pytest
import torch

from instrument_meter_training.batch_augment import DeviceBatches
from instrument_meter_training.dataset import AugmentConfig
from instrument_meter_training.runs import TrainConfig
from instrument_meter_training.train import revalidate, train

W = 1000  # a short "window" keeps the tests fast; the code is window-agnostic


def _excerpts(n_per_class=4, classes=5, length=3 * W, seed=0):
    """Excerpts whose samples identify them: excerpt i holds i * 10 + a ramp in [0, 1)."""
    rng = np.random.default_rng(seed)
    audio, labels = [], []
    for c in range(classes):
        for _ in range(n_per_class):
            i = len(audio)
            audio.append((i * 10 + np.arange(length) / length + rng.uniform(0, 1e-3)).astype(np.float32))
            labels.append(c)
    return audio, np.array(labels)


def _batches(aug, **kw):
    audio, labels = _excerpts()
    args = dict(batch_size=16, crops_per_excerpt=2, seed=3, window=W, sample_rate=22050)
    args.update(kw)
    return DeviceBatches(audio, labels, 5, aug, **args), audio, labels


def test_plain_crops_are_windows_of_the_labelled_excerpt():
    aug = AugmentConfig(mix_prob=0.0, wave_prob=0.0, normalize="none")
    b, audio, labels = _batches(aug, storage=torch.float32)
    seen = 0
    for x, y in b.epoch(0):
        assert x.shape == (16, 1, W) and y.shape == (16, 5)
        for row, t in zip(x[:, 0].numpy(), y.numpy()):
            i = int(round(float(row[0]) // 10))  # the excerpt the crop came from
            assert np.flatnonzero(t).tolist() == [labels[i]]
            src = audio[i]
            off = int(np.argmin(np.abs(src - row[0])))
            np.testing.assert_array_equal(row, src[off : off + W])
            seen += 1
    assert seen == len(b) * 16 == (len(audio) * 2 // 16) * 16


def test_float16_storage_stays_close():
    aug = AugmentConfig(mix_prob=0.0, wave_prob=0.0, normalize="none")
    x16 = next(_batches(aug)[0].epoch(0))[0]
    x32 = next(_batches(aug, storage=torch.float32)[0].epoch(0))[0]
    np.testing.assert_allclose(x16.numpy(), x32.numpy(), rtol=1e-3)


def test_mixtures_hold_distinct_classes_and_the_label_union():
    aug = AugmentConfig(mix_prob=1.0, mix_max_sources=3, wave_prob=0.0)
    b, _, _ = _batches(aug)
    counts = []
    for _, y in b.epoch(1):
        k = y.sum(dim=1)
        assert torch.all((k >= 2) & (k <= 3))
        assert set(torch.unique(y).tolist()) <= {0.0, 1.0}
        counts += k.tolist()
    assert {2.0, 3.0} <= set(counts)  # both sizes drawn


def test_output_is_rms_normalised_and_finite_with_every_augmentation():
    aug = AugmentConfig(mix_prob=0.5, wave_prob=1.0, eq_prob=1.0)
    b, _, _ = _batches(aug)
    for x, _ in b.epoch(0):
        assert torch.isfinite(x).all()
        np.testing.assert_allclose(x.square().mean(dim=-1).sqrt().numpy(), 1.0, rtol=1e-3)


def test_same_seed_same_batches_other_epoch_other_batches():
    aug = AugmentConfig(mix_prob=0.5, wave_prob=0.5, eq_prob=0.5)
    a = [x for x, _ in _batches(aug)[0].epoch(2)]
    b = [x for x, _ in _batches(aug)[0].epoch(2)]
    c = [x for x, _ in _batches(aug)[0].epoch(3)]
    assert all(torch.equal(p, q) for p, q in zip(a, b))
    assert not torch.equal(a[0], c[0])


def test_silent_crops_are_redrawn_where_the_excerpt_has_sound():
    audio = [np.zeros(10 * W, np.float32) for _ in range(4)]
    for a in audio:
        a[-2 * W :] = 0.1  # sound only in the last 2 of 10 windows
    aug = AugmentConfig(mix_prob=0.0, wave_prob=0.0, normalize="none")
    b = DeviceBatches(audio, np.array([0, 0, 1, 1]), 2, aug, batch_size=4, crops_per_excerpt=64, window=W)
    rms = torch.cat([x[:, 0].square().mean(dim=1).sqrt() for x, _ in b.epoch(0)])
    # one draw would be silent ~78 % of the time, four draws ~37 %
    assert float((rms < 1e-3).float().mean()) < 0.5


def test_train_with_device_batches_and_time_budget(fake_irmas, cache_dir, tmp_path):
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "train").symlink_to(fake_irmas[0])
    (root / "val").symlink_to(fake_irmas[0])
    cfg = TrainConfig(data=str(root), arch="fcn", folds=1, epochs=50, batch_size=16, crops_per_excerpt=1,
                      cache_dir=str(cache_dir), max_excerpts=33, batch_augment="on", time_budget_min=1e-4)  # fmt: skip
    (f,) = train(cfg, tmp_path / "run")["folds"]
    assert f["batches_on_device"] and f["budget_exhausted"] and f["epochs_run"] == 1
    assert not f["stopped_early"]
    # revalidation on the same data reproduces the figures and keeps the previous ones
    (r,) = revalidate(tmp_path / "run", root, "cpu", str(cache_dir))
    assert r["val_lrap"] == pytest.approx(f["val_lrap"], abs=1e-6)
    assert r["device_val"]["thresholds"] == f["thresholds"]
    assert json.loads((tmp_path / "run" / "fold0" / "done.json").read_text())["revalidated_on"]
