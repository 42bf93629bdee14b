"""Training: k-fold cross-validation grouped by source recording, a fixed ``val/`` folder, or
leave-one-family-out folds; BCE on logits, Adam, a plateau or cosine learning-rate schedule
(``lr_schedule.py``) and early stopping on validation loss, best checkpoint kept, checkpoint every
epoch, resume, per-class thresholds chosen on validation clips, and optional ``torchrun`` data
parallelism. The run folder is described in ``runs.py``."""

from __future__ import annotations

import json
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as tdist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data.distributed import DistributedSampler
from tqdm import tqdm

from . import LABELS, WINDOW_SAMPLES
from .batch_augment import DeviceBatches
from .data import (
    family_of,
    load_many,
    read_family_folds,
    resolve_data_root,
    scan_training,
    stratified_group_kfold,
)
from .dataset import TrainSet, ValSet
from .lr_schedule import CosineSchedule, PlateauSchedule, make_schedule
from .metrics import f1_scores, per_class_thresholds
from .models import build_model, count_macs, count_params, describe
from .runs import (
    TrainConfig,
    atomic_save,
    fold_dir,
    fold_seed,
    load_config,
    load_model,
    open_run_dir,
    read_log,
    software_record,
)
from .scoring import pick_device, scoring_device, validate

# ------------------------------------------------------------------------------------------ helpers


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (third-party code may use the legacy global RNG)
    torch.manual_seed(seed)


@dataclass
class Dist:
    world: int = 1
    rank: int = 0
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device_name: str) -> Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    local = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device_name != "cpu" and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(local)
    if not tdist.is_initialized():
        tdist.init_process_group("nccl" if use_cuda else "gloo")
    return Dist(world, tdist.get_rank(), local)


class EpochSampler(torch.utils.data.Sampler):
    """A seeded permutation per epoch (single process)."""

    def __init__(self, n: int, seed: int):
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 100003 + self.epoch)
        return iter(torch.randperm(self.n, generator=g).tolist())


# ------------------------------------------------------------------------------------------ data


@dataclass
class FoldPlan:
    """What one fold trains and validates on (indices into ``Prepared``'s lists)."""

    train: np.ndarray  # into the training excerpts
    val: np.ndarray  # into the training excerpts (cv) or the val/ excerpts (dir, family)
    val_from_dir: bool
    name: str = ""  # family mode: the held-out fold's name (its test clips: test/<name>/)
    held_out: list[str] = field(default_factory=list)  # family mode: the families left out


@dataclass
class Prepared:
    """Decoded training (and val/) excerpts and every fold's plan."""

    audio: list[np.ndarray]
    labels: np.ndarray
    groups: list[str]
    families: list[str]
    paths: list[str]
    folds: list[FoldPlan]
    val_audio: list[np.ndarray] | None
    val_labels: np.ndarray | None
    val_families: list[str] | None
    mode: str

    def fold_sets(self, fold: int) -> tuple[list[np.ndarray], np.ndarray, list[np.ndarray], np.ndarray]:
        """(training audio, labels, validation audio, labels) of one fold."""
        plan = self.folds[fold]
        tr_a, tr_y = [self.audio[i] for i in plan.train], self.labels[plan.train]
        src_a, src_y = (self.val_audio, self.val_labels) if plan.val_from_dir else (self.audio, self.labels)
        return tr_a, tr_y, [src_a[i] for i in plan.val], src_y[plan.val]


def _keep_families(ex, families: str):
    if families in ("", "all"):
        return ex
    keep = {f.strip() for f in families.split(",") if f.strip()}
    out = [e for e in ex if family_of(e) in keep]
    if not out:
        raise ValueError(f"no excerpt of the families {sorted(keep)}")
    return out


def _family_plans(root: Path, ex, vex) -> list[FoldPlan]:
    """Leave-one-family-out: fold k trains on the train/ excerpts of every family outside fold k
    and validates on the val/ excerpts of those families."""
    fam, vfam = np.array([family_of(e) for e in ex]), np.array([family_of(e) for e in vex])
    plans = []
    for name, held in read_family_folds(root).items():
        tr, va = np.flatnonzero(~np.isin(fam, held)), np.flatnonzero(~np.isin(vfam, held))
        if len(tr) == 0 or len(va) == 0:
            raise ValueError(f"LOFO fold {name!r} leaves no training or validation excerpt")
        plans.append(FoldPlan(tr, va, True, name, list(held)))
    return plans


