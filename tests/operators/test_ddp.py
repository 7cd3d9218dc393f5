"""DDP: one step on 2 gloo processes (half the batch each) equals one step on the whole batch."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from operators.fno import FNO
from operators.normalization import NormalizedOperator, Normalizer
from operators.trainer import TrainConfig, Trainer

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="torch.distributed unavailable")

GLOBAL_BATCH = 4


def _model() -> NormalizedOperator:
    torch.manual_seed(0)
    fno = FNO(1, 1, 1, width=8, modes=4, layers=2, projection_channels=16)
    return NormalizedOperator(fno, Normalizer.identity(1), Normalizer.identity(1))


def _batch() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(GLOBAL_BATCH, 1, 32, generator=g)
    return {"x": x, "y": torch.cumsum(x, dim=-1) / 32, "t": torch.zeros(GLOBAL_BATCH)}


def _step(batch: dict[str, torch.Tensor], out_dir: str) -> tuple[dict[str, torch.Tensor], float]:
    model = _model()
    items = [{k: v[i] for k, v in batch.items()} for i in range(len(batch["x"]))]
    config = TrainConfig(epochs=1, batch_size=len(items), lr=1e-2, grad_clip=0.5, quiet=True)
    trainer = Trainer(model, items, None, config, out_dir)
    loss = trainer.train_step(batch)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}, loss


def _worker(rank: int, world: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    half = GLOBAL_BATCH // world
    batch = {k: v[rank * half:(rank + 1) * half] for k, v in _batch().items()}
    state, loss = _step(batch, out_dir)
    if rank == 0:
        torch.save({"state": state, "loss": loss}, os.path.join(out_dir, "ddp.pt"))
    dist.barrier()
    dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_step_equals_single_process_step(tmp_path):
    single, loss = _step(_batch(), str(tmp_path))
    # fork (where available) reuses this process's imports: seconds instead of a cold start
    method = "fork" if "fork" in torch.multiprocessing.get_all_start_methods() else "spawn"
    mp.start_processes(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True,
                       start_method=method)
    ddp = torch.load(tmp_path / "ddp.pt", weights_only=True)
    assert ddp["loss"] == pytest.approx(loss, rel=1e-5)
    before = _model().state_dict()
    moved = 0
    for k, v in single.items():
        torch.testing.assert_close(ddp["state"][k], v, rtol=1e-5, atol=1e-6)
        moved += int(not torch.equal(v, before[k]))
    assert moved > 5  # the step changed the parameters (the comparison is not vacuous)
