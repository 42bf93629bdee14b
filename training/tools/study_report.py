"""Markdown rows for docs/results.md from study run folders (after ``revalidate`` and ``evaluate``).

    python training/tools/study_report.py runs/study-screen runs/study-screen-f0   # screen table
    python training/tools/study_report.py --final runs/study-final                  # finalists

Per architecture: parameters, MACs per 1-s window, epochs run / best epoch (per seed), training
throughput, validation LRAP / F1-macro (mean ± std over seeds; clean validation audio where
revalidated), held-out test metrics under both threshold protocols (from ``metrics.json``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

ORDER = ("bigru128", "bigru256", "bigru2", "dcnn", "fcn", "rfcn", "rcnn", "melcnn")


def _ms(xs, scale=100.0, digits=1) -> str:
    xs = np.asarray([x for x in xs if x is not None], float) * scale
    if len(xs) == 0:
        return "–"
    return f"{xs.mean():.{digits}f} ± {xs.std():.{digits}f}" if len(xs) > 1 else f"{xs[0]:.{digits}f}"


def _folds(run: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(run.glob("fold*/done.json"))]


def _val(done: dict, key: str):
    """Clean-audio figure when revalidated; else the training machine's."""
    return done.get(key)


def row(train_dir: Path, test_dir: Path) -> str:
    folds = _folds(train_dir)
    m = json.loads((test_dir / "metrics.json").read_text())
    epochs = "/".join(str(d["epochs_run"]) for d in folds)
    best = "/".join(str(d["best_epoch"] + 1) for d in folds)
    wps = np.median([d["windows_per_s"] for d in folds])
    h, p = m["honest"], m["paper"]
    return (
        f"| {m['arch']} | {m['params']:,} | {m['macs_per_window'] / 1e6:.1f} M | {epochs} ({best}) | {wps:.0f} "
        f"| {_ms([_val(d, 'val_lrap') for d in folds])} | {_ms([_val(d, 'val_f1_macro') for d in folds])} "
        f"| {_ms([h['lrap']['mean']])} | {_ms([h['f1_micro']['mean']])} | {_ms([h['f1_macro']['mean']])} "
        f"| {_ms([p['f1_micro']['mean']])} | {_ms([p['f1_macro']['mean']])} |"
    )


def final_row(run: Path) -> str:
    m = json.loads((run / "metrics.json").read_text())
    folds = _folds(run)
    h, p, e = m["honest"], m["paper"], m["ensemble"]

    def pm(d, k):
        return f"{d[k]['mean'] * 100:.1f} ± {d[k]['std'] * 100:.1f}"

    return (
        f"| {m['arch']} | {'/'.join(str(d['epochs_run']) for d in folds)} "
        f"| {_ms([d['val_lrap'] for d in folds])} | {_ms([d['val_f1_macro'] for d in folds])} "
        f"| {pm(h, 'lrap')} | {pm(h, 'f1_micro')} | {pm(h, 'f1_macro')} | {pm(p, 'f1_micro')} | {pm(p, 'f1_macro')} "
        f"| {e['honest']['lrap'] * 100:.1f} | {e['honest']['f1_macro'] * 100:.1f} | {e['paper']['f1_macro'] * 100:.1f} |"
    )


def plot_per_instrument(runs: list[Path], path: Path) -> None:
    """Per-instrument held-out F1 (mean ± std over seeds) of each run, both protocols."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ms = [json.loads((r / "metrics.json").read_text()) for r in runs]
    names = json.loads((runs[0] / "config.json").read_text())["label_names"]
    fig, axes = plt.subplots(2, 1, figsize=(11, 6.5), sharex=True)
    width = 0.8 / len(ms)
    x = np.arange(len(names))
    for ax, proto, title in zip(axes, ("honest", "paper"), ("honest: thresholds from validation",
                                                             "paper: one threshold swept on test")):  # fmt: skip
        for i, m in enumerate(ms):
            f = m[proto]["f1_per_class"]
            ax.bar(x + (i - (len(ms) - 1) / 2) * width, np.array(f["mean"]) * 100, width,
                   yerr=np.array(f["std"]) * 100, capsize=2, label=m["arch"])  # fmt: skip
        ax.set_ylabel("F1 %")
        ax.set_title(f"held-out test (unseen SoundFont recordings), {title}", fontsize=10)
        ax.set_ylim(0, 100)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(ncol=len(ms), fontsize=9)
    axes[1].set_xticks(x, names, rotation=30, ha="right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", type=Path, nargs="+", help="screen: TRAIN_ROOT TEST_ROOT; --final: RUN_ROOT")
    ap.add_argument("--final", action="store_true")
    ap.add_argument("--plot", type=Path, default=None, help="with --final: per-instrument F1 figure")
    a = ap.parse_args()
    if a.final:
        if a.plot:
            plot_per_instrument(
                [a.runs[0] / x for x in ORDER if (a.runs[0] / x / "metrics.json").is_file()], a.plot
            )
        print("| arch | epochs per seed | val LRAP | val F1-macro | test LRAP | F1-micro | F1-macro "
              "| paper F1-micro | paper F1-macro | ensemble LRAP | ens. F1-macro | ens. paper F1-macro |")  # fmt: skip
        print("|" + "---|" * 12)
        for arch in ORDER:
            if (a.runs[0] / arch / "metrics.json").is_file():
                print(final_row(a.runs[0] / arch))
        return
    train_root, test_root = a.runs
    print("| arch | params | MACs | epochs per seed (best) | windows/s | val LRAP | val F1-macro | test LRAP "
          "| F1-micro | F1-macro | paper F1-micro | paper F1-macro |")  # fmt: skip
    print("|" + "---|" * 12)
    for arch in ORDER:
        if (test_root / arch / "metrics.json").is_file():
            print(row(train_root / arch, test_root / arch))


if __name__ == "__main__":
    main()
