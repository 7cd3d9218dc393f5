"""Shared set-up of the neural-operator benchmarks (``benchmarks/operators*.py``, CPU and CUDA).

* ``operator_parser`` / ``add_training_args`` / ``parse``: the command line every
  script starts from (``--quick``, ``--paper``, ``--data-dir``, the device options
  of ``add_device_args``, the data and optimiser options with the script's
  defaults); presets fill what the command line left unset (``apply_presets``).
* ``train_config``: those options as an :class:`operators.trainer.TrainConfig`
  (AdamW, weight decay 1e-4, gradient clipping at 1, seed 0), the same for every model.
* ``darcy_dataset``: the FNO-distribution Darcy file that ``operators.py`` and
  ``operators_models.py`` share; ``ensure_dataset``: ``rom generate`` once, split
  into ``--shard K/N`` processes run side by side and joined with ``rom merge``
  when ``workers > 1``.
* ``random_batch`` / ``adamw_step`` / ``interleaved_step_times``: one training step
  on a fixed batch, timed with the models alternating. Wall time of GPU work is
  only meaningful after ``torch.cuda.synchronize()``; steps are timed in blocks of
  ``block`` with one synchronisation per block (so the timer does not serialise
  the launches).
* ``import_neuralop``: neuraloperator from ``sys.path`` (``PYTHONPATH=/tmp/site``
  on the device machine) or from a separate venv's site-packages; ``None`` if absent.
* ``TimeBudget`` / ``train_with_budget``: stop a run after a wall-time budget
  (the device tool's 10-minute limit per command), recorded in the results;
  ``log_throughput`` / ``held_out_metrics`` / ``print_table`` / ``write_json``: what the
  scripts report.
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
import tempfile
import time
from collections.abc import Callable, Collection
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch

from operators.losses import relative_l2
from operators.trainer import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
COMPILE_CHOICES = ("none", "default", "reduce-overhead", "max-autotune")


# ---------------------------------------------------------------- command line
def operator_parser(doc: str, paper: str) -> argparse.ArgumentParser:
    """The parser every operator benchmark starts from: ``--quick`` (a tiny CPU smoke
    run), ``--paper`` (help text ``paper``), ``--data-dir`` and the device options."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny CPU smoke run (seconds)")
    ap.add_argument("--paper", action="store_true", help=paper)
    ap.add_argument("--data-dir", default=str(Path(tempfile.gettempdir()) / "rom-bench"))
    add_device_args(ap)
    return ap


def add_training_args(ap: argparse.ArgumentParser, *, resolution: int, batch_size: int,
                      lr: float, n_train: int | None = 200, n_test: int = 50,
                      epochs: int | None = 4, rounds: int | None = None) -> None:
    """Data and optimiser options with this script's defaults: ``--n-train`` (``None``:
    not an option), ``--n-test``, ``--resolution``, ``--batch-size``, ``--lr``; with
    ``epochs`` the schedule (``--epochs``, ``--scheduler``, ``--step-size``, ``--gamma``);
    with ``rounds`` the step timing (``--rounds``, ``--block``)."""
    if n_train is not None:
        ap.add_argument("--n-train", type=int, default=n_train)
    ap.add_argument("--n-test", type=int, default=n_test)
    ap.add_argument("--resolution", type=int, default=resolution)
    ap.add_argument("--batch-size", type=int, default=batch_size)
    ap.add_argument("--lr", type=float, default=lr)
    if epochs is not None:
        ap.add_argument("--epochs", type=int, default=epochs)
        ap.add_argument("--scheduler", default="cosine", choices=("cosine", "step", "none"))
        ap.add_argument("--step-size", type=int, default=100)
        ap.add_argument("--gamma", type=float, default=0.5)
    if rounds is not None:
        ap.add_argument("--rounds", type=int, default=rounds)
        ap.add_argument("--block", type=int, default=0,
                        help="steps per timed block (0: 1 on cpu, 50 on cuda)")


def parse(ap: argparse.ArgumentParser, argv: list[str] | None,
          presets: dict[str, dict[str, Any]], models: Collection[str] | None = None
          ) -> argparse.Namespace:
    """Parse ``argv``, apply the enabled presets (``--quick``, ``--paper``), resolve
    ``--block 0`` to 1 step on the CPU, 50 on CUDA, and with ``models`` (the valid
    names) turn ``--models a,b`` into a list of them (otherwise a usage error)."""
    args = ap.parse_args(argv)
    apply_presets(args, argv, presets)
    if getattr(args, "block", None) == 0:
        args.block = 50 if args.device == "cuda" else 1
    if models is not None:
        args.models = [m.strip() for m in args.models.split(",") if m.strip()]
        unknown = sorted(set(args.models) - set(models))
        if unknown or not args.models:
            ap.error(f"--models: unknown {unknown}; valid: {', '.join(models)}")
    return args


