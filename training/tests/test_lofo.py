"""Leave-one-family-out on a tiny synthetic corpus with recording families: fold plans, the CLI
end to end (train, test, calibrate, report, resume), the product model on every family, and export
with the LOFO thresholds and metrics."""

import json
import shutil

import numpy as np
import pytest
import soundfile as sf
from conftest import tone

from instrument_meter_training import LABELS
from instrument_meter_training.cli import main
from instrument_meter_training.data import family_of, read_family_folds, scan_training
from instrument_meter_training.export import read_metadata
from instrument_meter_training.runs import TrainConfig
from instrument_meter_training.train import prepare

CLASSES = (0, 2, 6, 9)  # cel, flu, pia, vio
FAMILIES = ("fluid", "timgm", "iowa", "stk")
FOLDS = {"A": ["fluid"], "B": ["timgm", "iowa"]}  # the LOFO folds (pools.json's test_folds)
POOLS = {"families": list(FAMILIES), "folds": {**FOLDS, "synthetic": ["stk"]}, "test_folds": list(FOLDS)}
FAST = ["--epochs", "1", "--batch-size", "8", "--crops-per-excerpt", "1", "--threads", "2", "--patience", "5"]


def family_tone(c: int, fam: int, secs: float, rng) -> np.ndarray:
    """The class's timbre, coloured by the family (another 'sample set' of the same instrument)."""
    x = tone(c, secs, 22050, rng)
    return (0.6 * x + 0.4 * np.roll(x, 7 + 13 * fam) * (-1) ** fam).astype(np.float32)


def make_family_corpus(root, seed=0):
    rng = np.random.default_rng(seed)
    for split, n in (("train", 2), ("val", 1)):
        for c in CLASSES:
            for f, fam in enumerate(FAMILIES):
                for k in range(n):
                    d = root / split / LABELS[c]
                    d.mkdir(parents=True, exist_ok=True)
                    name = f"s{c}{f}{k}[{LABELS[c]}][{fam}]{k:04d}__1.wav"
                    sf.write(d / name, family_tone(c, f, 2.0, rng), 22050, subtype="PCM_16")
    for fold, fams in FOLDS.items():
        for j in range(3):
            fam = FAMILIES.index(fams[j % len(fams)])
            cs = sorted(rng.choice(CLASSES, size=1 + j % 2, replace=False).tolist())
            x = sum(family_tone(c, fam, 2.5, rng) for c in cs) / len(cs)
            d = root / "test" / fold
            d.mkdir(parents=True, exist_ok=True)
            sf.write(d / f"mix{j}.wav", x, 22050, subtype="PCM_16")
            (d / f"mix{j}.txt").write_text("".join(f"{LABELS[c]}\n" for c in cs))
    (root / "pools.json").write_text(json.dumps(POOLS))
    return root


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_family_corpus(tmp_path_factory.mktemp("families"))


@pytest.fixture(scope="module")
def lofo_run(corpus, cache_dir, tmp_path_factory):
    run = tmp_path_factory.mktemp("lofo") / "fcn"
    args = ["lofo", "--data", str(corpus), "--arch", "fcn", "--out", str(run), "--cache-dir", str(cache_dir)]
    assert main([*args, *FAST]) == 0
    return run


def test_family_of_and_pools(corpus):
    ex = scan_training(corpus / "train")
    assert {family_of(e) for e in ex} == set(FAMILIES)
    assert read_family_folds(corpus) == FOLDS


def test_pools_test_folds_only(tmp_path):
    """Folds without test mixtures (e.g. synthetic families) are not LOFO folds: they always train."""
    pools = {"folds": {"A": ["a"], "synth": ["s1", "s2"], "B": ["b"]}, "test_folds": ["A", "B"]}
    (tmp_path / "pools.json").write_text(json.dumps(pools))
    assert read_family_folds(tmp_path) == {"A": ["a"], "B": ["b"]}
    (tmp_path / "pools.json").write_text(json.dumps({**pools, "test_folds": ["A", "C"]}))
    with pytest.raises(ValueError, match="C"):
        read_family_folds(tmp_path)


def test_pools_refuse_a_family_in_two_folds(tmp_path):
    (tmp_path / "pools.json").write_text(json.dumps({"folds": {"A": ["x"], "B": ["x", "y"]}}))
    with pytest.raises(ValueError, match="'x'"):
        read_family_folds(tmp_path)