def prepare(cfg: TrainConfig) -> Prepared:
    roots = resolve_data_root(cfg.data)
    cache = cfg.cache()
    ex = _keep_families(scan_training(roots.train, cfg.labels, cfg.group_by), cfg.families)
    if cfg.max_excerpts and len(ex) > cfg.max_excerpts:
        rng = np.random.default_rng(cfg.seed)
        ex = [ex[i] for i in sorted(rng.choice(len(ex), cfg.max_excerpts, replace=False))]
    mode = cfg.val_mode if cfg.val_mode != "auto" else ("dir" if roots.val is not None else "cv")
    if mode in ("dir", "family") and roots.val is None:
        raise ValueError(f"--val-mode {mode} needs {cfg.data}/val/")
    audio = load_many([e.path for e in ex], cfg.sample_rate, cache, "train")
    labels = np.array([e.label for e in ex], np.int64)
    vex = []
    if mode == "cv":
        val_sets = stratified_group_kfold([e.group for e in ex], labels.tolist(), cfg.folds, cfg.seed)
        folds = [FoldPlan(np.setdiff1d(np.arange(len(ex)), v), v, False) for v in val_sets]
    else:
        vex = _keep_families(scan_training(roots.val, cfg.labels, cfg.group_by), cfg.families)
        if mode == "family":
            folds = _family_plans(Path(cfg.data), ex, vex)
        else:
            folds = [FoldPlan(np.arange(len(ex)), np.arange(len(vex)), True) for _ in range(cfg.folds)]
    val_audio = load_many([e.path for e in vex], cfg.sample_rate, cache, "val") if vex else None
    return Prepared(
        audio, labels, [e.group for e in ex], [family_of(e) for e in ex], [str(e.path) for e in ex], folds,
        val_audio, np.array([e.label for e in vex], np.int64) if vex else None,
        [family_of(e) for e in vex] if vex else None, mode,
    )  # fmt: skip


def _val_set(cfg: TrainConfig, audio, labels, seed: int) -> ValSet:
    return ValSet.build(
        audio, labels, len(cfg.labels), cfg.augment.normalize, cfg.val_mix_fraction,
        cfg.augment.mix_max_sources, seed, cfg.window_samples,
    )  # fmt: skip


# ------------------------------------------------------------------------------------ validation


_VAL_KEYS = ("val_loss", "val_lrap", "val_f1_micro", "val_f1_macro", "thresholds", "val_clips")


def _validation_summary(model: nn.Module, val: ValSet, device, fdir: Path) -> dict:
    """Validation metrics of ``model`` and its per-class thresholds; writes ``val_preds.npz``."""
    v = validate(model, val, device)
    thr = per_class_thresholds(val.clip_targets, v["clip_scores"])
    np.savez_compressed(fdir / "val_preds.npz", scores=v["clip_scores"], targets=val.clip_targets)
    f = f1_scores(val.clip_targets, v["clip_scores"] >= thr)
    return {
        "val_loss": v["val_loss"], "val_lrap": v["val_lrap"], "val_f1_micro": f["f1_micro"],
        "val_f1_macro": f["f1_macro"], "thresholds": thr.tolist(), "val_clips": len(val.clip_targets),
    }  # fmt: skip


def _summary_or_interrupted(fdir: Path, k: int) -> dict:
    """``done.json``, or for a fold stopped before its summary (e.g. killed at a deadline) what
    its best checkpoint and log say: the best model still counts."""
    if (fdir / "done.json").is_file():
        return json.loads((fdir / "done.json").read_text())
    logs = read_log(fdir)
    best = torch.load(fdir / "best.pt", map_location="cpu", weights_only=False)
    done = {"fold": k, "best_epoch": best["epoch"], "epochs_run": len(logs), "interrupted": True}
    done["windows_per_s"] = float(np.median([r["windows_per_s"] for r in logs])) if logs else math.nan
    return done