def apply_presets(args: argparse.Namespace, argv: list[str] | None,
                  presets: dict[str, dict[str, Any]]) -> None:
    """Set each enabled preset's (``args.<flag>`` true) values, except options given
    explicitly on the command line (``--paper --epochs 100`` trains 100 epochs)."""
    tokens = sys.argv[1:] if argv is None else argv
    given = {t[2:].split("=")[0].replace("-", "_") for t in tokens if t.startswith("--")}
    for flag, preset in presets.items():
        if getattr(args, flag):
            vars(args).update({k: v for k, v in preset.items() if k not in given})


def train_config(args: argparse.Namespace, **overrides: Any) -> TrainConfig:
    """The optimisation settings shared by every model of a run: the script's options
    (epochs, batch size, lr, schedule, device, amp, compile, data residency) plus AdamW
    weight decay 1e-4, gradient clipping at 1, seed 0, a checkpoint every epochs/5."""
    fields = {k: getattr(args, k) for k in ("epochs", "batch_size", "lr", "scheduler",
                                            "step_size", "gamma") if hasattr(args, k)}
    fields.update(overrides)
    return TrainConfig(weight_decay=1e-4, grad_clip=1.0, seed=0, quiet=True, amp=args.amp,
                       device=args.device, compile=args.compile,
                       data_on_device=args.data_on_device,
                       checkpoint_every=max(1, fields["epochs"] // 5), **fields)


def add_device_args(ap: argparse.ArgumentParser) -> None:
    """The device, data-generation, budget and output options of every operator benchmark."""
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


# ---------------------------------------------------------------- device and step timing
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


def random_batch(args: argparse.Namespace, device: torch.device
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed random batch ``(x, y)`` of ``args.batch_size`` one-channel square fields."""
    g = torch.Generator().manual_seed(0)
    shape = (args.batch_size, 1, args.resolution, args.resolution)
    return torch.randn(shape, generator=g).to(device), torch.randn(shape, generator=g).to(device)


def adamw_step(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device,
               amp: str = "none", cuda_graphs: bool = False) -> Callable[[], None]:
    """One training step on the batch ``(x, y)`` as a callable to time: forward under
    ``amp``, relative L2 loss, backward, AdamW (fused on CUDA). ``cuda_graphs`` marks each
    step's start for CUDA-graph replay (``--compile reduce-overhead``)."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4,
                            fused=True if device.type == "cuda" else None)
    mark = cuda_graphs and device.type == "cuda"

    def step() -> None:
        if mark:
            torch.compiler.cudagraph_mark_step_begin()
        with autocast(device, amp):
            loss = relative_l2(model(x).float(), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


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


# ---------------------------------------------------------------- baseline and data
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


def darcy_dataset(args: argparse.Namespace) -> Path:
    """The Darcy file (FNO distribution, ``n_train + n_test`` samples, seed 0) that the
    FNO and the model-comparison benchmarks share."""
    n = args.n_train + args.n_test
    return ensure_dataset(Path(args.data_dir) / f"darcy{args.resolution}_n{n}.h5", "darcy", n,
                          args.resolution, seed=0, workers=args.workers)


def _pythonpath() -> str:
    parts = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return os.pathsep.join(dict.fromkeys(parts))


# ---------------------------------------------------------------- training runs and results
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


def held_out_metrics(record: dict[str, Any]) -> dict[str, Any]:
    """Mean and median test relative L2 error and the test count of an evaluation record."""
    return {"test_rel_l2_mean": record["rel_l2"]["mean"],
            "test_rel_l2_median": record["rel_l2"]["median"], "n_test": record["n_samples"]}


def print_table(header: list[str], rows: list[list[Any]], left: int = 1) -> None:
    """A Markdown table after a blank line: the first ``left`` columns left-aligned, the
    others right-aligned; cells are printed as given (format them first)."""
    print("\n| " + " | ".join(header) + " |")
    print("|" + "|".join("---" if i < left else "---:" for i in range(len(header))) + "|")
    for row in rows:
        print("| " + " | ".join(map(str, row)) + " |")


def write_json(result: dict[str, Any], path: str | None) -> None:
    print(json.dumps(result), flush=True)
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(result, indent=2))
