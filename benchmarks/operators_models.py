"""LSM and scOT side by side with FNO (the baseline a user would pick) on Darcy flow.

Data: ``rom generate darcy`` (FNO distribution: piecewise a in {12, 3}, f = 1,
85 x 85 nodes), ``n_train + n_test`` samples; the same file and split for all.

Three models, all through ``rom``'s own pipeline (``operators.api.train_operator``:
normalisation, AdamW + cosine, relative-L2 loss, identical ``TrainConfig``):

* ``fno``  -- the FNO of ``benchmarks/operators.py`` (width 32, 12 x 13 modes,
  4 layers, 64-channel lifting/projection, padded to 105 x 105);
* ``lsm``  -- width 16, 3 levels (4 scales), 4 latent tokens, 12 basis terms,
  4 x 4 patches (padded to 88 x 88);
* ``scot`` -- embed 48, depths [2, 2, 2], heads [3, 6, 12], window 6,
  4 x 4 patches (padded to 96 x 96), lead time t = 0 (steady task).

Measured in one process:

1. **step time** -- one AdamW training step on the same batch, the three models
   alternating for ``--rounds`` rounds (load from other jobs hits all alike);
   medians and their ratio to FNO.
2. **accuracy** -- test relative L2 error after the same number of epochs, and
   the ratio to FNO's; inference seconds per sample from ``operators.api.evaluate``.

``--paper``: 1,000 train / 200 test at 85 x 85, 500 epochs, batch 20, lr 1e-3
halved every 100 epochs (the FNO/LSM papers' Darcy protocol) and LSM at width
32 (the LSM paper's Darcy width). ``--quick``: a tiny CPU smoke run.
``--models lsm`` trains a subset (the GPU runbook trains LSM alone, the FNO in
``benchmarks/operators.py``). ``--device cuda``, ``--amp``, ``--compile`` and
``--data-on-device`` as in ``benchmarks/operators.py``.

Run: ``.venv/bin/python benchmarks/operators_models.py [--quick | --paper] [--device cuda]``
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.gpu.common import (  # noqa: E402
    add_device_args,
    apply_presets,
    autocast,
    compile_model,
    device_info,
    ensure_dataset,
    interleaved_step_times,
    log_throughput,
    setup,
    train_with_budget,
    write_json,
)
from operators.api import evaluate, train_operator  # noqa: E402
from operators.losses import relative_l2  # noqa: E402
from operators.registry import build_model, count_parameters  # noqa: E402
from operators.trainer import TrainConfig, read_log  # noqa: E402

RES = 85
PAPER = {"n_train": 1000, "n_test": 200, "epochs": 500, "batch_size": 20, "lr": 1e-3,
         "scheduler": "step", "step_size": 100, "gamma": 0.5, "resolution": 85}
QUICK = {"n_train": 24, "n_test": 8, "epochs": 2, "batch_size": 8, "rounds": 2, "resolution": 29}
ARCHS = {
    "fno": {"width": 32, "modes": [12, 13], "layers": 4, "lifting_channels": 64,
            "projection_channels": 64, "padding": 20 / RES},
    "lsm": {"width": 16, "levels": 3, "num_token": 4, "num_basis": 12, "patch_size": 4},
    "scot": {"embed_dim": 48, "depths": [2, 2, 2], "num_heads": [3, 6, 12], "window_size": 6,
             "patch_size": 4, "mlp_ratio": 4.0, "skip_blocks": 1},
}


def archs(args: argparse.Namespace) -> dict[str, dict]:
    """The selected models' architectures (FNO padding scaled to the resolution)."""
    out = copy.deepcopy(ARCHS)
    out["fno"]["padding"] = 20 / 85
    if args.paper:
        out["lsm"]["width"] = 32
    return {k: out[k] for k in args.models}


def step_times(args: argparse.Namespace, device: torch.device) -> dict[str, float]:
    """Median seconds of one AdamW step per model, the models alternating in blocks."""
    g = torch.Generator().manual_seed(0)
    shape = (args.batch_size, 1, args.resolution, args.resolution)
    x, y = torch.randn(shape, generator=g).to(device), torch.randn(shape, generator=g).to(device)
    models = {k: compile_model(build_model(k, 1, 1, 2, **a).to(device), args.compile)
              for k, a in archs(args).items()}
    fused = True if device.type == "cuda" else None
    opts = {k: torch.optim.AdamW(m.parameters(), lr=1e-4, fused=fused) for k, m in models.items()}
    graphs = args.compile == "reduce-overhead" and device.type == "cuda"

    def step(k):
        def run():
            if graphs:
                torch.compiler.cudagraph_mark_step_begin()
            with autocast(device, args.amp):
                loss = relative_l2(models[k](x).float(), y)
            loss.backward()
            opts[k].step()
            opts[k].zero_grad(set_to_none=True)
        return run

    return interleaved_step_times({k: step(k) for k in models}, args.rounds, args.block, device)


