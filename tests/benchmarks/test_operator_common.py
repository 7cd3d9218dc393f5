"""The shared set-up of the neural-operator benchmarks (``benchmarks/operator_common.py``):
presets under explicit options, the shared parser and training settings, the interleaved
step timer (on a fake clock), the time budget, throughput from a training log, the table."""

from __future__ import annotations

import argparse
import types

import pytest
import torch

from benchmarks import operator_common as bench

PRESETS = {"paper": {"epochs": 500, "lr": 1e-3}, "quick": {"n_train": 24, "epochs": 2}}


def parser() -> argparse.ArgumentParser:
    ap = bench.operator_parser("A benchmark.\n\nMore.", paper="the paper's setting")
    ap.add_argument("--models", default="fno,lsm")
    bench.add_training_args(ap, resolution=85, batch_size=20, lr=3e-3, rounds=7)
    return ap


def test_explicit_options_win_over_presets():
    args = argparse.Namespace(paper=True, quick=False, epochs=4, lr=0.1, n_train=3)
    bench.apply_presets(args, ["--paper", "--epochs", "100"], PRESETS)
    assert (args.epochs, args.lr, args.n_train) == (4, 1e-3, 3)  # --epochs given: kept
    args = bench.parse(parser(), ["--quick", "--epochs=7"], PRESETS, models=("fno", "lsm"))
    assert (args.n_train, args.epochs, args.lr) == (24, 7, 3e-3)


def test_parse_resolves_block_and_models_and_rejects_unknown_models(capsys):
    args = bench.parse(parser(), ["--models", "lsm"], {}, models=("fno", "lsm"))
    assert args.block == 1 and args.models == ["lsm"]  # --block 0: one step per block on cpu
    assert bench.parse(parser(), ["--block", "3"], {}).block == 3
    with pytest.raises(SystemExit) as exc:
        bench.parse(parser(), ["--models", "fno,unet"], {}, models=("fno", "lsm"))
    assert exc.value.code == 2 and "unknown ['unet']; valid: fno, lsm" in capsys.readouterr().err


def test_train_config_takes_the_scripts_options():
    args = bench.parse(parser(), ["--epochs", "12", "--scheduler", "step", "--gamma", "0.25"], {})
    config = bench.train_config(args)
    assert (config.epochs, config.batch_size, config.lr, config.scheduler, config.gamma) == \
        (12, 20, 3e-3, "step", 0.25)
    assert (config.weight_decay, config.grad_clip, config.checkpoint_every) == (1e-4, 1.0, 2)
    config.validate()
    assert bench.train_config(args, epochs=3).checkpoint_every == 1


class FakeClock:
    """``perf_counter`` that only moves when a step says how long it took."""

    def __init__(self) -> None:
        self.t = 0.0

    def perf_counter(self) -> float:
        return self.t


def test_interleaved_step_times_are_medians_per_call_after_a_warm_up_round(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(bench, "time", types.SimpleNamespace(perf_counter=clock.perf_counter))
    # per-call seconds of each round: round 0 is the warm-up (compilation, FFT plans)
    costs = {"a": [100.0, 1.0, 5.0, 2.0], "b": [100.0, 3.0, 3.0, 30.0]}
    calls = {"a": 0, "b": 0}

    def step(name, block):
        def run():
            clock.t += costs[name][calls[name] // block]
            calls[name] += 1
        return run

    med = bench.interleaved_step_times({k: step(k, 2) for k in costs}, rounds=3, block=2,
                                       device=torch.device("cpu"))
    assert calls == {"a": 8, "b": 8}
    assert med == {"a": 2.0, "b": 3.0}  # medians of rounds 1..3, divided by the block


def test_time_budget_stops_a_run_and_says_after_which_epoch():
    def train(callbacks, epochs):
        for e in range(1, epochs + 1):
            for cb in callbacks:
                cb(None, {"epoch": e})
        return {"epochs": epochs}

    assert bench.train_with_budget(train, 0.0, epochs=3) == {"stopped": "completed", "epochs": 3}
    stopped = bench.train_with_budget(train, 1e-9, epochs=3)
    assert stopped == {"stopped": "time budget of 1e-09 s reached after epoch 1"}


def test_log_throughput_weights_epochs_by_their_time():
    log = [{"seconds": 2.0, "samples_per_second": 10.0},
           {"seconds": 1.0, "samples_per_second": 40.0}]
    tp = bench.log_throughput(log)
    assert tp["train_samples_per_s"] == pytest.approx(20.0)  # 60 samples in 3 s
    assert tp["train_samples_per_s_after_epoch1"] == pytest.approx(40.0)
    assert (tp["train_seconds"], tp["epochs_run"]) == (3.0, 2)


def test_print_table_is_markdown(capsys):
    bench.print_table(["model", "error"], [["fno", "0.1000"], ["lsm", 0.2]])
    bench.print_table(["N", "x"], [[4, 1]], left=0)
    assert capsys.readouterr().out == ("\n| model | error |\n|---|---:|\n| fno | 0.1000 |\n"
                                       "| lsm | 0.2 |\n\n| N | x |\n|---:|---:|\n| 4 | 1 |\n")