def test_family_plans_never_share_a_family(corpus, cache_dir):
    prep = prepare(TrainConfig(data=str(corpus), val_mode="family", cache_dir=str(cache_dir)))
    assert prep.mode == "family" and [p.name for p in prep.folds] == ["A", "B"]
    for plan in prep.folds:
        train_fams = {prep.families[i] for i in plan.train}
        val_fams = {prep.val_families[i] for i in plan.val}
        assert not train_fams & set(plan.held_out) and not val_fams & set(plan.held_out)
        assert train_fams == val_fams == set(FAMILIES) - set(plan.held_out)
        # the training audio is exactly the files of the training families
        want = sorted(
            str(e.path) for e in scan_training(corpus / "train") if family_of(e) not in plan.held_out
        )
        assert sorted(prep.paths[i] for i in plan.train) == want


def test_families_option_restricts(corpus, cache_dir):
    prep = prepare(TrainConfig(data=str(corpus), families="fluid,iowa", folds=1, cache_dir=str(cache_dir)))
    assert set(prep.families) == {"fluid", "iowa"} and set(prep.val_families) == {"fluid", "iowa"}
    every = prepare(TrainConfig(data=str(corpus), folds=1, cache_dir=str(cache_dir)))
    assert set(every.families) == set(FAMILIES) and len(every.audio) == len(CLASSES) * len(FAMILIES) * 2


def test_lofo_report(lofo_run):
    r = json.loads((lofo_run / "lofo.json").read_text())
    assert [f["name"] for f in r["folds"]] == ["A", "B"]
    assert [f["held_out_families"] for f in r["folds"]] == [FOLDS["A"], FOLDS["B"]]
    assert all(f["n_clips"] == 3 for f in r["folds"])
    for proto in ("honest", "calibrated", "paper"):
        for k in ("lrap", "f1_micro", "f1_macro"):
            assert 0 <= r["mean"][proto][k]["mean"] <= 1 and r["mean"][proto][k]["n"] == 2
        assert len(r["mean"][proto]["f1_per_class"]) == 11
    cal = r["calibration"]
    assert len(cal["thresholds"]) == 11 and all(0.01 <= t <= 0.99 for t in cal["thresholds"])
    assert cal["clips"] == 6 and "shrunk" in cal["rule"]
    # a class with no positive clip anywhere gets the global threshold
    absent = [i for i in range(11) if i not in CLASSES]
    assert all(cal["thresholds"][i] == pytest.approx(cal["global"]) for i in absent)
    folds = json.loads((lofo_run / "folds.json").read_text())
    for f in folds["folds"]:
        assert not set(f["train_families"]) & set(f["held_out_families"])
    md = (lofo_run / "lofo.md").read_text()
    assert "| calibrated |" in md and "| A | B | mean |" in md


def test_lofo_resume_continues_each_fold(lofo_run, tmp_path, cache_dir):
    run = tmp_path / "resumed"
    shutil.copytree(lofo_run, run)
    assert main(["lofo", "--resume", "--out", str(run), "--epochs", "2", "--threads", "2"]) == 0
    for k in (0, 1):
        epochs = [json.loads(x)["epoch"] for x in (run / f"fold{k}" / "log.jsonl").read_text().splitlines()]
        assert epochs == [0, 1]
    assert json.loads((run / "lofo.json").read_text())["folds"][1]["name"] == "B"


def _product_model(lofo_run, corpus, cache_dir, tmp_path):
    """A model trained on every family and exported with the LOFO run's thresholds."""
    final = tmp_path / "final"
    args = ["train", "--data", str(corpus), "--arch", "fcn", "--folds", "1", "--out", str(final)]
    assert main([*args, "--cache-dir", str(cache_dir), *FAST]) == 0
    assert json.loads((final / "folds.json").read_text())["families"] == sorted(FAMILIES)
    out = tmp_path / "model.onnx"
    assert main(["export", str(final), "--out", str(out), "--thresholds-from", str(lofo_run)]) == 0
    meta = read_metadata(out)
    lofo = json.loads((lofo_run / "lofo.json").read_text())
    assert json.loads(meta["thresholds"]) == pytest.approx(lofo["calibration"]["thresholds"], abs=1e-4)
    m = json.loads(meta["metrics"])
    assert m["lofo"]["mean"]["calibrated"]["lrap"]["mean"] == lofo["mean"]["calibrated"]["lrap"]["mean"]
    assert m["lofo"]["folds"] == ["A", "B"]
    return out, meta


def test_product_model_ships_lofo_thresholds(lofo_run, corpus, cache_dir, tmp_path):
    _product_model(lofo_run, corpus, cache_dir, tmp_path)