def revalidate(run_dir, data, device="auto", cache_dir=None, engine: str = "torch") -> list[dict]:
    """Re-choose every finished fold's thresholds and validation metrics on ``data``'s ``val/``.

    For runs trained on a transport copy of the corpus (e.g. lossy-coded audio moved to a GPU
    machine, ``training/tools/audio_pack.py``): thresholds must come from the audio the product
    sees. The same validation clips and mixtures are rebuilt (same files, same seeds); the
    previous figures stay in ``done.json`` under ``device_val``.
    """
    run_dir = Path(run_dir)
    cfg = load_config(run_dir)
    roots = resolve_data_root(data)
    if roots.val is None or cfg.val_mode == "cv":
        raise SystemExit("revalidate needs a run trained with --val-mode dir and a data root with val/")
    dev = scoring_device(device, engine)
    vex = _keep_families(scan_training(roots.val, cfg.labels, cfg.group_by), cfg.families)
    audio = load_many([e.path for e in vex], cfg.sample_rate, cfg.cache(cache_dir), "val")
    labels = np.array([e.label for e in vex], np.int64)
    held_out = list(read_family_folds(data).values()) if cfg.val_mode == "family" else None
    out = []
    for best in sorted(run_dir.glob("fold*/best.pt")):
        fdir = best.parent
        k = int(fdir.name[4:])
        done = _summary_or_interrupted(fdir, k)
        keep = np.array([held_out is None or family_of(e) not in held_out[k] for e in vex])
        val = _val_set(cfg, [a for a, ok in zip(audio, keep) if ok], labels[keep], fold_seed(cfg, k))
        before = done.get("device_val") or {key: done.get(key) for key in _VAL_KEYS}
        summary = _validation_summary(load_model(cfg, fdir, dev, engine), val, dev, fdir)
        done = {**done, **summary, "device_val": before, "revalidated_on": str(roots.val)}
        (fdir / "done.json").write_text(json.dumps(done, indent=2))
        out.append(done)
    return out


# ------------------------------------------------------------------------------------------ training


@dataclass
class FoldState:
    """The model, its optimiser and scheduler, and the early-stopping counters of one fold."""

    model: nn.Module
    opt: torch.optim.Optimizer
    sched: PlateauSchedule | CosineSchedule
    start_epoch: int = 0
    best_loss: float = math.inf
    best_epoch: int = -1
    bad: int = 0

    @classmethod
    def fresh(cls, cfg: TrainConfig, device) -> FoldState:
        model = build_model(cfg.arch, len(cfg.labels), cfg.width).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        return cls(model, opt, make_schedule(cfg.lr_schedule, opt, cfg))

    def resume_from(self, last: Path, device) -> bool:
        if not last.is_file():
            return False
        ck = torch.load(last, map_location=device, weights_only=False)
        self.model.load_state_dict(ck["model"])
        self.opt.load_state_dict(ck["optimizer"])
        self.sched.load_state_dict(ck["scheduler"])
        self.start_epoch, self.best_loss = ck["epoch"] + 1, ck["best_loss"]
        self.best_epoch, self.bad = ck["best_epoch"], ck["bad"]
        torch.set_rng_state(ck["torch_rng"].cpu())
        return True

    def record(self, epoch: int, val_loss: float, patience: int) -> tuple[bool, bool]:
        """Scheduler step and early-stopping bookkeeping: (improved, stop)."""
        self.sched.step(val_loss)
        improved = val_loss < self.best_loss - 1e-6
        if improved:
            self.best_loss, self.best_epoch, self.bad = val_loss, epoch, 0
        else:
            self.bad += 1
        return improved, self.bad >= patience

    def checkpoint(self, fdir: Path, epoch: int, val_loss: float, improved: bool) -> None:
        if improved:
            atomic_save(
                {"model": self.model.state_dict(), "epoch": epoch, "val_loss": val_loss}, fdir / "best.pt"
            )
        atomic_save(
            {
                "model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
                "scheduler": self.sched.state_dict(), "epoch": epoch, "best_loss": self.best_loss,
                "best_epoch": self.best_epoch, "bad": self.bad, "torch_rng": torch.get_rng_state(),
            },
            fdir / "last.pt",
        )  # fmt: skip


