"""DATACARD.md and the counts/licences sections of manifest.json."""

from __future__ import annotations

import json
from collections import Counter

from .engines import load_engines
from .families import Catalog, describe
from .sources import CLASSES, MUSIC21_LICENSE

EXCERPT_S = 3.0


def counts(files: list[dict], cat: Catalog) -> dict:
    out: dict = {}
    for split in ("train", "val"):
        fs = [f for f in files if f["split"] == split]
        per = Counter((f["labels"][0], f["family"]) for f in fs)
        out[split] = {
            "total": len(fs),
            "per_class": {c: sum(v for (cc, _), v in per.items() if cc == c) for c in CLASSES},
            "per_family_class": {
                fam: {c: per.get((c, fam), 0) for c in CLASSES if per.get((c, fam), 0)}
                for fam in cat.families
            },
            "with_drums": sum(any(a["class"] == "drums" for a in f["accompaniment"]) for f in fs),
            "with_bass": sum(any(a["class"] == "bass" for a in f["accompaniment"]) for f in fs),
        }
    test = [f for f in files if f["split"] == "test"]
    out["test"] = {
        "total": len(test),
        "per_fold": {
            fold: {
                "clips": sum(f["fold"] == fold for f in test),
                "seconds": round(sum(f["duration_s"] for f in test if f["fold"] == fold), 1),
                "labels_per_class": {
                    c: sum(c in f["labels"] for f in test if f["fold"] == fold) for c in CLASSES
                },
            }
            for fold in cat.test_folds
        },
        "labels_per_class": {c: sum(c in f["labels"] for f in test) for c in CLASSES},
        "parts_per_family_class": {
            fam: {
                c: n
                for c in CLASSES
                if (n := sum(p["class"] == c and p["family"] == fam for f in test for p in f["parts"]))
            }
            for fam in cat.families
        },
        "labels_per_clip": dict(sorted(Counter(len(f["labels"]) for f in test).items())),
        "with_drums": sum(any(a["class"] == "drums" for a in f["accompaniment"]) for f in test),
        "seconds": round(sum(f["duration_s"] for f in test), 1),
    }
    return out


def licenses(cat: Catalog) -> dict:
    out = {}
    for fam, d in describe(cat).items():
        for s in d["sources"]:
            out.setdefault(s.get("source", fam), {"families": [], **s})["families"].append(fam)
    engines = load_engines()
    for m in cat.definition.get("accompaniment", []):  # drum kits and basses need attribution too
        s = engines[m["engine"]].describe(m)
        out.setdefault(s.get("source", m["engine"]), {"families": [], **s})["families"].append(
            f"{m.get('family', '')} (accompaniment)"
        )
    out["music21 corpus"] = {"package": "music21 (PyPI)", "license": MUSIC21_LICENSE, "families": []}
    out["FluidSynth"] = {"package": "libfluidsynth3 / pyfluidsynth", "license": "LGPL-2.1+", "families": []}
    return out


def _table(header: list[str], rows: list[list]) -> str:
    s = "| " + " | ".join(header) + " |\n|" + "---|" * len(header) + "\n"
    return s + "".join("| " + " | ".join(str(x) for x in r) + " |\n" for r in rows)


def family_class_table(c: dict, split: str = "train") -> str:
    per = c[split]["per_family_class"]
    rows = [
        [fam]
        + [per[fam].get(cl, "") for cl in CLASSES]
        + [sum(per[fam].values()), f"{sum(per[fam].values()) * EXCERPT_S / 60:.0f} min"]
        for fam in per
        if per[fam]
    ]
    rows.append(["**all**"] + [c[split]["per_class"][cl] for cl in CLASSES] + [c[split]["total"], ""])
    return _table(["family"] + list(CLASSES) + ["excerpts", "duration"], rows)


def pair_table(check: dict) -> str:
    rows = []
    for cls, pairs in check["pairs"].items():
        for pair, (ab, ba, mx) in pairs.items():
            a, b = pair.split("|")
            rows.append(
                [
                    cls,
                    a,
                    b,
                    check["recordings"][cls][a],
                    check["recordings"][cls][b],
                    f"{ab:.2f} / {ba:.2f}",
                    mx,
                ]
            )
    return _table(
        ["class", "family A", "family B", "recordings A", "recordings B", "shared A→B / B→A", "max NCC"], rows
    )


