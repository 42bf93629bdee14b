import numpy as np
import pytest
from sklearn.metrics import f1_score, label_ranking_average_precision_score

from instrument_meter_training.metrics import (
    binarize,
    f1_scores,
    global_threshold_sweep,
    lrap,
    mean_std,
    per_class_thresholds,
)


@pytest.mark.parametrize("seed", range(8))
def test_lrap_equals_sklearn_random(seed):
    rng = np.random.default_rng(seed)
    n, k = rng.integers(1, 60), rng.integers(2, 12)
    y = (rng.random((n, k)) < 0.3).astype(int)
    s = rng.random((n, k))
    if seed % 2:
        s = np.round(s, 1)  # many ties
    if seed == 3:
        y[0] = 0  # no relevant label
        y[1] = 1  # every label relevant
    assert lrap(y, s) == pytest.approx(label_ranking_average_precision_score(y, s), abs=1e-12)


def test_lrap_hand_computed():
    # sklearn docs example: (1/2 + 2/3) / 2
    y = np.array([[1, 0, 0], [0, 0, 1]])
    s = np.array([[0.75, 0.5, 1.0], [1.0, 0.2, 0.1]])
    assert lrap(y, s) == pytest.approx(0.41666666666666663)
    # perfect ranking, ties pessimistic: relevant label tied with an irrelevant one ranks 2nd
    assert lrap([[1, 0, 0]], [[0.9, 0.1, 0.0]]) == 1.0
    assert lrap([[1, 0, 0]], [[0.5, 0.5, 0.0]]) == pytest.approx(0.5)


@pytest.mark.parametrize("seed", range(6))
def test_f1_equals_sklearn(seed):
    rng = np.random.default_rng(100 + seed)
    y = (rng.random((40, 11)) < 0.25).astype(int)
    p = (rng.random((40, 11)) < 0.3).astype(int)
    if seed == 0:
        y[:, 3] = 0
        p[:, 3] = 0  # class absent and never predicted: F1 0 (zero_division=0), not in the macro mean
    r = f1_scores(y, p)
    present = [c for c in range(11) if y[:, c].any()]
    assert r["classes_present"] == [c in present for c in range(11)]
    assert r["f1_micro"] == pytest.approx(f1_score(y, p, average="micro", zero_division=0))
    assert r["f1_macro"] == pytest.approx(f1_score(y, p, labels=present, average="macro", zero_division=0))
    np.testing.assert_allclose(r["f1_per_class"], f1_score(y, p, average=None, zero_division=0))


def test_f1_macro_skips_classes_a_test_set_cannot_contain():
    """A LOFO fold whose families play no piano is not scored 0 on piano."""
    y = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0]])
    p = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0]])  # perfect on 0 and 1, a false alarm on absent 2
    r = f1_scores(y, p)
    assert r["f1_per_class"] == pytest.approx([1.0, 1.0, 0.0])
    assert r["f1_macro"] == pytest.approx(1.0)
    assert r["f1_micro"] == pytest.approx(2 * 4 / (2 * 4 + 1))


def test_f1_hand_computed():
    y = np.array([[1, 0], [1, 1], [0, 1]])
    p = np.array([[1, 1], [0, 1], [0, 0]])
    # class 0: tp1 fn1 -> 2/3; class 1: tp1 fp1 fn1 -> 1/2; micro: tp2 fp1 fn2 -> 4/7
    r = f1_scores(y, p)
    assert r["f1_per_class"] == pytest.approx([2 / 3, 0.5])
    assert r["f1_macro"] == pytest.approx((2 / 3 + 0.5) / 2)
    assert r["f1_micro"] == pytest.approx(4 / 7)


def test_thresholds():
    y = np.array([[1, 0], [1, 0], [0, 0], [0, 0]])
    s = np.array([[0.8, 0.3], [0.6, 0.2], [0.4, 0.9], [0.1, 0.1]])
    t = per_class_thresholds(y, s)
    assert 0.4 < t[0] <= 0.6  # separates positives from negatives
    assert t[1] == 0.5  # no positives: default
    assert (binarize(s, t)[:, 0] == y[:, 0]).all()
    g = global_threshold_sweep(y[:, :1], s[:, :1])
    assert f1_scores(y[:, :1], s[:, :1] >= g)["f1_micro"] == 1.0
    assert global_threshold_sweep(y, s) == pytest.approx(0.41)  # lowest threshold of the best F1 (0.8)
    assert mean_std([1.0, 3.0]) == {"mean": 2.0, "std": 1.0, "n": 2}


def test_threshold_search_f1_equals_sklearn():
    """The vectorised per-threshold F1 of the threshold search is sklearn's binary F1."""
    from instrument_meter_training.metrics import THRESHOLD_GRID, _f1_grid

    rng = np.random.default_rng(7)
    t = rng.random(50) < 0.3
    s = rng.random(50)
    got = _f1_grid(t, s, THRESHOLD_GRID)
    want = [f1_score(t, s >= g, zero_division=0) for g in THRESHOLD_GRID]
    np.testing.assert_allclose(got, want)


def test_calibrated_thresholds_shrink_toward_global():
    from instrument_meter_training.metrics import calibrated_thresholds

    rng = np.random.default_rng(3)
    n = 400
    y = np.zeros((n, 3), int)
    y[:, 0] = rng.random(n) < 0.5  # many positives: close to its own best threshold
    y[:3, 1] = 1  # three positives: close to the global threshold
    s = rng.random((n, 3)) * 0.5
    s[:, 0] += 0.4 * y[:, 0]  # class 0 separable around 0.5..0.9
    s[:3, 1] = 0.95
    r = calibrated_thresholds(y, s)
    g, own, w = r["global"], np.array(r["per_class"]), np.array(r["weights"])
    assert r["positives"] == [int(y[:, 0].sum()), 3, 0]
    np.testing.assert_allclose(w, [y[:, 0].sum() / (y[:, 0].sum() + 20), 3 / 23, 0])
    np.testing.assert_allclose(r["thresholds"], np.clip(w * own + (1 - w) * g, 0.01, 0.99))
    assert abs(r["thresholds"][0] - own[0]) < abs(r["thresholds"][0] - g)
    assert abs(r["thresholds"][1] - g) < abs(r["thresholds"][1] - own[1])
    assert r["thresholds"][2] == pytest.approx(g)  # no positive: the global threshold
