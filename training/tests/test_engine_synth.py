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
