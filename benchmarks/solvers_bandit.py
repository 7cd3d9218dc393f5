"""Omega learned online: Khodak et al.'s SOR test bed and SSOR-CG on a 2-D heat sequence.

Part 1 (``khodak``): red-black SOR on ``(Delta_5 + c I) x = b`` (10 x 10 unknowns,
``c = -0.15 + 0.6 Beta(1/2, 3/2)``, T = 2000, tol 1e-8); cumulative iterations of
Tsallis-INF variants divided by those of the best fixed omega in hindsight, on
instance seeds used for tuning (1..6; --quick: 1, 2) and on the test's seed (0).
Part 2 (``heat``): SSOR-CG with a learned omega on Crank-Nicolson heat systems
against plain CG and the best fixed omega in hindsight, side by side.

Usage: ``.venv/bin/python benchmarks/solvers_bandit.py [--quick] [--long] [--part P]
[--json PATH]`` (``--long``: heat on 200^2 with 150 systems instead of 400^2 with 30).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.solver_common import laplacian  # noqa: E402
from solvers.benchmarking import format_rows, run_interleaved  # noqa: E402
from solvers.linear import make_solver  # noqa: E402
from solvers.linear.bandits import TsallisINF, geometric_omegas  # noqa: E402
from solvers.linear.sor import (  # noqa: E402
    shifted_laplacian_instances,
    sor_shifted_laplacian_batch,
)
from solvers.linear.system import LinearSystem  # noqa: E402

KHODAK_GRID = tuple(np.round(np.arange(1.0, 1.95, 0.1), 2).tolist())
GRIDS = {"khodak 1.0:0.1:1.9": KHODAK_GRID,
         "geometric r=1/2": geometric_omegas(5, 0.5),
         "geometric r=2^-2/3": geometric_omegas(7, 2 ** (-2 / 3)),
         "geometric r=2^-1/2": geometric_omegas(9, 2 ** -0.5)}
VARIANTS = {"eta0=8, baseline=mean": {"eta0": 8.0, "baseline": 1.0},
            "eta0=16, baseline=mean": {"eta0": 16.0, "baseline": 1.0},
            "eta0=16, baseline=mean/2 (default)": {"eta0": 16.0, "baseline": 0.5}}


def _play(bandit: TsallisINF, costs: np.ndarray, maxiter: int) -> int:
    """Cumulative cost of the arms the bandit plays; loss = min(iterations / maxiter, 1)."""
    total = 0
    for t in range(costs.shape[1]):
        arm = bandit.select()
        total += int(costs[arm, t])
        bandit.update(arm, min(costs[arm, t] / maxiter, 1.0))
    return total


def part_khodak(quick: bool) -> dict:
    """Ratios (bandit / best fixed omega of the grid, and / best omega of Khodak's grid)
    per grid and variant; tuning seeds and the test seed reported separately."""
    T, maxiter = 2000, 1000
    tune_seeds = [1, 2] if quick else list(range(1, 7))
    bandit_seeds = [100, 101] if quick else [100, 101, 102]
    test_bandit_seeds = list(range(3 if quick else 8))
    out: dict = {"T": T, "tune_seeds": tune_seeds, "rows": []}
    tables = {}
    for seed in [0] + tune_seeds:
        c, b = shifted_laplacian_instances(T, m=10, seed=seed)
        tables[seed] = {g: np.array([sor_shifted_laplacian_batch(b, c, w, rtol=1e-8,
                                                                 maxiter=maxiter) for w in ws])
                        for g, ws in GRIDS.items()}
    for gname, ws in GRIDS.items():
        for vname, opts in VARIANTS.items():
            row = {"grid": gname, "variant": vname}
            for label, seeds, bseeds in (("tune", tune_seeds, bandit_seeds),
                                         ("test", [0], test_bandit_seeds)):
                r, rk = [], []
                for seed in seeds:
                    costs = tables[seed][gname]
                    best = costs.sum(axis=1).min()
                    best_k = tables[seed]["khodak 1.0:0.1:1.9"].sum(axis=1).min()
                    for bs in bseeds:
                        total = _play(TsallisINF(len(ws), seed=bs, **opts), costs, maxiter)
                        r.append(total / best)
                        rk.append(total / best_k)
                row[label] = {"mean": float(np.mean(r)), "max": float(np.max(r)),
                              "vs_khodak_best": float(np.mean(rk))}
            out["rows"].append(row)
            print(f"KHODAK {gname:20s} {vname:36s} tune {row['tune']['mean']:.3f} "
                  f"(max {row['tune']['max']:.3f}) | test {row['test']['mean']:.3f} "
                  f"(max {row['test']['max']:.3f}, vs Khodak-grid best "
                  f"{row['test']['vs_khodak_best']:.3f})", flush=True)
    return out


def part_bandit(quick: bool, n: int | None = None, steps: int | None = None) -> dict:
    if n is None:
        n, steps = (128, 40) if quick else (400, 30)
    N = n * n
    rng = np.random.default_rng(1)
    L = laplacian(n, 2)
    systems = []
    u = rng.standard_normal(N)
    kappas = np.exp(rng.uniform(np.log(0.1), np.log(10.0), steps))  # diffusivity per step
    dt = 1e-3
    for kap in kappas:
        A = (sp.identity(N) + 0.5 * dt * kap * L).tocsr()
        systems.append(LinearSystem(A, u, True, True, {"kappa": float(kap)}))
    omegas = (1.0, 1.2, 1.4, 1.6, 1.8, 1.9)
    grid = ",".join(map(str, omegas))
    geo = geometric_omegas()
    solvers = {"cg": make_solver("cg")}
    solvers.update({f"ssor-cg omega={w}": make_solver("ssor-cg", omega=w)
                    for w in sorted(set(omegas) | set(geo))})
    solvers["ssor-cg bandit"] = make_solver("ssor-cg", omega="bandit", omegas=grid)
    solvers["ssor-cg bandit geometric"] = make_solver("ssor-cg", omega="bandit",
                                                      omegas=",".join(map(str, geo)))
    solvers["ssor-cg chebcb(kappa)"] = make_solver("ssor-cg", omega="chebcb", omegas=grid,
                                                   context="kappa", context_range="0.1:10")
    rows = run_interleaved(solvers, systems)
    fixed = {w: rows[f"ssor-cg omega={w}"] for w in omegas}
    best = min(fixed, key=lambda w: fixed[w]["iterations"])
    fixed_geo = {w: rows[f"ssor-cg omega={w}"] for w in geo}
    best_geo = min(fixed_geo, key=lambda w: fixed_geo[w]["iterations"])
    return {"unknowns": N, "n_systems": steps, "rows": rows, "best_fixed_omega": best,
            "bandit_vs_best_fixed_iterations":
                rows["ssor-cg bandit"]["iterations"] / fixed[best]["iterations"],
            "best_fixed_omega_geometric": best_geo,
            "geometric_bandit_vs_best_fixed_iterations":
                rows["ssor-cg bandit geometric"]["iterations"] / fixed_geo[best_geo]["iterations"],
            "bandit_vs_cg_seconds": rows["ssor-cg bandit"]["seconds"] / rows["cg"]["seconds"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--long", action="store_true", help="200^2 with 150 systems")
    ap.add_argument("--part", choices=("all", "khodak", "heat"), default="all")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    result: dict = {"quick": args.quick}
    if args.part in ("all", "khodak"):
        result["khodak"] = part_khodak(args.quick)
    if args.part in ("all", "heat"):
        c = part_bandit(args.quick, 200, 150) if args.long else part_bandit(args.quick)
        print(f"BANDIT heat CN n={c['unknowns']} systems={c['n_systems']}: bandit/best-fixed "
              f"iterations {c['bandit_vs_best_fixed_iterations']:.3f} (best omega "
              f"{c['best_fixed_omega']}); geometric grid: bandit/best-fixed "
              f"{c['geometric_bandit_vs_best_fixed_iterations']:.3f} (best omega "
              f"{c['best_fixed_omega_geometric']}); bandit/CG seconds "
              f"{c['bandit_vs_cg_seconds']:.2f}")
        print(format_rows(c["rows"]), flush=True)
        result["bandit"] = c
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1, default=float))


if __name__ == "__main__":
    main()
