"""FNO on Darcy flow (the FNO paper's benchmark, reduced for CPU) side by side with neuraloperator.

Data: ``rom generate darcy`` with the FNO distribution (piecewise a in {12, 3},
f = 1, 85 x 85 nodes), ``n_train + n_test`` samples.

Two measurements, both against the neuraloperator library's FNO (the reference
implementation a user would pick) built with *exactly* the same parameter
count (hidden width 32, 12 + 12 x 13 modes, 4 layers, lifting/projection MLPs
of 64 channels, linear skips, no channel MLP, both padded to 105 x 105):

1. **step throughput** -- one training step (forward, backward, AdamW) on the
   same batch, the two models alternating in one process for ``--rounds``
   rounds (so load from other jobs hits both alike); median samples/s each.
2. **accuracy** -- ``rom``'s full pipeline (``operators.api.train_operator``:
   HDF5 dataset, normalisation, AdamW + cosine, relative L2 loss) trains our
   FNO; the same loop written out in this file (same split, normaliser
   statistics, optimiser, schedule, batch size, epochs, clipping) trains the
   neuraloperator FNO. Both report the test relative L2 error and their
   end-to-end training throughput.

neuraloperator lives in its own venv (``python3 -m venv /tmp/no-venv &&
/tmp/no-venv/bin/pip install torch==2.13.0 neuraloperator``); its
site-packages are appended to ``sys.path`` (same torch build in both venvs).

Run: ``.venv/bin/python benchmarks/operators.py [--quick]``
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from data.dataset import Dataset  # noqa: E402
from data.model_meta import read_model_meta  # noqa: E402
from operators.api import evaluate, train_operator  # noqa: E402
from operators.fno import FNO  # noqa: E402
from operators.losses import relative_l2  # noqa: E402
from operators.registry import count_parameters  # noqa: E402
from operators.trainer import TrainConfig, lr_factor, read_log  # noqa: E402

RES = 85
#: our FNO: padding 20/85 on one side -> 105; neuraloperator pads 10 on both sides -> 105
OUR_ARCH = {"width": 32, "modes": [12, 13], "layers": 4, "lifting_channels": 64,
            "projection_channels": 64, "padding": 20 / RES}


def neuralop_fno(no_venv: str):
    """The neuraloperator FNO with the same parameter count as ``OUR_ARCH`` (or None)."""
    try:
        import neuralop  # noqa: F401
    except ImportError:
        found = glob.glob(f"{no_venv}/lib/python3*/site-packages")
        if not found:
            return None
        sys.path.append(found[0])
    try:
        from neuralop.models import FNO as NeuralopFNO
    except ImportError as exc:
        print(f"neuraloperator not importable: {exc}")
        return None
    return NeuralopFNO(n_modes=(24, 24), in_channels=1, out_channels=1, hidden_channels=32,
                       n_layers=4, lifting_channel_ratio=2, projection_channel_ratio=2,
                       use_channel_mlp=False, domain_padding=10 / RES)


def ensure_data(path: Path, n: int, seed: int) -> Path:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([str(Path(sys.executable).with_name("rom")), "generate", "darcy", "-n", str(n),
                        "--resolution", str(RES), "--seed", str(seed), "-o", str(path),
                        "--quiet"], check=True)
    return path


def step_throughput(ours, theirs, batch: int, rounds: int) -> dict:
    """Median samples/s of one AdamW training step, the two models alternating."""
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(batch, 1, RES, RES, generator=g), torch.randn(batch, 1, RES, RES, generator=g)
    models = {"rom": ours, "neuraloperator": theirs}
    opts = {k: torch.optim.AdamW(m.parameters(), lr=1e-4) for k, m in models.items()}
    times: dict[str, list[float]] = {k: [] for k in models}
    for r in range(rounds + 1):
        for k, m in models.items():
            t0 = time.perf_counter()
            loss = relative_l2(m(x), y)
            loss.backward()
            opts[k].step()
            opts[k].zero_grad(set_to_none=True)
            if r:  # round 0 warms up (allocations, FFT plans)
                times[k].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"samples_per_s": {k: batch / v for k, v in med.items()},
            "step_seconds_median": med, "rounds": rounds,
            "ratio_rom_over_neuraloperator": med["neuraloperator"] / med["rom"]}


def train_reference_loop(model, data: Path, meta: dict, config: TrainConfig) -> dict:
    """The loop of operators.trainer written out for a foreign model (same split and stats)."""
    with Dataset(data) as ds:
        a, u = ds.field("a")[()], ds.field("u")[()]
    norm = meta["normalization"]
    mi, si = norm["input"]["mean"][0], norm["input"]["std"][0] + norm["input"]["eps"]
    mo, so = norm["output"]["mean"][0], norm["output"]["std"][0] + norm["output"]["eps"]

    def tensors(idx):
        return (torch.as_tensor(a[idx, None], dtype=torch.float32),
                torch.as_tensor(u[idx, None], dtype=torch.float32))

    xtr, ytr = tensors(meta["split"]["train"])
    xte, yte = tensors(meta["split"]["test"])
    torch.manual_seed(config.seed)
    steps = math.ceil(len(xtr) / config.batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor(config, steps))
    seconds, n_seen = 0.0, 0
    for epoch in range(1, config.epochs + 1):
        perm = torch.randperm(len(xtr), generator=torch.Generator().manual_seed(config.seed + epoch))
        t0 = time.perf_counter()
        model.train()
        for s in range(steps):
            idx = perm[s * config.batch_size:(s + 1) * config.batch_size]
            pred = model((xtr[idx] - mi) / si) * so + mo
            loss = relative_l2(pred, ytr[idx])
            loss.backward()
            if config.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            opt.step()
            opt.zero_grad(set_to_none=True)
            sched.step()
            n_seen += len(idx)
        seconds += time.perf_counter() - t0
        print(f"  neuraloperator epoch {epoch}: loss {loss.item():.4f}", flush=True)
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model((xte[k:k + 10] - mi) / si) * so + mo for k in range(0, len(xte), 10)])
    err = (pred - yte).flatten(1).norm(dim=1) / yte.flatten(1).norm(dim=1)
    return {"test_rel_l2_mean": float(err.mean()), "test_rel_l2_median": float(err.median()),
            "train_samples_per_s": n_seen / seconds, "train_seconds": seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer samples/epochs/rounds (~3 min)")
    ap.add_argument("--n-train", type=int, default=200)
    ap.add_argument("--n-test", type=int, default=50)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=20)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-venv", default="/tmp/no-venv", help="venv holding neuraloperator")
    ap.add_argument("--data-dir", default=str(Path(tempfile.gettempdir()) / "rom-bench"))
    ap.add_argument("--json", dest="json_out", default=None, help="also write results here")
    args = ap.parse_args()
    if args.quick:
        args.n_train, args.n_test, args.epochs, args.rounds = 100, 20, 2, 4
    torch.set_num_threads(args.threads)
    n = args.n_train + args.n_test
    data = ensure_data(Path(args.data_dir) / f"darcy{RES}_n{n}.h5", n, seed=0)
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                         weight_decay=1e-4, scheduler="cosine", grad_clip=1.0, seed=0, quiet=True)
    torch.manual_seed(0)
    ours = FNO(1, 1, 2, **OUR_ARCH)
    theirs = neuralop_fno(args.no_venv)
    result: dict = {"setting": {**vars(args), "resolution": RES, "arch": OUR_ARCH,
                                "parameters_rom": count_parameters(ours)}}
    if theirs is not None:
        result["setting"]["parameters_neuraloperator"] = count_parameters(theirs)
        print("step throughput (interleaved) ...", flush=True)
        result["step"] = step_throughput(ours, theirs, args.batch_size, args.rounds)
        print(json.dumps(result["step"], indent=1), flush=True)
    print("training rom FNO ...", flush=True)
    model_dir = Path(args.data_dir) / "fno_model"
    train_operator("fno", data, model_dir, arch=OUR_ARCH, config=config, val_fraction=0.0,
                   test_fraction=args.n_test / n)
    log = read_log(model_dir)
    rec = evaluate(model_dir, data)
    result["rom"] = {"test_rel_l2_mean": rec["rel_l2"]["mean"],
                     "test_rel_l2_median": rec["rel_l2"]["median"],
                     "train_samples_per_s": sum(r["samples_per_second"] * r["seconds"] for r in log)
                     / sum(r["seconds"] for r in log),
                     "train_seconds": sum(r["seconds"] for r in log),
                     "inference_s_per_sample": rec["time_per_sample_s"]["model"],
                     "solver_s_per_sample": rec["time_per_sample_s"]["solver"],
                     "speedup_vs_solver": rec["speedup"], "n_test": rec["n_samples"]}
    print(json.dumps(result["rom"], indent=1), flush=True)
    if theirs is not None:
        print("training neuraloperator FNO (same loop settings) ...", flush=True)
        torch.manual_seed(0)
        theirs = neuralop_fno(args.no_venv)
        result["neuraloperator"] = train_reference_loop(theirs, data, read_model_meta(model_dir),
                                                        config)
        print(json.dumps(result["neuraloperator"], indent=1), flush=True)
    print(json.dumps(result))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
