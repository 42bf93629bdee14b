"""Leave-one-family-out (LOFO): the corpus's recording families are the folds.

``pools.json`` of the corpus root groups the families into folds (``"folds": {name: [family...]}``).
Fold k trains on the ``train/`` excerpts of every family outside fold k, validates (early stopping,
in-family thresholds) on the ``val/`` excerpts of those same families, and is tested on the
polyphonic clips of ``test/<fold k>/``, rendered only from fold k's families.

Three threshold protocols per fold, all reported:

- ``honest``: the fold's per-class thresholds from its validation clips (training families);
- ``calibrated``: per-class thresholds calibrated out of family (``metrics.calibrated_thresholds``)
  on the pooled test predictions of the *other* folds, never on the fold's own test clips;
- ``paper``: one global threshold swept on the fold's own test clips (the 2020 code's protocol).

The thresholds a product model ships (``export --thresholds-from``) are calibrated on the pooled
test predictions of every fold.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from .data import resolve_data_root, scan_test
from .metrics import SHRINK_POSITIVES, calibrated_thresholds, global_threshold_sweep, mean_std, summarize
from .runs import TrainConfig, fold_dirs, load_config, load_model
from .scoring import score_clips, scoring_device
from .train import train

PROTOCOLS = ("honest", "calibrated", "paper")
CALIBRATION_RULE = (
    "per class: the F1-best threshold on the pooled out-of-family test predictions of the LOFO folds, "
    f"shrunk toward the one F1-micro-best global threshold g: w t_c + (1 - w) g, w = n_c / (n_c + {SHRINK_POSITIVES:g}) "
    "with n_c the class's positive clips; clipped to [0.01, 0.99]"
)


def lofo(cfg: TrainConfig, run_dir, resume: bool = False, engine: str = "torch") -> dict:
    """Trains every LOFO fold (or ``cfg.fold_index``), then tests and reports the finished ones."""
    cfg.val_mode = "family"
    train(cfg, run_dir, resume)
    return lofo_report(run_dir, cfg.device, engine)


def _fold_test_predictions(cfg: TrainConfig, run_dir: Path, device, engine: str, cache) -> list[dict]:
    """Each finished fold's model on its held-out test clips (cached in ``fold<k>/test_preds.npz``)."""
    meta = json.loads((run_dir / "folds.json").read_text())["folds"]
    roots = resolve_data_root(cfg.data)
    if roots.test is None:
        raise FileNotFoundError(f"{cfg.data} has no test/ folder")
    out = []
    for k, fdir, done in fold_dirs(run_dir):
        name = meta[k]["name"]
        cached = fdir / "test_preds.npz"
        best_mtime = (fdir / "best.pt").stat().st_mtime
        if cached.is_file() and cached.stat().st_mtime >= best_mtime:
            z = np.load(cached)
            scores, targets, paths = z["scores"], z["targets"], z["paths"]
        else:
            clips = scan_test(roots.test / name, cfg.labels)
            targets = np.stack([c.target for c in clips])
            paths = np.array([str(c.path) for c in clips])
            model = load_model(cfg, fdir, device, engine)
            scores = score_clips([model], [c.path for c in clips], cfg, device, None, cache)[0]
            np.savez_compressed(cached, scores=scores, targets=targets, paths=paths)
        out.append({"fold": k, "name": name, "held_out": meta[k]["held_out_families"], "done": done,
                    "scores": scores, "targets": targets, "paths": paths})  # fmt: skip
    return out


def _fold_row(f: dict, others: list[dict]) -> dict:
    y, s = f["targets"], f["scores"]
    row = {"fold": f["fold"], "name": f["name"], "held_out_families": f["held_out"], "n_clips": len(y),
           "honest": summarize(y, s, np.clip(f["done"]["thresholds"], 0.01, 0.99))}  # fmt: skip
    if others:  # thresholds from the other folds' out-of-family predictions only
        cal = calibrated_thresholds(np.concatenate([o["targets"] for o in others]),
                                    np.concatenate([o["scores"] for o in others]))  # fmt: skip
        row["calibrated"] = summarize(y, s, cal["thresholds"])
    t = global_threshold_sweep(y, s)
    row["paper"] = {**summarize(y, s, t), "threshold": t}
    return row


