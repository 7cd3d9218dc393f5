"""LSM and scOT side by side with FNO (the baseline a user would pick) on Darcy flow.

Data: ``rom generate darcy`` (FNO distribution: piecewise a in {12, 3}, f = 1,
85 x 85 nodes), ``n_train + n_test`` samples; the same file and split for all.

Three models, all through ``rom``'s own pipeline (``operators.training.train_operator``:
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
   the ratio to FNO's; inference seconds per sample from ``operators.evaluation.evaluate``.

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
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import operator_common as bench  # noqa: E402
from operators.evaluation import evaluate  # noqa: E402
from operators.registry import build_model, count_parameters  # noqa: E402
from operators.trainer import TrainConfig, read_log  # noqa: E402
from operators.training import train_operator  # noqa: E402

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
    x, y = bench.random_batch(args, device)
    models = {k: bench.compile_model(build_model(k, 1, 1, 2, **a).to(device), args.compile)
              for k, a in archs(args).items()}
    steps = {k: bench.adamw_step(m, x, y, device, args.amp, args.compile == "reduce-overhead")
             for k, m in models.items()}
    return bench.interleaved_step_times(steps, args.rounds, args.block, device)


def train_and_test(kind: str, arch: dict, data: Path, out: Path, config: TrainConfig,
                   test_fraction: float, budget_s: float) -> dict:
    """Train ``kind`` with the shared pipeline; test-split metrics."""
    t0 = time.perf_counter()
    run = bench.train_with_budget(train_operator, budget_s, kind=kind, data_path=data,
                                  out_dir=out, arch=arch, config=config, val_fraction=0.0,
                                  test_fraction=test_fraction)
    wall = time.perf_counter() - t0
    log = read_log(out)
    rec = evaluate(out, data, device=config.device, batch_size=config.batch_size)
    return {"stopped": run["stopped"], **bench.held_out_metrics(rec), **bench.log_throughput(log),
            "wall_seconds": wall, "final_train_loss": log[-1]["train_loss"],
            "inference_s_per_sample": rec["time_per_sample_s"]["model"]}


def parse_args(argv=None) -> argparse.Namespace:
    ap = bench.operator_parser(__doc__, paper="the papers' Darcy setting")
    ap.add_argument("--models", default="fno,lsm,scot", help="comma-separated subset")
    bench.add_training_args(ap, resolution=RES, batch_size=10, lr=2e-3, rounds=5)
    return bench.parse(ap, argv, {"paper": PAPER, "quick": QUICK}, models=ARCHS)


def main(argv=None) -> dict:
    args = parse_args(argv)
    device = bench.setup(args)
    data = bench.darcy_dataset(args)
    n = args.n_train + args.n_test
    config = bench.train_config(args)
    chosen = archs(args)
    params = {k: count_parameters(build_model(k, 1, 1, 2, **a)) for k, a in chosen.items()}
    result: dict = {"setting": {**vars(args), "archs": chosen, "parameters": params},
                    "machine": bench.device_info(device)}
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
    bench.print_table(
        ["model", "parameters", f"step s (ratio to {base})", f"test rel. L2 (ratio to {base})",
         "train samples/s"],
        [[k, f"{params[k]:,}",
          f"{steps[k]:.4f} ({result['step_time_ratio_vs_' + base][k]:.2f}x)",
          f"{err[k]:.4f} ({result['error_ratio_vs_' + base][k]:.2f}x)",
          f"{result[k].get('train_samples_per_s', float('nan')):.1f}"] for k in chosen])
    bench.write_json(result, args.json_out)
    return result


if __name__ == "__main__":
    main()
