"""FNO on Darcy flow (the FNO paper's benchmark) side by side with neuraloperator, CPU or CUDA.

Data: ``rom generate darcy`` with the FNO distribution (piecewise a in {12, 3},
f = 1, 85 x 85 nodes), ``n_train + n_test`` samples.

Both FNOs have *exactly* the same parameter count (hidden width 32, 12 + 12 x 13
modes, 4 layers, lifting/projection MLPs of 64 channels, linear skips, no
channel MLP, both padded to 105 x 105 at 85 x 85). Parts (``--part``):

1. ``step`` -- one training step (forward, backward, AdamW) on the same batch,
   the two models alternating in blocks of ``--block`` steps (one device
   synchronisation per block) for ``--rounds`` rounds; median samples/s each
   and their ratio. ``--compile`` compiles ours, ``--compile-neuralop`` theirs.
   ``ops``: operators one eager step dispatches (profiler; CUDA kernel launches on a GPU).
2. ``rom`` -- ``rom``'s full pipeline (``operators.training.train_operator``: HDF5
   dataset, normalisation, AdamW, relative L2 loss, device-side loss sums,
   ``--data-on-device``, ``--compile``, ``--amp``) trains our FNO; test error
   and end-to-end training samples/s from the training log.
3. ``neuraloperator`` -- the same loop written out here (same split, normaliser
   statistics, optimiser, schedule, batch size, epochs, clipping, amp, data
   residency) trains the neuraloperator FNO; needs the ``rom`` part's model
   directory's split and statistics, or recomputes them identically when it is absent.

``--paper``: the FNO paper's Darcy setting -- 1,000 train / 200 test at 85 x 85,
500 epochs, batch 20, lr 1e-3 halved every 100 epochs, weight decay 1e-4.
``--quick``: a tiny CPU smoke run (29 x 29, 24 / 8 samples, 2 epochs).

neuraloperator comes from ``sys.path`` (``PYTHONPATH=/tmp/site`` on the GPU
machine, see ``benchmarks/gpu/run.sh``) or from the venv ``--no-venv``
(``python3 -m venv /tmp/no-venv && /tmp/no-venv/bin/pip install torch==2.13.0
neuraloperator==2.0.0``); without it only rom's side runs and the output says so.

Run: ``.venv/bin/python benchmarks/operators.py [--quick | --paper] [--device cuda]``
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import operator_common as bench  # noqa: E402
from data.dataset import Dataset  # noqa: E402
from data.model_dir import read_model_meta  # noqa: E402
from data.torch_dataset import OperatorDataset, split_indices  # noqa: E402
from operators.evaluation import evaluate  # noqa: E402
from operators.fno import FNO  # noqa: E402
from operators.losses import relative_l2  # noqa: E402
from operators.registry import count_parameters  # noqa: E402
from operators.trainer import TrainConfig, lr_factor, read_log  # noqa: E402
from operators.training import normalizers, train_operator  # noqa: E402

PAPER = {"n_train": 1000, "n_test": 200, "epochs": 500, "batch_size": 20, "lr": 1e-3,
         "scheduler": "step", "step_size": 100, "gamma": 0.5, "resolution": 85}
QUICK = {"n_train": 24, "n_test": 8, "epochs": 2, "batch_size": 8, "rounds": 2, "resolution": 29}
#: our FNO pads 20/85 of each axis at the end; neuraloperator pads 10/85 on both sides
PAD = 20 / 85


def our_arch() -> dict:
    return {"width": 32, "modes": [12, 13], "layers": 4, "lifting_channels": 64,
            "projection_channels": 64, "padding": PAD}


def neuralop_fno(neuralop) -> torch.nn.Module:
    """neuraloperator's FNO with the parameter count of ``our_arch()``."""
    return neuralop.models.FNO(n_modes=(24, 24), in_channels=1, out_channels=1,
                               hidden_channels=32, n_layers=4, lifting_channel_ratio=2,
                               projection_channel_ratio=2, use_channel_mlp=False,
                               domain_padding=PAD / 2)


def neuralop_amp(model, args, device: torch.device) -> str:
    """``args.amp`` if neuraloperator's FNO runs under it (a probe forward pass), else "none"."""
    if args.amp == "none":
        return "none"
    x = torch.randn(2, 1, args.resolution, args.resolution, device=device)
    try:
        with torch.no_grad(), bench.autocast(device, args.amp):
            model.to(device)(x)
        return args.amp
    except RuntimeError as exc:
        print(f"neuraloperator fails under --amp {args.amp} ({str(exc).splitlines()[0]}); "
              "it runs in float32", flush=True)
        return "none"


def step_throughput(ours, theirs, args, device: torch.device) -> dict:
    """Median samples/s of one AdamW training step, the two models alternating."""
    x, y = bench.random_batch(args, device)
    rom = bench.compile_model(ours.to(device), args.compile)
    ref = bench.compile_model(theirs.to(device), args.compile_neuralop)
    steps = {"rom": bench.adamw_step(rom, x, y, device, args.amp,
                                     args.compile == "reduce-overhead"),
             "neuraloperator": bench.adamw_step(ref, x, y, device, args.amp_neuralop,
                                                args.compile_neuralop == "reduce-overhead")}
    med = bench.interleaved_step_times(steps, args.rounds, args.block, device)
    return {"samples_per_s": {k: args.batch_size / v for k, v in med.items()},
            "step_seconds_median": med, "rounds": args.rounds, "block": args.block,
            "compile": {"rom": args.compile, "neuraloperator": args.compile_neuralop},
            "ratio_rom_over_neuraloperator": med["neuraloperator"] / med["rom"]}


