"""Training: k-fold cross-validation grouped by source recording (or a fixed ``val/`` folder), BCE on
logits, Adam, ReduceLROnPlateau and early stopping on validation loss, best checkpoint kept,
checkpoint every epoch, resume, per-class thresholds chosen on validation clips, and optional
``torchrun`` data parallelism.

Run directory::

    RUN_DIR/config.json            the full configuration (resume reads it)
    RUN_DIR/folds.json             validation source groups of each fold
    RUN_DIR/fold<k>/log.jsonl      one JSON object per epoch
    RUN_DIR/fold<k>/last.pt        everything needed to resume (every epoch)
    RUN_DIR/fold<k>/best.pt        the best model by validation loss
    RUN_DIR/fold<k>/val_preds.npz  validation clip scores/targets of the best model
    RUN_DIR/fold<k>/done.json      summary: best epoch, validation metrics, thresholds, windows/s
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import LABEL_NAMES, LABELS, SAMPLE_RATE, WINDOW_SAMPLES
from .batch_augment import DeviceBatches
from .data import default_cache_dir, load_many, resolve_data_root, scan_training, stratified_group_kfold
from .dataset import AugmentConfig, TrainSet, ValSet
from .metrics import f1_scores, lrap, per_class_thresholds
from .models import build_model, count_macs, count_params, describe


@dataclass
class TrainConfig:
    data: str = ""
    arch: str = "rfcn"
    width: float = 1.0
    folds: int = 5
    fold_index: int | None = None  # run only this fold (others can run elsewhere)
    val_mode: str = "auto"  # auto: "dir" if the data root has val/, else "cv"
    group_by: str = "source"  # "source" (recording) or "pool" (second bracket: leave-one-pool-out)
    epochs: int = 60
    batch_size: int = 64  # global batch (split across ranks under torchrun)
    lr: float = 1e-4
    weight_decay: float = 0.0
    patience: int = 10  # early stopping (epochs without validation-loss improvement)
    lr_patience: int = 3
    lr_factor: float = 0.5
    min_lr: float = 1e-6
    crop: str = "random"  # "random": crops_per_excerpt random 1-s crops per epoch; "windows": all
    crops_per_excerpt: int = 3
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    val_mix_fraction: float = 0.5  # deterministic validation mixtures per clean validation excerpt
    seed: int = 0
    device: str = "auto"
    threads: int = 2
    workers: int = -1  # data loader processes; -1: 0 on CPU, min(8, cores - 1) on CUDA
    cache_dir: str | None = None
    max_excerpts: int | None = None  # subsample the training set (quick tests)
    sample_rate: int = SAMPLE_RATE
    window_samples: int = WINDOW_SAMPLES
    labels: list[str] = field(default_factory=lambda: list(LABELS))
    label_names: list[str] = field(default_factory=lambda: list(LABEL_NAMES))
    training_data: str = ""  # free-text description written into the model metadata
    batch_augment: str = "auto"  # on: batches drawn on the device (batch_augment.py); auto: on CUDA
    time_budget_min: float | None = None  # stop a fold before an epoch would end past this budget

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> TrainConfig:
        d = dict(d)
        aug = d.pop("augment", {}) or {}
        if "noise_snr_db" in aug:
            aug["noise_snr_db"] = tuple(aug["noise_snr_db"])
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(augment=AugmentConfig(**aug), **{k: v for k, v in d.items() if k in known})


# ------------------------------------------------------------------------------------------ helpers


def seed_everything(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (third-party code may use the legacy global RNG)
    torch.manual_seed(seed)


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        return torch.device("cuda", local_rank)
    return torch.device(name)


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
    import torch.distributed as dist

    local = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device_name != "cpu" and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return Dist(world, dist.get_rank(), local)


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


@dataclass
class Prepared:
    """Decoded training data and the validation plan of every fold."""

    audio: list[np.ndarray]
    labels: np.ndarray
    groups: list[str]
    paths: list[str]
    folds: list[tuple[np.ndarray, np.ndarray | None]]  # (train indices, val indices or None=val dir)
    val_audio: list[np.ndarray] | None
    val_labels: np.ndarray | None
    mode: str


def prepare(cfg: TrainConfig, quiet: bool = False) -> Prepared:
    roots = resolve_data_root(cfg.data)
    cache = cfg.cache_dir if cfg.cache_dir is not None else default_cache_dir()
    cache = None if cache == "" else cache
    ex = scan_training(roots.train, cfg.labels, cfg.group_by)
    if cfg.max_excerpts and len(ex) > cfg.max_excerpts:
        rng = np.random.default_rng(cfg.seed)
        ex = [ex[i] for i in sorted(rng.choice(len(ex), cfg.max_excerpts, replace=False))]
    mode = cfg.val_mode
    if mode == "auto":
        mode = "dir" if roots.val is not None else "cv"
    if mode == "dir" and roots.val is None:
        raise ValueError(f"--val-mode dir needs {cfg.data}/val/")
    audio = load_many([e.path for e in ex], cfg.sample_rate, cache, "train")
    labels = np.array([e.label for e in ex], np.int64)
    groups = [e.group for e in ex]
    val_audio = val_labels = None
    if mode == "cv":
        val_sets = stratified_group_kfold(groups, labels.tolist(), cfg.folds, cfg.seed)
        all_idx = np.arange(len(ex))
        folds = [(np.setdiff1d(all_idx, v), v) for v in val_sets]
    else:
        vex = scan_training(roots.val, cfg.labels, cfg.group_by)
        val_audio = load_many([e.path for e in vex], cfg.sample_rate, cache, "val")
        val_labels = np.array([e.label for e in vex], np.int64)
        folds = [(np.arange(len(ex)), None) for _ in range(cfg.folds)]
    return Prepared(audio, labels, groups, [str(e.path) for e in ex], folds, val_audio, val_labels, mode)


def predict_windows(model: nn.Module, windows: np.ndarray, silent: np.ndarray, device, batch: int = 256):
    """Logits of the non-silent windows (``nan`` rows for silent ones) in eval mode."""
    model.eval()
    idx = np.flatnonzero(~silent)
    chunks = []
    with torch.no_grad():
        for s in range(0, len(idx), batch):
            xb = torch.from_numpy(windows[idx[s : s + batch]][:, None, :]).to(device)
            chunks.append(model(xb).float().cpu().numpy())
    logits = np.concatenate(chunks) if chunks else None
    ncls = logits.shape[1] if logits is not None else 0
    out = np.full((len(windows), ncls), np.nan, np.float32)
    if logits is not None:
        out[idx] = logits
    return out


def clip_scores(window_probs: np.ndarray, window_clip: np.ndarray, n_clips: int) -> np.ndarray:
    """Mean of window probabilities per clip, silent windows (nan) counting as 0."""
    p = np.nan_to_num(window_probs, nan=0.0)
    sums = np.zeros((n_clips, p.shape[1]), np.float64)
    np.add.at(sums, window_clip, p)
    counts = np.bincount(window_clip, minlength=n_clips)[:, None]
    return (sums / np.maximum(counts, 1)).astype(np.float32)


def validate(model: nn.Module, val: ValSet, device) -> dict:
    logits = predict_windows(model, val.windows, val.silent, device)
    ok = ~val.silent
    y = val.window_targets[ok]
    z = torch.from_numpy(logits[ok])
    loss = (
        float(nn.functional.binary_cross_entropy_with_logits(z, torch.from_numpy(y)).item())
        if ok.any()
        else math.nan
    )
    probs = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
    clips = clip_scores(probs, val.window_clip, len(val.clip_targets))
    f = f1_scores(val.clip_targets, clips >= 0.5)
    return {
        "val_loss": loss,
        "val_lrap": lrap(val.clip_targets, clips),
        "val_f1_micro@0.5": f["f1_micro"],
        "val_f1_macro@0.5": f["f1_macro"],
        "clip_scores": clips,
    }


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


def revalidate(run_dir, data, device="auto", cache_dir=None, engine: str = "torch") -> list[dict]:
    """Re-choose every finished fold's thresholds and validation metrics on ``data``'s ``val/``.

    For runs trained on a transport copy of the corpus (e.g. lossy-coded audio moved to a GPU
    machine, ``training/tools/audio_pack.py``): thresholds must come from the audio the product
    sees. The same validation clips and mixtures are rebuilt (same files, same seeds); the
    previous figures stay in ``done.json`` under ``device_val``.
    """
    from .evaluate import load_config, load_model, scoring_device

    run_dir = Path(run_dir)
    cfg = load_config(run_dir)
    roots = resolve_data_root(data)
    if roots.val is None or cfg.val_mode == "cv":
        raise SystemExit("revalidate needs a run trained with --val-mode dir and a data root with val/")
    dev = scoring_device(device, engine)
    cache = cfg.cache_dir if cache_dir is None else cache_dir
    cache = default_cache_dir() if cache is None else (None if cache == "" else cache)
    vex = scan_training(roots.val, cfg.labels, cfg.group_by)
    audio = load_many([e.path for e in vex], cfg.sample_rate, cache, "val")
    labels = np.array([e.label for e in vex], np.int64)
    out = []
    for fdir in sorted(run_dir.glob("fold*/best.pt")):
        fdir = fdir.parent
        k = int(fdir.name[4:])
        if (fdir / "done.json").is_file():
            done = json.loads((fdir / "done.json").read_text())
        else:  # stopped before its summary (e.g. killed at a deadline): the best model still counts
            logs = [json.loads(x) for x in (fdir / "log.jsonl").read_text().splitlines() if x.strip()]
            best = torch.load(fdir / "best.pt", map_location="cpu", weights_only=False)
            done = {"fold": k, "best_epoch": best["epoch"], "epochs_run": len(logs), "interrupted": True}
            done["windows_per_s"] = float(np.median([r["windows_per_s"] for r in logs]))
        val = ValSet.build(
            audio, labels, len(cfg.labels), cfg.augment.normalize, cfg.val_mix_fraction,
            cfg.augment.mix_max_sources, _fold_seed(cfg, k), cfg.window_samples,
        )  # fmt: skip
        before = done.get("device_val") or {key: done.get(key) for key in _VAL_KEYS}
        done = {
            **done,
            **_validation_summary(load_model(cfg, fdir, dev, engine), val, dev, fdir),
            "device_val": before,
        }
        done["revalidated_on"] = str(roots.val)
        (fdir / "done.json").write_text(json.dumps(done, indent=2))
        out.append(done)
    return out


_VAL_KEYS = ("val_loss", "val_lrap", "val_f1_micro", "val_f1_macro", "thresholds", "val_clips")


# ------------------------------------------------------------------------------------------ training


def _fold_seed(cfg: TrainConfig, fold: int) -> int:
    return cfg.seed * 1000 + fold


def train_fold(cfg: TrainConfig, prep: Prepared, fold: int, run_dir: Path, dist: Dist, device) -> dict:
    fdir = run_dir / f"fold{fold}"
    fdir.mkdir(parents=True, exist_ok=True)
    if (fdir / "done.json").is_file():
        done = json.loads((fdir / "done.json").read_text())
        if done.get("stopped_early") or done.get("epochs_run", 0) >= cfg.epochs:
            return done
        (fdir / "done.json").unlink()  # resumed with more epochs
    seed = _fold_seed(cfg, fold)
    seed_everything(seed)
    tr_idx, va_idx = prep.folds[fold]
    if va_idx is not None:
        v_audio, v_labels = [prep.audio[i] for i in va_idx], prep.labels[va_idx]
    else:
        v_audio, v_labels = prep.val_audio, prep.val_labels
    val = ValSet.build(
        v_audio, v_labels, len(cfg.labels), cfg.augment.normalize, cfg.val_mix_fraction,
        cfg.augment.mix_max_sources, seed, cfg.window_samples,
    )  # fmt: skip
    ds = TrainSet(
        [prep.audio[i] for i in tr_idx], prep.labels[tr_idx], len(cfg.labels), cfg.augment,
        cfg.crop, cfg.crops_per_excerpt, seed, cfg.window_samples,
    )  # fmt: skip

    t_fold = time.perf_counter()
    on_device = (
        cfg.crop == "random"
        and dist.world == 1
        and (cfg.batch_augment == "on" or (cfg.batch_augment == "auto" and device.type == "cuda"))
    )
    batches = None
    if on_device:
        batches = DeviceBatches(
            ds.audio, ds.labels, len(cfg.labels), cfg.augment, cfg.batch_size, cfg.crops_per_excerpt,
            seed, cfg.window_samples, device,
        )  # fmt: skip

    model = build_model(cfg.arch, len(cfg.labels), cfg.width).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode="min", factor=cfg.lr_factor, patience=cfg.lr_patience, min_lr=cfg.min_lr
    )
    start_epoch, best_loss, best_epoch, bad = 0, math.inf, -1, 0
    last = fdir / "last.pt"
    if last.is_file():
        ck = torch.load(last, map_location=device, weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        start_epoch, best_loss, best_epoch, bad = (
            ck["epoch"] + 1,
            ck["best_loss"],
            ck["best_epoch"],
            ck["bad"],
        )
        torch.set_rng_state(ck["torch_rng"].cpu())
        if dist.main:
            print(f"[fold {fold}] resuming at epoch {start_epoch}", flush=True)

    per_rank = max(1, cfg.batch_size // dist.world)
    workers = cfg.workers
    if workers < 0:
        workers = (
            0 if device.type == "cpu" else max(0, min(8, (os.cpu_count() or 1) // max(dist.world, 1) - 1))
        )
    if dist.world > 1:
        from torch.nn.parallel import DistributedDataParallel
        from torch.utils.data.distributed import DistributedSampler

        sampler = DistributedSampler(ds, dist.world, dist.rank, shuffle=True, seed=seed, drop_last=True)
        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    else:
        sampler = EpochSampler(len(ds), seed)
        net = model
    loader = torch.utils.data.DataLoader(
        ds, batch_size=per_rank, sampler=sampler, num_workers=workers, drop_last=len(ds) // dist.world >= per_rank,
        pin_memory=device.type == "cuda",  # not persistent: workers must see set_epoch()
    )  # fmt: skip
    loss_fn = nn.BCEWithLogitsLoss()
    from tqdm import tqdm

    stop, out_of_time = bad >= cfg.patience, False
    for epoch in range(start_epoch, cfg.epochs):
        if stop:
            break
        ds.set_epoch(epoch)
        sampler.set_epoch(epoch)
        net.train()
        t0 = time.perf_counter()
        warm_t, warm_n, warm_cpu, n_windows, steps = None, 0, 0.0, 0, 0
        loss_acc = torch.zeros((), device=device)
        bar = tqdm(
            batches.epoch(epoch) if batches is not None else loader, total=len(batches) if batches else None,
            desc=f"fold {fold} epoch {epoch}", leave=False, disable=not dist.main, mininterval=1.0,
        )  # fmt: skip
        for xb, yb in bar:
            xb = xb.to(device, non_blocking=True)
            yb = yb.to(device, non_blocking=True)
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(net(xb), yb)
            loss.backward()
            opt.step()
            steps += 1
            n_windows += len(xb) * dist.world
            loss_acc += loss.detach()
            if steps == 5:  # steady state starts after the warm-up steps
                if device.type == "cuda":
                    torch.cuda.synchronize()
                warm_t, warm_n, warm_cpu = time.perf_counter(), n_windows, time.process_time()
            if steps % 10 == 1:  # .item() synchronises a GPU: not every step
                bar.set_postfix(loss=f"{float(loss_acc) / steps:.4f}")
        if device.type == "cuda":
            torch.cuda.synchronize()
        loss_sum = float(loss_acc)
        t1, cpu1 = time.perf_counter(), time.process_time()
        steady_cpu = (n_windows - warm_n) / max(cpu1 - warm_cpu, 1e-9) if warm_t else math.nan
        steady = (
            (n_windows - warm_n) / (t1 - warm_t)
            if warm_t and t1 > warm_t and n_windows > warm_n
            else n_windows / max(t1 - t0, 1e-9)
        )

        # validation on rank 0; the decision is broadcast so every rank stops together
        rec = {}
        vloss = torch.zeros(1, device=device)
        if dist.main:
            v = validate(model, val, device)
            vloss[0] = v["val_loss"]
            rec = {k: val_ for k, val_ in v.items() if k != "clip_scores"}
        if dist.world > 1:
            import torch.distributed as tdist

            tdist.broadcast(vloss, 0)
        vl = float(vloss.item())
        sched.step(vl)
        improved = vl < best_loss - 1e-6
        if improved:
            best_loss, best_epoch, bad = vl, epoch, 0
        else:
            bad += 1
        stop = bad >= cfg.patience
        if dist.main:
            rec = {
                "fold": fold, "epoch": epoch, "train_loss": loss_sum / max(steps, 1), **rec,
                "lr": opt.param_groups[0]["lr"], "windows": n_windows, "windows_per_s": steady,
                "windows_per_cpu_s": steady_cpu,
                "epoch_s": t1 - t0, "best": improved, "time": time.time(),
            }  # fmt: skip
            with open(fdir / "log.jsonl", "a") as f:
                f.write(json.dumps(rec) + "\n")
            print(
                f"[fold {fold}] epoch {epoch}: train {rec['train_loss']:.4f} val {vl:.4f} "
                f"lrap {rec['val_lrap']:.3f} {steady:.0f} win/s{' *' if improved else ''}",
                flush=True,
            )
            if improved:
                torch.save(
                    {"model": model.state_dict(), "epoch": epoch, "val_loss": vl}, fdir / "best.pt.tmp"
                )
                os.replace(fdir / "best.pt.tmp", fdir / "best.pt")
            torch.save(
                {
                    "model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                    "epoch": epoch, "best_loss": best_loss, "best_epoch": best_epoch, "bad": bad,
                    "torch_rng": torch.get_rng_state(),
                },
                fdir / "last.pt.tmp",
            )  # fmt: skip
            os.replace(fdir / "last.pt.tmp", fdir / "last.pt")
        if cfg.time_budget_min and not stop:
            # stop before the next epoch would end past the budget (epochs take about as long)
            spent = time.perf_counter() - t_fold
            out_of_time = spent + (time.perf_counter() - t0) > cfg.time_budget_min * 60
            stop = out_of_time

    summary = {}
    if dist.main:
        best = torch.load(fdir / "best.pt", map_location=device, weights_only=False)
        model.load_state_dict(best["model"])
        logs = [json.loads(line) for line in (fdir / "log.jsonl").read_text().splitlines() if line.strip()]
        summary = {
            "fold": fold, "best_epoch": best["epoch"], **_validation_summary(model, val, device, fdir),
            "epochs_run": len(logs), "stopped_early": bool(stop) and not out_of_time,
            "budget_exhausted": out_of_time, "batches_on_device": on_device, "windows_per_s": float(np.median([r["windows_per_s"] for r in logs])),
            "train_excerpts": len(tr_idx), "device": str(device),
        }  # fmt: skip
        (fdir / "done.json").write_text(json.dumps(summary, indent=2))
    if dist.world > 1:
        import torch.distributed as tdist

        tdist.barrier()
    return summary


def train(cfg: TrainConfig, run_dir: str | os.PathLike, resume: bool = False) -> dict:
    run_dir = Path(run_dir)
    dist = init_distributed(cfg.device)
    device = pick_device(cfg.device, dist.local_rank)
    if device.type == "cpu":
        torch.set_num_threads(cfg.threads)
    cfg_file = run_dir / "config.json"
    if cfg_file.is_file() and not resume:
        old = json.loads(cfg_file.read_text())
        new = json.loads(json.dumps(cfg.to_json()))  # as stored: tuples become lists
        diff = [
            k
            for k in new
            if k not in ("fold_index", "device", "workers", "threads", "time_budget_min", "batch_augment")
            and old.get(k) != new[k]
        ]
        if diff:
            raise SystemExit(f"{run_dir} holds another run (differs in {diff}); use --resume or a new --out")
    if dist.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        cfg_file.write_text(json.dumps(cfg.to_json(), indent=2))
    prep = prepare(cfg)
    folds = range(len(prep.folds)) if cfg.fold_index is None else [cfg.fold_index]
    if dist.main:
        model = build_model(cfg.arch, len(cfg.labels), cfg.width)
        meta = {
            "arch": cfg.arch, "architecture": describe(cfg.arch, cfg.width), "params": count_params(model),
            "macs_per_window": count_macs(model, cfg.window_samples), "val_mode": prep.mode,
            "excerpts": len(prep.audio), "folds": [
                {"val_groups": sorted({prep.groups[i] for i in va})} if va is not None else {"val_dir": True}
                for _, va in prep.folds
            ],
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
