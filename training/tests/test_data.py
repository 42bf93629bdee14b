import numpy as np
import pytest
import soundfile as sf

from instrument_meter_training import LABELS, SAMPLE_RATE
from instrument_meter_training.data import (
    cut_windows,
    group_kfold,
    load_audio,
    resolve_data_root,
    rms,
    rms_normalize,
    scan_test,
    scan_training,
    source_group,
    stratified_group_kfold,
)


def test_source_group():
    assert source_group("001__[cel][nod][cla]0058__1") == "001__"
    assert source_group("[cel][nod][cla]0058__3") == "[cel][nod][cla]0058"
    assert source_group("c0042[cel][fluid]0001__2") == "c0042"
    assert source_group("c0042[cel][fluid]0001__2", "pool") == "fluid"


def test_scan_training_irmas(fake_irmas):
    train, _ = fake_irmas
    ex = scan_training(train)
    assert len(ex) == 11 * 3 * 2
    assert {e.label for e in ex} == set(range(11))
    for e in ex:
        assert e.path.parent.name == LABELS[e.label]
    # excerpts of one source share a group; groups never span classes
    groups = {}
    for e in ex:
        groups.setdefault(e.group, set()).add(e.label)
    assert len(groups) == 33 and all(len(v) == 1 for v in groups.values())


def test_scan_test_parts_and_whitespace(fake_irmas):
    _, test = fake_irmas
    clips = scan_test(test)
    assert len(clips) == 12
    assert {c.path.parent.parent.name for c in clips} == {f"IRMAS-TestingData-Part{i}" for i in (1, 2, 3)}
    for c in clips:
        want = {line.strip() for line in c.path.with_suffix(".txt").read_text().splitlines() if line.strip()}
        assert {LABELS[i] for i in np.flatnonzero(c.target)} == want


def test_load_audio_mono_resampled_cached(tmp_path, cache_dir):
    sr = 44100
    t = np.arange(sr) / sr
    x = 0.5 * np.sin(2 * np.pi * 440 * t)
    f = tmp_path / "a.wav"
    sf.write(f, np.stack([x, -x * 0 + x], 1), sr, subtype="PCM_16")
    a = load_audio(f, SAMPLE_RATE, cache_dir)
    assert a.dtype == np.float32 and a.ndim == 1
    assert abs(len(a) - SAMPLE_RATE) <= 2
    assert rms(a) == pytest.approx(0.5 / np.sqrt(2), rel=0.01)
    b = load_audio(f, SAMPLE_RATE, cache_dir)  # from the cache
    np.testing.assert_array_equal(a, b)
    assert any(cache_dir.rglob("*.npy"))


def test_windows_and_normalisation():
    x = np.arange(50000, dtype=np.float32)
    w = cut_windows(x, 22050)
    assert w.shape == (2, 22050) and w[1, 0] == 22050
    assert cut_windows(x[:100], 22050).shape == (1, 22050)
    assert cut_windows(x, 22050, 11025).shape == (3, 22050)
    n = rms_normalize(np.random.default_rng(0).standard_normal((3, 1000)).astype(np.float32) * 0.01)
    np.testing.assert_allclose(rms(n, axis=-1), 1.0, rtol=1e-4)
    assert np.all(rms_normalize(np.zeros((1, 10), np.float32)) == 0)


@pytest.mark.parametrize("k", [2, 5])
def test_kfold_groups_never_split(fake_irmas, k):
    ex = scan_training(fake_irmas[0])
    groups = [e.group for e in ex]
    labels = [e.label for e in ex]
    for folds in (group_kfold(groups, k, 0), stratified_group_kfold(groups, labels, k, 0)):
        assert sorted(np.concatenate(folds).tolist()) == list(range(len(ex)))  # a partition
        for f, val in enumerate(folds):
            train = np.setdiff1d(np.arange(len(ex)), val)
            assert not {groups[i] for i in val} & {groups[i] for i in train}, f"fold {f} leaks a source"
        sizes = [len(v) for v in folds]
        assert max(sizes) - min(sizes) <= max(3, len(ex) // k // 2)


def test_stratified_kfold_balances_classes():
    groups = [f"g{c}_{s}" for c in range(4) for s in range(10) for _ in range(3)]
    labels = [c for c in range(4) for s in range(10) for _ in range(3)]
    folds = stratified_group_kfold(groups, labels, 5, 1)
    for v in folds:
        counts = np.bincount(np.array(labels)[v], minlength=4)
        assert (counts == 6).all()


def test_resolve_corpus_root(tmp_path):
    (tmp_path / "train" / "cel").mkdir(parents=True)
    (tmp_path / "val" / "cel").mkdir(parents=True)
    (tmp_path / "test").mkdir()
    r = resolve_data_root(tmp_path)
    assert r.train == tmp_path / "train" and r.val == tmp_path / "val" and r.test == tmp_path / "test"
    r = resolve_data_root(tmp_path / "train")
    assert r.train == tmp_path / "train" and r.val is None