def op_counts(ours, theirs, args, device: torch.device) -> dict:
    """Operators dispatched by one eager training step (forward, backward, AdamW) of each
    model, from ``torch.profiler``: top-level ATen calls, and on CUDA the kernel launches.
    At the FNO paper's size a GPU step is launch-bound, so these counts bound its cost."""
    from torch.profiler import ProfilerActivity, profile

    x, y = bench.random_batch(args, device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    out = {}
    for name, model in (("rom", ours), ("neuraloperator", theirs)):
        step = bench.adamw_step(model.to(device), x, y, device,
                                args.amp if name == "rom" else args.amp_neuralop)
        step()
        bench.synchronize(device)
        with profile(activities=activities) as prof:
            step()
            bench.synchronize(device)
        events = prof.events()
        aten = [e for e in events if e.name.startswith("aten::")
                and (e.cpu_parent is None or not e.cpu_parent.name.startswith("aten::"))]
        out[name] = {"aten_top_level": len(aten)}
        if device.type == "cuda":
            out[name]["cuda_kernels"] = sum(1 for e in events
                                            if e.device_type == torch.autograd.DeviceType.CUDA)
    return out


def train_rom(data: Path, model_dir: Path, args, n: int) -> dict:
    """Our FNO through ``operators.training.train_operator``; test metrics and throughput."""
    run = bench.train_with_budget(train_operator, args.budget_s, kind="fno", data_path=data,
                                  out_dir=model_dir, arch=our_arch(),
                                  config=bench.train_config(args),
                                  val_fraction=0.0, test_fraction=args.n_test / n)
    rec = evaluate(model_dir, data, device=args.device, batch_size=args.batch_size)
    return {"stopped": run["stopped"], **bench.log_throughput(read_log(model_dir)),
            **bench.held_out_metrics(rec),
            "inference_s_per_sample": rec["time_per_sample_s"]["model"],
            "solver_s_per_sample": rec["time_per_sample_s"]["solver"],
            "speedup_vs_solver": rec["speedup"]}


def reference_meta(model_dir: Path, data: Path, test_fraction: float, seed: int = 0) -> dict:
    """Split and normalisation of rom's run: its ``model.json`` when present, else recomputed
    exactly as ``operators.training.train_operator`` does (same seed, same statistics)."""
    if (model_dir / "model.json").exists():
        return read_model_meta(model_dir)
    with Dataset(data) as ds:
        done = np.flatnonzero(ds.done)
    split = split_indices(len(done), 0.0, test_fraction, seed, samples=done)
    in_norm, out_norm = normalizers(OperatorDataset(data, indices=split["train"]), seed)
    return {"split": split, "normalization": {"input": in_norm.to_json(),
                                              "output": out_norm.to_json()}}


def train_reference_loop(model, data: Path, meta: dict, config: TrainConfig, args,
                         device: torch.device) -> dict:
    """The loop of operators.trainer written out for a foreign model (same split, statistics,
    optimiser, schedule, clipping, batch order seeds, amp and data residency; the loss is
    summed on the device and read once per epoch)."""
    with Dataset(data) as ds:
        a, u = ds.field("a")[()], ds.field("u")[()]
    norm = meta["normalization"]
    mi, si = norm["input"]["mean"][0], norm["input"]["std"][0] + norm["input"]["eps"]
    mo, so = norm["output"]["mean"][0], norm["output"]["std"][0] + norm["output"]["eps"]
    home = device if args.data_on_device else torch.device("cpu")

    def tensors(idx):
        x = torch.as_tensor(a[idx, None], dtype=torch.float32)
        y = torch.as_tensor(u[idx, None], dtype=torch.float32)
        if home.type == "cpu" and device.type == "cuda":
            return x.pin_memory(), y.pin_memory()
        return x.to(home), y.to(home)

    xtr, ytr = tensors(meta["split"]["train"])
    xte, yte = tensors(meta["split"]["test"])
    model = model.to(device)
    net = bench.compile_model(model, args.compile_neuralop)
    torch.manual_seed(config.seed)
    steps = math.ceil(len(xtr) / config.batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay,
                            fused=True if device.type == "cuda" else None)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor(config, steps))
    seconds, n_seen, t_start, stopped = 0.0, 0, time.perf_counter(), "completed"
    for epoch in range(1, config.epochs + 1):
        perm = torch.randperm(len(xtr), generator=torch.Generator().manual_seed(config.seed + epoch))
        bench.synchronize(device)
        t0 = time.perf_counter()
        model.train()
        total = torch.zeros((), dtype=torch.float64, device=device)
        for s in range(steps):
            idx = perm[s * config.batch_size:(s + 1) * config.batch_size].to(home)
            xb = xtr[idx].to(device, non_blocking=True)
            yb = ytr[idx].to(device, non_blocking=True)
            if args.compile_neuralop == "reduce-overhead" and device.type == "cuda":
                torch.compiler.cudagraph_mark_step_begin()
            with bench.autocast(device, args.amp_neuralop):
                pred = net((xb - mi) / si).float() * so + mo
            loss = relative_l2(pred, yb)
            total += loss.detach().double()
            loss.backward()
            if config.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            opt.step()
            opt.zero_grad(set_to_none=True)
            sched.step()
            n_seen += len(idx)
        mean_loss = float(total) / steps  # one host synchronisation per epoch
        seconds += time.perf_counter() - t0
        if epoch == 1 or epoch % max(1, config.epochs // 10) == 0:
            print(f"  neuraloperator epoch {epoch}: loss {mean_loss:.4f}", flush=True)
        if args.budget_s and time.perf_counter() - t_start > args.budget_s:
            stopped = f"time budget of {args.budget_s:g} s reached after epoch {epoch}"
            break
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model((xte[k:k + 10].to(device) - mi) / si) * so + mo
                          for k in range(0, len(xte), 10)])
    yte = yte.to(device)
    err = (pred - yte).flatten(1).norm(dim=1) / yte.flatten(1).norm(dim=1)
    return {"stopped": stopped, "test_rel_l2_mean": float(err.mean()),
            "test_rel_l2_median": float(err.median()), "train_samples_per_s": n_seen / seconds,
            "train_seconds": seconds, "epochs_run": epoch}


