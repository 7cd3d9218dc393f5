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

Progress goes to stderr (unless ``quiet``): a bar on a terminal, else a line
every ``ROM_PROGRESS_INTERVAL`` seconds (:mod:`data.progress`) with the train
loss, validation error and samples/s; with ``log_every = N`` instead one line
per ``N`` epochs (and the last), :func:`progress_line`.

Resuming from ``last.pt`` continues bit-for-bit (same next-step loss on the
same hardware and thread count). A non-finite loss stops training before the
next checkpoint (the loss is checked every ``sync_every`` steps, by default
once per epoch): the last good checkpoint is left untouched and
:class:`TrainingDiverged` says why.

GPU throughput: the per-step loop never waits for the device. Losses are
summed on the device (float64) and read once per epoch or per ``sync_every``
steps; batches move with ``non_blocking`` copies from pinned memory; with
``data_on_device`` the whole training set is stacked once into device tensors
(when it fits) and batches are gathered there in the sampler's order, so a
step is the kernels only; ``compile`` wraps the network in ``torch.compile``
(``"reduce-overhead"`` replays CUDA graphs on a GPU). None of these change the
arithmetic on CPU: the same batches in the same order give the same losses
and weights.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from data.progress import Progress, format_duration

from . import checkpoint as ckpt
from . import ddp
from .losses import get_loss, relative_l2

SCHEDULERS = ("cosine", "step", "none")
AMP_MODES = ("none", "bf16", "fp16")
COMPILE_MODES = ("none", "default", "reduce-overhead", "max-autotune")
#: with ``data_on_device``, the training set may take at most this fraction of free GPU memory
DEVICE_DATA_FRACTION = 0.5
#: torch.compile backend (tests use "aot_eager": same graph capture, no code generation)
COMPILE_BACKEND = "inductor"


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
    compile: str = "none"
    data_on_device: bool = False
    sync_every: int = 0
    checkpoint_every: int = 1
    log_every: int = 0

    def validate(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("the epoch count and the batch size must be at least 1")
        if not self.lr > 0 or self.weight_decay < 0 or self.grad_clip < 0:
            raise ValueError("the learning rate must be > 0, the weight decay and the gradient "
                             "clipping norm >= 0")
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"unknown scheduler {self.scheduler!r}; valid: {', '.join(SCHEDULERS)}")
        if self.amp not in AMP_MODES:
            raise ValueError(f"unknown mixed-precision mode {self.amp!r}; valid: {', '.join(AMP_MODES)}")
        if self.amp == "fp16" and not self.device.startswith("cuda"):
            raise ValueError("fp16 autocast needs a CUDA device (use bf16 on the CPU)")
        if self.compile not in COMPILE_MODES:
            raise ValueError(f"unknown compile mode {self.compile!r}; valid: {', '.join(COMPILE_MODES)}")
        if self.checkpoint_every < 1:
            raise ValueError("checkpoints must be written at least every epoch (interval >= 1)")
        if self.sync_every < 0:
            raise ValueError("the loss sync interval must be >= 0 steps (0: once per epoch)")
        if self.log_every < 0:
            raise ValueError("the progress-line interval must be >= 0 epochs (0: timed lines)")
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


def dataset_nbytes(dataset: Any) -> int:
    """Bytes of ``x``, ``y`` and ``t`` of all items (from the first item's shapes)."""
    if not len(dataset):
        return 0
    item = dataset[0]
    return len(dataset) * sum(item[k].numel() * item[k].element_size() for k in ("x", "y", "t"))


def fits_on_device(nbytes: int, device: torch.device) -> bool:
    """Whether ``nbytes`` fit in ``DEVICE_DATA_FRACTION`` of the device's free memory
    (always true off CUDA: the data are in host memory already)."""
    if device.type != "cuda":
        return True
    free, _ = torch.cuda.mem_get_info(device)
    return nbytes <= DEVICE_DATA_FRACTION * free


def _compiled(module: nn.Module, mode: str) -> nn.Module:
    """``torch.compile(module)`` with static shapes; ``mode`` applies to inductor only."""
    kw = {} if mode == "default" or COMPILE_BACKEND != "inductor" else {"mode": mode}
    return torch.compile(module, backend=COMPILE_BACKEND, dynamic=False, **kw)


