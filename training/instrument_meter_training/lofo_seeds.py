"""Seed replicates of LOFO runs: one row per recipe, mean ± sd over its seeds.

One LOFO run is one seed, and on the 2-core CPU schedule the seed alone moves a run's mean LRAP by
up to 3 points (docs/results.md), more than most recipe switches. ``table --lofo --by-recipe``
groups runs whose ``config.json`` differ only in the seed (and in how they ran: threads, device,
cache), names each recipe by what differs from the first, and reports the spread over seeds and
the seed-paired difference to the first recipe, so that a switch is judged against its own noise.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .runs import RUNTIME_KEYS, load_config

# config keys that say how a run ran, not what it trained: runs that differ only here are replicates
NOT_RECIPE = frozenset({*RUNTIME_KEYS, "seed", "cache_dir", "training_data"})


def _flat(cfg: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in cfg.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def recipe_of(cfg: dict) -> dict:
    """The training recipe of a run's config: every setting but the seed and how it ran."""
    return {k: v for k, v in _flat(cfg).items() if k.split(".")[0] not in NOT_RECIPE}


def _spread(values) -> tuple[float, float, int]:
    v = np.asarray(values, np.float64)
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else float("nan"), len(v)


def _pm(values, scale: float = 100.0) -> str:
    m, s, n = _spread(values)
    return f"{m * scale:.1f}" if n == 1 else f"{m * scale:.1f} ± {s * scale:.1f}"


def load_lofo_runs(run_dirs) -> list[dict]:
    runs = []
    for d in map(Path, run_dirs):
        rep = d / "lofo.json"
        if not rep.is_file():
            raise FileNotFoundError(f"{d}: no lofo.json (run `instrument-meter-train lofo ... --out {d}`)")
        # through TrainConfig, as a resume compares them: keys added since an old run get their defaults
        c = load_config(d).as_stored()
        runs.append(
            {"dir": d, "seed": c["seed"], "recipe": recipe_of(c), "report": json.loads(rep.read_text())}
        )
    return runs


def group_by_recipe(runs: list[dict]) -> list[dict]:
    """Runs grouped by identical recipe, in order of first appearance; each group is named by the
    settings where it differs from the first group. Two runs of one recipe with the same seed are
    refused (a copy or a resume would count twice)."""
    groups: list[dict] = []
    for r in runs:
        g = next((g for g in groups if g["recipe"] == r["recipe"]), None)
        if g is None:
            g = {"recipe": r["recipe"], "runs": []}
            groups.append(g)
        dup = next((o["dir"] for o in g["runs"] if o["seed"] == r["seed"]), None)
        if dup is not None:
            raise ValueError(f"{r['dir']} and {dup}: the same recipe and seed {r['seed']}")
        g["runs"].append(r)
    base = groups[0]["recipe"] if groups else {}
    for i, g in enumerate(groups):
        diff = [f"{k.removeprefix('augment.')}={g['recipe'].get(k)}" for k in sorted(set(base) | set(g["recipe"]))
                if g["recipe"].get(k) != base.get(k)]  # fmt: skip
        g["name"] = f"{g['recipe'].get('arch')}: " + (", ".join(diff) if i else "reference")
    return groups


def _mean_of(run: dict, protocol: str, key: str) -> float:
    return run["report"]["mean"][protocol][key]["mean"]


def recipe_table(run_dirs, protocol: str = "calibrated") -> str:
    """Markdown: per recipe, the seeds, mean ± sd over seeds of each fold's LRAP and of the mean
    LRAP/F1-macro, the seed-paired difference to the first recipe, and mean per-class F1."""
    groups = group_by_recipe(load_lofo_runs(run_dirs))
    for g in groups:
        for r in g["runs"]:
            if protocol not in r["report"]["mean"]:
                raise ValueError(f"{r['dir']}: no {protocol} protocol in lofo.json")
    names = list(dict.fromkeys(f["name"] for g in groups for r in g["runs"] for f in r["report"]["folds"]))
    labels = groups[0]["runs"][0]["report"]["labels"]
    head = ["recipe", "seeds", *(f"{n} LRAP" for n in names), "mean LRAP", "mean F1-macro",
            "Δ LRAP vs reference (paired seeds)", "Δ F1-macro (paired)", *labels]  # fmt: skip
    lines = [f"**LOFO by recipe, {protocol} thresholds** (%; mean ± sd over seeds, sd with n − 1; "
             "Δ: mean ± sd of the per-seed differences to the reference's run of the same seed)", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]  # fmt: skip
    ref = {r["seed"]: r for r in groups[0]["runs"]}
    for gi, g in enumerate(groups):
        runs = sorted(g["runs"], key=lambda r: r["seed"])
        cells = [g["name"], ",".join(str(r["seed"]) for r in runs)]
        for n in names:
            v = [
                f[protocol]["lrap"]
                for r in runs
                for f in r["report"]["folds"]
                if f["name"] == n and protocol in f
            ]
            cells.append(_pm(v) if v else "–")
        for key in ("lrap", "f1_macro"):
            cells.append(_pm([_mean_of(r, protocol, key) for r in runs]))
        for key in ("lrap", "f1_macro"):
            d = [
                _mean_of(r, protocol, key) - _mean_of(ref[r["seed"]], protocol, key)
                for r in runs
                if r["seed"] in ref
            ]
            cells.append("–" if gi == 0 or not d else f"{_pm(d)} (n={len(d)})")
        per_class = np.mean([r["report"]["mean"][protocol]["f1_per_class"] for r in runs], axis=0)
        cells += [f"{v * 100:.0f}" for v in per_class]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
