"""Shared pieces of the neural-operator benchmarks (CPU and CUDA).

* ``add_device_args`` / ``train_config``: ``--device cpu|cuda``, ``--amp``,
  ``--compile``, ``--data-on-device`` mapped onto :class:`operators.trainer.TrainConfig`.
* ``synchronize`` / ``timed_steps``: wall time of GPU work is only meaningful
  after ``torch.cuda.synchronize()``; steps are timed in blocks of ``k`` with one
  synchronisation per block (so the timer does not serialise the launches).
* ``import_neuralop``: neuraloperator from ``sys.path`` (``PYTHONPATH=/tmp/site``
  on the device machine) or from a separate venv's site-packages; ``None`` if absent.
* ``ensure_dataset``: ``rom generate`` once, split into ``--shard K/N`` processes
  run side by side and joined with ``rom merge`` when ``workers > 1``.
* ``TimeBudget``: a trainer callback that stops a run after a wall-time budget
  (the device tool's 10-minute limit per command), recorded in the results.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[2]
COMPILE_CHOICES = ("none", "default", "reduce-overhead", "max-autotune")


def add_device_args(ap: argparse.ArgumentParser) -> None:
    """The options shared by every operator benchmark."""
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--amp", default="none", choices=("none", "bf16", "fp16"),
                    help="autocast dtype (FFTs stay float32)")
    ap.add_argument("--compile", nargs="?", const="reduce-overhead", default="none",
                    choices=COMPILE_CHOICES,
                    help="torch.compile our models (bare flag: reduce-overhead = CUDA graphs)")
    ap.add_argument("--data-on-device", action="store_true",
                    help="keep the whole training set in device memory")
    ap.add_argument("--workers", type=int, default=1,
                    help="processes generating the data side by side (rom generate --shard)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--tf32", action="store_true",
                    help="allow TF32 for float32 matrix products on CUDA (both sides)")
    ap.add_argument("--budget-s", type=float, default=0.0,
                    help="stop each training run after this many seconds (0: no limit)")
    ap.add_argument("--json", dest="json_out", default=None, help="also write results here")


def setup(args: argparse.Namespace) -> torch.device:
    """Thread count, device check (one-line error without CUDA), TF32 only with ``--tf32``."""
    torch.set_num_threads(args.threads)
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    torch.backends.cudnn.allow_tf32 = args.tf32
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda but torch sees no CUDA device")
    if args.amp == "fp16" and args.device != "cuda":
        raise SystemExit("error: --amp fp16 needs --device cuda (use bf16 on cpu)")
    return torch.device(args.device)


def device_info(device: torch.device) -> dict[str, Any]:
    info = {"device": str(device), "torch": torch.__version__,
            "tf32": torch.backends.cuda.matmul.allow_tf32}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    else:
        info["cpu_threads"] = torch.get_num_threads()
    return info


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def autocast(device: torch.device, amp: str):
    if amp == "none":
        return nullcontext()
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def compile_model(model: torch.nn.Module, mode: str) -> torch.nn.Module:
    """``torch.compile`` with static shapes (``mode`` ``none`` returns the model)."""
    if mode == "none":
        return model
    return torch.compile(model, dynamic=False, **({} if mode == "default" else {"mode": mode}))


def interleaved_step_times(steps: dict[str, Callable[[], None]], rounds: int, block: int,
                           device: torch.device) -> dict[str, float]:
    """Median seconds per call of each ``steps[name]``: the callables alternate in blocks of
    ``block`` calls (one synchronisation per block) for ``rounds`` rounds after a warm-up
    round (allocations, FFT plans, compilation), so load changes hit all alike."""
    times: dict[str, list[float]] = {k: [] for k in steps}
    for r in range(rounds + 1):
        for name, fn in steps.items():
            synchronize(device)
            t0 = time.perf_counter()
            for _ in range(block):
                fn()
            synchronize(device)
            if r:
                times[name].append((time.perf_counter() - t0) / block)
    return {k: statistics.median(v) for k, v in times.items()}


def import_neuralop(no_venv: str | None):
    """The ``neuralop`` package (PYTHONPATH, or ``no_venv``'s site-packages) or ``None``."""
    try:
        import neuralop
        return neuralop
    except ImportError:
        pass
    for site in glob.glob(f"{no_venv}/lib/python3*/site-packages") if no_venv else []:
        sys.path.append(site)
        try:
            import neuralop
            return neuralop
        except ImportError as exc:
            print(f"neuraloperator in {site} not importable: {exc}", flush=True)
            sys.path.remove(site)
    print("neuraloperator not found (PYTHONPATH or --no-venv): running rom's side only",
          flush=True)
    return None


def rom_command() -> list[str]:
    exe = Path(sys.executable).with_name("rom")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "cli.main"]


