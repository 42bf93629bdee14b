"""Evaluation of a run's fold models on a test folder (IRMAS test layout).

Clip score = mean of the window sigmoids over non-overlapping 1-s windows (the paper's setting;
``--hop`` changes it); a window below −60 dBFS scores 0 and is not run, as in the Rust runtime.
Two threshold protocols, both reported:

- ``honest``: per-class thresholds chosen on each fold's validation clips (and exported);
- ``paper``: one global threshold swept on the test set itself (the 2020 code's protocol).

Results are mean ± std over the fold models, plus the fold-average ensemble.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import numpy as np
import torch

from .data import resolve_data_root, scan_test
from .metrics import global_threshold_sweep, mean_std, summarize
from .models import build_model, count_macs, count_params, describe
from .ort_runtime import ort_latency
from .runs import fold_dirs, load_config, load_model
from .scoring import score_clips, scoring_device


def test_metrics(y: np.ndarray, s: np.ndarray, thresholds) -> dict:
    honest = summarize(y, s, np.clip(thresholds, 0.01, 0.99))
    t = global_threshold_sweep(y, s)
    paper = summarize(y, s, t)
    paper["threshold"] = t
    return {"honest": honest, "paper": paper}


def _aggregate(per_fold: list[dict]) -> dict:
    agg = {}
    for proto in ("honest", "paper"):
        rows = [f[proto] for f in per_fold]
        a = {k: mean_std([r[k] for r in rows]) for k in ("lrap", "f1_micro", "f1_macro")}
        pc = np.array([r["f1_per_class"] for r in rows])
        a["f1_per_class"] = {"mean": pc.mean(0).tolist(), "std": pc.std(0).tolist()}
        if proto == "paper":
            a["threshold"] = mean_std([r["threshold"] for r in rows])
        agg[proto] = a
    return agg


def evaluate(run_dir, test_dir, out_dir=None, hop_s: float | None = None, device="auto", cache_dir=None,
             plots: bool = True, engine: str = "torch") -> dict:  # fmt: skip
    run_dir = Path(run_dir)
    out_dir = Path(out_dir) if out_dir else run_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg = load_config(run_dir)
    dev = scoring_device(device, engine)
    if dev.type == "cpu":
        torch.set_num_threads(cfg.threads)
    cache = cfg.cache(cache_dir)
    if test_dir is None:
        test_dir = resolve_data_root(cfg.data).test
        if test_dir is None:
            raise FileNotFoundError(f"no --test given and {cfg.data} has no test/ folder")
    test_root = Path(test_dir)
    if (test_root / "test").is_dir() and not any(test_root.glob("*.txt")):
        test_root = test_root / "test"  # a corpus root was given
    clips = scan_test(test_root, cfg.labels)
    y = np.stack([c.target for c in clips])
    folds = fold_dirs(run_dir)
    models = [load_model(cfg, d, dev, engine) for _, d, _ in folds]
    hop = int(round(hop_s * cfg.sample_rate)) if hop_s else None
    scores = score_clips(models, [c.path for c in clips], cfg, dev, hop, cache)
    np.savez_compressed(out_dir / "test_scores.npz", scores=scores, targets=y, folds=[k for k, _, _ in folds],
                        paths=np.array([str(c.path) for c in clips]))  # fmt: skip

    per_fold = []
    for (k, _, done), s in zip(folds, scores):
        r = {"fold": k, **test_metrics(y, s, np.array(done["thresholds"]))}
        r["validation"] = {
            key: done.get(key) for key in ("val_loss", "val_lrap", "val_f1_micro", "val_f1_macro")
        }
        per_fold.append(r)
    ens_thr = np.mean([d["thresholds"] for _, _, d in folds], axis=0)
    ensemble = test_metrics(y, scores.mean(0), ens_thr)
    model = build_model(cfg.arch, len(cfg.labels), cfg.width)
    metrics = {
        "arch": cfg.arch,
        "architecture": describe(cfg.arch, cfg.width),
        "params": count_params(model),
        "macs_per_window": count_macs(model, cfg.window_samples),
        "labels": list(cfg.labels),
        "test_dir": str(test_dir),
        "n_clips": len(clips),
        "label_cardinality": float(y.sum(1).mean()),
        "hop_s": hop_s or cfg.window_samples / cfg.sample_rate,
        "n_folds": len(folds),
        "folds": per_fold,
        **_aggregate(per_fold),
        "ensemble": ensemble,
        "validation": {
            key: mean_std([f["validation"][key] for f in per_fold if f["validation"][key] is not None])
            for key in ("val_loss", "val_lrap", "val_f1_micro", "val_f1_macro")
            if any(f["validation"][key] is not None for f in per_fold)
        },
    }
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    (out_dir / "metrics.md").write_text(metrics_markdown(metrics, cfg.label_names))
    if plots:
        plot_f1_bars(metrics, cfg.label_names, out_dir / "f1_per_instrument.png")
        honest_pred = scores.mean(0) >= np.clip(ens_thr, 0.01, 0.99)
        plot_cooccurrence(y, honest_pred, cfg.labels, out_dir / "cooccurrence.png")
    return metrics


def _pm(d: dict, scale: float = 100.0) -> str:
    return f"{d['mean'] * scale:.2f} ± {d['std'] * scale:.2f}"


def metrics_markdown(m: dict, label_names) -> str:
    lines = [
        f"# {m['arch']} on {m['test_dir']}",
        "",
        f"{m['architecture']}; {m['params']:,} parameters, {m['macs_per_window'] / 1e6:.1f} M MACs per 1-s window; "
        f"{m['n_clips']} clips (label cardinality {m['label_cardinality']:.2f}), {m['n_folds']} fold models, "
        f"windows every {m['hop_s']:g} s.",
        "",
        "| protocol | F1-micro % | F1-macro % | LRAP % |",
        "|---|---|---|---|",
    ]
    for proto, name in (("honest", "honest: per-class thresholds from validation"),
                        ("paper", "paper: one global threshold swept on test")):  # fmt: skip
        a = m[proto]
        lines.append(f"| {name} | {_pm(a['f1_micro'])} | {_pm(a['f1_macro'])} | {_pm(a['lrap'])} |")
    for proto in ("honest", "paper"):
        e = m["ensemble"][proto]
        lines.append(
            f"| ensemble of folds, {proto} | {e['f1_micro'] * 100:.2f} | {e['f1_macro'] * 100:.2f} | {e['lrap'] * 100:.2f} |"
        )
    lines += [
        "",
        "Per-instrument F1 % (mean ± std over folds)",
        "",
        "| instrument | honest | paper |",
        "|---|---|---|",
    ]
    for i, name in enumerate(label_names):
        h, p = m["honest"]["f1_per_class"], m["paper"]["f1_per_class"]
        lines.append(
            f"| {name} | {h['mean'][i] * 100:.1f} ± {h['std'][i] * 100:.1f} | {p['mean'][i] * 100:.1f} ± {p['std'][i] * 100:.1f} |"
        )
    if m.get("validation"):
        v = m["validation"]
        lines += [
            "",
            "Validation (mean ± std over folds): "
            + ", ".join(f"{k} {v[k]['mean']:.4f} ± {v[k]['std']:.4f}" for k in v),
        ]
    return "\n".join(lines) + "\n"


def _plt():
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415 (pyplot needs the backend chosen first)

    return plt


def plot_f1_bars(m: dict, label_names, path: Path) -> None:
    plt = _plt()
    x = np.arange(len(label_names))
    fig, ax = plt.subplots(figsize=(10, 4))
    for off, proto, color in ((-0.2, "honest", "tab:blue"), (0.2, "paper", "tab:orange")):
        pc = m[proto]["f1_per_class"]
        ax.bar(x + off, pc["mean"], 0.4, yerr=pc["std"], label=proto, color=color, capsize=2)
    ax.set_xticks(x, label_names, rotation=30, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel("F1")
    ax.set_title(f"{m['arch']}: per-instrument F1 (mean ± std over {m['n_folds']} folds)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_cooccurrence(y_true: np.ndarray, y_pred: np.ndarray, labels, path: Path) -> None:
    """Left: ground-truth label co-occurrence (row i: share of clips with i that also hold j).
    Right: prediction view (row i: share of clips holding i where j is predicted; the diagonal is
    the recall, off-diagonal cells are labels predicted alongside i, right or wrong)."""
    plt = _plt()
    t = np.asarray(y_true) > 0
    p = np.asarray(y_pred) > 0
    n = np.maximum(t.sum(0), 1)[:, None]
    co = (t.T.astype(float) @ t.astype(float)) / n
    pr = (t.T.astype(float) @ p.astype(float)) / n
    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    for ax, mat, title in (
        (axes[0], co, "label co-occurrence (truth)"),
        (axes[1], pr, "predicted j | truth holds i"),
    ):
        im = ax.imshow(mat, vmin=0, vmax=1, cmap="viridis")
        ax.set_xticks(range(len(labels)), labels, rotation=90)
        ax.set_yticks(range(len(labels)), labels)
        ax.set_title(title)
        for i in range(len(labels)):
            for j in range(len(labels)):
                ax.text(
                    j,
                    i,
                    f"{mat[i, j]:.2f}",
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="w" if mat[i, j] < 0.5 else "k",
                )
    fig.colorbar(im, ax=axes, shrink=0.8)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def table(run_dirs, protocols=("paper", "honest")) -> str:
    """One markdown table comparing runs in the paper's format."""
    rows = []
    for r in run_dirs:
        f = Path(r) / "metrics.json"
        if not f.is_file():
            raise FileNotFoundError(
                f"{r}: no metrics.json (run `instrument-meter-train evaluate {r} --test DIR`)"
            )
        rows.append((Path(r), json.loads(f.read_text())))
    out = []
    for proto in protocols:
        title = {"paper": "paper protocol: one global threshold swept on the test set",
                 "honest": "honest protocol: per-class thresholds chosen on validation data"}[proto]  # fmt: skip
        out += [f"**{title}** (mean ± std over folds, %)", "",
                "| Model | Params | MACs / 1-s window | F1-micro | F1-macro | LRAP | folds |",
                "|---|---|---|---|---|---|---|"]  # fmt: skip
        for r, m in rows:
            a = m[proto]
            out.append(
                f"| {m['arch']} ({r.name}) | {m['params'] / 1e6:.2f} M | {m['macs_per_window'] / 1e6:.1f} M | "
                f"{_pm(a['f1_micro'])} | {_pm(a['f1_macro'])} | {_pm(a['lrap'])} | {m['n_folds']} |"
            )
        out.append("")
    return "\n".join(out)


def model_table(archs, width: float = 1.0, latency: bool = False) -> str:
    """Markdown table of architectures; with ``latency``, onnxruntime 1-thread ms per window."""
    head = "| arch | layers | params | MACs / 1-s window |" + (" ORT 1 thread p50 / p99 |" if latency else "")
    lines = [head, "|---|---|---|---|" + ("---|" if latency else "")]
    for a in archs:
        m = build_model(a, 11, width).eval()
        row = f"| `{a}` | {describe(a, width).split(': ', 1)[1]} | {count_params(m):,} | {count_macs(m) / 1e6:.1f} M |"
        if latency:
            r = ort_latency(m)
            row += f" {r['p50_ms']:.2f} / {r['p99_ms']:.2f} ms |"
        lines.append(row)
    return "\n".join(lines)


__all__ = ["evaluate", "table", "model_table", "test_metrics"]
