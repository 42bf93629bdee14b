"""DATACARD.md and the counts/licences sections of manifest.json."""

from __future__ import annotations

from collections import Counter

from .sources import CLASSES, FONTS, MUSIC21_LICENSE, PROGRAM_NAMES, PROGRAMS, VOICES


def counts(files: list[dict]) -> dict:
    out: dict = {"train": {}, "val": {}, "test": {}}
    for split in ("train", "val"):
        per = Counter((f["labels"][0], f["source"]["pool"]) for f in files if f["split"] == split)
        out[split] = {
            "total": sum(per.values()),
            "per_class": {c: sum(v for (cc, _), v in per.items() if cc == c) for c in CLASSES},
            "per_class_pool": {c: {p: v for (cc, p), v in sorted(per.items()) if cc == c} for c in CLASSES},
            "per_font": dict(
                sorted(
                    Counter(
                        f["source"].get("font", f["source"].get("voice"))
                        for f in files
                        if f["split"] == split
                    ).items()
                )
            ),
        }
    test = [f for f in files if f["split"] == "test"]
    out["test"] = {
        "total": len(test),
        "labels_per_class": {c: sum(c in f["labels"] for f in test) for c in CLASSES},
        "parts_per_class": {c: sum(p["class"] == c for f in test for p in f["parts"]) for c in CLASSES},
        "labels_per_clip": dict(sorted(Counter(len(f["labels"]) for f in test).items())),
        "parts_per_clip": dict(sorted(Counter(len(f["parts"]) for f in test).items())),
        "per_source": dict(
            sorted(Counter(p.get("font", p.get("voice")) for f in test for p in f["parts"]).items())
        ),
        "seconds": round(sum(f["duration_s"] for f in test), 1),
    }
    return out


def licenses() -> dict:
    out = {f.file: {"package": f.package, "license": f.license, "family": f.family} for f in FONTS.values()}
    for v in VOICES.values():
        out[v.key] = {
            "package": v.package,
            "license": v.license,
            "engine": "mbrola (Debian contrib, AGPL-3 engine)",
        }
    out["music21 corpus"] = {"package": "music21 (PyPI)", "license": MUSIC21_LICENSE}
    out["FluidSynth"] = {"package": "libfluidsynth3 / pyfluidsynth", "license": "LGPL-2.1+"}
    return out


def _table(header: list[str], rows: list[list]) -> str:
    s = "| " + " | ".join(header) + " |\n|" + "---|" * len(header) + "\n"
    return s + "".join("| " + " | ".join(str(x) for x in r) + " |\n" for r in rows)


