"""The STK physical-model family: every model sounds the score's pitch (within 50 cents), exact
length, same rng -> same bytes."""

from __future__ import annotations

import numpy as np
import pytest
from pitch import cents, f0

from instrument_meter_training.corpus import augment, engine_synth, engines
from instrument_meter_training.corpus.render import Note

SR = engines.SAMPLE_RATE


@pytest.mark.parametrize("model", sorted(engine_synth.STK_MODELS))
def test_stk_model_plays_the_score_pitch(model):
    (inst,) = engines.ENGINES["stk"].instruments({"engine": "stk", "models": [model]}, "stk")
    try:
        engines.ENGINES["stk"].check(inst)
    except engines.SourceMissing as e:
        pytest.fail(f"corpus source missing (scripts/setup.sh installs it): {e}")
    lo, hi = inst.range
    for key in (lo + 7, (lo + hi) // 2):
        perf = engines.Performance([Note(0.0, 1.4, key, 100)])
        y = engines.ENGINES["stk"].render(inst, perf, 1.5, np.random.default_rng(3))
        assert len(y) == int(1.5 * SR) and np.isfinite(y).all()
        assert augment.rms_db(y) > -60, (model, key)
        steady = y[int(0.5 * SR) : int(1.0 * SR)] if inst.cls != "gac" else y[int(0.1 * SR) : int(0.4 * SR)]
        want = 440.0 * 2 ** ((key - 69) / 12)
        assert abs(cents(f0(steady, 50, 2500), want)) < 50, (model, key)
        assert np.array_equal(y, engines.ENGINES["stk"].render(inst, perf, 1.5, np.random.default_rng(3)))


def test_amp_chain_distorts_a_clean_string():
    (inst,) = engines.ENGINES["amp"].instruments({"engine": "amp", "sources": ["Plucked"]}, "stk")
    try:
        engines.ENGINES["amp"].check(inst)
    except engines.SourceMissing as e:
        pytest.fail(f"corpus source missing (scripts/setup.sh installs it): {e}")
    t = np.arange(SR) / SR
    sine = (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    seed = next(
        s for s in range(50) if engine_synth._amp_chain(np.random.default_rng(s))[1]["style"] == "distortion"
    )
    y = engine_synth.amp(sine, np.random.default_rng(seed))
    assert len(y) == SR and np.isfinite(y).all() and augment.rms_db(y) > -40

    def harmonic_share(x):  # energy above the fundamental's band: new harmonics
        spec = np.abs(np.fft.rfft(x[SR // 4 :])) ** 2
        f = np.fft.rfftfreq(len(x) - SR // 4, 1 / SR)
        return spec[f > 400].sum() / spec.sum()

    assert harmonic_share(sine) < 1e-4 and harmonic_share(y) > 0.01
