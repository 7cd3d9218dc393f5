"""The trainer: loss decrease, bit-exact resume, divergence handling, normalisation,
checkpoint safety and fine-tuning from another model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from data.model_dir import read_model_meta, write_model_meta
from operators import checkpoint as ckpt
from operators.normalization import Normalizer, RunningMoments
from operators.trainer import TrainConfig, TrainingDiverged, lr_factor, read_log
from operators.training import load_model, train_operator
from tests.helpers.fields import write_heat
from tests.helpers.training import InterruptAfter

ARCH = {"width": 8, "modes": 4, "layers": 2, "projection_channels": 16}


def _config(**kw) -> TrainConfig:
    return TrainConfig(**{"epochs": 4, "batch_size": 4, "lr": 3e-3, "quiet": True, **kw})


def test_loss_decreases(steady, tmp_path):
    summary = train_operator("fno", steady, tmp_path / "m", arch=ARCH, outputs="u",
                             config=_config(epochs=25, lr=5e-3))
    log = read_log(tmp_path / "m")
    assert len(log) == 25 and summary["epochs"] == 25
    assert log[-1]["train_loss"] < 0.3 * log[0]["train_loss"]
    assert log[-1]["val_loss"] < log[0]["val_loss"]
    meta = read_model_meta(tmp_path / "m", "fno")
    assert meta["result"]["best_val_rel_l2"] == pytest.approx(min(r["val_loss"] for r in log))
    assert sorted(meta["split"]["train"] + meta["split"]["val"] + meta["split"]["test"]) \
        == list(range(16))


def test_resume_is_exact(steady, tmp_path):
    cfg = dict(epochs=4, scheduler="cosine")
    train_operator("fno", steady, tmp_path / "a", arch=ARCH, config=_config(**cfg))
    with pytest.raises(KeyboardInterrupt):
        train_operator("fno", steady, tmp_path / "b", arch=ARCH, config=_config(**cfg),
                       callbacks=(InterruptAfter(2),))
    assert len(read_log(tmp_path / "b")) == 2
    train_operator("fno", steady, tmp_path / "b", config=_config(**cfg), resume=True)
    la, lb = read_log(tmp_path / "a"), read_log(tmp_path / "b")
    assert [r["epoch"] for r in lb] == [1, 2, 3, 4]
    for ra, rb in zip(la, lb):
        assert ra["train_loss"] == rb["train_loss"] and ra["val_loss"] == rb["val_loss"]
        assert ra["lr"] == rb["lr"]
    wa, wb = ckpt.load_weights(tmp_path / "a"), ckpt.load_weights(tmp_path / "b")
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=0, atol=0)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(steady, tmp_path):
    def poison(trainer, record):
        if record["epoch"] == 1:
            with torch.no_grad():
                next(trainer.model.parameters()).fill_(float("nan"))

    with pytest.raises(TrainingDiverged, match=r"loss is nan in epoch 2.*epoch 1\) is kept"):
        train_operator("fno", steady, tmp_path / "m", arch=ARCH, config=_config(),
                       callbacks=(poison,))
    state = ckpt.load_training_state(tmp_path / "m")
    assert state["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in state["model"].values())
    model, _ = load_model(tmp_path / "m")
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_running_moments_and_normalizer():
    rng = np.random.default_rng(0)
    data = rng.normal(3.0, 2.0, size=(10, 2, 5, 4)) * np.array([1.0, 10.0])[None, :, None, None]
    m = RunningMoments()
    for chunk in np.array_split(data, 4):
        m.update(chunk)
    flat = np.moveaxis(data, 1, 0).reshape(2, -1)
    np.testing.assert_allclose(m.mean, flat.mean(axis=1), rtol=1e-12)
    np.testing.assert_allclose(m.std(), flat.std(axis=1), rtol=1e-12)
    norm = Normalizer.from_moments(m)
    x = torch.as_tensor(data, dtype=torch.float32)
    z = norm.encode(x)
    assert abs(float(z[:, 1].mean())) < 1e-4 and abs(float(z[:, 1].std()) - 1) < 0.01
    torch.testing.assert_close(norm.decode(z), x, rtol=1e-5, atol=1e-4)
    again = Normalizer.from_json(json.loads(json.dumps(norm.to_json())))
    torch.testing.assert_close(again.encode(x), z)


def test_schedules_and_config_errors():
    cos = lr_factor(TrainConfig(epochs=10, scheduler="cosine"), steps_per_epoch=5)
    assert cos(0) == 1.0 and abs(cos(25) - 0.5) < 1e-12 and abs(cos(50)) < 1e-12
    step = lr_factor(TrainConfig(epochs=10, scheduler="step", step_size=2, gamma=0.1), 5)
    assert step(9) == 1.0 and abs(step(10) - 0.1) < 1e-12 and abs(step(20) - 0.01) < 1e-12
    for bad in (dict(epochs=0), dict(lr=0), dict(scheduler="linear"), dict(amp="fp8"),
                dict(amp="fp16", device="cpu"), dict(loss="l3")):
        with pytest.raises(ValueError):
            TrainConfig(**bad).validate()


def test_training_state_refuses_pickled_objects(tmp_path):
    (tmp_path / "checkpoint").mkdir()
    torch.save({"epoch": 1, "evil": InterruptAfter(1)}, tmp_path / ckpt.LAST)
    with pytest.raises(ValueError, match="cannot read training checkpoint"):
        ckpt.load_training_state(tmp_path)
    with pytest.raises(FileNotFoundError, match="no training checkpoint"):
        ckpt.load_training_state(tmp_path / "nothing")


def test_fine_tuning_replaces_only_the_io_layers(steady, tmp_path):
    train_operator("fno", steady, tmp_path / "base", arch=ARCH, outputs="u",
                   config=_config(epochs=1))
    base = ckpt.load_weights(tmp_path / "base")
    train_operator("fno", steady, tmp_path / "ft", outputs="u,v", init=tmp_path / "base",
                   config=_config(epochs=1, lr=1e-12))
    meta = read_model_meta(tmp_path / "ft", "fno")
    assert meta["out_channels"] == 2 and meta["arch"]["width"] == ARCH["width"]
    assert meta["init"]["reinitialised"] == ["projection.2.weight", "projection.2.bias"]
    tuned = ckpt.load_weights(tmp_path / "ft")
    torch.testing.assert_close(tuned["model.spectral.0.weight"], base["model.spectral.0.weight"],
                               rtol=1e-6, atol=1e-9)
    write_model_meta(tmp_path / "other", "lsm", arch={})
    with pytest.raises(ValueError, match="kind 'lsm', expected fno"):
        train_operator("fno", steady, tmp_path / "x", init=tmp_path / "other", config=_config())


def test_all2all_training_uses_a_time_channel(tmp_path):
    path = write_heat(tmp_path / "h.h5", n=6, n_times=3)
    train_operator("fno", path, tmp_path / "m", arch=ARCH, config=_config(epochs=2))
    meta = read_model_meta(tmp_path / "m", "fno")
    assert meta["time_channel"] and meta["in_channels"] == 2  # state + lead time
    assert meta["data"]["initial"] == ["u0"] and meta["t_scale"] == pytest.approx(0.3)
    model, _ = load_model(tmp_path / "m")
    x = torch.randn(3, 1, 16)
    a, b = model(x, torch.zeros(3)), model(x, torch.full((3,), 0.3))
    assert not torch.allclose(a, b)


def test_early_stopping_and_bf16_autocast(steady, tmp_path):
    summary = train_operator("fno", steady, tmp_path / "m", arch=ARCH, outputs="u",
                             config=_config(epochs=10, lr=1e-12, patience=2))
    assert summary["stopped"] == "early_stopping" and summary["epochs"] == 3
    summary = train_operator("fno", steady, tmp_path / "b", arch=ARCH, outputs="u",
                             config=_config(epochs=2, amp="bf16"))
    log = read_log(tmp_path / "b")
    assert summary["epochs"] == 2 and all(np.isfinite(r["train_loss"]) for r in log)


def test_step_schedule_is_the_papers_steplr_per_epoch():
    """``--scheduler step --step-size 100 --gamma 0.5`` (stepped per optimiser step) gives in
    every step of epoch e the lr of torch's StepLR(100, 0.5) stepped once per epoch, as the
    FNO paper's code does: 1e-3 in epochs 0..99, 5e-4 in 100..199, ... (500 epochs x 50 steps)."""
    cfg = TrainConfig(epochs=500, lr=1e-3, scheduler="step", step_size=100, gamma=0.5)
    ours = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=cfg.lr)
    paper = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=cfg.lr)
    per_step = torch.optim.lr_scheduler.LambdaLR(ours, lr_factor(cfg, steps_per_epoch=50))
    per_epoch = torch.optim.lr_scheduler.StepLR(paper, step_size=100, gamma=0.5)
    for epoch in range(cfg.epochs):
        want = paper.param_groups[0]["lr"]
        assert want == 1e-3 * 0.5 ** (epoch // 100)
        for _ in range(50):
            assert ours.param_groups[0]["lr"] == want, epoch
            ours.step()
            per_step.step()
        paper.step()
        per_epoch.step()


def test_the_trainer_logs_the_step_schedule_and_progress_lines(steady, tmp_path, capsys):
    train_operator("fno", steady, tmp_path / "m", arch=ARCH, outputs="u",
                   config=_config(epochs=5, lr=1e-3, scheduler="step", step_size=2, gamma=0.5,
                                  quiet=False, log_every=2))
    # the lr after epoch e is the one StepLR(2, 0.5) holds after e epoch steps
    assert [r["lr"] for r in read_log(tmp_path / "m")] == [1e-3 * 0.5 ** (e // 2)
                                                             for e in range(1, 6)]
    lines = capsys.readouterr().err.strip().splitlines()
    assert [ln.split(",")[0] for ln in lines] == ["train: epoch 2/5", "train: epoch 4/5",
                                                  "train: epoch 5/5"]
    assert all("train loss" in ln and "val rel. L2" in ln and "samples/s" in ln
               for ln in lines)
    with pytest.raises(ValueError, match="progress-line interval"):
        TrainConfig(log_every=-1).validate()