def parse_args(argv=None) -> argparse.Namespace:
    ap = bench.operator_parser(__doc__, paper="the FNO paper's Darcy setting")
    ap.add_argument("--part", default="all",
                    choices=("all", "step", "ops", "rom", "neuraloperator"))
    bench.add_training_args(ap, resolution=85, batch_size=20, lr=3e-3, rounds=7)
    ap.add_argument("--compile-neuralop", nargs="?", const="reduce-overhead", default="none",
                    choices=bench.COMPILE_CHOICES,
                    help="also torch.compile neuraloperator's FNO (a stronger baseline)")
    ap.add_argument("--no-venv", default="/tmp/no-venv", help="venv holding neuraloperator")
    return bench.parse(ap, argv, {"paper": PAPER, "quick": QUICK})


def main(argv=None) -> dict:
    args = parse_args(argv)
    device = bench.setup(args)
    n = args.n_train + args.n_test
    data = bench.darcy_dataset(args)
    torch.manual_seed(0)
    ours = FNO(1, 1, 2, **our_arch())
    neuralop = bench.import_neuralop(args.no_venv)
    result: dict = {"setting": {**vars(args), "arch": our_arch(),
                                "parameters_rom": count_parameters(ours),
                                "neuraloperator": getattr(neuralop, "__version__", None)},
                    "machine": bench.device_info(device)}
    if neuralop is not None:
        result["setting"]["parameters_neuraloperator"] = count_parameters(neuralop_fno(neuralop))
    if neuralop is not None:
        args.amp_neuralop = neuralop_amp(neuralop_fno(neuralop), args, device)
        result["setting"]["amp_neuralop"] = args.amp_neuralop
    if args.part in ("all", "step") and neuralop is not None:
        print("step throughput (interleaved) ...", flush=True)
        torch.manual_seed(0)
        result["step"] = step_throughput(ours, neuralop_fno(neuralop), args, device)
        print(json.dumps(result["step"], indent=1), flush=True)
    if args.part in ("all", "ops") and neuralop is not None:
        torch.manual_seed(0)
        result["ops_per_step"] = op_counts(FNO(1, 1, 2, **our_arch()), neuralop_fno(neuralop),
                                           args, device)
        print(json.dumps(result["ops_per_step"]), flush=True)
    model_dir = Path(args.data_dir) / f"fno_model_{args.resolution}_n{n}"
    if args.part in ("all", "rom"):
        print("training rom FNO ...", flush=True)
        result["rom"] = train_rom(data, model_dir, args, n)
        print(json.dumps(result["rom"], indent=1), flush=True)
    if args.part in ("all", "neuraloperator") and neuralop is not None:
        print("training neuraloperator FNO (same loop settings) ...", flush=True)
        torch.manual_seed(0)
        result["neuraloperator"] = train_reference_loop(
            neuralop_fno(neuralop), data, reference_meta(model_dir, data, args.n_test / n),
            bench.train_config(args), args, device)
        print(json.dumps(result["neuraloperator"], indent=1), flush=True)
    if "rom" in result and "neuraloperator" in result:
        result["ratios"] = {
            "train_throughput_rom_over_neuraloperator":
                result["rom"]["train_samples_per_s"]
                / result["neuraloperator"]["train_samples_per_s"],
            "test_error_rom_over_neuraloperator":
                result["rom"]["test_rel_l2_mean"] / result["neuraloperator"]["test_rel_l2_mean"]}
    bench.write_json(result, args.json_out)
    return result


if __name__ == "__main__":
    main()