def render(m: dict, timing: dict) -> str:
    c = m["counts"]
    chk = m["family_check"]
    fams = m["families"]
    lines = [
        "# Instrument Meter substitute corpus v2 (IRMAS layout, recording families)\n",
        f"Scale `{m['scale']}`, seed {m['seed']}, {m['sample_rate']} Hz 16-bit mono WAV. "
        f"Built in {timing['total_s']} s wall (render {timing['render_s']} s), {timing['cpu_s']} s CPU, "
        f"with {timing['jobs']} job(s) on {timing['cpus']} CPUs. Items that failed every attempt: {m['failed_items']}.\n",
        "## Layout\n",
        "- `train/<cls>/<score>[<cls>][<family>]<n>__<part>.wav`: single-label 3-s excerpts; the label is the folder and "
        "first bracket, the second bracket the recording family (`family` in manifest.json); everything before the first "
        "`[` is the source score id. Each has 0-2 unlabelled parts of the same score on other classes (15-25 dB under the "
        "target, from the target's fold), and at times drums and bass.",
        "- `val/...`: same layout, scores disjoint from train and test.",
        "- `test/<fold>/<score>-<n>.wav` + `.txt`: 5-20 s polyphonic clips of one leave-one-family-out fold: 1-4 parts of "
        "one score, each a different instrument, every part from that fold's families; a label per audible part (active "
        "in >= 30 % of frames and not more than 6 dB under the loudest part). Drums and bass are never labelled.",
        "- `manifest.json`: per file the family, instrument, score, parts, tempo, transposition, performance, "
        "accompaniment, augmentation, seed; the families, folds, the family check and the score split. "
        "`pools.json`: the family definition this corpus was built from.\n",
        "## Families and folds\n",
        _table(
            ["family", "kind", "fold", "classes", "instruments", "sources"],
            [
                [
                    k,
                    f["kind"],
                    f["fold"],
                    " ".join(f["classes"]),
                    f["instruments"],
                    "; ".join(s.get("source", "") for s in f["sources"]),
                ]
                for k, f in fams.items()
            ],
        ),
        f"\nTest folds: {', '.join(m['test_folds'])} (synthetic families only train).\n",
        "## Training excerpts per family and class\n",
        family_class_table(c, "train"),
        f"\nWith drums: {c['train']['with_drums']}, with bass: {c['train']['with_bass']} of {c['train']['total']}.\n",
        "Validation excerpts per family and class:\n",
        family_class_table(c, "val"),
        "\n## Test mixtures per fold\n",
        _table(
            ["fold", "clips", "seconds"] + list(CLASSES),
            [
                [fold, v["clips"], v["seconds"]] + [v["labels_per_class"][cl] for cl in CLASSES]
                for fold, v in c["test"]["per_fold"].items()
            ],
        ),
        f"\nLabels per clip: {c['test']['labels_per_clip']}; clips with drums: {c['test']['with_drums']}.\n",
        "Test parts per family and class:\n",
        _table(
            ["family"] + list(CLASSES),
            [
                [fam] + [v.get(cl, "") for cl in CLASSES]
                for fam, v in c["test"]["parts_per_family_class"].items()
                if v
            ],
        ),
        "\n## Family check: no recording in two families\n",
        f"Scope: {chk.get('scope', 'all classes')}{' (cached result)' if chk.get('cached') else ''}. Method: {chk['method']}. "
        f"Result: **{'PASS' if chk['ok'] else 'FAIL'}**, shared recordings: {len(chk['matches'])}. Singers and synthetic "
        "families have no recordings to compare (a singer's family is the speaker).\n",
        pair_table(chk),
        "\n## Music\n",
        f"Scores from the music21 corpus (Bach chorales, Palestrina, Monteverdi madrigals), split by score: "
        f"train {len(m['score_split']['train'])}, val {len(m['score_split']['val'])}, test {len(m['score_split']['test'])} scores. "
        "Tempo 60-160 bpm; each part transposed into the instrument's range; guitars, organ and piano often play all parts "
        "as chords (guitars strummed); strings, winds and voice get CC11 swells, CC1 vibrato and slow pitch-bend drift. "
        "Drums: a humanised groove (rock, pop, half-time, ride, disco, waltz; fills, crashes); bass: the score's lowest part.\n",
        "## Augmentation\n",
        "Reverb by convolution with synthetic exponentially decaying noise IRs (RT60 0.2-2.2 s, wet 5-45 %), 1-3 peaking EQ "
        "bands (+-6 dB), low-pass for every class at random (65 %, 3.5-11 kHz log-uniform: some singers stop near 8 kHz, so "
        "bandwidth is no voice cue) and high-pass 40-200 Hz (30 %), white/pink noise at 25-55 dB SNR, peak level "
        "-14..-1 dBFS. Excerpts whose target part is active in < 60 % of frames are rejected.\n",
        "## Licences and attribution\n",
        _table(
            ["source", "families", "package", "licence", "attribution"],
            [
                [
                    k,
                    ", ".join(v.get("families", [])),
                    v.get("package", ""),
                    v.get("license", ""),
                    v.get("attribution", ""),
                ]
                for k, v in m["licenses"].items()
            ],
        ),
        "\n## Family definition\n",
        "```json\n" + json.dumps({"folds": m["folds"], "test_folds": m["test_folds"]}, indent=1) + "\n```\n",
    ]
    return "\n".join(lines) + "\n"
