"""End to end on the tiny fake IRMAS tree: train 1 epoch -> evaluate -> export -> table, and resume."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from test_export import check_contract

from instrument_meter_training.cli import main

FAST = ["--epochs", "1", "--batch-size", "16", "--crops-per-excerpt", "1", "--threads", "2"]


@pytest.fixture(scope="module")
def trained_run(fake_irmas, cache_dir, tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "fcn"
    rc = main(["train", "--data", str(fake_irmas[0]), "--arch", "fcn", "--folds", "2", "--out", str(run),
               "--cache-dir", str(cache_dir), "--seed", "1", *FAST])  # fmt: skip
    assert rc == 0
    return run


def test_train_writes_run(trained_run):
    cfg = json.loads((trained_run / "config.json").read_text())
    assert cfg["arch"] == "fcn" and cfg["folds"] == 2 and cfg["seed"] == 1
    folds = json.loads((trained_run / "folds.json").read_text())
    a, b = (set(f["val_groups"]) for f in folds["folds"])
    assert a and b and not a & b
    for k in (0, 1):
        d = trained_run / f"fold{k}"
        for f in ("best.pt", "last.pt", "log.jsonl", "done.json", "val_preds.npz"):
            assert (d / f).is_file(), f
        (rec,) = [json.loads(line) for line in (d / "log.jsonl").read_text().splitlines()]
        for key in ("epoch", "train_loss", "val_loss", "val_lrap", "lr", "windows_per_s"):
            assert key in rec
        done = json.loads((d / "done.json").read_text())
        assert len(done["thresholds"]) == 11 and all(0 < t < 1 for t in done["thresholds"])
        sw = done["software"]
        assert sw["torch"] == torch.__version__ and sw["numpy"] == np.__version__ and sw["cpu"], sw


def test_evaluate_export_table(trained_run, fake_irmas, cache_dir, tmp_path, capsys):
    assert (
        main(["evaluate", str(trained_run), "--test", str(fake_irmas[1]), "--cache-dir", str(cache_dir)]) == 0
    )
    m = json.loads((trained_run / "metrics.json").read_text())
    assert m["n_clips"] == 12 and m["n_folds"] == 2
    for proto in ("honest", "paper"):
        for k in ("lrap", "f1_micro", "f1_macro"):
            assert 0 <= m[proto][k]["mean"] <= 1 and m[proto][k]["n"] == 2
        assert len(m[proto]["f1_per_class"]["mean"]) == 11
    assert "threshold" in m["folds"][0]["paper"]
    for f in ("metrics.md", "f1_per_instrument.png", "cooccurrence.png", "test_scores.npz"):
        assert (trained_run / f).is_file(), f
    assert "honest" in (trained_run / "metrics.md").read_text()

    out = tmp_path / "model.onnx"
    assert main(["export", str(trained_run), "--out", str(out)]) == 0
    meta = check_contract(out)
    metrics = json.loads(meta["metrics"])
    assert "test_honest" in metrics and "test_paper" in metrics
    assert json.loads(meta["thresholds"]) == pytest.approx(
        json.loads((trained_run / f"fold{metrics['folds'][0]}" / "done.json").read_text())["thresholds"],
        abs=1e-4,
    )
    assert main(["export", str(trained_run), "--out", str(tmp_path / "ens.onnx"), "--ensemble"]) == 0

    capsys.readouterr()
    assert main(["table", str(trained_run)]) == 0
    table = capsys.readouterr().out
    assert "| fcn (fcn) |" in table and "F1-micro" in table and "honest" in table and "paper" in table


def test_resume_continues(trained_run, tmp_path):
    import shutil

    run = tmp_path / "resumed"
    shutil.copytree(trained_run, run)
    assert (
        main(["train", "--resume", "--out", str(run), "--epochs", "2", "--fold-index", "1", "--threads", "2"])
        == 0
    )
    lines = (run / "fold1" / "log.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == [0, 1]
    assert json.loads((run / "fold1" / "done.json").read_text())["epochs_run"] == 2


def test_refuses_other_run_in_same_dir(trained_run, fake_irmas):
    with pytest.raises(SystemExit):
        main(["train", "--data", str(fake_irmas[0]), "--arch", "rfcn", "--out", str(trained_run), *FAST])


def test_console_script_help():
    r = subprocess.run(
        [sys.executable, "-m", "instrument_meter_training.cli", "--help"], capture_output=True, text=True
    )
    assert r.returncode == 0
    for cmd in ("corpus", "train", "evaluate", "export", "table"):
        assert cmd in r.stdout


def test_corpus_subcommand_guarded(monkeypatch, capsys):
    import instrument_meter_training.cli as cli

    monkeypatch.setattr(cli, "_corpus_module", lambda: (None, ImportError("no corpus yet")))
    assert cli.main(["corpus"]) == 2
    assert "not available" in capsys.readouterr().err
    # the other subcommands still work without it
    assert cli.main(["models"]) == 0


def test_evaluate_through_onnxruntime_matches_torch(trained_run, fake_irmas, cache_dir, tmp_path):
    """The ONNX Runtime engine scores the test clips as PyTorch does (same metrics, scores ~1e-5)."""
    import numpy as np

    runs = {}
    for engine in ("torch", "onnxruntime"):
        out = tmp_path / engine
        args = ["evaluate", str(trained_run), "--test", str(fake_irmas[1]), "--cache-dir", str(cache_dir)]
        assert main([*args, "--out", str(out), "--no-plots", "--engine", engine]) == 0
        runs[engine] = (
            json.loads((out / "metrics.json").read_text()),
            np.load(out / "test_scores.npz")["scores"],
        )
    (m_t, s_t), (m_o, s_o) = runs["torch"], runs["onnxruntime"]
    np.testing.assert_allclose(s_o, s_t, atol=1e-4)
    assert m_o["honest"]["lrap"]["mean"] == pytest.approx(m_t["honest"]["lrap"]["mean"], abs=1e-3)