def _mean(rows: list[dict]) -> dict:
    out = {}
    for proto in PROTOCOLS:
        have = [r[proto] for r in rows if proto in r]
        if not have:
            continue
        m = {k: mean_std([r[k] for r in have]) for k in ("lrap", "f1_micro", "f1_macro")}
        f1 = np.array([r["f1_per_class"] for r in have])
        present = np.array([r.get("classes_present", [True] * f1.shape[1]) for r in have])
        # per class: the mean over the folds whose test clips contain it
        m["f1_per_class"] = (np.where(present, f1, 0).sum(0) / np.maximum(present.sum(0), 1)).tolist()
        out[proto] = m
    return out


def lofo_report(run_dir, device: str = "auto", engine: str = "torch", cache_dir=None) -> dict:
    """Tests every finished fold on its held-out family, calibrates the thresholds out of family
    and writes ``lofo.json`` and ``lofo.md``."""
    run_dir = Path(run_dir)
    cfg = load_config(run_dir)
    dev = scoring_device(device, engine)
    if dev.type == "cpu":
        torch.set_num_threads(cfg.threads)
    preds = _fold_test_predictions(cfg, run_dir, dev, engine, cfg.cache(cache_dir))
    return _write_report(run_dir, preds, {"arch": cfg.arch, "data": cfg.data, "labels": list(cfg.labels)},
                         cfg.label_names)  # fmt: skip


def _write_report(out: Path, preds: list[dict], head: dict, label_names) -> dict:
    """Every fold's three protocols, the mean and the shipped calibration -> ``lofo.json``, ``lofo.md``."""
    rows = [_fold_row(f, [o for o in preds if o is not f]) for f in preds]
    cal = calibrated_thresholds(np.concatenate([f["targets"] for f in preds]),
                                np.concatenate([f["scores"] for f in preds]))  # fmt: skip
    report = {
        **head, "folds": rows, "mean": _mean(rows),
        "calibration": {**cal, "rule": CALIBRATION_RULE, "clips": int(sum(len(f["targets"]) for f in preds))},
    }  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    (out / "lofo.json").write_text(json.dumps(report, indent=2))
    (out / "lofo.md").write_text(lofo_markdown(report, label_names))
    return report


def lofo_ensemble_report(run_dirs, out, device: str = "auto", engine: str = "torch", cache_dir=None) -> dict:
    """The LOFO figures of an ensemble of finished LOFO runs (e.g. the same recipe with other seeds):
    per fold, the mean of the members' sigmoid scores on the same held-out clips, then the three
    protocols and the calibration as for one run (the honest thresholds: the members' mean, as
    ``export --ensemble`` ships). ``out`` gets ``lofo.json`` / ``lofo.md``, usable by ``table --lofo``
    and by ``export --thresholds-from`` for a product model exported as the same kind of ensemble."""
    run_dirs, out = [Path(d) for d in run_dirs], Path(out)
    if len(run_dirs) < 2 or len(set(d.resolve() for d in run_dirs)) < len(run_dirs):
        raise ValueError("an ensemble needs two or more different LOFO runs")
    cfgs = [load_config(d) for d in run_dirs]
    if any(list(c.labels) != list(cfgs[0].labels) for c in cfgs):
        raise ValueError("the runs' label sets differ")
    dev = scoring_device(device, engine)
    if dev.type == "cpu":
        torch.set_num_threads(cfgs[0].threads)
    members = [_fold_test_predictions(c, d, dev, engine, c.cache(cache_dir)) for c, d in zip(cfgs, run_dirs)]
    names = [[f["name"] for f in m] for m in members]
    if any(n != names[0] for n in names):
        raise ValueError(f"the runs finished different folds: {dict(zip(map(str, run_dirs), names))}")
    preds = []
    for fold in zip(*members):
        if any(list(f["paths"]) != list(fold[0]["paths"]) for f in fold):
            raise ValueError(f"fold {fold[0]['name']}: the runs were tested on different clips")
        done = {"thresholds": np.mean([f["done"]["thresholds"] for f in fold], axis=0).tolist()}
        preds.append({**fold[0], "done": done, "scores": np.mean([f["scores"] for f in fold], axis=0)})
    archs = list(dict.fromkeys(c.arch for c in cfgs))
    head = {"arch": f"{'+'.join(archs)} ensemble of {len(run_dirs)}", "data": cfgs[0].data,
            "labels": list(cfgs[0].labels), "members": [str(d) for d in run_dirs]}  # fmt: skip
    return _write_report(out, preds, head, cfgs[0].label_names)


