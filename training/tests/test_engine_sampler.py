"""The recorded note-set sampler (tonejs-instruments, GrandOrgue demo), strums and drum kits: pitch,
length, release, loop sustain, determinism."""

from __future__ import annotations

import numpy as np
import pytest

sf = pytest.importorskip("soundfile")

from pitch import cents, f0  # noqa: E402

from instrument_meter_training.corpus import augment, engine_sampler, engines  # noqa: E402
from instrument_meter_training.corpus.render import Note  # noqa: E402

SR = engines.SAMPLE_RATE


def _inst(member: dict, family: str = "f") -> list[engines.Instrument]:
    insts = engines.ENGINES[member["engine"]].instruments(member, family)
    try:
        for i in insts:
            engines.ENGINES[i.engine].check(i)
    except engines.SourceMissing as e:
        pytest.fail(f"corpus source missing (scripts/setup.sh installs it): {e}")
    return insts


def test_sampler_shifts_the_nearest_recording_to_the_score_pitch():
    (flute,) = _inst({"engine": "sampler", "set": "tonejs", "instruments": ["flute"]})
    eng = engines.ENGINES["sampler"]
    ns = engine_sampler.tonejs_set("flute")
    recorded = [k for k, _ in ns.keys]
    assert 69 in recorded and 71 not in recorded and 70 not in recorded  # A4 recorded, B4 not
    for key in (69, 71, 67):  # on a recording, +2 and -2 semitones from it
        y = eng.render(flute, engines.Performance([Note(0.0, 1.5, key, 100)]), 2.0, np.random.default_rng(0))
        assert len(y) == 2 * SR and np.isfinite(y).all()
        got = f0(y[int(0.4 * SR) : int(1.0 * SR)])
        want = 440.0 * 2 ** ((key - 69) / 12)
        assert abs(cents(got, want)) < 50, (key, got, want)


def test_sampler_never_shifts_more_than_max_shift_and_folds_out_of_range_keys():
    ns = engine_sampler.tonejs_set("trumpet")
    recorded = [k for k, _ in ns.keys]
    for key in range(recorded[0] - 20, recorded[-1] + 20):
        target, k, _ = ns.locate(key)
        assert (target - key) % 12 == 0
        assert recorded[0] - ns.max_shift <= target <= recorded[-1] + ns.max_shift
        assert k in recorded and abs(target - k) <= ns.max_shift, (key, target, k)


def test_note_off_releases_and_length_is_exact():
    (cello,) = _inst({"engine": "sampler", "set": "tonejs", "instruments": ["cello"]})
    eng = engines.ENGINES["sampler"]
    perf = engines.Performance([Note(0.2, 0.8, 50, 110)])
    y = eng.render(cello, perf, 2.5, np.random.default_rng(1))
    assert len(y) == int(2.5 * SR)
    assert augment.rms_db(y[int(0.3 * SR) : int(0.7 * SR)]) > -35  # sounding while held
    assert augment.rms_db(y[int(0.0 * SR) : int(0.19 * SR)]) < -80  # nothing before the onset
    assert augment.rms_db(y[int(1.3 * SR) :]) < -60  # released: silent 0.5 s after the longest release
    again = eng.render(cello, perf, 2.5, np.random.default_rng(1))
    assert np.array_equal(y, again)


def test_organ_pipe_sustains_on_its_loop():
    (reg,) = _inst({"engine": "sampler", "set": "grandorgue", "registrations": [["Montre8"]]})
    eng = engines.ENGINES["sampler"]
    y = eng.render(reg, engines.Performance([Note(0.0, 11.0, 60, 100)]), 11.5, np.random.default_rng(0))
    early, late = augment.rms_db(y[SR : 2 * SR]), augment.rms_db(y[9 * SR : 10 * SR])
    assert late > early - 6, (early, late)  # held well past the 7-s recording, no decay
    assert abs(cents(f0(y[9 * SR : 10 * SR], 60, 1000), 261.63)) < 50


def test_strums_one_per_chord_cut_at_the_next():
    (g,) = _inst({"engine": "strums"})
    chord = lambda t, root: [Note(t + 0.01 * i, t + 0.9, root + d, 100) for i, d in enumerate((0, 4, 7))]  # noqa: E731
    perf = engines.Performance(chord(0.1, 45) + chord(1.1, 50))
    y = engines.ENGINES["strums"].render(g, perf, 2.5, np.random.default_rng(0))
    assert len(y) == int(2.5 * SR)
    assert augment.rms_db(y[: int(0.09 * SR)]) < -80
    assert augment.rms_db(y[int(0.15 * SR) : int(0.6 * SR)]) > -40
    assert augment.rms_db(y[int(1.15 * SR) : int(1.6 * SR)]) > -40


def test_drum_kits_map_general_midi_keys():
    for kit in ("Audiophob", "Millo-Drums_v.1", "ForzeeStereo"):
        mapping, _ = engine_sampler.drumkit(kit)
        assert {36, 38, 42, 46, 49} <= set(mapping), kit
        assert mapping[36] != mapping[38] != mapping[42]
    (kit,) = _inst({"engine": "drumkit", "kits": ["Audiophob"]})
    y = engines.ENGINES["drumkit"].render(
        kit, engines.Performance([Note(0.5, 0.6, 36, 120)]), 1.0, np.random.default_rng(0)
    )
    assert augment.rms_db(y[: int(0.49 * SR)]) < -80 and augment.rms_db(y[int(0.5 * SR) :]) > -40


def test_only_the_allowed_tonejs_instruments():
    with pytest.raises(ValueError, match="not an allowed source"):
        engines.ENGINES["sampler"].instruments(
            {"engine": "sampler", "set": "tonejs", "instruments": ["piano"]}, "f"
        )
