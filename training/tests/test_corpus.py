"""Corpus builder tests (issue 4): a small-scale build, its IRMAS layout, labels, silence, determinism,
the recording-pool check and the FluidSynth no-bleed trap."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

fluidsynth = pytest.importorskip("fluidsynth")
sf = pytest.importorskip("soundfile")

from instrument_meter_training.corpus import augment, build, pools, sources  # noqa: E402
from instrument_meter_training.corpus.render import FluidRenderer, Note, PartRender  # noqa: E402

TRAIN_NAME = re.compile(
    r"^(?P<id>[^\[]+)\[(?P<cls>[a-z]{3})\]\[(?P<pool>[a-z0-9-]+)\](?P<n>\d+)__(?P<k>\d+)\.wav$"
)


def _fonts_available() -> bool:
    try:
        for f in sources.FONTS.values():
            f.path()
        for v in sources.VOICES.values():
            v.path()
    except FileNotFoundError:
        return False
    return shutil.which("mbrola") is not None


needs_sources = pytest.mark.skipif(not _fonts_available(), reason="SoundFonts / MBROLA voices not installed")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus") / "c"
    res = build.build(str(out), scale="small", seed=7, jobs=2, progress=False)
    return out, res


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.suffix in (".wav", ".txt")
    }


@needs_sources
def test_layout_matches_irmas(corpus):
    out, res = corpus
    sc = build.SCALES["small"]
    for split, per in (("train", sc.train_per_class), ("val", sc.val_per_class)):
        for cls in sources.CLASSES:
            files = sorted((out / split / cls).glob("*.wav"))
            assert len(files) == per, (split, cls)
            for f in files:
                m = TRAIN_NAME.match(f.name)
                assert m, f.name
                assert m["cls"] == cls
                info = sf.info(str(f))
                assert info.samplerate == 44100 and info.subtype == "PCM_16"
                assert abs(info.duration - 3.0) < 1e-3
    tests = sorted((out / "test").glob("*.wav"))
    assert len(tests) == sc.test_clips
    for w in tests:
        labels = [x.strip() for x in w.with_suffix(".txt").read_text().splitlines() if x.strip()]
        assert 1 <= len(labels) <= 5 and set(labels) <= set(sources.CLASSES)
        info = sf.info(str(w))
        assert info.samplerate == 44100 and 5.0 <= info.duration <= 20.0
    assert (out / "DATACARD.md").exists()
    m = json.loads((out / "manifest.json").read_text())
    assert m["counts"]["train"]["total"] == 11 * sc.train_per_class
    assert m["pool_check"]["ok"]


@needs_sources
def test_loader_reads_it(corpus):
    data = pytest.importorskip("instrument_meter_training.data")
    out, _ = corpus
    ex = data.scan_training(out / "train") if hasattr(data, "scan_training") else None
    if ex is not None:
        assert len(ex) == 11 * build.SCALES["small"].train_per_class
    clips = data.scan_test(out / "test")
    assert len(clips) == build.SCALES["small"].test_clips


@needs_sources
def test_labels_match_rendered_parts(corpus):
    out, _ = corpus
    m = json.loads((out / "manifest.json").read_text())
    test_sources = {p.key for ps in pools.side("test").presets.values() for p in ps}
    train_sources = {p.key for ps in pools.side("train").presets.values() for p in ps}
    for f in m["files"]:
        if f["split"] == "test":
            txt = (out / f["file"]).with_suffix(".txt").read_text().split()
            assert txt == f["labels"]
            classes = [p["class"] for p in f["parts"]]
            assert len(set(classes)) == len(classes)  # each part a different instrument
            assert f["labels"] == [
                c for c in sources.CLASSES if c in {p["class"] for p in f["parts"] if p["labelled"]}
            ]
            for p in f["parts"]:
                if p["labelled"]:
                    assert p["active_fraction"] >= 0.3
                    assert p["rms_db"] >= max(q["rms_db"] for q in f["parts"]) - 6.0 - 1e-6
                key = f"{p['font']}:0:{p['program']}" if "font" in p else None
                assert key is None or key in test_sources
                assert p.get("voice") in (
                    None,
                    *[v.voice for vs in pools.side("test").voices.values() for v in vs],
                )
        else:
            assert f["labels"] == [Path(f["file"]).parent.name]
            s = f["source"]
            assert "voice" in s or f"{s['font']}:0:{s['program']}" in train_sources
            assert s["program"] in sources.PROGRAMS[f["labels"][0]] if "program" in s else True
            for a in f["accompaniment"]:
                assert a["class"] != f["labels"][0] and -25 <= a["rel_db"] <= -15
    # group split: a score is on one side only
    sp = m["score_split"]
    assert not (set(sp["train"]) & set(sp["test"])) and not (set(sp["train"]) & set(sp["val"]))


@needs_sources
def test_no_silent_files(corpus):
    out, _ = corpus
    for w in sorted(out.rglob("*.wav")):
        x, _ = sf.read(str(w))
        assert augment.rms_db(x) > -45, w.name
    m = json.loads((out / "manifest.json").read_text())
    for f in m["files"]:
        if f["split"] != "test":
            assert f["active_fraction"] >= 0.6


@needs_sources
def test_same_seed_identical_files(corpus, tmp_path):
    out, _ = corpus
    again = tmp_path / "again"
    build.build(str(again), scale="small", seed=7, jobs=1, progress=False)  # other job count, same files
    assert _digest(out) == _digest(again)


@needs_sources
def test_pool_split_check_passes_on_shipped_definition():
    res = pools.check_pool_split(pools.QUICK_CLASSES)
    assert res["ok"], res["matches"][:5]
    assert not res["missing"]


@needs_sources
def test_pool_check_detects_shared_recordings():
    """TimGM6mb and sf_GMbank share the cello and the tenor sax recordings (recording-pools.md)."""
    assert pools.font_overlap("timgm6mb", "csgm", "cel") == 1.0
    shared = dict(pools.load_pools())
    shared["test"] = {"timgm": {"fonts": ["timgm6mb"], "classes": ["sax"], "exclude": []}}
    res = pools.check_pool_split(("sax",), pools=shared)
    assert not res["ok"] and res["matches"]


@needs_sources
def test_fluidsynth_no_bleed():
    r = FluidRenderer(("fluidr3",))
    loud = PartRender("fluidr3", 0, 19, [Note(0.0, 2.0, k, 127) for k in (48, 52, 55, 60, 64)])
    y = r.render_part(loud, 1.0, tail=0.0)  # notes still held when the render stops
    assert np.max(np.abs(y)) > 0.05
    empty = r.render_part(PartRender("fluidr3", 0, 19, []), 1.0)
    assert np.max(np.abs(empty)) == 0.0
    assert np.max(np.abs(r.render_silence(0.5))) == 0.0


@needs_sources
def test_every_preset_sounds():
    """A missing preset renders silence: every preset of both sides must play in its range."""
    r = FluidRenderer()
    for side in ("train", "test"):
        for cls, presets in pools.side(side).presets.items():
            lo, hi = sources.RANGES[cls]
            for p in presets:
                lo, hi = sources.range_for(cls, p.program)
                y = r.render_part(
                    PartRender(p.font, p.bank, p.program, [Note(0.0, 0.5, (lo + hi) // 2, 100)]), 0.5
                )
                assert augment.rms_db(y) > -50, (side, cls, p.key)
