"""Distributed data parallel training under ``torchrun`` (or any launcher setting the env vars).

``torchrun --nproc_per_node P -m cli.main train fno DATA.h5 -o MODEL`` starts
``P`` processes; each reads ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR`` and ``MASTER_PORT`` from the environment, joins one process
group (NCCL on CUDA, gloo on CPU), trains on its shard of every epoch's
permutation (``DistributedSampler``) and averages gradients after each
backward pass. With equal local batches, one step on ``P`` processes equals
one step on the concatenated global batch (the loss is a batch mean), which
``tests/operators/test_ddp.py`` checks. Only rank 0 writes checkpoints and logs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def env_info() -> DistInfo:
    """Rank, world size and local rank from the launcher's environment (1 process if unset)."""
    return DistInfo(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                    int(os.environ.get("LOCAL_RANK", 0)))


def setup(device: str = "cpu") -> DistInfo:
    """Join the process group when launched with ``WORLD_SIZE > 1``; return this rank's info."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(),
                        int(os.environ.get("LOCAL_RANK", dist.get_rank())))
    info = env_info()
    if info.distributed:
        backend = "nccl" if device.startswith("cuda") else "gloo"
        if device.startswith("cuda"):
            torch.cuda.set_device(info.local_rank)
        dist.init_process_group(backend=backend, rank=info.rank, world_size=info.world_size)
    return info


def device_for(device: str, info: DistInfo) -> torch.device:
    """``cuda`` becomes ``cuda:LOCAL_RANK`` under DDP; ``cpu`` stays."""
    if device == "cuda" and info.distributed:
        return torch.device("cuda", info.local_rank)
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("a CUDA device was requested but none is available")
    return torch.device(device)


def wrap(model: nn.Module, info: DistInfo, device: torch.device) -> nn.Module:
    """``DistributedDataParallel`` around ``model`` when distributed, else ``model``."""
    if not info.distributed:
        return model
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def all_reduce_sum(values: list[float], device: torch.device) -> list[float]:
    """Sum of each value over all processes (identity without a process group)."""
    if not (dist.is_available() and dist.is_initialized()):
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def broadcast_flag(flag: bool, device: torch.device) -> bool:
    """Rank 0's boolean on every process (early stopping decided once)."""
    if not (dist.is_available() and dist.is_initialized()):
        return flag
    t = torch.tensor([1 if flag else 0], device=device)
    dist.broadcast(t, src=0)
    return bool(t.item())


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