def render(m: dict, timing: dict) -> str:
    c = m["counts"]
    pc = m["pool_check"]
    lines = [
        "# Instrument Meter substitute corpus (IRMAS layout)\n",
        f"Scale `{m['scale']}`, seed {m['seed']}, {m['sample_rate']} Hz 16-bit mono WAV. "
        f"Built in {timing['total_s']} s (render {timing['render_s']} s) with {timing['jobs']} job(s) on {timing['cpus']} CPUs. "
        f"Items that failed every attempt: {m['failed_items']}.\n",
        "## Layout\n",
        "- `train/<cls>/<score>[<cls>][<pool>]<n>__<part>.wav`: single-label 3-s excerpts, the label is the folder and first "
        "bracket, `<pool>` the recording pool (fluid, csgm, mbrola); everything before the first `[` is the source score id "
        "(group k-fold by it). Each has 0-2 unlabelled accompaniment parts of the same score on other classes, 15-25 dB under "
        "the target.",
        "- `val/...`: same layout, from the training pool, scores disjoint from train and test.",
        "- `test/<score>-<n>.wav` + `.txt`: 5-20 s polyphonic clips, 1-5 parts of one score, each a different instrument, from "
        "the held-out pool; a label per audible part (active in >= 30 % of frames and not more than 6 dB under the loudest part).",
        "- `manifest.json`: per file the font/preset or voice, score, parts, tempo, transposition, performance, augmentation, "
        "seed; plus the pool definition, the pool check result and the score split.\n",
        "## Counts\n",
        _table(
            ["class"] + ["train", "val", "test labels", "test parts"],
            [
                [
                    cl,
                    c["train"]["per_class"][cl],
                    c["val"]["per_class"][cl],
                    c["test"]["labels_per_class"][cl],
                    c["test"]["parts_per_class"][cl],
                ]
                for cl in CLASSES
            ],
        ),
        f"\nTotals: train {c['train']['total']}, val {c['val']['total']}, test {c['test']['total']} clips "
        f"({c['test']['seconds']} s). Labels per test clip: {c['test']['labels_per_clip']}; parts per clip: {c['test']['parts_per_clip']}.\n",
        "Train excerpts per class and pool:\n",
        _table(
            ["class", "per pool"],
            [
                [cl, ", ".join(f"{p}: {v}" for p, v in c["train"]["per_class_pool"][cl].items())]
                for cl in CLASSES
            ],
        ),
        f"\nTrain per font/voice: {c['train']['per_font']}\n\nTest parts per font/voice: {c['test']['per_source']}\n",
        "## Recording pools and how the split was verified\n",
        "Training/validation use only the `train` side of `pools.json`, the test clips only the `test` side:\n",
        "```json\n"
        + __import__("json").dumps({k: m["pools"][k] for k in ("train", "test")}, indent=1)
        + "\n```\n",
        f"Check ({pc.get('scope', 'all classes')}{', cached result' if pc.get('cached') else ''}): {pc['method']}. "
        f"Result: **{'PASS' if pc['ok'] else 'FAIL'}**, matches: {len(pc['matches'])}, presets without samples: {pc['missing']}.\n",
        _table(
            ["class", "train samples", "test samples", "max NCC train-vs-test"],
            [[cl, v["train_samples"], v["test_samples"], v["max_ncc"]] for cl, v in pc["classes"].items()],
        ),
        "\nExcluded test presets (the check found the same recordings in sf_GMbank, a training font): TimGM6mb Tenor Sax (66), "
        "Muted Trumpet (59) and Voice Oohs (53). TimGM6mb Choir Aahs shares one sample (Choir-A51, keys >= 80) with FluidR3/"
        "MuseScore: the corpus never plays a voice above MIDI 79, and the check only compares samples reachable in each "
        "class's range. MBROLA voices are separate speakers (us1 female, us2, us3, en1 male); us3 is held out for test.\n",
        "## Presets per class (GM program, bank 0)\n",
        _table(
            ["class", "programs"],
            [[cl, ", ".join(f"{p} {PROGRAM_NAMES.get(p, '')}" for p in PROGRAMS[cl])] for cl in CLASSES],
        ),
        "\n## Music\n",
        f"Scores from the music21 corpus (Bach chorales, Palestrina, Monteverdi madrigals), split by score: "
        f"train {len(m['score_split']['train'])}, val {len(m['score_split']['val'])}, test {len(m['score_split']['test'])} scores. "
        "Tempo 60-160 bpm; each part transposed into the instrument's range (test clips: one global shift plus octaves per "
        "part, so the mixture stays harmonic); guitars, organ and piano often play all parts as chords (guitars strummed); "
        "strings, winds and voice get CC11 swells, CC1 vibrato and slow pitch-bend drift; velocity varies per note.\n",
        "## Augmentation\n",
        "Reverb by convolution with synthetic exponentially decaying noise IRs (RT60 0.2-2.2 s, wet 5-45 %), 1-3 peaking EQ "
        "bands (+-6 dB), random low-pass 4-16 kHz (50 % train, 30 % test: MBROLA audio stops at 8 kHz, so bandwidth is "
        "no voice cue) and high-pass 40-200 Hz, white/pink noise at 25-55 dB SNR, peak level -14..-1 dBFS. Excerpts whose "
        "target part is active in < 60 % of frames are rejected.\n",
        "## Licences of the sources\n",
        _table(
            ["source", "package", "licence"],
            [[k, v["package"], v["license"]] for k, v in m["licenses"].items()],
        ),
    ]
    return "\n".join(lines) + "\n"