class DeviceBatches:
    """The whole dataset stacked into device tensors; batches follow ``sampler``.

    Iterating yields ``{"x", "y", "t"}`` batches of ``batch_size`` in exactly the
    order a ``DataLoader(dataset, batch_size, sampler=sampler)`` would (last
    batch short), gathered on the device with ``index_select`` (no host copy).
    """

    def __init__(self, dataset: Any, batch_size: int, sampler: Any, device: torch.device
                 ) -> None:
        items = [dataset[k] for k in range(len(dataset))]
        self.tensors = {key: torch.stack([it[key] for it in items]).to(device)
                        for key in ("x", "y", "t")}
        self.batch_size, self.sampler, self.device = batch_size, sampler, device

    def __len__(self) -> int:
        return math.ceil(len(self.sampler) / self.batch_size)

    def __iter__(self):
        order = torch.as_tensor(list(self.sampler), dtype=torch.long).to(self.device)
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            yield {k: v.index_select(0, idx) for k, v in self.tensors.items()}


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
        self.data_on_device = config.data_on_device and all(
            fits_on_device(dataset_nbytes(d), self.device) for d in (train_set, val_set or []))
        if config.data_on_device and not self.data_on_device and not config.quiet:
            print("data_on_device: the dataset does not fit in half the free GPU memory; "
                  "reading batches from host memory", flush=True)
        self.loader = self._loader(train_set, self.sampler)
        self.val_loader = None
        if val_set is not None and len(val_set):
            vs = DistributedSampler(val_set, num_replicas=self.info.world_size,
                                    rank=self.info.rank, shuffle=False)
            self.val_loader = self._loader(val_set, vs)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr,
                                           weight_decay=config.weight_decay,
                                           fused=True if self.device.type == "cuda" else None)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lr_factor(config, len(self.loader)))
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=config.amp == "fp16")
        self.eval_net: nn.Module = self.model
        if config.compile != "none":
            self.net, self.eval_net = _compiled(self.net, config.compile), _compiled(self.model,
                                                                                      config.compile)
        self.cuda_graphs = config.compile == "reduce-overhead" and self.device.type == "cuda"
        self.epoch, self.best_val, self.bad_epochs = 0, math.inf, 0
        self._best_state: dict[str, torch.Tensor] | None = None  # best weights not yet written

    def _loader(self, dataset: Any, sampler: Any):
        """Batches of ``dataset`` in ``sampler``'s order: device-resident or a DataLoader."""
        if self.data_on_device:
            return DeviceBatches(dataset, self.config.batch_size, sampler, self.device)
        workers = self.config.num_workers
        return DataLoader(dataset, batch_size=self.config.batch_size, sampler=sampler,
                          num_workers=workers, persistent_workers=workers > 0,
                          pin_memory=self.device.type == "cuda")

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
            net = self.net if net is None else net  # (a compiled module has no bool())
            return net(x, t if self.time_dependent else None).float()

    def train_step(self, batch: dict[str, torch.Tensor]) -> float:
        """One optimiser step on a batch; returns the (global) batch loss (synchronises)."""
        return self.check_finite(self.step(batch), 1)

    def step(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """One optimiser step on a batch; returns this process's batch loss as a detached
        float64 device tensor (no host synchronisation; see :meth:`check_finite`)."""
        self.net.train()
        x, y, t = _batch(batch, self.device)
        if self.cuda_graphs:
            torch.compiler.cudagraph_mark_step_begin()
        loss = self.loss_fn(self.predict(x, t), y)
        value = loss.detach().to(torch.float64)
        self.scaler.scale(loss).backward()
        if self.config.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        return value

    def check_finite(self, loss_sum: torch.Tensor, n_batches: int) -> float:
        """Mean loss over ``n_batches`` steps and all processes (one host sync);
        raises :class:`TrainingDiverged` if it is not finite."""
        total = ddp.all_reduce_sum([float(loss_sum)], self.device)[0] / self.info.world_size
        value = total / max(n_batches, 1)
        if not math.isfinite(value):
            raise TrainingDiverged(self._diverged_message(value))
        return value

    def _diverged_message(self, value: float) -> str:
        kept = (f"the last good checkpoint (epoch {self.epoch}) is kept in {self.out_dir}"
                if self.epoch > 0 else "no checkpoint was written")
        return (f"training diverged: loss is {value} in epoch {self.epoch + 1}; {kept}; "
                "try a lower learning rate, gradient clipping or no mixed precision")

    @torch.no_grad()
    def validate(self) -> float | None:
        """Mean relative L2 error over the validation set (``None`` without one)."""
        if self.val_loader is None:
            return None
        self.net.eval()
        self.eval_net.eval()
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        count = 0
        for batch in self.val_loader:
            x, y, t = _batch(batch, self.device)
            if self.cuda_graphs:
                torch.compiler.cudagraph_mark_step_begin()
            err = relative_l2(self.predict(x, t, self.eval_net), y) * x.shape[0]
            total, count = total + err.detach().to(torch.float64), count + x.shape[0]
        total, count = ddp.all_reduce_sum([float(total), count], self.device)
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
        show = not self.config.quiet and self.info.is_main
        every = self.config.log_every
        bar = Progress(self.config.epochs, desc="train", unit="epoch", initial=self.epoch,
                       enabled=show and not every)
        for epoch in range(self.epoch + 1, self.config.epochs + 1):
            record = self.run_epoch(epoch)
            bar.set_postfix(train=f"{record['train_loss']:.3g}",
                            val="-" if record["val_loss"] is None else f"{record['val_loss']:.3g}",
                            samples_per_s=f"{record['samples_per_second']:.0f}")
            bar.update(1)
            if show and every and (epoch % every == 0 or epoch == self.config.epochs):
                print(progress_line(record, self.config.epochs, time.perf_counter() - t0),
                      file=sys.stderr, flush=True)
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
        t0, n_batches, n_samples = time.perf_counter(), 0, 0
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        every = self.config.sync_every
        for batch in self.loader:
            total = total + self.step(batch)
            n_batches += 1
            n_samples += batch["x"].shape[0] * self.info.world_size
            if every and n_batches % every == 0:
                self.check_finite(total, n_batches)
        train_loss = self.check_finite(total, n_batches)
        train_seconds = time.perf_counter() - t0
        val = self.validate()
        self.epoch = epoch
        improved = val is None or val < self.best_val
        if val is not None:
            self.best_val, self.bad_epochs = ((val, 0) if improved
                                              else (self.best_val, self.bad_epochs + 1))
        record = {"epoch": epoch, "train_loss": train_loss, "val_loss": val,
                  "lr": self.optimizer.param_groups[0]["lr"], "seconds": train_seconds,
                  "samples_per_second": n_samples / max(train_seconds, 1e-12)}
        if self.info.is_main:
            self._checkpoint(epoch, improved)
            with open(self.out_dir / ckpt.LOG, "a") as f:
                f.write(json.dumps(record) + "\n")
        return record

    def _checkpoint(self, epoch: int, improved: bool) -> None:
        """Write the best weights and ``last.pt`` every ``checkpoint_every`` epochs and at
        the last; in between, the best weights wait as a device copy."""
        if improved:
            self._best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        due = (epoch % self.config.checkpoint_every == 0 or epoch == self.config.epochs
               or self.config.patience > 0)
        if not due:
            return
        if self._best_state is not None:
            ckpt.save_weights(self.out_dir, self._best_state)
            self._best_state = None
        ckpt.save_training_state(self.out_dir, self.state_dict())


def progress_line(record: dict[str, Any], epochs: int, elapsed: float) -> str:
    """``train: epoch 100/500, train loss 0.0123, val rel. L2 0.0131, lr 5e-04,
    1520 samples/s, 1m05s elapsed`` (``--log-every``)."""
    val = record["val_loss"]
    return (f"train: epoch {record['epoch']}/{epochs}, train loss {record['train_loss']:.4g}, "
            f"val rel. L2 {'-' if val is None else f'{val:.4g}'}, lr {record['lr']:.3g}, "
            f"{record['samples_per_second']:.0f} samples/s, {format_duration(elapsed)} elapsed")


def read_log(model_dir: str | Path) -> list[dict[str, Any]]:
    """The per-epoch records of ``train_log.jsonl`` (empty if absent)."""
    path = Path(model_dir) / ckpt.LOG
    if not path.exists():
        return []
    return [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]
