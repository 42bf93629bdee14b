"""Corpus builder tests: a small-scale build, its IRMAS layout, families and folds, labels, silence,
determinism from a cold cache, the all-pairs family check and the FluidSynth no-bleed trap."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest

fluidsynth = pytest.importorskip("fluidsynth")
sf = pytest.importorskip("soundfile")

from instrument_meter_training.corpus import augment, build, engines, families, pools, sources  # noqa: E402
from instrument_meter_training.corpus.render import FluidRenderer, Note, PartRender  # noqa: E402

TRAIN_NAME = re.compile(
    r"^(?P<id>[^\[]+)\[(?P<cls>[a-z]{3})\]\[(?P<family>[a-z0-9-]+)\](?P<n>\d+)__(?P<k>\d+)\.wav$"
)


def _catalog():
    try:
        return families.load(check=True)
    except engines.SourceMissing as e:
        pytest.skip(f"corpus sources not installed (scripts/setup.sh): {str(e)[:300]}")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    _catalog()
    out = tmp_path_factory.mktemp("corpus") / "c"
    res = build.build(str(out), scale="small", seed=7, jobs=2, progress=False)
    return out, res


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.suffix in (".wav", ".txt")
    }


def test_layout_matches_irmas(corpus):
    out, res = corpus
    sc = build.SCALES["small"]
    m = json.loads((out / "manifest.json").read_text())
    fams = set(m["families"])
    for split, per in (("train", sc.train_per_class), ("val", sc.val_per_class)):
        for cls in sources.CLASSES:
            files = sorted((out / split / cls).glob("*.wav"))
            assert len(files) == per, (split, cls)
            for f in files:
                g = TRAIN_NAME.match(f.name)
                assert g, f.name
                assert g["cls"] == cls and g["family"] in fams
                info = sf.info(str(f))
                assert info.samplerate == 44100 and info.subtype == "PCM_16"
                assert abs(info.duration - 3.0) < 1e-3
    for fold in m["test_folds"]:
        tests = sorted((out / "test" / fold).glob("*.wav"))
        assert len(tests) == sc.test_clips_per_fold, fold
        for w in tests:
            labels = [x.strip() for x in w.with_suffix(".txt").read_text().splitlines() if x.strip()]
            assert 1 <= len(labels) <= 4 and set(labels) <= set(sources.CLASSES)
            info = sf.info(str(w))
            assert info.samplerate == 44100 and 5.0 <= info.duration <= 20.0
    assert (out / "DATACARD.md").exists()
    assert json.loads((out / "pools.json").read_text())["folds"] == m["folds"]
    assert m["counts"]["train"]["total"] == 11 * sc.train_per_class
    assert m["family_check"]["ok"]


def test_cli_summary_of_a_real_build(corpus):
    from instrument_meter_training.corpus import cli

    out, res = corpus
    line = cli.summary(str(out), res)
    assert f"train {11 * build.SCALES['small'].train_per_class}," in line and line.endswith(
        "family check PASS"
    )


def test_loader_reads_it(corpus):
    data = pytest.importorskip("instrument_meter_training.data")
    out, res = corpus
    clips = data.scan_test(out / "test")
    assert len(clips) == build.SCALES["small"].test_clips_per_fold * len(res["manifest"]["test_folds"])


def test_families_and_labels_match_rendered_parts(corpus):
    out, _ = corpus
    m = json.loads((out / "manifest.json").read_text())
    fold_of = {f: v["fold"] for f, v in m["families"].items()}
    for f in m["files"]:
        if f["split"] == "test":
            txt = (out / f["file"]).with_suffix(".txt").read_text().split()
            assert txt == f["labels"]
            assert f["file"].startswith(f"test/{f['fold']}/")
            classes = [p["class"] for p in f["parts"]]
            assert len(set(classes)) == len(classes)  # each part a different instrument
            assert f["labels"] == [
                c for c in sources.CLASSES if c in {p["class"] for p in f["parts"] if p["labelled"]}
            ]
            for p in f["parts"]:
                assert fold_of[p["family"]] == f["fold"]  # a fold's clips use only its families
                if p["labelled"]:
                    assert p["active_fraction"] >= 0.3
                    assert p["rms_db"] >= max(q["rms_db"] for q in f["parts"]) - 6.0 - 1e-6
            assert all(a["class"] in ("drums", "bass") for a in f["accompaniment"])
        else:
            cls = Path(f["file"]).parent.name
            assert f["labels"] == [cls]
            assert TRAIN_NAME.match(Path(f["file"]).name)["family"] == f["family"] == f["source"]["family"]
            assert f["fold"] == fold_of[f["family"]]
            for a in f["accompaniment"]:
                if a["class"] in ("drums", "bass"):
                    continue
                assert a["class"] != cls and -25 <= a["rel_db"] <= -15
                assert fold_of[a["family"]] == f["fold"]  # accompaniment never leaks another fold
    sp = m["score_split"]
    assert not (set(sp["train"]) & set(sp["test"])) and not (set(sp["train"]) & set(sp["val"]))
    # the rhythm section plays under some excerpts and mixtures
    assert m["counts"]["train"]["with_drums"] > 0 and m["counts"]["test"]["with_drums"] > 0


def test_no_silent_files(corpus):
    out, _ = corpus
    for w in sorted(out.rglob("*.wav")):
        x, _ = sf.read(str(w))
        assert augment.rms_db(x) > -45, w.name
    m = json.loads((out / "manifest.json").read_text())
    for f in m["files"]:
        if f["split"] != "test":
            assert f["active_fraction"] >= 0.6


def test_same_seed_identical_files_from_a_cold_cache(corpus, tmp_path, monkeypatch):
    """Build, wipe every cache (scores, family check, engines' decodes), build again with another job
    count: the same seed gives the same bytes."""
    out, _ = corpus
    monkeypatch.setenv("INSTRUMENT_METER_CACHE", str(tmp_path / "empty-cache"))
    again = tmp_path / "again"
    build.build(str(again), scale="small", seed=7, jobs=1, progress=False)
    assert (tmp_path / "empty-cache").is_dir()  # the build really ran cold
    assert _digest(out) == _digest(again)


def test_family_check_passes_on_shipped_definition(corpus):
    res = build.family_check(_catalog(), "small", progress=False)
    assert res["ok"], res["matches"][:5]
    assert all(len(v) >= 2 for v in res["recordings"].values())  # every quick class has >= 2 families


def _two_font_definition(font_a: str, font_b: str, cls: str) -> dict:
    return {
        "families": {
            "a": {
                "name": "a",
                "kind": "recorded",
                "members": [{"engine": "soundfont", "font": font_a, "classes": [cls]}],
            },
            "b": {
                "name": "b",
                "kind": "recorded",
                "members": [{"engine": "soundfont", "font": font_b, "classes": [cls]}],
            },
        },
        "folds": {"a": ["a"], "b": ["b"]},
        "test_folds": ["a", "b"],
    }


def test_family_check_detects_shared_recordings():
    """TimGM6mb and sf_GMbank share the cello recordings; FluidR3 and its mono version the clarinet
    (recording-pools.md); FluidR3 and TimGM6mb share nothing."""
    _catalog()
    for a, b, cls in (("timgm6mb", "csgm", "cel"), ("fluidr3", "fluidmono", "cla")):
        cat = families.load(definition=_two_font_definition(a, b, cls))
        res = pools.check_families(cat, [cls])
        assert not res["ok"] and res["matches"], (a, b)
        assert res["pairs"][cls]["a|b"][0] == 1.0
    res = pools.check_families(
        families.load(definition=_two_font_definition("fluidr3", "timgm6mb", "cla")), ["cla"]
    )
    assert res["ok"] and res["pairs"]["cla"]["a|b"][:2] == [0.0, 0.0]


def test_every_family_renders_each_class_it_claims():
    cat = _catalog()
    rng = np.random.default_rng(0)
    seen = set()
    for inst in cat.instruments + cat.accompaniment:
        if inst.engine == "soundfont":
            probe = (inst.key,)  # every preset: a missing one renders silence
        else:
            probe = (inst.family, inst.cls)
        if probe in seen:
            continue
        seen.add(probe)
        lo, hi = inst.range
        notes = [
            Note(0.05 + 0.3 * i, 0.3 + 0.3 * i, k, 100)
            for i, k in enumerate((lo + hi) // 2 + d for d in (0, 2, 4))
        ]
        y = engines.ENGINES[inst.engine].render(inst, engines.Performance(notes), 1.2, rng)
        assert len(y) == int(round(1.2 * sources.SAMPLE_RATE)) and np.isfinite(y).all()
        assert augment.rms_db(y) > -50, (inst.family, inst.cls, inst.key)
    classes_by_family = {k: set(f.classes()) for k, f in cat.families.items()}
    assert all(classes_by_family.values())
    # every test fold has each class it claims in at least one of its families
    for fold in cat.test_folds:
        assert {c for k in cat.folds[fold] for c in classes_by_family[k]}


def test_missing_source_names_its_package(tmp_path):
    d = _two_font_definition("fluidr3", "timgm6mb", "cla")
    orig = sources.FONTS["timgm6mb"]
    sources.FONTS["timgm6mb"] = sources.Font(
        orig.key, orig.file, orig.family, orig.package, orig.license, (str(tmp_path / "no.sf2"),)
    )
    try:
        with pytest.raises(engines.SourceMissing, match="timgm6mb-soundfont"):
            families.load(definition=d)
    finally:
        sources.FONTS["timgm6mb"] = orig


def test_fluidsynth_no_bleed():
    _catalog()
    r = FluidRenderer(("fluidr3",))
    loud = PartRender("fluidr3", 0, 19, [Note(0.0, 2.0, k, 127) for k in (48, 52, 55, 60, 64)])
    y = r.render_part(loud, 1.0, tail=0.0)  # notes still held when the render stops
    assert np.max(np.abs(y)) > 0.05
    empty = r.render_part(PartRender("fluidr3", 0, 19, []), 1.0)
    assert np.max(np.abs(empty)) == 0.0
    assert np.max(np.abs(r.render_silence(0.5))) == 0.0


def test_drum_groove_and_bass_line():
    from instrument_meter_training.corpus import groove

    rng = np.random.default_rng(3)
    notes, style = groove.drum_pattern(rng, 0.5, 4.0)
    assert style in groove.STYLES and notes and all(0 <= n.on < 4.0 for n in notes)
    assert {groove.KICK} & {n.key for n in notes}
    score = {"parts": [{"notes": [[0, 1, 72], [1, 1, 74]]}, {"notes": [[0, 2, 40], [2, 2, 43]]}]}
    bass = groove.bass_line(score, 0.0, 4.0, 0.5, rng, 28, 55)
    assert [n.key for n in bass] == [40, 43] and bass[1].on == 1.0
