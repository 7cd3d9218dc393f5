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

Run: ``.venv/bin/python benchmarks/operators_models.py [--quick]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from operators.api import evaluate, train_operator  # noqa: E402
from operators.losses import relative_l2  # noqa: E402
from operators.registry import build_model, count_parameters  # noqa: E402
from operators.trainer import TrainConfig, read_log  # noqa: E402

RES = 85
ARCHS = {
    "fno": {"width": 32, "modes": [12, 13], "layers": 4, "lifting_channels": 64,
            "projection_channels": 64, "padding": 20 / RES},
    "lsm": {"width": 16, "levels": 3, "num_token": 4, "num_basis": 12, "patch_size": 4},
    "scot": {"embed_dim": 48, "depths": [2, 2, 2], "num_heads": [3, 6, 12], "window_size": 6,
             "patch_size": 4, "mlp_ratio": 4.0, "skip_blocks": 1},
}


def ensure_data(path: Path, n: int, seed: int) -> Path:
    """Generate the Darcy dataset once (reused between runs)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        rom = Path(sys.executable).with_name("rom")
        subprocess.run([str(rom), "generate", "darcy", "-n", str(n), "--resolution", str(RES),
                        "--seed", str(seed), "-o", str(path), "--quiet"], check=True)
    return path


def step_times(batch: int, rounds: int) -> dict[str, float]:
    """Median seconds of one AdamW step per model, the models alternating each round."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 1, RES, RES, generator=g)
    y = torch.randn(batch, 1, RES, RES, generator=g)
    models = {k: build_model(k, 1, 1, 2, **a) for k, a in ARCHS.items()}
    opts = {k: torch.optim.AdamW(m.parameters(), lr=1e-4) for k, m in models.items()}
    times: dict[str, list[float]] = {k: [] for k in models}
    for r in range(rounds + 1):
        for k, m in models.items():
            t0 = time.perf_counter()
            relative_l2(m(x), y).backward()
            opts[k].step()
            opts[k].zero_grad(set_to_none=True)
            if r:  # round 0 warms up
                times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def train_and_test(kind: str, data: Path, out: Path, config: TrainConfig, test_fraction: float
                   ) -> dict:
    """Train ``kind`` with the shared pipeline; test-split metrics."""
    t0 = time.perf_counter()
    train_operator(kind, data, out, arch=ARCHS[kind], config=config, val_fraction=0.0,
                   test_fraction=test_fraction)
    wall = time.perf_counter() - t0
    log = read_log(out)
    rec = evaluate(out, data)
    return {"test_rel_l2_mean": rec["rel_l2"]["mean"], "test_rel_l2_median": rec["rel_l2"]["median"],
            "train_seconds": sum(r["seconds"] for r in log), "wall_seconds": wall,
            "final_train_loss": log[-1]["train_loss"],
            "inference_s_per_sample": rec["time_per_sample_s"]["model"], "n_test": rec["n_samples"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer samples/epochs/rounds (~2 min)")
    ap.add_argument("--n-train", type=int, default=200)
    ap.add_argument("--n-test", type=int, default=50)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=10)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data-dir", default=str(Path(tempfile.gettempdir()) / "rom-bench"))
    ap.add_argument("--json", dest="json_out", default=None, help="also write results here")
    args = ap.parse_args()
    if args.quick:
        args.n_train, args.n_test, args.epochs, args.rounds = 100, 20, 2, 3
    torch.set_num_threads(args.threads)
    n = args.n_train + args.n_test
    data = ensure_data(Path(args.data_dir) / f"darcy{RES}_n{n}.h5", n, seed=0)
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                         weight_decay=1e-4, scheduler="cosine", grad_clip=1.0, seed=0, quiet=True)
    params = {k: count_parameters(build_model(k, 1, 1, 2, **a)) for k, a in ARCHS.items()}
    result: dict = {"setting": {**vars(args), "resolution": RES, "archs": ARCHS,
                                "parameters": params}}
    print("step time (models alternating) ...", flush=True)
    steps = step_times(args.batch_size, args.rounds)
    result["step_seconds_median"] = steps
    result["step_time_ratio_vs_fno"] = {k: v / steps["fno"] for k, v in steps.items()}
    print(json.dumps(result["step_seconds_median"]), flush=True)
    for kind in ARCHS:
        print(f"training {kind} ...", flush=True)
        torch.manual_seed(0)
        result[kind] = train_and_test(kind, data, Path(args.data_dir) / f"models_{kind}", config,
                                      args.n_test / n)
        print(json.dumps(result[kind]), flush=True)
    base = result["fno"]["test_rel_l2_mean"]
    result["error_ratio_vs_fno"] = {k: result[k]["test_rel_l2_mean"] / base for k in ARCHS}
    print("\n| model | parameters | step s (ratio to FNO) | test rel. L2 (ratio to FNO) | "
          "inference s/sample |")
    print("|---|---:|---:|---:|---:|")
    for k in ARCHS:
        print(f"| {k} | {params[k]:,} | {steps[k]:.3f} ({result['step_time_ratio_vs_fno'][k]:.2f}x)"
              f" | {result[k]['test_rel_l2_mean']:.4f} ({result['error_ratio_vs_fno'][k]:.2f}x)"
              f" | {result[k]['inference_s_per_sample']:.4f} |")
    print(json.dumps(result))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
