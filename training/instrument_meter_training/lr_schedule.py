"""Learning-rate schedules of a fold: ``plateau`` (halve the rate when validation loss stalls) or
``cosine`` (decay from ``--lr`` to ``min_lr`` along a half cosine over the whole run, stepped
every batch).

Why cosine: in the LOFO runs of Dec 2026 the plateau rule never fired within 12 epochs, so every
model ended at the full learning rate; an annealed rate is the usual cheap way to the low-loss
end of a fixed budget."""

from __future__ import annotations

import math

import torch

SCHEDULES = ("plateau", "cosine")


class CosineSchedule:
    """Half-cosine decay over ``epochs * steps_per_epoch`` optimiser steps. Its horizon is fixed
    when the fold starts; resuming a run with another ``--epochs`` would restart the decay from
    wherever it stood, so it is refused."""

    def __init__(self, opt: torch.optim.Optimizer, lr: float, min_lr: float, epochs: int):
        self.opt, self.lr, self.min_lr, self.epochs = opt, lr, min_lr, epochs
        self.total: int | None = None
        self.done = 0

    def set_steps_per_epoch(self, steps: int) -> None:
        total = max(1, self.epochs * steps)
        if self.total is not None and self.total != total:
            raise SystemExit(
                f"this run's cosine schedule spans {self.total} steps, --epochs {self.epochs} makes "
                f"{total}: a cosine run cannot be extended; start a new run with the longer schedule"
            )
        self.total = total
        self._apply()

    def rate(self, step: int) -> float:
        t = min(step, self.total or 1) / (self.total or 1)
        return self.min_lr + (self.lr - self.min_lr) * 0.5 * (1.0 + math.cos(math.pi * t))

    def _apply(self) -> None:
        for g in self.opt.param_groups:
            g["lr"] = self.rate(self.done)

    def step_batch(self) -> None:
        self.done += 1
        self._apply()

    def step(self, val_loss: float) -> None:  # the epoch-end hook of plateau; nothing to do
        pass

    def state_dict(self) -> dict:
        return {"kind": "cosine", "done": self.done, "total": self.total}

    def load_state_dict(self, d: dict) -> None:
        if d.get("kind") != "cosine":
            raise SystemExit("the checkpoint was trained with another learning-rate schedule")
        self.done, self.total = d["done"], d["total"]


class PlateauSchedule(torch.optim.lr_scheduler.ReduceLROnPlateau):
    """ReduceLROnPlateau with the per-batch hook the cosine schedule needs (a no-op here)."""

    def set_steps_per_epoch(self, steps: int) -> None:
        pass

    def step_batch(self) -> None:
        pass


def make_schedule(kind: str, opt: torch.optim.Optimizer, cfg):
    if kind == "cosine":
        return CosineSchedule(opt, cfg.lr, cfg.min_lr, cfg.epochs)
    if kind == "plateau":
        return PlateauSchedule(
            opt, mode="min", factor=cfg.lr_factor, patience=cfg.lr_patience, min_lr=cfg.min_lr
        )
    raise ValueError(f"unknown learning-rate schedule {kind!r} (one of {', '.join(SCHEDULES)})")
