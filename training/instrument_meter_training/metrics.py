"""Multi-label metrics implemented here (numpy only) and tested against scikit-learn.

- ``lrap``: label ranking average precision, exactly sklearn's
  ``label_ranking_average_precision_score`` (ties ranked pessimistically; a sample with no or
  all labels relevant scores 1).
- ``f1_scores``: micro, macro and per-class F1 with sklearn's ``zero_division=0`` convention.
- threshold choice: per class on validation data (honest), or one global threshold swept on the
  test set (the protocol of the 2020 code, reported as "paper").
"""

from __future__ import annotations

import numpy as np

THRESHOLD_GRID = np.round(np.arange(0.01, 1.0, 0.01), 2)


def lrap(y_true: np.ndarray, y_score: np.ndarray) -> float:
    y_true = np.asarray(y_true) > 0
    s = np.asarray(y_score, np.float64)
    n, k = y_true.shape
    if n == 0:
        return float("nan")
    # ge[i, j, l] = score of label l >= score of label j (for sample i)
    ge = s[:, None, :] >= s[:, :, None]
    rank = ge.sum(axis=2)  # rank of j among all labels (ties: max)
    rel_rank = (ge & y_true[:, None, :]).sum(axis=2)  # relevant labels ranked at or above j
    n_rel = y_true.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        per = np.where(y_true, rel_rank / rank, 0.0).sum(axis=1) / n_rel
    per = np.where((n_rel == 0) | (n_rel == k), 1.0, per)
    return float(per.mean())


def _counts(y_true: np.ndarray, y_pred: np.ndarray):
    t = np.asarray(y_true) > 0
    p = np.asarray(y_pred) > 0
    tp = (t & p).sum(axis=0).astype(np.float64)
    fp = (~t & p).sum(axis=0).astype(np.float64)
    fn = (t & ~p).sum(axis=0).astype(np.float64)
    return tp, fp, fn


def _f1(tp, fp, fn):
    den = 2 * tp + fp + fn
    return np.divide(2 * tp, den, out=np.zeros_like(np.asarray(den, np.float64)), where=den > 0)


def f1_scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    tp, fp, fn = _counts(y_true, y_pred)
    per = _f1(tp, fp, fn)
    return {
        "f1_micro": float(_f1(tp.sum(), fp.sum(), fn.sum())),
        "f1_macro": float(per.mean()),
        "f1_per_class": [float(v) for v in per],
    }


def binarize(y_score: np.ndarray, thresholds) -> np.ndarray:
    return (np.asarray(y_score) >= np.asarray(thresholds, np.float64)).astype(np.int8)


def per_class_thresholds(y_true: np.ndarray, y_score: np.ndarray, grid=THRESHOLD_GRID, default: float = 0.5):
    """For each class the grid threshold maximising that class's F1 (ties: the median of the tied
    thresholds); ``default`` for a class without positives."""
    y_true = np.asarray(y_true) > 0
    y_score = np.asarray(y_score)
    out = []
    for c in range(y_true.shape[1]):
        t = y_true[:, c]
        if not t.any():
            out.append(default)
            continue
        pred = y_score[:, c][:, None] >= grid[None, :]
        tp = (pred & t[:, None]).sum(0)
        fp = (pred & ~t[:, None]).sum(0)
        fn = (~pred & t[:, None]).sum(0)
        f = _f1(tp.astype(float), fp.astype(float), fn.astype(float))
        best = np.flatnonzero(f >= f.max() - 1e-12)
        out.append(float(grid[best[len(best) // 2]]))
    return np.array(out, np.float64)


def global_threshold_sweep(y_true: np.ndarray, y_score: np.ndarray, grid=THRESHOLD_GRID) -> float:
    """The one threshold maximising F1-micro (the paper protocol: swept on the test set itself)."""
    best_t, best_f = 0.5, -1.0
    for t in grid:
        f = f1_scores(y_true, np.asarray(y_score) >= t)["f1_micro"]
        if f > best_f + 1e-12:
            best_t, best_f = float(t), f
    return best_t


def summarize(y_true: np.ndarray, y_score: np.ndarray, thresholds) -> dict:
    out = {"lrap": lrap(y_true, y_score)}
    out.update(f1_scores(y_true, binarize(y_score, thresholds)))
    out["thresholds"] = [
        float(v) for v in np.broadcast_to(np.asarray(thresholds, float), (np.shape(y_score)[1],))
    ]
    return out


def mean_std(values) -> dict:
    v = np.asarray(values, np.float64)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=0)) if len(v) > 1 else 0.0, "n": len(v)}