def lofo_markdown(r: dict, label_names) -> str:
    names = [f["name"] for f in r["folds"]]
    lines = [f"# LOFO: {r['arch']} on {r['data']}", "",
             "LRAP / F1-micro / F1-macro (%) per held-out fold and the mean over folds.", "",
             "| protocol | " + " | ".join(names) + " | mean |", "|---|" + "---|" * (len(names) + 1)]  # fmt: skip
    for proto in PROTOCOLS:
        if proto not in r["mean"]:
            continue
        cells = [
            f"{f[proto]['lrap'] * 100:.1f} / {f[proto]['f1_micro'] * 100:.1f} / {f[proto]['f1_macro'] * 100:.1f}"
            if proto in f else "–"
            for f in r["folds"]
        ]  # fmt: skip
        m = r["mean"][proto]
        mean = " / ".join(f"{m[k]['mean'] * 100:.1f}" for k in ("lrap", "f1_micro", "f1_macro"))
        lines.append(f"| {proto} | " + " | ".join(cells) + f" | {mean} |")
    lines += ["", "Per-instrument F1 % (mean over folds)", "",
              "| instrument | " + " | ".join(p for p in PROTOCOLS if p in r["mean"]) + " | shipped threshold |",
              "|---|" + "---|" * (sum(p in r["mean"] for p in PROTOCOLS) + 1)]  # fmt: skip
    thr = r["calibration"]["thresholds"]
    for i, name in enumerate(label_names):
        cells = [f"{r['mean'][p]['f1_per_class'][i] * 100:.1f}" for p in PROTOCOLS if p in r["mean"]]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {thr[i]:.2f} |")
    lines += ["", "Held out: " + "; ".join(f"{f['name']}: {', '.join(f['held_out_families'])} ({f['n_clips']} clips)"
                                         for f in r["folds"]),  # fmt: skip
              "", f"Calibration ({r['calibration']['clips']} pooled clips): {r['calibration']['rule']}."]  # fmt: skip
    return "\n".join(lines) + "\n"


def lofo_table(run_dirs, protocol: str = "calibrated", label_names=None) -> str:
    """One markdown table comparing LOFO runs (one row per run: its arch and folder): LRAP and
    F1-macro per held-out fold and the mean, then the mean per-instrument F1, for ``protocol``."""
    runs = []
    for d in run_dirs:
        f = Path(d) / "lofo.json"
        if not f.is_file():
            raise FileNotFoundError(f"{d}: no lofo.json (run `instrument-meter-train lofo ... --out {d}`)")
        runs.append((Path(d), json.loads(f.read_text())))
    names = list(dict.fromkeys(f["name"] for _, r in runs for f in r["folds"]))
    labels = label_names or runs[0][1]["labels"]
    head = ["run", *(f"{n} LRAP / F1-macro" for n in names), "mean LRAP", "mean F1-micro", "mean F1-macro",
            *labels]  # fmt: skip
    lines = [f"**LOFO, {protocol} thresholds** (%; per-instrument: mean F1 over folds)", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]  # fmt: skip
    for d, r in runs:
        by_name = {f["name"]: f for f in r["folds"]}
        cells = [f"{r['arch']} ({d.name})"]
        for n in names:
            f = by_name.get(n)
            ok = f is not None and protocol in f
            cells.append(
                f"{f[protocol]['lrap'] * 100:.1f} / {f[protocol]['f1_macro'] * 100:.1f}" if ok else "–"
            )
        m = r["mean"].get(protocol)
        if m is None:
            cells += ["–"] * (3 + len(labels))
        else:
            cells += [f"{m[k]['mean'] * 100:.1f}" for k in ("lrap", "f1_micro", "f1_macro")]
            cells += [f"{v * 100:.0f}" for v in m["f1_per_class"]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