def test_recalibrate_swaps_only_thresholds_and_lofo_figures(
    lofo_run, lofo_run_seed1, corpus, cache_dir, tmp_path
):
    """A shipped model recalibrated on another LOFO run (the recipe at the model's own schedule):
    new thresholds and LOFO figures, the same graph and weights, every other field kept."""
    import onnx
    import onnxruntime as ort

    model, before = _product_model(lofo_run, corpus, cache_dir, tmp_path)
    out = tmp_path / "recal.onnx"
    args = ["recalibrate", str(model), "--thresholds-from", str(lofo_run_seed1), "--out", str(out)]
    assert main([*args, "--model-version", "9.9.1"]) == 0
    after = read_metadata(out)
    other = json.loads((lofo_run_seed1 / "lofo.json").read_text())
    assert json.loads(after["thresholds"]) == pytest.approx(other["calibration"]["thresholds"], abs=1e-4)
    assert json.loads(after["metrics"])["lofo"]["run"] == str(lofo_run_seed1)
    assert after["model_version"] == "9.9.1"
    changed = {k for k in before if before[k] != after[k]}
    assert changed <= {"thresholds", "metrics", "model_version"} and set(after) == set(before)
    # the validation figures of the model itself stay
    assert json.loads(after["metrics"])["validation"] == json.loads(before["metrics"])["validation"]
    a, b = onnx.load(str(model)).graph, onnx.load(str(out)).graph
    assert a.SerializeToString() == b.SerializeToString()
    x = np.random.default_rng(0).standard_normal((2, 1, 22050)).astype(np.float32)
    run = [ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]) for p in (model, out)]
    assert np.array_equal(run[0].run(None, {"audio": x})[0], run[1].run(None, {"audio": x})[0])

    # refused, nothing written: a LOFO run of other labels, a file without the metadata
    bad = tmp_path / "bad-lofo"
    shutil.copytree(lofo_run_seed1, bad)
    lofo = json.loads((bad / "lofo.json").read_text())
    lofo["labels"] = lofo["labels"][::-1]
    (bad / "lofo.json").write_text(json.dumps(lofo))
    assert (
        main(["recalibrate", str(model), "--thresholds-from", str(bad), "--out", str(tmp_path / "x.onnx")])
        == 1
    )
    bare = onnx.load(str(model))
    del bare.metadata_props[:]
    onnx.save(bare, str(tmp_path / "bare.onnx"))
    assert main(["recalibrate", str(tmp_path / "bare.onnx"), "--thresholds-from", str(lofo_run),
                 "--out", str(tmp_path / "x.onnx")]) == 1  # fmt: skip
    assert not (tmp_path / "x.onnx").exists()


def test_revalidate_a_lofo_run_uses_each_folds_families(lofo_run, corpus, cache_dir, tmp_path):
    from instrument_meter_training.train import revalidate

    run = tmp_path / "reval"
    shutil.copytree(lofo_run, run)
    before = {k: json.loads((run / f"fold{k}" / "done.json").read_text()) for k in (0, 1)}
    for r in revalidate(run, corpus, "cpu", str(cache_dir)):
        b = before[r["fold"]]
        assert r["val_clips"] == b["val_clips"] and r["val_lrap"] == pytest.approx(b["val_lrap"], abs=1e-6)


def test_lofo_table(lofo_run, capsys):
    capsys.readouterr()
    assert main(["table", "--lofo", str(lofo_run), str(lofo_run)]) == 0
    out = capsys.readouterr().out
    r = json.loads((lofo_run / "lofo.json").read_text())
    rows = [line for line in out.splitlines() if line.startswith("| fcn (fcn)")]
    assert len(rows) == 2 and "calibrated" in out and "A LRAP / F1-macro" in out
    cells = rows[0].split(" | ")
    assert cells[3] == f"{r['mean']['calibrated']['lrap']['mean'] * 100:.1f}"
    assert len(cells) == 1 + 2 + 3 + 11
    with pytest.raises(SystemExit):
        main(["table", str(lofo_run), "--protocol", "calibrated"])


@pytest.fixture(scope="module")
def lofo_run_seed1(corpus, cache_dir, tmp_path_factory):
    run = tmp_path_factory.mktemp("lofo") / "fcn-s1"
    args = ["lofo", "--data", str(corpus), "--arch", "fcn", "--out", str(run), "--cache-dir", str(cache_dir)]
    assert main([*args, *FAST, "--seed", "1"]) == 0
    return run


