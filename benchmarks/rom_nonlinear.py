"""Reduced models of nonlinear Burgers: POD-Galerkin + DEIM/Q-DEIM/ECSW, operator inference, pod, FNO.

One run, side by side on the same datasets (``burgers`` at 1,024 points, ``ν``
log-uniform on ``[0.05, 0.2]``, ``t ∈ [0, 1]``, 101 stored times; ``--quick``:
fewer samples and 51 stored times):

2. ``galerkin`` (``--hyper none|deim|qdeim|ecsw``) against the number of
   modes ``N`` (``M = 2N`` sampled points) and, at one ``N``, against ``M``;
   ``opinf`` against ``N``; and the ``opinf`` package (a separate venv, default
   ``/tmp/opinf-venv``: ``python3 -m venv /tmp/opinf-venv &&
   /tmp/opinf-venv/bin/pip install opinf``) fitted as a worker on *the same*
   projected trajectories, the same ``(λ_1, λ_2)`` and its own second-order
   finite differences, with ``ConstantOperator + AffineLinearOperator([1, ν]) +
   QuadraticOperator`` (the same model), integrated by its default
   ``predict`` (scipy RK45).
3. The same data against ``pod`` (RBF regression of whole trajectories) and
   ``fno`` (short CPU training, epochs stated; ``all2all`` pairs on every 10th
   stored time, since all 101 make 5,151 pairs per trajectory; the FNO sees
   ``u₀`` only, not ``ν``, which is a scalar parameter and no input field).

Errors: relative l2 over each test trajectory (mean, max). Online time per
trajectory: one at a time (projection, reduced integration, lifting to the
1,024-point outputs) and batched (all test trajectories in one vectorised
integration); the full solver's time is measured in this run on the test
parameters, one trajectory at a time. Threads: 1 (``OMP_NUM_THREADS``, torch).

Usage: ``.venv/bin/python benchmarks/rom_nonlinear.py [--quick]`` (writes
``benchmarks/results/rom_nonlinear.md``, ``--quick``: ``rom_nonlinear_quick.md``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import json
import platform
import subprocess
import tempfile
import time

ROOT = Path(__file__).resolve().parents[1]
ROM = str(ROOT / ".venv" / "bin" / "rom")
#: test trajectories the full solver is timed on right before each model's evaluation
SOLVER_REPEATS = 4


def _worker(npz: str, out: str) -> None:
    """Runs inside the opinf venv: fit and predict with the opinf package."""
    import numpy as np
    import opinf

    d = np.load(npz)
    r, times = int(d["r"]), d["times"]
    train = [d[f"train_{k}"].T for k in range(int(d["n_train"]))]           # (r, T) each
    nus = d["train_nu"]
    ops = [opinf.operators.ConstantOperator(),
           opinf.operators.AffineLinearOperator(coeffs=lambda mu: np.array([1.0, mu[0]]),
                                                nterms=2),
           opinf.operators.QuadraticOperator()]
    reg = np.r_[np.full(1 + 2 * r, float(d["lam1"])), np.full(r * (r + 1) // 2, float(d["lam2"]))]
    t0 = time.perf_counter()
    ddt = opinf.ddt.UniformFiniteDifferencer(times, "ord2")
    ders = [ddt.estimate(q)[1] for q in train]
    model = opinf.models.ParametricContinuousModel(
        operators=ops, solver=opinf.lstsq.TikhonovSolver(regularizer=reg))
    model.fit(nus[:, None], train, ders)
    fit_s = time.perf_counter() - t0
    res = {"fit_s": fit_s, "version": opinf.__version__}
    t0 = time.perf_counter()
    for k, (a0, nu) in enumerate(zip(d["test_a0"].T, d["test_nu"])):
        pred = model.predict(np.array([nu]), a0, times)
        res[f"pred_{k}"] = pred.T if pred.shape[1] == len(times) else np.full((len(times), r), np.inf)
    res["online_s"] = (time.perf_counter() - t0) / len(d["test_nu"])
    np.savez(out, **res)


def generate(out: Path, n: int, seed: int, n_out: int) -> None:
    from data.generate import generate as gen
    from solvers.problems import make_problem

    problem = make_problem("burgers", 1024, nu=0.05, nu_max=0.2, t_final=1.0, n_out=n_out)
    gen(problem, n, out, seed=seed, progress=False)


def solver_seconds(test: Path, k: int) -> float:
    """Full-solver seconds per trajectory on the first ``k`` test parameters (this run)."""
    from data.dataset import Dataset

    with Dataset(test) as ds:
        problem, mus = ds.make_problem(), ds.parameters[:k]
    problem.solve(mus[0])                      # warm-up
    t0 = time.perf_counter()
    for mu in mus:
        problem.solve(mu)
    return (time.perf_counter() - t0) / len(mus)


def ours(kind: str, train: Path, test: Path, tmp: Path, **options) -> dict:
    from data.model_kinds import model_kind
    from rom.galerkin import ReducedBlowUp

    k = model_kind(kind)
    out = tmp / f"{kind}_{'_'.join(f'{a}{b}' for a, b in options.items())}"
    try:
        t0 = time.perf_counter()
        meta = k.train(train, out, **options)
        offline = time.perf_counter() - t0
        solver_s = solver_seconds(test, SOLVER_REPEATS)      # side by side with the model
        m = k.evaluate(out, test)
    except ReducedBlowUp as exc:
        return {"blowup": str(exc)}
    return {"meta": meta, "metrics": m, "offline_s": offline, "dir": out, "solver_s": solver_s}


def cli_model(kind: str, train: Path, test: Path, tmp: Path, *args: str) -> dict:
    out = tmp / kind
    t0 = time.perf_counter()
    run = subprocess.run([ROM, "train", kind, str(train), "-o", str(out), "--json", *args],
                         capture_output=True, text=True)
    offline = time.perf_counter() - t0
    if run.returncode != 0:
        return {"error": (run.stderr.strip().splitlines() or ["?"])[-1]}
    solver_s = solver_seconds(test, SOLVER_REPEATS)
    ev = subprocess.run([ROM, "evaluate", str(out), str(test), "--json"], capture_output=True,
                        text=True)
    if ev.returncode != 0:
        return {"error": (ev.stderr.strip().splitlines() or ["?"])[-1]}
    return {"metrics": json.loads(ev.stdout), "offline_s": offline, "solver_s": solver_s}


def opinf_package(python: str, r: dict, train: Path, test: Path, tmp: Path) -> dict:
    import numpy as np

    from data.dataset import Dataset
    from data.model_dir import load_model
    from rom.kinds.galerkin import burgers_trajectories

    meta, t = load_model(r["dir"], "opinf")
    Phi = t["Phi"]
    with Dataset(train) as ds:
        U, nus, _, _ = burgers_trajectories(ds, None, "opinf")
        times = np.asarray(ds.times)
    with Dataset(test) as ds:
        V, test_nus, _, _ = burgers_trajectories(ds, None, "opinf")
    arrays = {"r": Phi.shape[1], "times": times, "n_train": len(U), "train_nu": nus,
              "lam1": meta["reg"][0], "lam2": meta["reg"][1], "test_a0": Phi.T @ V[:, 0].T,
              "test_nu": test_nus}
    arrays.update({f"train_{k}": u @ Phi for k, u in enumerate(U)})
    npz, out = tmp / "opinf_in.npz", tmp / "opinf_out.npz"
    np.savez(npz, **arrays)
    run = subprocess.run([python, __file__, "--worker", str(npz), str(out)], capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": ""})
    if run.returncode != 0:
        return {"error": (run.stderr.strip().splitlines() or ["?"])[-1]}
    res = dict(np.load(out))
    rel = [np.linalg.norm(res[f"pred_{k}"] @ Phi.T - V[k]) / np.linalg.norm(V[k])
           for k in range(len(V))]
    return {"rel": np.array(rel), "online_s": float(res["online_s"]), "fit_s": float(res["fit_s"]),
            "version": str(res["version"])}


def row(label: str, r: dict, solver_s: float, extra: str = "") -> str:
    if "blowup" in r or "error" in r:
        return f"| {label} | {extra} | {r.get('blowup', r.get('error'))} | | | | | | |"
    m = r["metrics"]
    solver_s = r.get("solver_s", solver_s)
    single = m["time_per_sample_s"]["model"]
    batched = m.get("online", {}).get("batched_s", single)
    corr = m.get("indicator", {}).get("spearman")
    return (f"| {label} | {extra} | {m['rel_l2']['mean']:.2e} | {m['rel_l2']['max']:.2e} | "
            f"{single * 1e3:.2f} | {batched * 1e3:.3f} | {solver_s * 1e3:.0f} | "
            f"{solver_s / single:.1f}x / "
            f"{solver_s / batched:.0f}x | {'' if corr is None else f'{corr:.2f}'} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--opinf-python", default="/tmp/opinf-venv/bin/python")
    ap.add_argument("--fno-epochs", type=int, default=None)
    ap.add_argument("--focus", action="store_true",
                    help="full data, only N = 30 (M = 2N), opinf N = 8/12/16 and section 3")
    ap.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        _worker(*args.worker)
        return
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")          # before numpy is imported
    import numpy as np

    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:
        pass
    n_train, n_test, n_out = (24, 10, 51) if args.quick else (60, 30, 101)
    modes = (10, 20) if args.quick else (30,) if args.focus else (10, 20, 30, 40)
    op_modes = (8, 12) if args.quick else (8, 12, 16)
    sweep_N, sweep_M = (20, (20, 40)) if args.quick else (30, () if args.focus else (30, 45, 90))
    epochs = args.fno_epochs or (5 if args.quick else 8)
    out = ROOT / "benchmarks" / "results" / ("rom_nonlinear_quick.md" if args.quick else
                                             "rom_nonlinear_focus.md" if args.focus
                                             else "rom_nonlinear.md")

    def flush(final: bool = False) -> None:
        """Write what is measured so far (a partial file says so)."""
        tail = [] if final else ["", "_(run in progress: partial results)_"]
        out.write_text("\n".join(lines + tail) + "\n")
    lines = [f"# Reduced models of nonlinear Burgers ({'quick' if args.quick else 'full'} run)", "",
             f"Command: `OMP_NUM_THREADS=1 .venv/bin/python benchmarks/rom_nonlinear.py"
             f"{' --quick' if args.quick else ' --focus' if args.focus else ''}`", "",
             f"Machine: {platform.node()} ({platform.machine()}, {os.cpu_count()} CPUs, "
             f"{platform.python_version()}), 1 thread; load before: "
             f"`{os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}`", "",
             f"Data: `burgers`, 1,024 points, ν log-uniform on [0.05, 0.2], t ∈ [0, 1], "
             f"{n_out} stored times; {n_train} training / {n_test} test trajectories "
             "(seeds 0 / 1).", ""]
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        train, test = tmp / "train.h5", tmp / "test.h5"
        t0 = time.perf_counter()
        generate(train, n_train, 0, n_out)
        generate(test, n_test, 1, n_out)
        print(f"data: {time.perf_counter() - t0:.1f} s")
        solver_s = solver_seconds(test, min(n_test, 10))
        print(f"solver: {solver_s * 1e3:.1f} ms per trajectory")
        lines += [f"Full solver (Lawson-RK4, CFL steps), measured in this run: "
                  f"**{solver_s * 1e3:.1f} ms per trajectory**.", "",
                  "## 2. POD-Galerkin with hyper-reduction and operator inference", "",
                  "Columns: mean / max relative L2 over the test trajectories; online ms per "
                  "trajectory one at a time and batched (all test trajectories in one "
                  "vectorised integration); the full solver's ms per trajectory timed right "
                  f"before that row's evaluation ({SOLVER_REPEATS} test trajectories; the "
                  "machine is shared, so the load drifts); speedup vs that solver time "
                  "(single / batched); "
                  "Spearman correlation of the residual indicator with the true error.", "",
                  "| model | N, M (sampled entries) | mean err | max err | single ms | "
                  "batched ms | solver ms | speedup | indicator ρ_s |",
                  "|---|---|---|---|---|---|---|---|---|"]
        results = []
        for N in modes:
            for hyper in ("none", "deim", "qdeim", "ecsw"):
                r = ours("galerkin", train, test, tmp, modes=N, hyper=hyper, hyper_points=2 * N)
                ent = "" if "meta" not in r else f" ({r['meta']['sampled_entries']})"
                lines.append(row(f"galerkin {hyper}", r, solver_s,
                                 f"{N}, {'-' if hyper == 'none' else 2 * N}{ent}"))
                print(lines[-1])
                results.append(("galerkin", hyper, N, r))
        for M in sweep_M:
            for hyper in ("deim", "qdeim", "ecsw"):
                r = ours("galerkin", train, test, tmp, modes=sweep_N, hyper=hyper, hyper_points=M)
                ent = "" if "meta" not in r else f" ({r['meta']['sampled_entries']})"
                lines.append(row(f"galerkin {hyper}", r, solver_s, f"{sweep_N}, {M}{ent}"))
                print(lines[-1])
        flush()
        op_runs = []
        for N in op_modes:
            r = ours("opinf", train, test, tmp, modes=N)
            reg = "" if "meta" not in r else " λ=" + "/".join(f"{v:.0e}" for v in r["meta"]["reg"])
            lines.append(row("opinf (rom)", r, solver_s, f"{N}{reg}"))
            print(lines[-1])
            op_runs.append((N, r))
        pkg_lines = []
        check = (subprocess.run([args.opinf_python, "-c", "import opinf"], capture_output=True)
                 if os.path.exists(args.opinf_python) else None)
        if check is None or check.returncode != 0:
            pkg_lines.append(f"The `opinf` package is not installed at {args.opinf_python}: "
                             "not measured.")
        else:
            pkg_lines += ["| N | library | mean err | max err | fit s | online ms/trajectory |",
                          "|---|---|---|---|---|---|"]
            for N, r in op_runs:
                if "meta" not in r:
                    continue
                p = opinf_package(args.opinf_python, r, train, test, tmp)
                m = r["metrics"]
                pkg_lines.append(f"| {N} | rom opinf | {m['rel_l2']['mean']:.2e} | "
                                 f"{m['rel_l2']['max']:.2e} | "
                                 f"{r['meta']['train']['offline_seconds']:.2f} (incl. λ search) | "
                                 f"{m['time_per_sample_s']['model'] * 1e3:.2f} |")
                if "error" in p:
                    pkg_lines.append(f"| {N} | opinf package | {p['error']} | | | |")
                else:
                    pkg_lines.append(f"| {N} | opinf {p['version']} (same data, same λ) | "
                                     f"{np.mean(p['rel']):.2e} | {np.max(p['rel']):.2e} | "
                                     f"{p['fit_s']:.2f} | {p['online_s'] * 1e3:.2f} |")
                print(pkg_lines[-2], pkg_lines[-1], sep="\n")
        lines += ["", "### Operator inference side by side with the `opinf` package", ""]
        lines += pkg_lines
        flush()
        lines += ["", "## 3. The same data: reduced models against `pod` and `fno`", "",
                  "| model | settings | mean err | max err | single ms | batched ms | "
                  "solver ms | speedup | indicator ρ_s |", "|---|---|---|---|---|---|---|---|---|"]
        best = [r for kind, h, N, r in results if "metrics" in r and h == "deim"]
        if best:
            b = min(best, key=lambda r: r["metrics"]["rel_l2"]["mean"])
            lines.append(row("galerkin deim", b, solver_s, f"N={b['meta']['n_modes']}"))
        good = [r for _, r in op_runs if "metrics" in r]
        if good:
            b = min(good, key=lambda r: r["metrics"]["rel_l2"]["mean"])
            lines.append(row("opinf", b, solver_s, f"N={b['meta']['n_modes']}"))
        r = cli_model("pod", train, test, tmp)
        lines.append(row("pod (RBF)", r, solver_s, "tol 1e-4"))
        print(lines[-1])
        flush()
        stride = (n_out - 1) // 10
        r = cli_model("fno", train, test, tmp, "--epochs", str(epochs), "--batch-size", "32",
                      "--time-steps", f"0:{n_out}:{stride}", "--val-fraction", "0.1",
                      "--test-fraction", "0")
        lines.append(row("fno", r, solver_s, f"{epochs} epochs, CPU, all2all on 11 of the "
                                             "stored times"))
        print(lines[-1])
    lines += ["", f"Load after: `{' '.join(f'{v:.2f}' for v in os.getloadavg())}` "
              f"(`uptime` 1/5/15 min).", ""]
    flush(final=True)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