def _finished_summary(cfg: TrainConfig, fdir: Path) -> dict | None:
    """A finished fold's summary, or None (a ``done.json`` with fewer epochs than asked is removed:
    the fold resumes with more epochs)."""
    if not (fdir / "done.json").is_file():
        return None
    done = json.loads((fdir / "done.json").read_text())
    if done.get("stopped_early") or done.get("epochs_run", 0) >= cfg.epochs:
        return done
    (fdir / "done.json").unlink()
    return None


def _batches_on_device(cfg: TrainConfig, dist: Dist, device) -> bool:
    wanted = cfg.batch_augment == "on" or (cfg.batch_augment == "auto" and device.type == "cuda")
    return cfg.crop == "random" and dist.world == 1 and wanted


def _epoch_source(cfg: TrainConfig, ds: TrainSet, model: nn.Module, dist: Dist, device, seed: int):
    """(network to step, sampler, a function epoch -> iterable of batches, batches per epoch)."""
    if _batches_on_device(cfg, dist, device):
        batches = DeviceBatches(
            ds.audio, ds.labels, len(cfg.labels), cfg.augment, cfg.batch_size, cfg.crops_per_excerpt,
            seed, cfg.window_samples, device, families=ds.families,
        )  # fmt: skip
        return model, None, batches.epoch, len(batches)
    per_rank = max(1, cfg.batch_size // dist.world)
    workers = cfg.workers
    if workers < 0:
        cores = (os.cpu_count() or 1) // max(dist.world, 1)
        workers = 0 if device.type == "cpu" else max(0, min(8, cores - 1))
    if dist.world > 1:
        sampler = DistributedSampler(ds, dist.world, dist.rank, shuffle=True, seed=seed, drop_last=True)
        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    else:
        sampler, net = EpochSampler(len(ds), seed), model
    loader = torch.utils.data.DataLoader(
        ds, batch_size=per_rank, sampler=sampler, num_workers=workers, drop_last=len(ds) // dist.world >= per_rank,
        pin_memory=device.type == "cuda",  # not persistent: workers must see set_epoch()
    )  # fmt: skip

    def epoch_batches(epoch: int):
        ds.set_epoch(epoch)
        sampler.set_epoch(epoch)
        return loader

    return net, sampler, epoch_batches, len(loader)


def _train_epoch(net, state: FoldState, batches, total, device, dist: Dist, desc: str) -> dict:
    """One pass of Adam steps; returns the mean loss and the steady-state throughput (the first 5
    steps of the epoch excluded: warm-up dominates short timings)."""
    net.train()
    loss_fn = nn.BCEWithLogitsLoss()
    t0 = time.perf_counter()
    warm_t, warm_n, warm_cpu, n_windows, steps = None, 0, 0.0, 0, 0
    loss_acc = torch.zeros((), device=device)
    bar = tqdm(batches, total=total, desc=desc, leave=False, disable=not dist.main, mininterval=1.0)
    for xb, yb in bar:
        xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
        state.opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(xb), yb)
        loss.backward()
        state.opt.step()
        state.sched.step_batch()
        steps += 1
        n_windows += len(xb) * dist.world
        loss_acc += loss.detach()
        if steps == 5:
            if device.type == "cuda":
                torch.cuda.synchronize()
            warm_t, warm_n, warm_cpu = time.perf_counter(), n_windows, time.process_time()
        if steps % 10 == 1:  # .item() synchronises a GPU: not every step
            bar.set_postfix(loss=f"{float(loss_acc) / steps:.4f}")
    if device.type == "cuda":
        torch.cuda.synchronize()
    t1, cpu1 = time.perf_counter(), time.process_time()
    steady_ok = warm_t is not None and t1 > warm_t and n_windows > warm_n
    return {
        "train_loss": float(loss_acc) / max(steps, 1),
        "windows": n_windows,
        "windows_per_s": (n_windows - warm_n) / (t1 - warm_t)
        if steady_ok
        else n_windows / max(t1 - t0, 1e-9),
        "windows_per_cpu_s": (n_windows - warm_n) / max(cpu1 - warm_cpu, 1e-9) if warm_t else math.nan,
        "epoch_s": t1 - t0,
    }