def test_lofo_table_by_recipe_pools_seeds(lofo_run, lofo_run_seed1, corpus, cache_dir, tmp_path, capsys):
    base = ["lofo", "--data", str(corpus), "--arch", "fcn", "--cache-dir", str(cache_dir), *FAST]
    seed1, env = lofo_run_seed1, tmp_path / "fcn-env"
    assert main([*base, "--envelope-prob", "0.3", "--out", str(env)]) == 0
    capsys.readouterr()
    assert main(["table", "--lofo", "--by-recipe", str(lofo_run), str(env), str(seed1)]) == 0
    rows = [line.split(" | ") for line in capsys.readouterr().out.splitlines() if line.startswith("| fcn:")]
    assert [r[0] for r in rows] == ["| fcn: reference", "| fcn: envelope_prob=0.3"]
    assert [r[1] for r in rows] == ["0,1", "0"]
    rep = {d: json.loads((d / "lofo.json").read_text())["mean"]["calibrated"] for d in (lofo_run, seed1, env)}
    lrap = [rep[d]["lrap"]["mean"] * 100 for d in (lofo_run, seed1)]
    assert rows[0][4] == f"{np.mean(lrap):.1f} ± {np.std(lrap, ddof=1):.1f}"  # folds A, B, then the mean
    assert rows[0][6] == "–"  # the reference has no difference to itself
    # the envelope run (seed 0) is paired with the reference's seed-0 run only
    d = (rep[env]["lrap"]["mean"] - rep[lofo_run]["lrap"]["mean"]) * 100
    assert rows[1][6] == f"{d:.1f} (n=1)"
    # a run given twice (or a copy of it) would count one seed twice
    with pytest.raises(SystemExit):
        main(["table", "--lofo", "--by-recipe", str(lofo_run), str(lofo_run)])
    with pytest.raises(SystemExit):
        main(["table", "--by-recipe", str(lofo_run)])


def test_recipe_ignores_how_a_run_ran():
    from instrument_meter_training.lofo_seeds import recipe_of

    a = {"arch": "rfcn", "seed": 0, "threads": 2, "cache_dir": "x", "augment": {"pitch_prob": 0.0}}
    b = {**a, "seed": 3, "threads": 8, "cache_dir": "y"}
    assert recipe_of(a) == recipe_of(b) == {"arch": "rfcn", "augment.pitch_prob": 0.0}
    assert recipe_of({**a, "augment": {"pitch_prob": 0.3}}) != recipe_of(a)


def test_lofo_ensemble_of_seeds(lofo_run, lofo_run_seed1, corpus, tmp_path):
    """Two seeds' LOFO runs as one ensemble: per fold the mean of their scores on the same held-out
    clips, the calibration on the pooled mean scores, and thresholds a product ensemble can ship."""
    from instrument_meter_training.metrics import calibrated_thresholds, lrap

    out = tmp_path / "ens"
    assert main(["lofo-ensemble", str(lofo_run), str(lofo_run_seed1), "--out", str(out)]) == 0
    r = json.loads((out / "lofo.json").read_text())
    assert r["members"] == [str(lofo_run), str(lofo_run_seed1)] and r["arch"] == "fcn ensemble of 2"
    ys, ss = [], []
    for k, row in enumerate(r["folds"]):
        z = [np.load(run / f"fold{k}" / "test_preds.npz") for run in (lofo_run, lofo_run_seed1)]
        y, s = z[0]["targets"], (z[0]["scores"] + z[1]["scores"]) / 2
        assert row["calibrated"]["lrap"] == pytest.approx(lrap(y, s))
        ys.append(y)
        ss.append(s)
    assert r["calibration"]["thresholds"] == pytest.approx(
        calibrated_thresholds(np.concatenate(ys), np.concatenate(ss))["thresholds"]
    )
    assert "ensemble of 2" in (out / "lofo.md").read_text()

    # a product model exported as a fold ensemble ships the ensemble's out-of-family thresholds
    final = tmp_path / "final"
    args = ["train", "--data", str(corpus), "--arch", "fcn", "--folds", "2", "--out", str(final), *FAST]
    assert main(args) == 0
    onnx = tmp_path / "ens.onnx"
    assert main(["export", str(final), "--out", str(onnx), "--ensemble", "--thresholds-from", str(out)]) == 0
    meta = read_metadata(onnx)
    assert json.loads(meta["thresholds"]) == pytest.approx(r["calibration"]["thresholds"], abs=1e-4)
    assert json.loads(meta["metrics"])["lofo"]["arch"] == "fcn ensemble of 2"

    # one run, the same run twice, or runs tested on other clips are no ensemble
    for bad in ([str(lofo_run)], [str(lofo_run), str(lofo_run)]):
        with pytest.raises(SystemExit):
            main(["lofo-ensemble", *bad, "--out", str(tmp_path / "bad")])
    other = tmp_path / "other"
    shutil.copytree(lofo_run_seed1, other)
    z = dict(np.load(other / "fold1" / "test_preds.npz"))
    z["paths"] = z["paths"][::-1]
    np.savez_compressed(other / "fold1" / "test_preds.npz", **z)
    with pytest.raises(SystemExit):
        main(["lofo-ensemble", str(lofo_run), str(other), "--out", str(tmp_path / "bad")])
    assert not (tmp_path / "bad").exists()
