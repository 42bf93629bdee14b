"""Singing-voice engines (corpus/engine_voices.py): every speaker sings the score's notes.

No test skips: a missing voice fails with the Debian package to install (scripts/setup.sh installs
them all).
"""

from __future__ import annotations

import numpy as np
import pytest
import soxr

from instrument_meter_training.corpus import engine_voices as ev
from instrument_meter_training.corpus.engines import ENGINES, Performance, SourceMissing, load_engines
from instrument_meter_training.corpus.render import Note

load_engines()
SR = 44100
DUR = 2.4
VOICES = (
    [("mbrola", k) for k in ev.MBROLA_VOICES] + [("world", k) for k in ev.SPEECH_VOICES] + [("sinsy", "f001")]
)


def _inst(engine: str, voice: str):
    (inst,) = ENGINES[engine].instruments({"engine": engine, "voice": voice}, f"voice-{voice}")
    return inst


def _phrase(inst) -> list[Note]:
    """Four notes across the singer's range, one rest: long enough to measure each note's pitch."""
    lo, hi = inst.range
    keys = [lo + 3, lo + 10, hi - 2, lo + 7]
    times = [(0.0, 0.55), (0.55, 1.1), (1.2, 1.8), (1.8, 2.35)]
    return [Note(a, b, k, 90) for (a, b), k in zip(times, keys)]


_RENDERS: dict = {}


def _render(engine: str, voice: str, seed: int = 5) -> tuple[np.ndarray, list[Note]]:
    if (engine, voice, seed) not in _RENDERS:
        inst = _inst(engine, voice)
        notes = _phrase(inst)
        y = ENGINES[engine].render(inst, Performance(notes), DUR, np.random.default_rng(seed))
        _RENDERS[(engine, voice, seed)] = (y, notes)
    return _RENDERS[(engine, voice, seed)]


def _note_pitch_cents(y: np.ndarray, notes: list[Note]) -> list[float]:
    """Error in cents of each note's median F0 over its steady middle (30-80 %): vibrato averages out."""
    pw = ev._import_pyworld()
    x = soxr.resample(np.asarray(y, np.float64), SR, 16000)
    f0, t = pw.dio(x, 16000, f0_floor=60.0, f0_ceil=1100.0, frame_period=5.0)
    f0 = pw.stonemask(x, f0, t, 16000)
    out = []
    for n in notes:
        a, b = n.on + 0.3 * (n.off - n.on), n.on + 0.8 * (n.off - n.on)
        sel = f0[(t >= a) & (t <= b)]
        sel = sel[sel > 0]
        assert len(sel) >= 10, f"note {n}: only {len(sel)} voiced frames in its middle"
        out.append(float(1200 * np.log2(np.median(sel) / ev.midi_hz(n.key))))
    return out


def test_at_least_15_singers():
    assert len(VOICES) >= 15
    assert len({v for _, v in VOICES}) == len(VOICES)


@pytest.mark.parametrize("engine,voice", VOICES)
def test_voice_sings_non_silent_exact_length(engine, voice):
    inst = _inst(engine, voice)
    ENGINES[engine].check(inst)  # fails with the package to install
    y, notes = _render(engine, voice)
    assert y.dtype == np.float32 and y.shape == (round(DUR * SR),)
    assert np.isfinite(y).all()
    for n in notes:  # every note sounds
        seg = y[int(n.on * SR) : int(n.off * SR)]
        assert np.sqrt(np.mean(seg.astype(np.float64) ** 2)) > 1e-3, f"{voice}: note {n} silent"
    assert ENGINES[engine].monophonic
    assert ENGINES[engine].recordings(inst, inst.range) == []
    d = ENGINES[engine].describe({"engine": engine, "voice": voice})
    assert d["package"] and d["license"] and d["attribution"]


@pytest.mark.parametrize("engine,voice", VOICES)
def test_voice_follows_the_score_pitch(engine, voice):
    """Within 50 cents for every voice (WORLD imposes the F0, also on Sinsy's output; MBROLA follows its
    pitch points)."""
    y, notes = _render(engine, voice)
    err = _note_pitch_cents(y, notes)
    assert max(abs(e) for e in err) < 50, f"{engine}:{voice} pitch errors (cents) {err}"


@pytest.mark.parametrize(
    "engine,voice", [("mbrola", "es1"), ("world", "awb"), ("world", "kal"), ("sinsy", "f001")]
)
def test_same_seed_same_bytes(engine, voice):
    inst = _inst(engine, voice)
    notes = _phrase(inst)
    a = ENGINES[engine].render(inst, Performance(notes), DUR, np.random.default_rng(11))
    b = ENGINES[engine].render(inst, Performance(notes), DUR, np.random.default_rng(11))
    c = ENGINES[engine].render(inst, Performance(notes), DUR, np.random.default_rng(12))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_world_repitch_holds_long_notes_and_rests():
    """A 1.5-s note is stretched from a short syllable and holds its pitch; a rest stays silent."""
    inst = _inst("world", "rms")
    notes = [Note(0.1, 1.6, 50, 90), Note(2.0, 2.3, 55, 90)]
    y = ENGINES["world"].render(inst, Performance(notes), DUR, np.random.default_rng(1))
    assert max(abs(e) for e in _note_pitch_cents(y, notes[:1])) < 50
    rest = y[int(1.7 * SR) : int(1.95 * SR)].astype(np.float64)
    note = y[int(0.5 * SR) : int(1.4 * SR)].astype(np.float64)
    assert np.sqrt(np.mean(rest**2)) < 0.05 * np.sqrt(np.mean(note**2))


