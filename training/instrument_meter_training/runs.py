"""Run folders: the training configuration, where a run keeps its files, and loading what it left.

Run directory (``train`` and ``lofo`` write it, ``evaluate``/``export``/``revalidate`` read it)::

    RUN_DIR/config.json            the full configuration (resume reads it)
    RUN_DIR/folds.json             arch, size, and what each fold validates (and holds out) on
    RUN_DIR/fold<k>/log.jsonl      one JSON object per epoch
    RUN_DIR/fold<k>/last.pt        everything needed to resume (every epoch)
    RUN_DIR/fold<k>/best.pt        the best model by validation loss
    RUN_DIR/fold<k>/val_preds.npz  validation clip scores/targets of the best model
    RUN_DIR/fold<k>/done.json      summary: best epoch, validation metrics, thresholds, windows/s,
                                   the software and processor that trained it
    RUN_DIR/lofo.json, lofo.md     leave-one-family-out results (``lofo`` only)
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import LABEL_NAMES, LABELS, SAMPLE_RATE, WINDOW_SAMPLES
from .data import default_cache_dir
from .dataset import AugmentConfig
from .models import build_model
from .ort_runtime import OnnxRuntimeModel


@dataclass
class TrainConfig:
    data: str = ""
    arch: str = "rfcn"
    width: float = 1.0
    folds: int = 5
    fold_index: int | None = None  # run only this fold (others can run elsewhere)
    val_mode: str = "auto"  # auto: "dir" if the data root has val/, else "cv"; "family": LOFO folds
    group_by: str = "source"  # "source" (recording) or "pool" (second bracket: leave-one-pool-out)
    families: str = "all"  # "all", or comma-separated recording families kept (second bracket)
    epochs: int = 60
    batch_size: int = 64  # global batch (split across ranks under torchrun)
    lr: float = 1e-4
    weight_decay: float = 0.0
    patience: int = 10  # early stopping (epochs without validation-loss improvement)
    lr_schedule: str = "plateau"  # "plateau" (lr_patience, lr_factor) or "cosine" (lr_schedule.py)
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

    def as_stored(self) -> dict:
        """The config as ``config.json`` holds it (tuples as lists), for comparing runs."""
        return json.loads(json.dumps(self.to_json()))

    @classmethod
    def from_json(cls, d: dict) -> TrainConfig:
        d = dict(d)
        aug = dict(d.pop("augment", {}) or {})
        for k, v in aug.items():
            if isinstance(v, list):
                aug[k] = tuple(v)
        known_aug = {f.name for f in dataclasses.fields(AugmentConfig)}
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(
            augment=AugmentConfig(**{k: v for k, v in aug.items() if k in known_aug}),
            **{k: v for k, v in d.items() if k in known},
        )

    def cache(self, override: str | None = None) -> str | None:
        """The decoded-audio cache folder (``''`` disables it: ``None``)."""
        c = override if override is not None else self.cache_dir
        c = str(default_cache_dir()) if c is None else c
        return None if c == "" else c


#: Settings that may change between a run and its resumption (they do not change the results).
RUNTIME_KEYS = ("fold_index", "device", "workers", "threads", "time_budget_min", "batch_augment")


def software_record() -> dict:
    """The versions and processor a fold trained with: a rerun of a LOFO row on a fresh machine
    landed 1.3 LRAP points away and, with no record, the cause could not be told (docs/results.md)."""
    import numpy
    import onnxruntime

    cpu = platform.processor() or platform.machine()
    try:
        names = [x.split(":", 1)[1].strip() for x in Path("/proc/cpuinfo").read_text().splitlines()
                 if x.startswith("model name")]  # fmt: skip
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": numpy.__version__,
            "onnxruntime": onnxruntime.__version__, "cpu": cpu, "cpu_count": os.cpu_count()}  # fmt: skip


def load_config(run_dir) -> TrainConfig:
    f = Path(run_dir) / "config.json"
    if not f.is_file():
        raise FileNotFoundError(f"{run_dir} is not a run directory (no config.json)")
    return TrainConfig.from_json(json.loads(f.read_text()))


def open_run_dir(run_dir: Path, cfg: TrainConfig, resume: bool, write: bool = True) -> None:
    """Refuses a folder that holds another run (unless resuming); writes ``config.json``."""
    cfg_file = run_dir / "config.json"
    if cfg_file.is_file() and not resume:
        # both as stored (tuples become lists), the old one with the defaults of keys added since
        old, new = load_config(run_dir).as_stored(), cfg.as_stored()
        diff = [k for k in new if k not in RUNTIME_KEYS and old.get(k) != new[k]]
        if diff:
            raise SystemExit(f"{run_dir} holds another run (differs in {diff}); use --resume or a new --out")
    if write:
        run_dir.mkdir(parents=True, exist_ok=True)
        cfg_file.write_text(json.dumps(cfg.to_json(), indent=2))


def fold_seed(cfg: TrainConfig, fold: int) -> int:
    return cfg.seed * 1000 + fold


def fold_dir(run_dir, fold: int) -> Path:
    return Path(run_dir) / f"fold{fold}"


def read_log(fdir: Path) -> list[dict]:
    f = fdir / "log.jsonl"
    return [json.loads(x) for x in f.read_text().splitlines() if x.strip()] if f.is_file() else []


def fold_dirs(run_dir) -> list[tuple[int, Path, dict]]:
    """Finished folds: (index, folder, done.json)."""
    out = []
    for d in sorted(
        Path(run_dir).glob("fold*"), key=lambda p: int(p.name[4:]) if p.name[4:].isdigit() else 1 << 30
    ):
        if d.name[4:].isdigit() and (d / "best.pt").is_file() and (d / "done.json").is_file():
            out.append((int(d.name[4:]), d, json.loads((d / "done.json").read_text())))
    if not out:
        raise FileNotFoundError(f"no finished fold (foldK/best.pt + done.json) in {run_dir}")
    return out


def load_model(cfg: TrainConfig, fdir: Path, device="cpu", engine: str = "torch") -> torch.nn.Module:
    """The fold's best model; ``engine="onnxruntime"`` runs it through ONNX Runtime (CPU)."""
    model = build_model(cfg.arch, len(cfg.labels), cfg.width)
    ck = torch.load(Path(fdir) / "best.pt", map_location="cpu", weights_only=False)
    model.load_state_dict(ck["model"])
    if engine == "onnxruntime":
        return OnnxRuntimeModel(model, cfg.window_samples, max(1, cfg.threads)).eval()
    if engine != "torch":
        raise ValueError(f"unknown engine {engine!r} (torch or onnxruntime)")
    return model.to(device).eval()


def atomic_save(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)
