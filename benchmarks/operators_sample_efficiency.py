"""scOT sample efficiency: pretrained + fine-tuned vs trained from scratch vs FNO (Poseidon's study).

Pretraining: scOT on ``--pretrain`` trajectories of 2-D Navier-Stokes
(``navier_stokes``, nu = 1e-4, periodic, states at t = 0, 1, ..., 5), all2all
pairs with the lead time as the norms' condition (Poseidon's recipe).

Held-out task: the periodic wave equation with a variable speed c(x)
(``wave --param bc=periodic``: inputs c and u0, states at t = 0, 0.2, ..., 1),
which pretraining never saw. For each number N of training trajectories
(``--sizes``, default 32, 64, 128, 256, 512) three models train on the same N
trajectories for the same number of optimiser steps (``--steps``, so every N
costs the same compute) and are scored on the same ``--n-test`` held-out
trajectories:

* ``scot_finetuned`` -- ``train_operator("scot", init=PRETRAINED)``: weights
  from pretraining, embedding/recovery replaced (2 input channels: u and c);
* ``scot_scratch``   -- the same architecture from a random initialisation;
* ``fno``            -- FNO (width 32, 12 modes, 4 layers, lead-time channel).

Metric: relative L2 of the direct prediction u(t_j) = G(u0, c, t_j) over the 5
predicted states (``operators.evaluation``, all2all "direct" rollout), mean over
the test trajectories, and the median relative L1 in % (Poseidon's convention).

``--paper``: 32 x 32, pretraining on 1,024 trajectories for 6,000 steps, sizes 32..512,
1,500 steps each, 128 test trajectories. ``--quick``: 16 x 16, sizes 4 and 8,
a few steps (a CPU smoke run, not an accuracy result).

Run: ``.venv/bin/python benchmarks/operators_sample_efficiency.py [--quick | --paper] [--device cuda]``
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import operator_common as bench  # noqa: E402
from data.torch_dataset import OperatorDataset  # noqa: E402
from operators.evaluation import evaluate  # noqa: E402
from operators.trainer import TrainConfig  # noqa: E402
from operators.training import train_operator  # noqa: E402

N_OUT = 5
PRETRAIN = ("navier_stokes", {"nu": 1e-4, "t_final": 5.0, "n_out": N_OUT, "dt": 1e-3})
TASK = ("wave", {"bc": "periodic", "t_final": 1.0, "n_out": N_OUT})
ARCHS = {
    "scot": {"embed_dim": 48, "depths": [2, 2, 2], "num_heads": [3, 6, 12], "window_size": 4,
             "patch_size": 2, "mlp_ratio": 4.0, "skip_blocks": 1},
    "fno": {"width": 32, "modes": 12, "layers": 4, "projection_channels": 64, "padding": 0.0},
}
PAPER = {"resolution": 32, "pretrain": 1024, "pretrain_steps": 6000, "sizes": "32,64,128,256,512",
         "steps": 1500, "n_test": 128, "batch_size": 32}
QUICK = {"resolution": 16, "pretrain": 8, "pretrain_steps": 6, "sizes": "4,8", "steps": 4,
         "n_test": 4, "batch_size": 8}


def epochs_for(steps: int, data: Path, batch_size: int) -> int:
    """Epochs giving at least ``steps`` optimiser steps on all2all pairs of ``data``."""
    pairs = len(OperatorDataset(data, time_mode="all2all"))
    return max(1, math.ceil(steps / math.ceil(pairs / batch_size)))


def config_for(args, steps: int, data: Path) -> TrainConfig:
    """The shared settings (cosine schedule) for ``steps`` optimiser steps on ``data``."""
    return bench.train_config(args, epochs=epochs_for(steps, data, args.batch_size),
                              scheduler="cosine")


def fit(kind: str, data: Path, out: Path, config: TrainConfig, budget_s: float,
        init: Path | None = None) -> dict:
    torch.manual_seed(0)
    return bench.train_with_budget(train_operator, budget_s, kind=kind, data_path=data,
                                   out_dir=out, arch=None if init else ARCHS[kind],
                                   config=config, time_mode="all2all", val_fraction=0.0,
                                   test_fraction=0.0, init=init)


def score(model_dir: Path, test: Path, device: str) -> dict:
    rec = evaluate(model_dir, test, device=device)
    return {**bench.held_out_metrics(rec), "median_rel_l1_percent": rec["median_rel_l1_percent"],
            "rel_l2_per_step": rec["rel_l2_per_step"]}


def parse_args(argv=None) -> argparse.Namespace:
    ap = bench.operator_parser(__doc__, paper="sizes 32..512 at 32 x 32")
    ap.add_argument("--pretrain", type=int, default=256, help="pretraining trajectories")
    ap.add_argument("--pretrain-steps", type=int, default=1000)
    ap.add_argument("--sizes", default="32,64,128", help="training trajectories per run")
    ap.add_argument("--steps", type=int, default=300, help="optimiser steps per run")
    bench.add_training_args(ap, resolution=32, batch_size=16, lr=1e-3, n_train=None, n_test=64,
                            epochs=None)
    args = bench.parse(ap, argv, {"paper": PAPER, "quick": QUICK})
    try:
        args.sizes = sorted({int(s) for s in str(args.sizes).split(",") if s.strip()})
    except ValueError:
        ap.error(f"--sizes must be comma-separated integers, got {args.sizes!r}")
    if not args.sizes or args.sizes[0] < 1:
        ap.error("--sizes must be positive")
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    device = bench.setup(args)
    root, res = Path(args.data_dir), args.resolution

    def dataset(spec, n, seed, tag):
        return bench.ensure_dataset(root / f"se_{spec[0]}_{res}_{tag}_n{n}.h5", spec[0], n, res,
                                    seed=seed, params=spec[1], workers=args.workers)

    pre = dataset(PRETRAIN, args.pretrain, 0, "pre")
    test = dataset(TASK, args.n_test, 1, "test")
    result: dict = {"setting": {**vars(args), "pretrain": PRETRAIN, "task": TASK, "archs": ARCHS},
                    "machine": bench.device_info(device)}
    print(f"pretraining scOT on {args.pretrain} {PRETRAIN[0]} trajectories ...", flush=True)
    pre_dir = root / f"se_scot_pretrained_{res}_n{args.pretrain}"
    result["pretraining"] = fit("scot", pre, pre_dir,
                                config_for(args, args.pretrain_steps, pre), args.budget_s * 4)
    rows = []
    for n in args.sizes:
        train = dataset(TASK, n, 2, "train")
        config = config_for(args, args.steps, train)
        runs = {"scot_finetuned": ("scot", pre_dir), "scot_scratch": ("scot", None),
                "fno": ("fno", None)}
        row: dict = {"n_train": n, "epochs": config.epochs}
        for name, (kind, init) in runs.items():
            out = root / f"se_{name}_{res}_n{n}"
            stopped = fit(kind, train, out, config, args.budget_s, init)["stopped"]
            row[name] = {"stopped": stopped, **score(out, test, args.device)}
            print(f"N={n} {name}: rel L2 {row[name]['test_rel_l2_mean']:.4f}", flush=True)
        rows.append(row)
    result["runs"] = rows
    names = ("scot_finetuned", "scot_scratch", "fno")
    errors = [[r[k]["test_rel_l2_mean"] for k in names] for r in rows]
    bench.print_table(
        ["N train", "epochs", "scOT fine-tuned", "scOT scratch", "FNO", "fine-tuned / scratch"],
        [[r["n_train"], r["epochs"], *(f"{v:.4f}" for v in e), f"{e[0] / e[1]:.2f}x"]
         for r, e in zip(rows, errors)], left=0)
    bench.write_json(result, args.json_out)
    return result


if __name__ == "__main__":
    main()
