import json

import numpy as np
import pytest

from instrument_meter_training.runs import TrainConfig, open_run_dir
from instrument_meter_training.scoring import clip_scores
from instrument_meter_training.train import bench, train


def _cfg(data, cache, out_seed=0, **kw):
    c = TrainConfig(data=str(data), arch="fcn", folds=2, fold_index=0, epochs=1, batch_size=16,
                    crops_per_excerpt=1, cache_dir=str(cache), seed=out_seed, max_excerpts=33)  # fmt: skip
    for k, v in kw.items():
        setattr(c, k, v)
    return c


def test_deterministic_with_seed(fake_irmas, cache_dir, tmp_path):
    logs = []
    for name in ("a", "b"):
        train(_cfg(fake_irmas[0], cache_dir), tmp_path / name)
        rec = json.loads((tmp_path / name / "fold0" / "log.jsonl").read_text().splitlines()[0])
        logs.append((rec["train_loss"], rec["val_loss"]))
    assert logs[0] == logs[1]


def test_val_dir_mode(fake_irmas, cache_dir, tmp_path):
    """A corpus root with train/ and val/: validation on val/, no CV."""
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "train").symlink_to(fake_irmas[0])
    (root / "val").symlink_to(fake_irmas[0])
    res = train(_cfg(root, cache_dir, fold_index=None, folds=1), tmp_path / "run")
    (f,) = res["folds"]
    assert f["val_clips"] > 0
    folds = json.loads((tmp_path / "run" / "folds.json").read_text())
    assert folds["val_mode"] == "dir"


def test_clip_scores_silence_counts_as_zero():
    probs = np.array([[0.8, 0.2], [np.nan, np.nan], [0.4, 0.6]], np.float32)
    s = clip_scores(probs, np.array([0, 0, 1]), 2)
    np.testing.assert_allclose(s, [[0.4, 0.1], [0.4, 0.6]])


def test_bench_reports_throughput():
    r = bench("fcn", batch=4, steps=2, warmup=1)
    assert r["windows_per_s"] > 0 and r["steps"] == 2


def test_run_dir_written_before_new_options_is_the_same_run(tmp_path):
    """A config.json without the keys added since (families, augmentation switches) is the
    same run as the defaults; another value is refused."""
    from instrument_meter_training.runs import open_run_dir

    cfg = TrainConfig(data="d", arch="fcn")
    stored = cfg.to_json()
    del stored["families"]
    for k in ("pitch_prob", "reverb_prob", "cross_family_mix", "distort_classes"):
        del stored["augment"][k]
    (tmp_path / "config.json").write_text(json.dumps(stored))
    open_run_dir(tmp_path, cfg, resume=False, write=False)
    cfg.augment.reverb_prob = 0.5
    with pytest.raises(SystemExit, match="augment"):
        open_run_dir(tmp_path, cfg, resume=False, write=False)


def test_run_dir_refuses_another_run(tmp_path):
    """A folder holding one run's config.json refuses a different recipe (it would mix two runs'
    folds) but accepts the same recipe, runtime-only changes, an older config.json that lacks a
    key added since, and any change when resuming."""
    run = tmp_path / "run"
    cfg = TrainConfig(data="corpus", arch="rfcn", epochs=2, lr=1e-3)
    open_run_dir(run, cfg, resume=False)
    open_run_dir(run, TrainConfig(data="corpus", arch="rfcn", epochs=2, lr=1e-3, threads=7), resume=False)
    with pytest.raises(SystemExit, match=r"holds another run.*'lr'"):
        open_run_dir(run, TrainConfig(data="corpus", arch="rfcn", epochs=2, lr=3e-4), resume=False)
    other_aug = TrainConfig(data="corpus", arch="rfcn", epochs=2, lr=1e-3)
    other_aug.augment.pitch_prob = 0.3
    with pytest.raises(SystemExit, match="'augment'"):
        open_run_dir(run, other_aug, resume=False)

    stored = json.loads((run / "config.json").read_text())
    stored.pop("val_mode")  # as written before that key existed: its default is what the run used
    (run / "config.json").write_text(json.dumps(stored))
    open_run_dir(run, cfg, resume=False)

    longer = TrainConfig(data="corpus", arch="rfcn", epochs=8, lr=1e-3)
    open_run_dir(run, longer, resume=True)
    assert json.loads((run / "config.json").read_text())["epochs"] == 8


def test_cosine_schedule_decays_to_the_minimum_and_cannot_be_extended(fake_irmas, cache_dir, tmp_path):
    """Per batch from --lr to min_lr over the whole run: the first epoch ends at half the peak (the
    cosine's midpoint), the last at the minimum; a resume with more epochs is refused, not restarted."""
    from instrument_meter_training.lr_schedule import CosineSchedule

    cfg = _cfg(fake_irmas[0], cache_dir, epochs=2, lr=1e-3, min_lr=1e-5, lr_schedule="cosine", patience=9)
    train(cfg, tmp_path / "run")
    lrs = [json.loads(x)["lr"] for x in (tmp_path / "run" / "fold0" / "log.jsonl").read_text().splitlines()]
    assert lrs == pytest.approx([(1e-3 + 1e-5) / 2, 1e-5])
    cfg.epochs = 3
    with pytest.raises(SystemExit, match="cannot be extended"):
        train(cfg, tmp_path / "run", resume=True)
    # the rate is a half cosine of the step: monotone, endpoints exact
    import torch

    s = CosineSchedule(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0), 1.0, 0.0, epochs=4)
    s.set_steps_per_epoch(5)
    rates = [s.rate(i) for i in range(21)]
    assert rates[0] == 1.0 and rates[-1] == pytest.approx(0.0) and rates[10] == pytest.approx(0.5)
    assert all(a > b for a, b in zip(rates, rates[1:]))