def ensure_dataset(path: Path, problem: str, n: int, resolution: int, seed: int,
                   params: dict[str, Any] | None = None, workers: int = 1) -> Path:
    """``rom generate PROBLEM`` into ``path`` unless it exists; ``workers > 1`` solves
    ``--shard K/N`` chunks in parallel processes and merges them."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    base = [*rom_command(), "generate", problem, "-n", str(n), "--resolution", str(resolution),
            "--seed", str(seed), "--quiet"]
    for k, v in (params or {}).items():
        base += ["--param", f"{k}={v}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": _pythonpath()}
    t0 = time.perf_counter()
    if workers <= 1:
        subprocess.run([*base, "-o", str(path)], check=True, env=env, cwd=ROOT)
    else:
        shards = path.with_name(path.stem + ".parts")
        shutil.rmtree(shards, ignore_errors=True)
        shards.mkdir()
        files = [shards / f"part{k:03d}.h5" for k in range(workers)]
        procs = [subprocess.Popen([*base, "--shard", f"{k}/{workers}", "-o", str(f)], env=env,
                                  cwd=ROOT) for k, f in enumerate(files)]
        if any(p.wait() for p in procs):
            raise SystemExit(f"error: generating {path} failed")
        subprocess.run([*rom_command(), "merge", *map(str, files), "-o", str(path), "--quiet"],
                       check=True, env=env, cwd=ROOT)
        shutil.rmtree(shards)
    print(f"generated {path.name}: {n} samples in {time.perf_counter() - t0:.1f} s "
          f"({workers} process(es))", flush=True)
    return path


def _pythonpath() -> str:
    parts = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return os.pathsep.join(dict.fromkeys(parts))


class BudgetExceeded(Exception):
    """Raised by :class:`TimeBudget` to end a training run early."""


class TimeBudget:
    """Trainer callback: stop after ``seconds`` of wall time (0: never)."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.t0 = seconds, time.perf_counter()

    def __call__(self, trainer, record) -> None:
        if self.seconds and time.perf_counter() - self.t0 > self.seconds:
            raise BudgetExceeded(f"time budget of {self.seconds:g} s reached after epoch "
                                 f"{record['epoch']}")


def train_with_budget(train: Callable[..., dict], budget_s: float, **kw) -> dict[str, Any]:
    """Run ``train(..., callbacks=(TimeBudget,))``; a reached budget is reported, not raised."""
    try:
        return {"stopped": "completed", **train(callbacks=(TimeBudget(budget_s),), **kw)}
    except BudgetExceeded as exc:
        return {"stopped": str(exc)}


def log_throughput(log: list[dict[str, Any]]) -> dict[str, float]:
    """Training samples/s over all epochs (and excluding the first: compilation, warm-up)."""
    out = {"train_seconds": sum(r["seconds"] for r in log), "epochs_run": len(log)}
    for key, recs in (("train_samples_per_s", log), ("train_samples_per_s_after_epoch1", log[1:])):
        secs = sum(r["seconds"] for r in recs)
        if secs > 0:
            out[key] = sum(r["samples_per_second"] * r["seconds"] for r in recs) / secs
    return out


def write_json(result: dict[str, Any], path: str | None) -> None:
    print(json.dumps(result), flush=True)
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(result, indent=2))


def apply_presets(args: argparse.Namespace, argv: list[str] | None,
                  presets: dict[str, dict[str, Any]]) -> None:
    """Set each enabled preset's (``args.<flag>`` true) values, except options given
    explicitly on the command line (``--paper --epochs 100`` trains 100 epochs)."""
    tokens = sys.argv[1:] if argv is None else argv
    given = {t[2:].split("=")[0].replace("-", "_") for t in tokens if t.startswith("--")}
    for flag, preset in presets.items():
        if getattr(args, flag):
            vars(args).update({k: v for k, v in preset.items() if k not in given})