def _validation_loss(model, val: ValSet, device, dist: Dist) -> tuple[float, dict]:
    """Validation on rank 0; the loss is broadcast so that every rank takes the same decision."""
    rec, vloss = {}, torch.zeros(1, device=device)
    if dist.main:
        v = validate(model, val, device)
        vloss[0] = v["val_loss"]
        rec = {k: x for k, x in v.items() if k != "clip_scores"}
    if dist.world > 1:
        tdist.broadcast(vloss, 0)
    return float(vloss.item()), rec


def _log_epoch(fdir: Path, fold: int, epoch: int, state: FoldState, stats: dict, rec: dict, improved: bool):
    rec = {"fold": fold, "epoch": epoch, "train_loss": stats["train_loss"], **rec,
           "lr": state.opt.param_groups[0]["lr"], **{k: v for k, v in stats.items() if k != "train_loss"},
           "best": improved, "time": time.time()}  # fmt: skip
    with open(fdir / "log.jsonl", "a") as f:
        f.write(json.dumps(rec) + "\n")
    print(f"[fold {fold}] epoch {epoch}: train {rec['train_loss']:.4f} val {rec['val_loss']:.4f} "
          f"lrap {rec['val_lrap']:.3f} {stats['windows_per_s']:.0f} win/s{' *' if improved else ''}", flush=True)  # fmt: skip


def _finalise(cfg, state: FoldState, val: ValSet, fdir: Path, fold: int, device, extra: dict) -> dict:
    """Reloads the best model, chooses its thresholds on validation, writes ``done.json``."""
    best = torch.load(fdir / "best.pt", map_location=device, weights_only=False)
    state.model.load_state_dict(best["model"])
    logs = read_log(fdir)
    summary = {
        "fold": fold, "best_epoch": best["epoch"], **_validation_summary(state.model, val, device, fdir),
        "epochs_run": len(logs), **extra, "windows_per_s": float(np.median([r["windows_per_s"] for r in logs])),
        "device": str(device), "software": software_record(),
    }  # fmt: skip
    (fdir / "done.json").write_text(json.dumps(summary, indent=2))
    return summary


def train_fold(cfg: TrainConfig, prep: Prepared, fold: int, run_dir: Path, dist: Dist, device) -> dict:
    # 1. a finished fold is not trained again
    fdir = fold_dir(run_dir, fold)
    fdir.mkdir(parents=True, exist_ok=True)
    done = _finished_summary(cfg, fdir)
    if done is not None:
        return done
    # 2. this fold's data: training items (crops, mixtures, augmentation) and validation clips
    seed = fold_seed(cfg, fold)
    seed_everything(seed)
    tr_audio, tr_labels, va_audio, va_labels = prep.fold_sets(fold)
    tr_fam = [prep.families[i] for i in prep.folds[fold].train]
    val = _val_set(cfg, va_audio, va_labels, seed)
    ds = TrainSet(tr_audio, tr_labels, len(cfg.labels), cfg.augment, cfg.crop, cfg.crops_per_excerpt, seed,
                  cfg.window_samples, families=tr_fam)  # fmt: skip
    # 3. model, optimiser and scheduler, from the last checkpoint when there is one
    state = FoldState.fresh(cfg, device)
    if state.resume_from(fdir / "last.pt", device) and dist.main:
        print(f"[fold {fold}] resuming at epoch {state.start_epoch}", flush=True)
    net, _, epoch_batches, total = _epoch_source(cfg, ds, state.model, dist, device, seed)
    state.sched.set_steps_per_epoch(total)
    # 4. epochs until early stopping, the epoch limit or the time budget
    t_fold = time.perf_counter()
    stop, out_of_time = state.bad >= cfg.patience, False
    for epoch in range(state.start_epoch, cfg.epochs):
        if stop:
            break
        t_epoch = time.perf_counter()
        stats = _train_epoch(
            net, state, epoch_batches(epoch), total, device, dist, f"fold {fold} epoch {epoch}"
        )
        vl, rec = _validation_loss(state.model, val, device, dist)
        improved, stop = state.record(epoch, vl, cfg.patience)
        if dist.main:
            _log_epoch(fdir, fold, epoch, state, stats, rec, improved)
            state.checkpoint(fdir, epoch, vl, improved)
        if cfg.time_budget_min and not stop:  # stop before the next epoch would end past the budget
            now = time.perf_counter()
            out_of_time = stop = (now - t_fold) + (now - t_epoch) > cfg.time_budget_min * 60
    # 5. the best model's validation summary and thresholds
    summary = {}
    if dist.main:
        extra = {"stopped_early": bool(stop) and not out_of_time, "budget_exhausted": out_of_time,
                 "batches_on_device": _batches_on_device(cfg, dist, device), "train_excerpts": len(tr_audio)}  # fmt: skip
        summary = _finalise(cfg, state, val, fdir, fold, device, extra)
    if dist.world > 1:
        tdist.barrier()
    return summary


