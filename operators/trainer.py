"""One training loop for every neural operator (FNO, LSM, scOT).

The loop minimises the batch mean of the relative L2 (or spectral H^1) error
of the decoded prediction, ``mean_b ||G(x_b, t_b) - y_b|| / ||y_b||``, with
AdamW, a cosine (per step) or step (per epoch) learning-rate schedule,
gradient-norm clipping and optional mixed precision (bf16 on CPU or CUDA,
fp16 with a gradient scaler on CUDA; FFTs stay in float32). Each epoch it

1. trains on a permutation seeded by ``(seed, epoch)`` (``DistributedSampler``,
   so a resumed run and a DDP run see the same order),
2. measures the validation relative L2 error,
3. saves the best weights (``weights.safetensors``) and the full training state
   (``checkpoint/last.pt``: model, optimiser, scheduler, scaler, RNG, epoch),
4. appends one JSON line to ``train_log.jsonl``.

Resuming from ``last.pt`` continues bit-for-bit (same next-step loss on the
same hardware and thread count). A non-finite loss stops training at once:
the last good checkpoint is left untouched and :class:`TrainingDiverged` says why.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler
from tqdm.auto import tqdm

from . import checkpoint as ckpt
from . import ddp
from .losses import get_loss, relative_l2

SCHEDULERS = ("cosine", "step", "none")
AMP_MODES = ("none", "bf16", "fp16")


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


@dataclass
class TrainConfig:
    """Optimisation settings (stored in ``model.json`` under ``training``)."""

    epochs: int = 100
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-4
    scheduler: str = "cosine"
    step_size: int = 50
    gamma: float = 0.5
    grad_clip: float = 1.0
    amp: str = "none"
    device: str = "cpu"
    seed: int = 0
    loss: str = "l2"
    patience: int = 0
    num_workers: int = 0
    quiet: bool = False

    def validate(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("--epochs and --batch-size must be at least 1")
        if not self.lr > 0 or self.weight_decay < 0 or self.grad_clip < 0:
            raise ValueError("--lr must be > 0, --weight-decay and --grad-clip >= 0")
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"unknown scheduler {self.scheduler!r}; valid: {', '.join(SCHEDULERS)}")
        if self.amp not in AMP_MODES:
            raise ValueError(f"unknown --amp {self.amp!r}; valid: {', '.join(AMP_MODES)}")
        if self.amp == "fp16" and not self.device.startswith("cuda"):
            raise ValueError("--amp fp16 needs --device cuda (use bf16 on cpu)")
        get_loss(self.loss)


def lr_factor(config: TrainConfig, steps_per_epoch: int) -> Callable[[int], float]:
    """Multiplier of the base learning rate after ``step`` optimiser steps."""
    total = max(1, config.epochs * steps_per_epoch)
    if config.scheduler == "cosine":
        return lambda step: 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))
    if config.scheduler == "step":
        return lambda step: config.gamma ** ((step // max(1, steps_per_epoch)) // config.step_size)
    return lambda step: 1.0


def _batch(batch: dict[str, torch.Tensor], device: torch.device):
    return (batch["x"].to(device, non_blocking=True), batch["y"].to(device, non_blocking=True),
            batch["t"].to(device, non_blocking=True))


class Trainer:
    """Train ``model`` (usually a :class:`~operators.normalization.NormalizedOperator`)."""

    def __init__(self, model: nn.Module, train_set: Any, val_set: Any | None,
                 config: TrainConfig, out_dir: str | Path, time_dependent: bool = False,
                 callbacks: Sequence[Callable[[Trainer, dict], None]] = ()) -> None:
        config.validate()
        self.config, self.out_dir = config, Path(out_dir)
        self.time_dependent, self.callbacks = time_dependent, list(callbacks)
        self.info = ddp.setup(config.device)
        self.device = ddp.device_for(config.device, self.info)
        self.model = model.to(self.device)
        self.net = ddp.wrap(self.model, self.info, self.device)
        self.loss_fn = get_loss(config.loss)
        self.sampler = DistributedSampler(train_set, num_replicas=self.info.world_size,
                                          rank=self.info.rank, shuffle=True, seed=config.seed)
        self.loader = DataLoader(train_set, batch_size=config.batch_size, sampler=self.sampler,
                                 num_workers=config.num_workers,
                                 persistent_workers=config.num_workers > 0)
        self.val_loader = None
        if val_set is not None and len(val_set):
            vs = DistributedSampler(val_set, num_replicas=self.info.world_size,
                                    rank=self.info.rank, shuffle=False)
            self.val_loader = DataLoader(val_set, batch_size=config.batch_size, sampler=vs,
                                         num_workers=config.num_workers)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr,
                                           weight_decay=config.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lr_factor(config, len(self.loader)))
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=config.amp == "fp16")
        self.epoch, self.best_val, self.bad_epochs = 0, math.inf, 0

    # -- state -----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
                "rng": ckpt.rng_state(), "epoch": self.epoch, "best_val": self.best_val,
                "bad_epochs": self.bad_epochs, "config": asdict(self.config)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        ckpt.set_rng_state(state["rng"])
        self.epoch, self.best_val = int(state["epoch"]), float(state["best_val"])
        self.bad_epochs = int(state["bad_epochs"])

    def _autocast(self):
        if self.config.amp == "none":
            return nullcontext()
        dtype = torch.bfloat16 if self.config.amp == "bf16" else torch.float16
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    # -- steps -----------------------------------------------------------------------
    def predict(self, x: torch.Tensor, t: torch.Tensor, net: nn.Module | None = None
                ) -> torch.Tensor:
        with self._autocast():
            return (net or self.net)(x, t if self.time_dependent else None).float()

    def train_step(self, batch: dict[str, torch.Tensor]) -> float:
        """One optimiser step on a batch; returns the (global) batch loss."""
        self.net.train()
        x, y, t = _batch(batch, self.device)
        loss = self.loss_fn(self.predict(x, t), y)
        value = ddp.all_reduce_sum([loss.item()], self.device)[0] / self.info.world_size
        if not math.isfinite(value):
            raise TrainingDiverged(self._diverged_message(value))
        self.scaler.scale(loss).backward()
        if self.config.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        return value

    def _diverged_message(self, value: float) -> str:
        kept = (f"the last good checkpoint (epoch {self.epoch}) is kept in {self.out_dir}"
                if self.epoch > 0 else "no checkpoint was written")
        return (f"training diverged: loss is {value} in epoch {self.epoch + 1}; {kept}; "
                "try a lower --lr, --grad-clip or --amp none")

    @torch.no_grad()
    def validate(self) -> float | None:
        """Mean relative L2 error over the validation set (``None`` without one)."""
        if self.val_loader is None:
            return None
        self.net.eval()
        total, count = 0.0, 0
        for batch in self.val_loader:
            x, y, t = _batch(batch, self.device)
            err = relative_l2(self.predict(x, t, self.model), y) * x.shape[0]
            total, count = total + err.item(), count + x.shape[0]
        total, count = ddp.all_reduce_sum([total, count], self.device)
        return total / max(count, 1)

    # -- loop --------------------------------------------------------------------------
    def resume(self) -> None:
        """Load ``checkpoint/last.pt`` and drop log lines of epochs after it."""
        self.load_state_dict(ckpt.load_training_state(self.out_dir))
        log = self.out_dir / ckpt.LOG
        if self.info.is_main and log.exists():
            keep = [ln for ln in log.read_text().splitlines()
                    if ln.strip() and json.loads(ln).get("epoch", 0) <= self.epoch]
            log.write_text("".join(ln + "\n" for ln in keep))

    def fit(self, resume: bool = False) -> dict[str, Any]:
        """Train until ``config.epochs`` (or early stopping); returns a summary."""
        if resume:
            self.resume()
        else:
            torch.manual_seed(self.config.seed)
            if self.info.is_main:
                (self.out_dir / ckpt.LOG).unlink(missing_ok=True)
        start, stopped, t0 = self.epoch, "completed", time.perf_counter()
        bar = tqdm(range(self.epoch + 1, self.config.epochs + 1), desc="epochs", unit="epoch",
                   initial=self.epoch, total=self.config.epochs,
                   disable=True if (self.config.quiet or not self.info.is_main) else None)
        for epoch in bar:
            record = self.run_epoch(epoch)
            bar.set_postfix(train=f"{record['train_loss']:.3g}",
                            val="-" if record["val_loss"] is None else f"{record['val_loss']:.3g}")
            for cb in self.callbacks:
                cb(self, record)
            if ddp.broadcast_flag(self.config.patience > 0
                                  and self.bad_epochs >= self.config.patience, self.device):
                stopped = "early_stopping"
                break
        bar.close()
        return {"epochs": self.epoch, "epochs_this_run": self.epoch - start, "stopped": stopped,
                "best_val_rel_l2": None if math.isinf(self.best_val) else self.best_val,
                "seconds": time.perf_counter() - t0}

    def run_epoch(self, epoch: int) -> dict[str, Any]:
        """Train one epoch, validate, checkpoint, log; returns the log record."""
        self.sampler.set_epoch(epoch)
        t0, total, n_batches, n_samples = time.perf_counter(), 0.0, 0, 0
        for batch in self.loader:
            total += self.train_step(batch)
            n_batches += 1
            n_samples += batch["x"].shape[0] * self.info.world_size
        train_seconds = time.perf_counter() - t0
        val = self.validate()
        self.epoch = epoch
        improved = val is None or val < self.best_val
        if val is not None:
            self.best_val, self.bad_epochs = ((val, 0) if improved
                                              else (self.best_val, self.bad_epochs + 1))
        record = {"epoch": epoch, "train_loss": total / max(n_batches, 1), "val_loss": val,
                  "lr": self.optimizer.param_groups[0]["lr"], "seconds": train_seconds,
                  "samples_per_second": n_samples / max(train_seconds, 1e-12)}
        if self.info.is_main:
            if improved:
                ckpt.save_weights(self.out_dir, self.model.state_dict())
            ckpt.save_training_state(self.out_dir, self.state_dict())
            with open(self.out_dir / ckpt.LOG, "a") as f:
                f.write(json.dumps(record) + "\n")
        return record


def read_log(model_dir: str | Path) -> list[dict[str, Any]]:
    """The per-epoch records of ``train_log.jsonl`` (empty if absent)."""
    path = Path(model_dir) / ckpt.LOG
    if not path.exists():
        return []
    return [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]
