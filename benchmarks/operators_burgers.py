"""FNO-1D on viscous Burgers at the FNO paper's protocol, side by side with neuraloperator (CPU).

Protocol (Li et al. 2021, §5.1, and the paper's public ``fourier_1d.py``)
    Data: the ``burgers`` problem (periodic [0, 1), ν = 0.1, T = 1,
    u₀ ~ N(0, 625(−Δ + 25 I)⁻²)), 1,200 trajectories solved at 8,192 nodes and
    subsampled by striding to s = 256, 512, 1,024; a seeded split into 1,000
    training and 200 test samples (no validation set, as in the paper). The
    solver's accuracy at 8,192 is checked against a solve at 16,384 nodes with
    a quarter of the time step (``--check-samples``).
    Model: 4 Fourier layers, 16 modes, width 64, linear lifting of (u₀, x),
    projection 64 → 128 → 1 (549,569 parameters). neuraloperator's FNO
    (2.0.0) with ``n_modes=30`` (its rfft keeps 30 // 2 + 1 = 16 modes),
    ``lifting_channel_ratio=0`` (linear lifting), no channel MLP: the same
    parameter count (it has the spectral bias where ours has the pointwise one).
    Training (both): batch 20, AdamW lr 1e-3 / weight decay 1e-4, learning rate
    halved every ``epochs / 5`` epochs (100 of 500, the paper's StepLR), relative
    L2 loss, no gradient clipping, inputs and outputs normalised by the same
    training statistics. (The paper uses Adam with L2 weight decay: one optimiser
    for both sides here.)

Method: one process, interleaved epoch by epoch. rom's FNO is trained by
``operators.training.train_operator`` (what ``rom train fno`` runs); a trainer
callback runs after each of its epochs and then trains neuraloperator's FNO one
epoch by the same loop settings. Both see ``torch.set_num_threads(--threads)``.
neuraloperator is imported from its own venv (``--neuralop-venv``: its
site-packages appended to ``sys.path``, so torch is this venv's). Each epoch's
wall time is timed per side (rom's includes its data loading, logging and
checkpoint writes); the test error after every epoch is measured outside the
clocks. Time-to-accuracy: the training wall time until the test error first
reaches the worse of the two final errors.

Zero-shot super-resolution: the s = 256 model evaluated with
``rom evaluate MODEL test8192.h5 --resolution R`` (a file of the 200 test
samples at 8,192 nodes; periodic data are subsampled exactly by striding),
and neuraloperator's weights on the same strided data.

Initialisation ablation (rom only): ``--no-neuralop --spectral-init paper|glorot --seed K``
(``paper``: the former ``1/(C_in C_out)`` scale of operators/spectral.py).

    python benchmarks/operators_burgers.py --quick        # smoke run (a minute)
    python benchmarks/operators_burgers.py --epochs 500 --resolutions 1024

writes benchmarks/results/operators_burgers.md (``--quick``: ..._quick.md) and its JSON;
``--from-json A.json,B.json`` renders several runs (e.g. one per resolution, each with
its own epoch count) into one results file, each section with its own command line.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import operator_common as bench  # noqa: E402
from operators_burgers_report import FULL_N, write_report  # noqa: E402

from data.dataset import Dataset, write_dataset  # noqa: E402
from data.torch_dataset import split_indices  # noqa: E402
from operators.losses import relative_l2  # noqa: E402
from operators.registry import count_parameters  # noqa: E402
from operators.trainer import TrainConfig, lr_factor  # noqa: E402
from operators.training import train_operator  # noqa: E402
from solvers.problems import make_problem  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ARCH = {"width": 64, "modes": 16, "layers": 4, "lifting_channels": 0, "projection_channels": 128}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny smoke run (small data, 2 epochs)")
    ap.add_argument("--epochs", type=int, default=500)
    ap.add_argument("--resolutions", default="256,512,1024",
                    help="training resolutions s (comma separated)")
    ap.add_argument("--superres", default="256,512,1024,2048,4096,8192",
                    help="evaluation resolutions of the zero-shot table (model of the first s)")
    ap.add_argument("--n-train", type=int, default=1000)
    ap.add_argument("--n-test", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=20)
    ap.add_argument("--full-n", type=int, default=FULL_N,
                    help="nodes of the solve the resolutions are subsampled from (paper: 8192)")
    ap.add_argument("--test-full-n", type=int, default=0,
                    help="re-solve only the test samples at this many nodes (e.g. the paper's "
                         "8192) for the zero-shot table; 0: the --full-n file")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (both libraries)")
    ap.add_argument("--workers", type=int, default=2, help="processes generating the data")
    ap.add_argument("--check-samples", type=int, default=2,
                    help="samples re-solved at twice the nodes to check the solver")
    ap.add_argument("--neuralop-venv", default="/tmp/neuralop-venv")
    ap.add_argument("--no-neuralop", action="store_true", help="rom's side only")
    ap.add_argument("--seed", type=int, default=0, help="seed of the split and the weights")
    ap.add_argument("--spectral-init", choices=("glorot", "paper"), default="glorot",
                    help="rom's spectral weights: glorot (the default of operators/spectral.py) "
                         "or paper (the former 1/(C_in C_out) N(0, 1): the ablation)")
    ap.add_argument("--data-dir", default="/tmp/rom-bench")
    ap.add_argument("--out", default=None, help="results file (default benchmarks/results/...)")
    ap.add_argument("--from-json", default=None,
                    help="only render the report of these runs' JSON files (comma separated)")
    args = ap.parse_args(argv)
    if args.quick:
        args.epochs, args.n_train, args.n_test = 2, 40, 10
        args.resolutions, args.superres, args.check_samples = "64,128", "64,128,256", 1
    elif args.superres == "256,512,1024,2048,4096,8192":
        args.superres = ",".join(str(r) for r in (256, 512, 1024, 2048, 4096, 8192)
                                 if r <= max(args.full_n, args.test_full_n))
    args.resolutions = [int(s) for s in args.resolutions.split(",")]
    args.superres = [int(s) for s in args.superres.split(",")]
    args.full = 256 if args.quick else args.full_n
    return args


# ------------------------------------------------------------------------------ data
def full_dataset(args: argparse.Namespace) -> Path:
    """The 8,192-node file (``rom generate burgers``; ``n_out=2``: u(0), u(1))."""
    n = args.n_train + args.n_test
    return bench.ensure_dataset(Path(args.data_dir) / f"burgers{args.full}_n{n}.h5", "burgers",
                                n, args.full, seed=0, params={"n_out": 2, "cfl": 2.0},
                                workers=args.workers)


def solver_check(path: Path, k: int) -> dict[str, Any]:
    """Relative L2 distance of the stored u(T) to a solve at 2N nodes, cfl/4 (first k samples)."""
    with Dataset(path) as ds:
        cfg, mu, u = ds.config, ds.parameters[:k], ds.field("u")[:k, -1]
        n = ds.grid.shape[0]
    opts = {key: cfg["options"][key] for key in ("nu", "t_final", "n_modes")} \
        if "options" in cfg else {}
    ref = make_problem("burgers", 2 * n, n_out=2, cfl=0.5, **opts)
    errs = []
    for j in range(k):
        r = ref.solve(mu[j]).outputs["u"][-1, ::2]
        errs.append(float(np.linalg.norm(u[j] - r) / np.linalg.norm(r)))
    return {"nodes": n, "reference_nodes": 2 * n, "reference_cfl": 0.5, "stored_cfl": 2.0,
            "samples": k, "max_rel_l2": max(errs)}


def subsampled(full: Path, s: int, indices: list[int] | None = None) -> Path:
    """A steady file ``u0 -> u(T)`` at ``s`` nodes (every (N/s)-th node), optionally of some
    samples only; written once next to ``full``."""
    tag = "" if indices is None else f"_{len(indices)}test"
    path = full.with_name(f"{full.stem}_s{s}{tag}.h5")
    if path.exists():
        return path
    with Dataset(full) as ds:
        n = ds.grid.shape[0]
        if n % s:
            raise ValueError(f"s={s} does not divide the {n} nodes")
        idx = np.arange(ds.n_samples) if indices is None else np.asarray(indices)
        step = n // s
        u0, uT = ds.field("u0")[()][idx, ::step], ds.field("u")[()][idx, -1, ::step]
        grid = type(ds.grid)((ds.grid.axes[0][::step],), ds.grid.periodic)
        config = {**ds.config, "resolution": s, "subsampled_from": n, "output_time": "final"}
        write_dataset(path, problem=ds.problem, config=config, grid=grid, times=None,
                      parameters=ds.parameters[idx], parameter_space=ds.parameter_space,
                      sampler=ds.sampler, inputs={"u0": u0}, outputs={"u": uT},
                      stats={k: v[idx] for k, v in ds.stats.items()}, seed=ds.seed)
    return path


def _solve_final(job: tuple[int, dict, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    n, opts, mu = job
    problem = make_problem("burgers", n, n_out=2, cfl=2.0, **opts)
    return problem.input_fields(mu)["u0"], problem.solve(mu).outputs["u"][-1]


def hires_test_file(full: Path, indices: list[int], n: int, workers: int) -> Path:
    """The samples ``indices`` of ``full`` re-solved at ``n`` nodes (the same KL coefficients of
    u₀, so the same functions), as a steady ``u0 -> u(T)`` file for the zero-shot table."""
    path = full.with_name(f"{full.stem}_test{len(indices)}_at{n}.h5")
    if path.exists():
        return path
    import multiprocessing

    with Dataset(full) as ds:
        cfg, mu = ds.config, ds.parameters[np.asarray(indices)]
        space, sampler, seed, problem = ds.parameter_space, ds.sampler, ds.seed, ds.problem
    opts = {k: cfg["options"][k] for k in ("nu", "t_final", "n_modes")} \
        if "options" in cfg else {}
    t0 = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        pairs = pool.map(_solve_final, [(n, opts, m) for m in mu])
    u0, uT = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    grid = make_problem("burgers", n, n_out=2, cfl=2.0, **opts).grid
    config = {**cfg, "resolution": n, "output_time": "final", "resolved_from": str(full.name)}
    write_dataset(path, problem=problem, config=config, grid=grid, times=None,
                  parameters=mu, parameter_space=space, sampler=sampler,
                  inputs={"u0": u0}, outputs={"u": uT}, stats=None, seed=seed)
    print(f"re-solved {len(indices)} test samples at {n} nodes in "
          f"{time.perf_counter() - t0:.1f} s", flush=True)
    return path


# ------------------------------------------------------------------------------ training
def neuralop_fno(neuralop) -> torch.nn.Module:
    """neuraloperator's FNO with our parameter count (see the module docstring)."""
    return neuralop.models.FNO(n_modes=(30,), in_channels=1, out_channels=1, hidden_channels=64,
                               n_layers=4, lifting_channel_ratio=0, projection_channel_ratio=2,
                               use_channel_mlp=False)


