"""FNO, LSM and scOT (1-D) on viscous Burgers: one protocol, one table (CPU).

Protocol (the data, split and training loop of ``benchmarks/operators_burgers.py``)
    Data: the ``burgers`` problem (periodic [0, 1), ν = 0.1, T = 1,
    u₀ ~ N(0, 625(−Δ + 25 I)⁻²)) solved at 2,048 nodes by that script
    (``--source``, copied into ``--data-dir`` first, never written in place) and
    subsampled by striding to s = 1,024 with its ``subsampled()`` helper;
    the same seeded split into 1,000 training and 200 test samples.
    Training (every model): ``operators.training.train_operator`` (what
    ``rom train KIND`` runs), batch 20, AdamW lr 1e-3 / weight decay 1e-4, lr halved
    every ``epochs / 5`` epochs (5 of 25), relative L2 loss, no gradient clipping,
    normalised inputs and outputs, one torch thread, the models one after another
    in one process.
    Models (parameter counts within 3 % of the FNO's):
      * ``fno``  -- the reference row: 4 Fourier layers, 16 modes, width 64 (the paper's);
      * ``lsm``  -- rom's LSM defaults (width 16, 4 latent tokens, 8 basis frequencies,
        patches of 4, 3 levels), 1-D convolutions;
      * ``scot`` -- a small 1-D scOT: embed 56, depths 2-2, heads 4-8, windows of 16
        tokens, patches of 4, MLP ratio 4, one ConvNeXt skip block.

Method: a trainer callback after every epoch stops the clock, measures the test
error (mean relative L2 over the 200 test samples) and restarts it, so the train
wall time excludes the test evaluations but includes rom's data loading, logging
and checkpoint writes. Each model is first warmed up (one epoch on 60 samples,
not measured). samples/s = epochs × 1,000 / train wall s.

Zero-shot at 2,048 nodes: ``rom evaluate MODEL test2048.h5 --resolution 2048``
for every model; it succeeds only for the resolution-invariant FNO (LSM and
scOT convolve over and patch a fixed number of grid points, so ``rom evaluate``
refuses them: the refusal is recorded). For information the LSM/scOT weights are
also applied directly to the 2,048-node inputs (the operator they then apply is
not the trained one: their kernels span half the physical length).

    python benchmarks/operators_burgers_models.py --quick     # smoke run (~1 minute)
    python benchmarks/operators_burgers_models.py             # 25 epochs, s = 1024

writes benchmarks/results/operators_burgers_models.md (``--quick``: ..._quick.md) and its JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import operator_common as bench  # noqa: E402
from operators_burgers import ARCH as FNO_ARCH  # noqa: E402
from operators_burgers import subsampled, test_error, test_tensors  # noqa: E402

from data.torch_dataset import split_indices  # noqa: E402
from operators.registry import model_class  # noqa: E402
from operators.trainer import TrainConfig  # noqa: E402
from operators.training import load_model, train_operator  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
#: The architectures compared (parameter counts: 549,569 / 535,905 / 547,225).
MODELS: dict[str, dict[str, Any]] = {
    "fno": FNO_ARCH,
    "lsm": {"width": 16, "num_token": 4, "num_basis": 8, "patch_size": 4, "levels": 3},
    "scot": {"embed_dim": 56, "depths": [2, 2], "num_heads": [4, 8], "window_size": 16,
             "patch_size": 4, "mlp_ratio": 4.0, "skip_blocks": 1},
}
SOURCE = "/tmp/rom-bench/burgers2048_n1200.h5"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke run (60 samples, 2 epochs)")
    ap.add_argument("--epochs", type=int, default=25)
    ap.add_argument("--resolution", type=int, default=1024, help="training resolution s")
    ap.add_argument("--zero-shot", type=int, default=2048, help="evaluation resolution")
    ap.add_argument("--models", default="fno,lsm,scot", help="comma separated kinds")
    ap.add_argument("--n-train", type=int, default=1000)
    ap.add_argument("--n-test", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--seed", type=int, default=0, help="seed of the split and the weights")
    ap.add_argument("--source", default=SOURCE,
                    help="the 2,048-node file of benchmarks/operators_burgers.py (read only)")
    ap.add_argument("--wait", type=float, default=0.0,
                    help="seconds to wait for --source to appear (it may still be generated)")
    ap.add_argument("--data-dir", default="/tmp/rom-bench-d")
    ap.add_argument("--out", default=None, help="results file (default benchmarks/results/...)")
    ap.add_argument("--arch", action="append", default=[], metavar="KIND.KEY=JSON",
                    help="override one architecture keyword, e.g. scot.patch_size=16 (repeatable)")
    ap.add_argument("--note", default="", help="a sentence on the machine's load for the report")
    args = ap.parse_args(argv)
    if args.quick:
        args.epochs, args.n_train, args.n_test, args.resolution = 2, 48, 12, 256
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = set(args.models) - set(MODELS)
    if unknown:
        ap.error(f"unknown model(s) {sorted(unknown)}; valid: {', '.join(MODELS)}")
    if args.epochs < 1 or args.n_train < 1 or args.n_test < 1:
        ap.error("--epochs, --n-train and --n-test must be >= 1")
    args.archs = {kind: dict(MODELS[kind]) for kind in args.models}
    for item in args.arch:
        key, sep, value = item.partition("=")
        kind, dot, name = key.partition(".")
        if not sep or not dot or kind not in args.archs or name not in MODELS[kind]:
            ap.error(f"--arch {item!r}: expected KIND.KEY=JSON with KIND in --models and KEY "
                     "an architecture keyword of it")
        try:
            args.archs[kind][name] = json.loads(value)
        except json.JSONDecodeError:
            ap.error(f"--arch {item!r}: {value!r} is not JSON")
    return args


def local_copy(args: argparse.Namespace) -> Path:
    """``--source`` copied into ``--data-dir`` (once); the source is never written."""
    src = Path(args.source)
    deadline = time.monotonic() + args.wait
    while not src.exists() and time.monotonic() < deadline:
        time.sleep(10)
    if not src.exists():
        raise SystemExit(f"{src}: no such file (generate it with benchmarks/operators_burgers.py)")
    dst = Path(args.data_dir) / src.name
    if not dst.exists():
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst.with_suffix(".part"))
        dst.with_suffix(".part").rename(dst)
    return dst


def train_config(args: argparse.Namespace, epochs: int) -> TrainConfig:
    """The schedule of benchmarks/operators_burgers.py (lr halved every epochs / 5)."""
    return TrainConfig(epochs=epochs, batch_size=args.batch_size, lr=1e-3, weight_decay=1e-4,
                       scheduler="step", step_size=max(1, epochs // 5), gamma=0.5,
                       grad_clip=0.0, loss="l2", seed=args.seed, quiet=True,
                       checkpoint_every=max(1, epochs // 5))


def train_one(kind: str, data: Path, model_dir: Path, args: argparse.Namespace) -> dict:
    """Train ``kind`` by ``train_operator`` and time it epoch by epoch (test error off the clock)."""
    n = args.n_train + args.n_test
    config = train_config(args, args.epochs)
    split = split_indices(n, 0.0, args.n_test / n, config.seed)
    xte, yte = test_tensors(data, split["test"])
    curve: list[tuple[float, float]] = []
    state = {"mark": time.perf_counter()}

    def hook(trainer, record) -> None:
        elapsed = time.perf_counter() - state["mark"]
        model = trainer.model
        model.eval()
        curve.append((elapsed, test_error(lambda x: model(x, None), xte, yte)))
        model.train()
        if record["epoch"] % max(1, args.epochs // 5) == 0 or record["epoch"] == 1:
            print(f"  {kind} epoch {record['epoch']}: test rel L2 {curve[-1][1]:.4f} "
                  f"({elapsed:.1f} s)", flush=True)
        state["mark"] = time.perf_counter()

    if model_dir.exists():  # a fresh run (the directory is this script's own)
        shutil.rmtree(model_dir)
    torch.manual_seed(args.seed)
    state["mark"] = time.perf_counter()
    train_operator(kind, data, model_dir, arch=args.archs[kind], config=config, val_fraction=0.0,
                   test_fraction=args.n_test / n, callbacks=(hook,))
    meta = json.loads((model_dir / "model.json").read_text())
    if meta["split"]["test"] != split["test"]:
        raise SystemExit(f"{kind}: rom's split differs from the benchmark's")
    seconds = sum(t for t, _ in curve)
    return {"kind": kind, "arch": args.archs[kind], "parameters": meta["parameters"],
            "resolution_invariant": bool(model_class(kind).RESOLUTION_INVARIANT),
            "test_rel_l2": curve[-1][1], "train_seconds": seconds,
            "samples_per_s": args.n_train * len(curve) / seconds,
            "test_curve": [e for _, e in curve], "epoch_seconds": [t for t, _ in curve]}


def zero_shot(kind: str, model_dir: Path, test_file: Path, args: argparse.Namespace) -> dict:
    """``rom evaluate MODEL test.h5 --resolution R`` (a refusal is recorded), and the weights
    applied directly at R for a model that is not resolution-invariant."""
    r = args.zero_shot
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    out = subprocess.run([*bench.rom_command(), "evaluate", str(model_dir), str(test_file),
                          "--resolution", str(r), "--json"], capture_output=True, text=True,
                         cwd=ROOT, env=env)
    row: dict[str, Any] = {"resolution": r}
    if out.returncode == 0:
        row["rom_evaluate"] = json.loads(out.stdout)["rel_l2"]["mean"]
    else:
        row["refused"] = (out.stderr.strip().splitlines() or ["(no message)"])[-1]
        wrapper, meta = load_model(model_dir)
        x, y = test_tensors(test_file, list(range(len(meta["split"]["test"]))))
        row["direct"] = test_error(lambda v: wrapper(v, None), x, y)
    return row


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())


def render(result: dict) -> list[str]:
    """The Markdown report of one run."""
    s = result["setting"]
    a = argparse.Namespace(**s["args"])
    lines = ["# Burgers 1-D: rom's FNO, LSM and scOT under one protocol (CPU)", "",
             f"Command: `{s['command']}`  ",
             f"Machine: {s['machine']}; torch {s['torch']}; torch threads {a.threads}; "
             "`nice -n 5`, OMP_NUM_THREADS=1  ",
             f"uptime before: `{s['uptime_before']}`  ",
             f"uptime after: `{s['uptime_after']}`  ",
             f"Load: {os.cpu_count()} cores shared with other jobs. {s['note']}  ",
             f"Run: s = {a.resolution}, {a.n_train} train / {a.n_test} test samples (the split "
             f"of benchmarks/operators_burgers.py, seed {a.seed}), {a.epochs} epochs, lr 1e-3 "
             f"halved every {max(1, a.epochs // 5)} epochs, batch {a.batch_size}, AdamW, "
             "relative L2 loss; the models trained one after another by "
             "`operators.training.train_operator` (module docstring of "
             "benchmarks/operators_burgers_models.py).  ",
             f"Data: {s['data']}", "",
             f"| model | parameters | test rel. L2 | / FNO | train wall s | samples/s | "
             f"zero-shot at {a.zero_shot} |", "|---|---:|---:|---:|---:|---:|---|"]
    runs = result["runs"]
    ref = runs.get("fno", {}).get("test_rel_l2")
    for kind, run in runs.items():
        z = run.get("zero_shot", {})
        if "rom_evaluate" in z:
            zs = f"{z['rom_evaluate']:.4f} (`rom evaluate --resolution`)"
        elif "refused" in z:
            zs = f"not resolution-invariant: refused; weights applied directly {z['direct']:.4f}"
        else:
            zs = "-"
        ratio = f"{run['test_rel_l2'] / ref:.2f}" if ref else "-"
        lines.append(f"| {kind} | {run['parameters']} | {run['test_rel_l2']:.4f} | {ratio} | "
                     f"{run['train_seconds']:.0f} | {run['samples_per_s']:.0f} | {zs} |")
    marks = sorted({e for e in range(max(1, a.epochs // 5), a.epochs + 1, max(1, a.epochs // 5))}
                   | {1, a.epochs})
    lines += ["", "Test rel. L2 by epoch:", "",
              "| model | " + " | ".join(f"epoch {e}" for e in marks) + " |",
              "|---|" + "---:|" * len(marks)]
    for kind, run in runs.items():
        lines.append(f"| {kind} | " + " | ".join(f"{run['test_curve'][e - 1]:.4f}"
                                                 for e in marks) + " |")
    refusals = {z["refused"] for r in runs.values() if "refused" in (z := r.get("zero_shot", {}))}
    if refusals:
        lines += ["", "`rom evaluate --resolution` on the models that are not "
                  "resolution-invariant: " + "; ".join(f"`{m}`" for m in sorted(refusals))]
    lines += ["", "Architectures: " + "; ".join(f"{k}: `{json.dumps(r['arch'])}`"
                                                 for k, r in runs.items()), ""]
    return lines


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    before = uptime()
    full = local_copy(args)
    n = args.n_train + args.n_test
    indices = list(range(n)) if args.quick else None
    data = subsampled(full, args.resolution, indices)
    warm_data = subsampled(full, args.resolution, list(range(60)))
    split = split_indices(n, 0.0, args.n_test / n, args.seed)
    test_file = subsampled(full, args.zero_shot, split["test"] if indices is None
                           else [indices[i] for i in split["test"]])
    result: dict[str, Any] = {"setting": {
        "command": "python benchmarks/operators_burgers_models.py "
                   + " ".join(sys.argv[1:] if argv is None else argv),
        "args": vars(args), "machine": f"{platform.processor() or platform.machine()}, "
                                        f"{os.cpu_count()} cores",
        "torch": torch.__version__, "uptime_before": before, "note": args.note,
        "data": f"{Path(args.source).name} (2,048 nodes, from benchmarks/operators_burgers.py), "
                f"copied to {full.parent}, strided to s = {args.resolution} "
                f"({data.name}); zero-shot file {test_file.name}."}, "runs": {}}
    warm_args = argparse.Namespace(**{**vars(args), "epochs": 1, "n_train": 48, "n_test": 12})
    for kind in args.models:
        train_one(kind, warm_data, Path(args.data_dir) / f"warmup_{kind}", warm_args)
        print(f"== {kind}: {args.epochs} epochs at s = {args.resolution}", flush=True)
        tag = "_arch" if args.arch else ""
        model_dir = Path(args.data_dir) / f"burgers_{kind}_s{args.resolution}_e{args.epochs}{tag}"
        run = train_one(kind, data, model_dir, args)
        run["zero_shot"] = zero_shot(kind, model_dir, test_file, args)
        result["runs"][kind] = run
        print(json.dumps({k: v for k, v in run.items() if k not in ("test_curve",
                                                                    "epoch_seconds")}),
              flush=True)
    result["setting"]["uptime_after"] = uptime()
    name = "operators_burgers_models_quick.md" if args.quick else "operators_burgers_models.md"
    out = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1, default=str))
    out.write_text("\n".join(render(result)))
    print(f"wrote {out}", flush=True)
    return result


if __name__ == "__main__":
    main()
