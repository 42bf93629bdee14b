"""Python's decode prepares audio exactly as the Rust front end (issue 13): every sample sanitised
(NaN, ±Inf, beyond ±1000 → 0) before the channel mean, so one bad channel leaves the others'
signal. Checked against the rule itself, and (when the Rust CLI is built) against the windows the
Rust analysis scores, on hostile audio."""

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import make_untrained_run

from instrument_meter_training import SAMPLE_RATE
from instrument_meter_training.data import MAX_SAMPLE, decode, downmix, sanitize
from instrument_meter_training.export import export
from instrument_meter_training.runs import load_config, load_model
from instrument_meter_training.scoring import predict_windows, prepared_windows, sigmoid

REPO = Path(__file__).resolve().parents[2]
BINARY = next(
    (b for b in (REPO / "target" / d / "instrument-meter" for d in ("release", "debug")) if b.is_file()), None
)
SR = SAMPLE_RATE  # the model rate: no resampler on either side, so the windows must agree closely


def hostile_stereo(seconds: int = 5) -> np.ndarray:
    """[frames, 2] float32, one second per hazard."""
    t = np.arange(seconds * SR) / SR
    tone = (0.2 * np.sin(2 * np.pi * 330 * t) + 0.05 * np.sin(2 * np.pi * 1210 * t)).astype(np.float32)
    x = np.stack([tone, 0.7 * tone], axis=1)
    s = slice(0, SR)  # second 0: the left channel is NaN throughout
    x[s, 0] = np.nan
    s = slice(SR, 2 * SR)  # second 1: ±Inf sprinkled in the right channel, a DC offset
    x[s] += 0.3
    x[SR + 7 : 2 * SR : 97, 1] = np.inf
    x[SR + 50 : 2 * SR : 89, 1] = -np.inf
    s = slice(2 * SR, 3 * SR)  # second 2: huge values in the left channel, loud but legal in the right
    x[2 * SR + 3 : 3 * SR : 50, 0] = 1e6
    x[2 * SR + 11 : 3 * SR : 70, 0] = -3e38
    x[2 * SR + 5 : 3 * SR : 40, 1] = 999.0
    x[3 * SR : 4 * SR] = 0.5  # second 3: pure DC
    x[4 * SR :, 1] = np.nan  # second 4: NaN in the right channel, NaN and a huge value in one frame
    x[4 * SR + 100, 0] = np.nan
    return x


def naive(x: np.ndarray) -> np.ndarray:
    """The old Python decode: mean of channels first, non-finite replaced after."""
    return np.nan_to_num(x.mean(axis=1), nan=0.0, posinf=0.0, neginf=0.0)


def test_sanitize_is_the_rust_rule():
    x = np.array([0.5, -1000.0, 1000.0, 1000.0001, -2e3, np.nan, np.inf, -np.inf, 3e38], np.float32)
    np.testing.assert_array_equal(sanitize(x), [0.5, -1000.0, 1000.0, 0, 0, 0, 0, 0, 0])
    assert MAX_SAMPLE == np.float32(1000.0)


def test_downmix_matches_the_rust_unit_test():
    # src/analysis/downmix.rs `interleaved_mean_and_sanitising`
    frames = np.array([[1.0, 0.0], [np.nan, 0.5], [np.inf, -np.inf], [0.25, 0.25]], np.float32)
    np.testing.assert_array_equal(downmix(frames), [0.5, 0.25, 0.0, 0.25])
    three = np.array([[0.3, np.nan, 0.6]], np.float32)
    assert downmix(three)[0] == (np.float32(0.3) + np.float32(0) + np.float32(0.6)) * (
        np.float32(1) / np.float32(3)
    )
    assert downmix(np.array([[2e3], [0.1]], np.float32)).tolist() == [0.0, np.float32(0.1)]


def test_decode_keeps_the_good_channel(tmp_path):
    x = hostile_stereo()
    f = tmp_path / "hostile.wav"
    sf.write(f, x, SR, subtype="FLOAT")
    got = decode(f, SR)
    assert got.dtype == np.float32 and np.isfinite(got).all() and len(got) == len(x)
    np.testing.assert_array_equal(got, downmix(x))
    # second 0: half the right channel, where the old decode had silence
    np.testing.assert_allclose(got[:SR], 0.5 * x[:SR, 1], rtol=1e-6)
    assert not naive(x)[:SR].any()
    # second 2: the huge samples dropped, the legal 999 kept (halved)
    assert np.abs(got[2 * SR : 3 * SR]).max() == pytest.approx(999.0 / 2 + 0.25 / 2, abs=1)
    assert np.abs(naive(x)[2 * SR : 3 * SR]).max() > 1e5
    w_new, silent_new = prepared_windows(got, SR, None, "rms")
    w_old, silent_old = prepared_windows(naive(x).astype(np.float32), SR, None, "rms")
    assert silent_old[0] and not silent_new.any()
    assert np.abs(w_new - w_old).max() > 0.1  # the two rules differ where it matters


@pytest.mark.skipif(BINARY is None, reason="Rust CLI not built (cargo build --release)")
def test_rust_front_end_scores_the_same_windows(fake_irmas, cache_dir, tmp_path):
    """Per-window probabilities of the Rust CLI on a hostile file equal the exported model's on
    the windows Python prepares (a model-rate file: no resampler on either side)."""
    run = make_untrained_run(tmp_path / "run", "rfcn", fake_irmas[0], cache_dir, folds=1, seed=5)
    model = tmp_path / "model.onnx"
    export(run, model)
    x = hostile_stereo()
    wav = tmp_path / "hostile.wav"
    sf.write(wav, x, SR, subtype="FLOAT")
    cfg = load_config(run)
    w, silent = prepared_windows(decode(wav, SR), cfg.window_samples, None, cfg.augment.normalize)
    want = np.nan_to_num(sigmoid(predict_windows(load_model(cfg, run / "fold0"), w, silent, "cpu")), nan=0.0)
    r = subprocess.run([str(BINARY), "analyze", "--model", str(model), "--format", "json", "--hop", "1", str(wav)],
                       capture_output=True, text=True, timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stderr
    (line,) = [json.loads(s) for s in r.stdout.splitlines() if s.strip()]
    got = np.array([[win["scores"][c] for c in cfg.labels] for win in line["windows"]])
    assert got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_allclose(got, want, atol=2e-4)
    # and the old Python rule would not have matched: its first window was silence
    w_old, silent_old = prepared_windows(naive(x).astype(np.float32), cfg.window_samples, None, "rms")
    assert silent_old[0] and got[0].max() > 0
