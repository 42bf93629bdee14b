"""The Rust CLI reads a model exported here and scores audio as the Python evaluation does.

Needs the binary (`cargo build [--release]`); skipped with a reason otherwise."""

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import make_untrained_run

from instrument_meter_training.export import export, read_metadata
from instrument_meter_training.runs import load_config, load_model
from instrument_meter_training.scoring import score_clips

REPO = Path(__file__).resolve().parents[2]
CANDIDATES = [
    REPO / "target" / "release" / "instrument-meter",
    REPO / "target" / "debug" / "instrument-meter",
]
BINARY = next((b for b in CANDIDATES if b.is_file()), None)

pytestmark = pytest.mark.skipif(
    BINARY is None,
    reason="Rust CLI not built: target/{release,debug}/instrument-meter missing (cargo build --release)",
)


@pytest.fixture(scope="module")
def exported(fake_irmas, cache_dir, tmp_path_factory):
    d = tmp_path_factory.mktemp("rust")
    run = make_untrained_run(d / "run", "rfcn", fake_irmas[0], cache_dir, folds=1, seed=3)
    export(run, d / "model.onnx")
    return run, d / "model.onnx"


def _run(*args):
    r = subprocess.run([str(BINARY), *map(str, args)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"instrument-meter {' '.join(map(str, args))} failed:\n{r.stdout}\n{r.stderr}"
    return r.stdout


def test_rust_info_reads_metadata(exported):
    _, model = exported
    info = json.loads(_run("info", "--model", model, "--json"))
    meta = read_metadata(model)
    assert info["labels"] == json.loads(meta["labels"])
    assert info["sample_rate"] == 22050 and info["window_samples"] == 22050 and info["normalization"] == "rms"
    np.testing.assert_allclose(info["thresholds"], json.loads(meta["thresholds"]), atol=1e-6)


def test_rust_analyze_matches_python_clip_scores(exported, fake_irmas, cache_dir):
    run, model = exported
    wavs = sorted(fake_irmas[1].rglob("*.wav"))[:3]  # clip 00 starts with a silent second
    cfg = load_config(run)
    py = score_clips([load_model(cfg, run / "fold0")], wavs, cfg, "cpu", None, cache_dir)[0]
    lines = [
        json.loads(x)
        for x in _run("analyze", "--model", model, "--format", "json", "--hop", "1", *wavs).splitlines()
        if x.strip()
    ]
    assert len(lines) == len(wavs)
    for row, want in zip(lines, py):
        got = np.array([row["scores"][c] for c in cfg.labels])
        # different resamplers (soxr here, the Rust one there): scores agree closely, not bit-exactly
        np.testing.assert_allclose(got, want, atol=5e-3)
