"""The Rust CLI reads a model exported here (needs `cargo build [--release]`; skipped otherwise)."""

import json
import subprocess
from pathlib import Path

import pytest
from conftest import make_untrained_run

from instrument_meter_training import LABELS
from instrument_meter_training.export import export

REPO = Path(__file__).resolve().parents[2]
CANDIDATES = [
    REPO / "target" / "release" / "instrument-meter",
    REPO / "target" / "debug" / "instrument-meter",
]


def _binary():
    for b in CANDIDATES:
        if b.is_file():
            return b
    return None


@pytest.mark.skipif(
    _binary() is None,
    reason="Rust CLI not built (target/{release,debug}/instrument-meter missing); run `cargo build --release`",
)
def test_rust_cli_analyzes_with_exported_model(fake_irmas, cache_dir, tmp_path):
    run = make_untrained_run(tmp_path / "run", "rfcn", fake_irmas[0], cache_dir, folds=1)
    model = tmp_path / "model.onnx"
    export(run, model)
    wav = sorted(fake_irmas[1].rglob("*.wav"))[0]
    r = subprocess.run(
        [str(_binary()), "analyze", str(wav), "--model", str(model)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, f"instrument-meter analyze failed:\n{r.stdout}\n{r.stderr}"
    out = r.stdout
    try:
        json.loads(out)
    except ValueError:
        pass
    assert any(code in out for code in LABELS) or "Cello" in out, out