def train_and_test(kind: str, arch: dict, data: Path, out: Path, config: TrainConfig,
                   test_fraction: float, budget_s: float) -> dict:
    """Train ``kind`` with the shared pipeline; test-split metrics."""
    t0 = time.perf_counter()
    run = train_with_budget(train_operator, budget_s, kind=kind, data_path=data, out_dir=out,
                            arch=arch, config=config, val_fraction=0.0,
                            test_fraction=test_fraction)
    wall = time.perf_counter() - t0
    log = read_log(out)
    rec = evaluate(out, data, device=config.device, batch_size=config.batch_size)
    return {"stopped": run["stopped"], "test_rel_l2_mean": rec["rel_l2"]["mean"],
            "test_rel_l2_median": rec["rel_l2"]["median"], **log_throughput(log),
            "wall_seconds": wall, "final_train_loss": log[-1]["train_loss"],
            "inference_s_per_sample": rec["time_per_sample_s"]["model"], "n_test": rec["n_samples"]}


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny CPU smoke run (seconds)")
    ap.add_argument("--paper", action="store_true", help="the papers' Darcy setting")
    ap.add_argument("--models", default="fno,lsm,scot", help="comma-separated subset")
    ap.add_argument("--n-train", type=int, default=200)
    ap.add_argument("--n-test", type=int, default=50)
    ap.add_argument("--resolution", type=int, default=RES)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=10)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--scheduler", default="cosine", choices=("cosine", "step", "none"))
    ap.add_argument("--step-size", type=int, default=100)
    ap.add_argument("--gamma", type=float, default=0.5)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--block", type=int, default=0,
                    help="steps per timed block (0: 1 on cpu, 50 on cuda)")
    ap.add_argument("--data-dir", default=str(Path(tempfile.gettempdir()) / "rom-bench"))
    add_device_args(ap)
    args = ap.parse_args(argv)
    apply_presets(args, argv, {"paper": PAPER, "quick": QUICK})
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = sorted(set(args.models) - set(ARCHS))
    if unknown or not args.models:
        ap.error(f"--models: unknown {unknown}; valid: {', '.join(ARCHS)}")
    args.block = args.block or (50 if args.device == "cuda" else 1)
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    device = setup(args)
    n = args.n_train + args.n_test
    data = ensure_dataset(Path(args.data_dir) / f"darcy{args.resolution}_n{n}.h5", "darcy", n,
                          args.resolution, seed=0, workers=args.workers)
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                         weight_decay=1e-4, scheduler=args.scheduler, step_size=args.step_size,
                         gamma=args.gamma, grad_clip=1.0, seed=0, quiet=True, amp=args.amp,
                         device=args.device, compile=args.compile,
                         data_on_device=args.data_on_device,
                         checkpoint_every=max(1, args.epochs // 5))
    chosen = archs(args)
    params = {k: count_parameters(build_model(k, 1, 1, 2, **a)) for k, a in chosen.items()}
    result: dict = {"setting": {**vars(args), "archs": chosen, "parameters": params},
                    "machine": device_info(device)}
    print("step time (models alternating) ...", flush=True)
    steps = step_times(args, device)
    result["step_seconds_median"] = steps
    base = "fno" if "fno" in steps else args.models[0]
    result["step_time_ratio_vs_" + base] = {k: v / steps[base] for k, v in steps.items()}
    print(json.dumps(result["step_seconds_median"]), flush=True)
    for kind, arch in chosen.items():
        print(f"training {kind} ...", flush=True)
        torch.manual_seed(0)
        result[kind] = train_and_test(kind, arch, data,
                                      Path(args.data_dir) / f"models_{kind}_{args.resolution}_n{n}",
                                      config, args.n_test / n, args.budget_s)
        print(json.dumps(result[kind]), flush=True)
    err = {k: result[k]["test_rel_l2_mean"] for k in chosen}
    result["error_ratio_vs_" + base] = {k: v / err[base] for k, v in err.items()}
    print(f"\n| model | parameters | step s (ratio to {base}) | test rel. L2 (ratio to {base}) | "
          "train samples/s |")
    print("|---|---:|---:|---:|---:|")
    for k in chosen:
        print(f"| {k} | {params[k]:,} | {steps[k]:.4f} "
              f"({result['step_time_ratio_vs_' + base][k]:.2f}x) | {err[k]:.4f} "
              f"({result['error_ratio_vs_' + base][k]:.2f}x) | "
              f"{result[k].get('train_samples_per_s', float('nan')):.1f} |")
    write_json(result, args.json_out)
    return result


if __name__ == "__main__":
    main()
