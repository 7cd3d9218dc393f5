"""GPU-throughput options of the trainer, checked on CPU at tiny sizes: the device-resident
batches follow the DataLoader's order exactly, ``data_on_device`` and ``sync_every`` leave
losses and weights bit-identical, the loss check still stops a diverged run, and
``compile`` trains the same model as eager mode to float32 round-off."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, DistributedSampler

from operators import checkpoint as ckpt
from operators import trainer as trainer_module
from operators.trainer import (
    DeviceBatches,
    TrainConfig,
    TrainingDiverged,
    dataset_nbytes,
    fits_on_device,
    read_log,
)
from operators.training import train_operator
from tests.helpers.training import InterruptAfter

ARCH = {"width": 8, "modes": 4, "layers": 2, "projection_channels": 16}


def _config(**kw) -> TrainConfig:
    return TrainConfig(**{"epochs": 3, "batch_size": 5, "lr": 3e-3, "quiet": True, **kw})


def _items(n: int) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    return [{"x": torch.randn(2, 6, generator=g), "y": torch.randn(1, 6, generator=g),
             "t": torch.tensor(float(k))} for k in range(n)]


def test_device_batches_follow_the_dataloader_order():
    items = _items(13)
    sampler = DistributedSampler(items, num_replicas=1, rank=0, shuffle=True, seed=3)
    sampler.set_epoch(2)
    ours = list(DeviceBatches(items, 4, sampler, torch.device("cpu")))
    theirs = list(DataLoader(items, batch_size=4, sampler=sampler))
    assert len(ours) == len(theirs) == 4 and ours[-1]["x"].shape[0] == 1
    for a, b in zip(ours, theirs):
        for key in ("x", "y", "t"):
            assert torch.equal(a[key], b[key])
    assert dataset_nbytes(items) == 13 * (12 + 6 + 1) * 4
    assert dataset_nbytes([]) == 0
    assert fits_on_device(10**15, torch.device("cpu"))


def test_data_on_device_and_sync_every_leave_results_bit_identical(steady, tmp_path):
    train_operator("fno", steady, tmp_path / "a", arch=ARCH, outputs="u", config=_config())
    train_operator("fno", steady, tmp_path / "b", arch=ARCH, outputs="u",
                   config=_config(data_on_device=True, sync_every=1))
    la, lb = read_log(tmp_path / "a"), read_log(tmp_path / "b")
    assert len(la) == len(lb) == 3
    for ra, rb in zip(la, lb):
        assert ra["train_loss"] == rb["train_loss"] and ra["val_loss"] == rb["val_loss"]
    wa, wb = ckpt.load_weights(tmp_path / "a"), ckpt.load_weights(tmp_path / "b")
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


@pytest.mark.parametrize("sync_every", [0, 2])
def test_divergence_is_caught_before_the_next_checkpoint(steady, tmp_path, sync_every):
    def poison(trainer, record):
        if record["epoch"] == 1:
            with torch.no_grad():
                next(trainer.model.parameters()).fill_(float("nan"))

    with pytest.raises(TrainingDiverged, match=r"loss is nan in epoch 2.*epoch 1\) is kept"):
        train_operator("fno", steady, tmp_path / "m", arch=ARCH, outputs="u",
                       config=_config(data_on_device=True, sync_every=sync_every),
                       callbacks=(poison,))
    state = ckpt.load_training_state(tmp_path / "m")
    assert state["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in state["model"].values())


def test_new_options_are_validated():
    for bad, msg in ((dict(compile="fast"), "unknown compile mode"),
                     (dict(sync_every=-1), "sync interval")):
        with pytest.raises(ValueError, match=msg):
            TrainConfig(**bad).validate()
    for mode in ("none", "default", "reduce-overhead", "max-autotune"):
        TrainConfig(compile=mode).validate()


@pytest.mark.timeout(120)
def test_compile_trains_the_same_model_as_eager(steady, tmp_path, monkeypatch):
    # graph capture (dynamo + AOT autograd) through the trainer's compile path; the
    # "aot_eager" backend skips inductor's C++ code generation (over a minute on CPU)
    monkeypatch.setattr(trainer_module, "COMPILE_BACKEND", "aot_eager")
    torch._dynamo.reset()
    cfg = dict(epochs=2, batch_size=8)
    train_operator("fno", steady, tmp_path / "eager", arch=ARCH, outputs="u", config=_config(**cfg))
    train_operator("fno", steady, tmp_path / "comp", arch=ARCH, outputs="u",
                   config=_config(compile="default", **cfg))
    le, lc = read_log(tmp_path / "eager"), read_log(tmp_path / "comp")
    for re_, rc in zip(le, lc):
        assert rc["train_loss"] == pytest.approx(re_["train_loss"], rel=1e-4)
        assert rc["val_loss"] == pytest.approx(re_["val_loss"], rel=1e-4)
    we, wc = ckpt.load_weights(tmp_path / "eager"), ckpt.load_weights(tmp_path / "comp")
    assert set(we) == set(wc)  # compiled training saves the plain module's names
    for k in we:
        torch.testing.assert_close(wc[k], we[k], rtol=1e-3, atol=1e-5)


def test_checkpoint_every_resumes_exactly_from_the_last_written_epoch(steady, tmp_path):
    cfg = dict(epochs=5, checkpoint_every=2)
    train_operator("fno", steady, tmp_path / "a", arch=ARCH, outputs="u", config=_config(**cfg))
    assert ckpt.load_training_state(tmp_path / "a")["epoch"] == 5  # the last epoch is written
    with pytest.raises(KeyboardInterrupt):
        train_operator("fno", steady, tmp_path / "b", arch=ARCH, outputs="u",
                       config=_config(**cfg), callbacks=(InterruptAfter(3),))
    assert ckpt.load_training_state(tmp_path / "b")["epoch"] == 2
    train_operator("fno", steady, tmp_path / "b", config=_config(**cfg), resume=True)
    la, lb = read_log(tmp_path / "a"), read_log(tmp_path / "b")
    assert [r["epoch"] for r in lb] == [1, 2, 3, 4, 5]
    assert [r["train_loss"] for r in la] == [r["train_loss"] for r in lb]
    wa, wb = ckpt.load_weights(tmp_path / "a"), ckpt.load_weights(tmp_path / "b")
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (GPU machine)")
@pytest.mark.timeout(300)
@pytest.mark.parametrize("compile_mode", ["none", "reduce-overhead"])
def test_cuda_training_matches_cpu(steady, tmp_path, compile_mode):
    """On a GPU: device-resident data, pinned transfers, fused AdamW and (optionally) CUDA
    graphs train the same model as the CPU to float32 round-off (TF32 off)."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    cfg = dict(epochs=2, batch_size=4)
    train_operator("fno", steady, tmp_path / "cpu", arch=ARCH, outputs="u", config=_config(**cfg))
    for on_device in (False, True):
        out = tmp_path / f"cuda{on_device}"
        train_operator("fno", steady, out, arch=ARCH, outputs="u",
                       config=_config(device="cuda", data_on_device=on_device,
                                      compile=compile_mode, **cfg))
        for rc, rg in zip(read_log(tmp_path / "cpu"), read_log(out)):
            assert rg["train_loss"] == pytest.approx(rc["train_loss"], rel=1e-3)
            assert rg["val_loss"] == pytest.approx(rc["val_loss"], rel=1e-3)