class ReferenceRun:
    """neuraloperator's FNO trained one epoch per call by our loop settings."""

    def __init__(self, model: torch.nn.Module, data: Path, split: dict, norm: dict,
                 config: TrainConfig) -> None:
        with Dataset(data) as ds:
            a, u = ds.field("u0")[()], ds.field("u")[()]
        self.x = torch.as_tensor(a[split["train"], None], dtype=torch.float32)
        self.y = torch.as_tensor(u[split["train"], None], dtype=torch.float32)
        self.mi, self.si = norm["input"]["mean"][0], norm["input"]["std"][0] + norm["input"]["eps"]
        self.mo, self.so = (norm["output"]["mean"][0],
                            norm["output"]["std"][0] + norm["output"]["eps"])
        self.model, self.config = model, config
        self.steps = math.ceil(len(self.x) / config.batch_size)
        self.opt = torch.optim.AdamW(model.parameters(), lr=config.lr,
                                     weight_decay=config.weight_decay)
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lr_factor(config, self.steps))
        self.epoch = 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.model((x - self.mi) / self.si) * self.so + self.mo

    def train_epoch(self) -> float:
        self.epoch += 1
        b = self.config.batch_size
        perm = torch.randperm(len(self.x),
                              generator=torch.Generator().manual_seed(self.config.seed + self.epoch))
        self.model.train()
        total = 0.0
        for k in range(self.steps):
            idx = perm[k * b:(k + 1) * b]
            loss = relative_l2(self(self.x[idx]), self.y[idx])
            loss.backward()
            self.opt.step()
            self.opt.zero_grad(set_to_none=True)
            self.sched.step()
            total += float(loss.detach())
        return total / self.steps


