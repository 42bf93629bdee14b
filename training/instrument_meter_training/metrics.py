"""Multi-label metrics through scikit-learn, and the choice of thresholds.

- ``lrap``: sklearn's ``label_ranking_average_precision_score``.
- ``f1_scores``: sklearn's micro, macro and per-class F1 with ``zero_division=0``.
- thresholds: per class on validation data (honest), one global threshold swept on the test set
  (the protocol of the 2020 code, reported as "paper"), or calibrated out of family with
  shrinkage toward one global threshold (``calibrated_thresholds``, for LOFO runs).
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import f1_score, label_ranking_average_precision_score

THRESHOLD_GRID = np.round(np.arange(0.01, 1.0, 0.01), 2)
#: Prior strength of the calibration's shrinkage: a class with this many positives gets half its
#: own best threshold and half the global one.
SHRINK_POSITIVES = 20.0


def lrap(y_true: np.ndarray, y_score: np.ndarray) -> float:
    y_true = np.asarray(y_true) > 0
    if len(y_true) == 0:
        return float("nan")
    return float(label_ranking_average_precision_score(y_true.astype(int), np.asarray(y_score, np.float64)))


def f1_scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    t = (np.asarray(y_true) > 0).astype(int)
    p = (np.asarray(y_pred) > 0).astype(int)
    if t.ndim == 2 and t.shape[1] == 1:  # one class: sklearn would read a binary column
        t, p = np.hstack([t, np.zeros_like(t)]), np.hstack([p, np.zeros_like(p)])
        per = f1_score(t, p, average=None, zero_division=0)[:1]
    else:
        per = f1_score(t, p, average=None, zero_division=0)
    # A class with no positive clip has no F1 (a LOFO fold's families may not play it): the macro
    # mean is over the classes present, so a fold is not scored on instruments it cannot contain.
    present = t.sum(axis=0)[: len(per)] > 0 if t.ndim == 2 else np.array([t.any()])
    return {
        "f1_micro": float(f1_score(t, p, average="micro", zero_division=0)),
        "f1_macro": float(np.mean(per[present])) if present.any() else float(np.mean(per)),
        "f1_per_class": [float(v) for v in per],
        "classes_present": [bool(v) for v in present],
    }


def binarize(y_score: np.ndarray, thresholds) -> np.ndarray:
    return (np.asarray(y_score) >= np.asarray(thresholds, np.float64)).astype(np.int8)


def _f1_grid(t: np.ndarray, s: np.ndarray, grid) -> np.ndarray:
    """F1 of one class at every grid threshold (counts vectorised over the grid; the same
    definition as sklearn's binary F1 with ``zero_division=0``, tested)."""
    pred = s[:, None] >= grid[None, :]
    tp = (pred & t[:, None]).sum(0).astype(float)
    fp = (pred & ~t[:, None]).sum(0).astype(float)
    fn = (~pred & t[:, None]).sum(0).astype(float)
    den = 2 * tp + fp + fn
    return np.divide(2 * tp, den, out=np.zeros_like(den), where=den > 0)


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
        f = _f1_grid(t, y_score[:, c], grid)
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


def calibrated_thresholds(y_true: np.ndarray, y_score: np.ndarray, prior: float = SHRINK_POSITIVES) -> dict:
    """Per-class thresholds from pooled out-of-family predictions, shrunk toward one global one.

    ``g`` is the single threshold maximising F1-micro over every class; ``t_c`` the threshold
    maximising class c's F1; with ``n_c`` positives of class c the result is
    ``w t_c + (1 - w) g`` with ``w = n_c / (n_c + prior)`` (``g`` alone for a class without
    positives), clipped to [0.01, 0.99]: a class seen rarely keeps near the global threshold.
    """
    y = np.asarray(y_true) > 0
    g = global_threshold_sweep(y, y_score)
    own = per_class_thresholds(y, y_score, default=g)
    n = y.sum(axis=0).astype(float)
    w = n / (n + prior)
    thr = np.clip(w * own + (1 - w) * g, 0.01, 0.99)
    return {"thresholds": thr.tolist(), "global": g, "per_class": own.tolist(), "weights": w.tolist(),
            "positives": n.astype(int).tolist(), "prior": prior}  # fmt: skip


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