def test_missing_mbrola_voice_names_the_package(monkeypatch):
    v = ev.MBROLA_VOICES["es1"]
    monkeypatch.setitem(
        ev.MBROLA_VOICES, "es1", ev.MbrolaVoice("zz9", "x", "male", v.vowels, v.consonants, True)
    )
    with pytest.raises(SourceMissing, match="mbrola-zz9"):
        ENGINES["mbrola"].check(_inst("mbrola", "es1"))


@pytest.mark.parametrize(
    "tts,name,package",
    [
        ("festival", "nosuch_diphone", "festvox-nosuch"),
        ("flite", "nosuch", "flite"),
        ("rhvoice", "nosuch", "rhvoice-x"),
    ],
)
def test_missing_speech_voice_names_the_package(monkeypatch, tts, name, package):
    v = ev.SPEECH_VOICES["awb"]
    fake = ev.SpeechVoice("awb", tts, name, v.language, v.sex, package, v.license, v.attribution)
    monkeypatch.setitem(ev.SPEECH_VOICES, "awb", fake)
    with pytest.raises(SourceMissing, match=package):
        ENGINES["world"].check(_inst("world", "awb"))


def test_unknown_voice_is_an_error():
    with pytest.raises(ValueError):
        ENGINES["mbrola"].instruments({"engine": "mbrola", "voice": "fr1"}, "x")
    with pytest.raises(ValueError):
        ENGINES["world"].instruments({"engine": "world", "voice": "nosuch"}, "x")


def test_sinsy_score_is_valid_musicxml_with_ties_and_kana():
    import xml.etree.ElementTree as ET

    text = ev.musicxml([(0.0, 2.5, 69), (2.6, 3.0, 70)], ["ら", "の"], 3.2)
    root = ET.fromstring(text.split("\n", 1)[1])
    notes = root.iter("note")
    durs = [int(n.find("duration").text) for n in notes]
    assert sum(durs) % ev._MEASURE == 0  # whole bars
    assert [e.text for e in root.iter("text")] == ["ら", "の"]  # one mora per note, not per tied part
    assert len(list(root.iter("tie"))) == 2  # the long note crosses a bar line: tied
    assert [e.find("alter").text for e in root.iter("pitch") if e.find("alter") is not None] == ["1"]


def test_expression_controller_shapes_the_level():
    """The builder's CC11 swell reaches the voice: CC11 64 is about 6 dB per halving, as in GM."""
    inst = _inst("mbrola", "es2")
    notes = _phrase(inst)
    full = ENGINES["mbrola"].render(inst, Performance(notes), DUR, np.random.default_rng(4))
    soft = ENGINES["mbrola"].render(
        inst,
        Performance(notes, ccs=[(0.0, 11, 127), (0.0, 1, 30), (DUR, 11, 127)]),
        DUR,
        np.random.default_rng(4),
    )
    assert np.allclose(full, soft)
    half = ENGINES["mbrola"].render(
        inst, Performance(notes, ccs=[(0.0, 11, 64), (DUR, 11, 64)]), DUR, np.random.default_rng(4)
    )
    assert np.allclose(half, full * (64 / 127) ** 2, atol=1e-6)


_FRESH = """
import hashlib, numpy as np
from instrument_meter_training.corpus.engines import ENGINES, Performance, load_engines
from instrument_meter_training.corpus.render import Note
load_engines()
out = []
for e, v in [("world", "kal"), ("world", "bdl"), ("sinsy", "f001")]:
    (inst,) = ENGINES[e].instruments({"engine": e, "voice": v}, "f")
    notes = [Note(i * 0.3, i * 0.3 + 0.28, inst.range[0] + (i * 5) % 12, 90) for i in range(7)]
    y = ENGINES[e].render(inst, Performance(notes), 2.2, np.random.default_rng(1))
    out.append(hashlib.sha1(y.tobytes()).hexdigest())
print(" ".join(out))
"""


def test_fresh_process_renders_the_same_bytes():
    """The in-memory syllable banks depend only on the voice: a cold process gives the same bytes as
    one that has sung other phrases first (here: this test process)."""
    import hashlib
    import subprocess
    import sys

    cold = subprocess.run([sys.executable, "-c", _FRESH], capture_output=True, text=True, check=True)
    warm = []
    for e, v in [("world", "kal"), ("world", "bdl"), ("sinsy", "f001")]:
        inst = _inst(e, v)
        ENGINES[e].render(inst, Performance(_phrase(inst)), DUR, np.random.default_rng(8))  # other phrase
        notes = [Note(i * 0.3, i * 0.3 + 0.28, inst.range[0] + (i * 5) % 12, 90) for i in range(7)]
        y = ENGINES[e].render(inst, Performance(notes), 2.2, np.random.default_rng(1))
        warm.append(hashlib.sha1(y.tobytes()).hexdigest())
    assert cold.stdout.split() == warm