@torch.no_grad()
def paper_spectral_init() -> None:
    """Re-draw rom's dense spectral weights as the former default did, real and imaginary
    parts ``N(0, 1) / (C_in C_out)`` (the FNO paper's code: ``U[0, 1) / (C_in C_out)``), for
    the initialisation ablation (the same law; the random stream differs from the former code)."""
    from operators.spectral import SpectralConv
    init = SpectralConv.__init__

    def patched(self, in_channels, out_channels, *a, **kw):
        init(self, in_channels, out_channels, *a, **kw)
        if self.factorization == "dense":
            with torch.no_grad():
                self.weight.normal_(0.0, 1.0 / (self.in_channels * self.out_channels))

    SpectralConv.__init__ = patched


@torch.no_grad()
def test_error(fn, x: torch.Tensor, y: torch.Tensor, batch: int = 50) -> float:
    """Mean relative L2 error over the test samples."""
    pred = torch.cat([fn(x[k:k + batch]) for k in range(0, len(x), batch)])
    return float(((pred - y).flatten(1).norm(dim=1) / y.flatten(1).norm(dim=1)).mean())


def test_tensors(data: Path, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    with Dataset(data) as ds:
        a, u = ds.field("u0")[()][indices], ds.field("u")[()][indices]
    return (torch.as_tensor(a[:, None], dtype=torch.float32),
            torch.as_tensor(u[:, None], dtype=torch.float32))


def train_pair(data: Path, model_dir: Path, args: argparse.Namespace, neuralop) -> dict:
    """rom's FNO and (interleaved, one epoch after each of ours) neuraloperator's FNO."""
    n = args.n_train + args.n_test
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=1e-3,
                         weight_decay=1e-4, scheduler="step", step_size=max(1, args.epochs // 5),
                         gamma=0.5, grad_clip=0.0, loss="l2", seed=args.seed, quiet=True,
                         checkpoint_every=max(1, args.epochs // 10))
    split = split_indices(n, 0.0, args.n_test / n, config.seed)
    xte, yte = test_tensors(data, split["test"])
    hist: dict[str, list] = {"rom": [], "neuraloperator": []}
    state: dict[str, Any] = {"ref": None, "mark": time.perf_counter()}

    def hook(trainer, record) -> None:
        t_rom = time.perf_counter() - state["mark"]
        model = trainer.model
        model.eval()
        hist["rom"].append((t_rom, test_error(lambda x: model(x, None), xte, yte),
                            record["train_loss"]))
        model.train()
        if neuralop is not None:
            t0 = time.perf_counter()
            if state["ref"] is None:  # its set-up counts in its first epoch
                torch.manual_seed(config.seed)
                norm = json.loads((model_dir / "model.json").read_text())["normalization"]
                state["ref"] = ReferenceRun(neuralop_fno(neuralop), data, split, norm, config)
            ref = state["ref"]
            loss = ref.train_epoch()
            t_ref = time.perf_counter() - t0
            ref.model.eval()
            hist["neuraloperator"].append((t_ref, test_error(ref, xte, yte), loss))
        if record["epoch"] % max(1, args.epochs // 10) == 0 or record["epoch"] == 1:
            line = " ".join(f"{k} {v[-1][1]:.4f} ({v[-1][0]:.2f} s)" for k, v in hist.items() if v)
            print(f"  epoch {record['epoch']}: test rel L2 {line}", flush=True)
        state["mark"] = time.perf_counter()

    state["mark"] = time.perf_counter()
    summary = train_operator("fno", data, model_dir, arch=ARCH, config=config, val_fraction=0.0,
                             test_fraction=args.n_test / n, callbacks=(hook,))
    meta = json.loads((model_dir / "model.json").read_text())
    assert meta["split"]["test"] == split["test"], "split differs from rom's"
    out = {"epochs": summary["epochs"], "schedule": {"step_size": config.step_size, "gamma": 0.5},
           "sides": {}}
    for name, h in hist.items():
        if not h:
            continue
        secs = np.cumsum([t for t, _, _ in h])
        out["sides"][name] = {"test_rel_l2": h[-1][1], "train_seconds": float(secs[-1]),
                              "samples_per_s": args.n_train * len(h) / float(secs[-1]),
                              "cumulative_seconds": secs.tolist(),
                              "test_curve": [e for _, e, _ in h]}
    if len(out["sides"]) == 2:
        target = max(s["test_rel_l2"] for s in out["sides"].values())
        for side in out["sides"].values():
            first = next(k for k, e in enumerate(side["test_curve"]) if e <= target)
            side["time_to_accuracy_s"] = side["cumulative_seconds"][first]
        out["target"] = target
        out["tta_ratio_neuralop_over_rom"] = (out["sides"]["neuraloperator"]["time_to_accuracy_s"]
                                             / out["sides"]["rom"]["time_to_accuracy_s"])
    out["parameters"] = {"rom": meta["parameters"]}
    if state["ref"] is not None:
        out["parameters"]["neuraloperator"] = count_parameters(state["ref"].model)
        out["reference"] = state["ref"]
    return out


def zero_shot(model_dir: Path, full: Path, split: list[int], args, ref) -> list[dict]:
    """``rom evaluate MODEL test.h5 --resolution R`` per R, and neuraloperator on the same data."""
    if args.test_full_n:
        test_file, n_test = hires_test_file(full, split, args.test_full_n, args.workers), \
            args.test_full_n
    else:
        test_file, n_test = subsampled(full, args.full, split), args.full
    xte, yte = test_tensors(test_file, list(range(len(split))))
    rows = []
    for r in args.superres:
        out = subprocess.run([*bench.rom_command(), "evaluate", str(model_dir), str(test_file),
                              "--resolution", str(r), "--json"], capture_output=True, text=True,
                             cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": str(args.threads)})
        if out.returncode:
            raise SystemExit(f"rom evaluate --resolution {r} failed: {out.stderr.strip()}")
        rec = json.loads(out.stdout)
        row = {"resolution": r, "rom": rec["rel_l2"]["mean"]}
        if ref is not None:
            step = n_test // r
            ref.model.eval()
            row["neuraloperator"] = test_error(ref, xte[..., ::step], yte[..., ::step])
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.from_json:
        results = [json.loads(Path(f).read_text()) for f in args.from_json.split(",")]
        write_report(results, Path(args.out) if args.out else
                     ROOT / "benchmarks" / "results" / "operators_burgers.md", parse_args)
        return {"runs": results}
    torch.set_num_threads(args.threads)
    if args.spectral_init == "paper":
        paper_spectral_init()
    neuralop = None if args.no_neuralop else bench.import_neuralop(args.neuralop_venv)
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    full = full_dataset(args)
    data_seconds = time.perf_counter() - t0
    result: dict[str, Any] = {"setting": {
        "command": "python benchmarks/operators_burgers.py " + " ".join(sys.argv[1:] if argv is None
                                                                      else argv),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "torch": torch.__version__, "threads": args.threads,
        "neuraloperator": getattr(neuralop, "__version__", None),
        "load_before": " ".join(f"{v:.2f}" for v in load_before)},
        "data_seconds": data_seconds, "solver_check": solver_check(full, args.check_samples),
        "runs": {}}
    refs = {}
    # warm-up (lazy imports, first allocations) of both code paths, not measured
    warm = argparse.Namespace(**{**vars(args), "epochs": 1})
    train_pair(subsampled(full, args.resolutions[0]), Path(args.data_dir) / "burgers_warmup",
               warm, neuralop)
    for s in args.resolutions:
        data = subsampled(full, s)
        model_dir = Path(args.data_dir) / f"burgers_fno_s{s}_e{args.epochs}"
        print(f"== s = {s}: {args.epochs} epochs", flush=True)
        run = train_pair(data, model_dir, args, neuralop)
        refs[s] = run.pop("reference", None)
        for side in run["sides"].values():   # compact curves in the JSON (4 significant digits)
            curve = side["test_curve"]
            side["test_rel_l2_last10"] = float(np.mean(curve[-10:]))
            side["test_curve"] = [float(f"{e:.4g}") for e in curve]
            side["cumulative_seconds"] = [round(t, 2) for t in side["cumulative_seconds"]]
        result["runs"][str(s)] = run
        print(json.dumps(run), flush=True)
    first = args.resolutions[0]
    model_dir = Path(args.data_dir) / f"burgers_fno_s{first}_e{args.epochs}"
    test = json.loads((model_dir / "model.json").read_text())["split"]["test"]
    result["zero_shot"] = zero_shot(model_dir, full, test, args, refs[first])
    if args.test_full_n:
        result["zero_shot_data"] = (f"Test data: the {len(test)} test samples re-solved at "
                                    f"{args.test_full_n} nodes (cfl 2.0, the same u₀ KL "
                                    "coefficients), subsampled by striding to each resolution.")
    result["setting"]["load_after"] = " ".join(f"{v:.2f}" for v in os.getloadavg())
    name = "operators_burgers_quick.md" if args.quick else "operators_burgers.md"
    out = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / name
    out.with_suffix(".json").write_text(json.dumps(result, indent=1, default=str))
    write_report([result], out, parse_args)
    return result


if __name__ == "__main__":
    main()