def _fold_description(prep: Prepared, plan: FoldPlan) -> dict:
    if prep.mode == "family":
        return {"name": plan.name, "held_out_families": plan.held_out,
                "train_families": sorted({prep.families[i] for i in plan.train}),
                "train_excerpts": len(plan.train), "val_excerpts": len(plan.val)}  # fmt: skip
    if plan.val_from_dir:
        return {"val_dir": True}
    return {"val_groups": sorted({prep.groups[i] for i in plan.val})}


def train(cfg: TrainConfig, run_dir: str | os.PathLike, resume: bool = False) -> dict:
    run_dir = Path(run_dir)
    dist = init_distributed(cfg.device)
    device = pick_device(cfg.device, dist.local_rank)
    if device.type == "cpu":
        torch.set_num_threads(cfg.threads)
    open_run_dir(run_dir, cfg, resume, write=dist.main)
    prep = prepare(cfg)
    folds = range(len(prep.folds)) if cfg.fold_index is None else [cfg.fold_index]
    if dist.main:
        model = build_model(cfg.arch, len(cfg.labels), cfg.width)
        meta = {
            "arch": cfg.arch, "architecture": describe(cfg.arch, cfg.width), "params": count_params(model),
            "macs_per_window": count_macs(model, cfg.window_samples), "val_mode": prep.mode,
            "excerpts": len(prep.audio), "families": sorted(set(prep.families)),
            "folds": [_fold_description(prep, p) for p in prep.folds],
        }  # fmt: skip
        (run_dir / "folds.json").write_text(json.dumps(meta, indent=2))
        print(
            f"{cfg.arch}: {meta['params']:,} parameters, {meta['macs_per_window'] / 1e6:.1f} M MACs/window; "
            f"{len(prep.audio)} excerpts, {prep.mode} validation, folds {list(folds)} on {device}",
            flush=True,
        )
    results = [train_fold(cfg, prep, k, run_dir, dist, device) for k in folds]
    return {"folds": results}


def bench(arch: str, batch: int = 32, steps: int = 20, warmup: int = 5, device: str = "cpu", threads: int = 2,
          width: float = 1.0) -> dict:  # fmt: skip
    """Steady-state training throughput of the model alone (random input, no data pipeline):
    ``warmup`` steps are run and discarded, then ``steps`` steps are timed."""
    dev = pick_device(device)
    if dev.type == "cpu":
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build_model(arch, len(LABELS), width).to(dev).train()
    opt = torch.optim.Adam(model.parameters(), 1e-4)
    x = torch.randn(batch, 1, WINDOW_SAMPLES, device=dev)
    y = (torch.rand(batch, len(LABELS), device=dev) < 0.2).float()
    loss_fn = nn.BCEWithLogitsLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()

    for _ in range(warmup):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t, c = time.perf_counter(), time.process_time()
    for _ in range(steps):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    dt, cpu = time.perf_counter() - t, time.process_time() - c
    return {"arch": arch, "batch": batch, "steps": steps, "seconds": dt, "windows_per_s": batch * steps / dt,
            # windows per CPU-second of this process: comparable across runs on a shared machine
            "windows_per_cpu_s": batch * steps / max(cpu, 1e-9),
            "device": str(dev), "threads": threads if dev.type == "cpu" else None}  # fmt: skip
