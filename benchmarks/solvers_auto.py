"""``auto`` against what a user would pick, on 2-D and 3-D diffusion sequences.

Baselines: sparse LU (splu), pyamg SA-CG with the setup reused and with a fresh
setup per matrix, IC(0)-CG, all from ``x0 = 0`` (pyamg's and scipy's default);
and the best pyamg baseline again with the warm start ``auto`` uses (``+ws``:
the best of the previous solution, its extrapolation and zero, one matvec
each). ``auto-cold`` is ``auto`` without the warm start. Sequences: changing
coefficients (Darcy-like, ``b = 1``) and a Crank-Nicolson heat trajectory
(fixed matrix, ``b_k = (I - dt/2 L) u_{k-1} + dt f``, smooth ``u_0``).

Usage: ``.venv/bin/python benchmarks/solvers_auto.py [--quick] [--json PATH]``
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

from benchmarks.solver_common import diffusion_matrix, laplacian, smooth_field  # noqa: E402
from solvers.benchmarking import format_rows, make_strategy, run_interleaved  # noqa: E402
from solvers.linear.auto import best_start  # noqa: E402
from solvers.linear.system import LinearSystem  # noqa: E402


class WarmStarted:
    """A baseline given ``auto``'s warm start: ``x0`` = the best of its own previous
    solution, their linear extrapolation and zero (smallest residual)."""

    def __init__(self, solver):
        self.solver, self.history = solver, []

    def solve(self, system, x0=None):
        cands = [("previous", self.history[-1])] if self.history else []
        if len(self.history) == 2:
            cands.append(("extrapolated", 2 * self.history[-1] - self.history[-2]))
        _, start, _ = best_start(system.A, system.b, cands)
        x, st = self.solver.solve(system, start)
        self.history = (self.history + [x])[-2:]
        return x, st


def heat_trajectory(n: int, dim: int, steps: int, dt: float) -> list[LinearSystem]:
    """Crank-Nicolson steps of ``u' = -L u + 1`` from a smooth ``u_0`` (a few sine modes):
    ``(I + dt/2 L) u_k = (I - dt/2 L) u_{k-1} + dt``; the states are computed once with
    pyamg SA-CG to ``1e-12`` so that every strategy solves the same systems."""
    import pyamg

    L = laplacian(n, dim)
    N = n ** dim
    A = (sp.identity(N) + 0.5 * dt * L).tocsr()
    B = (sp.identity(N) - 0.5 * dt * L).tocsr()
    x = np.linspace(0, 1, n + 2)[1:-1]
    g = np.meshgrid(*([x] * dim), indexing="ij")
    u = sum(np.prod([np.sin(np.pi * k * gi) for gi in g], axis=0) / k for k in (1, 2, 3)).ravel()
    ml = pyamg.smoothed_aggregation_solver(A).aspreconditioner()
    systems = []
    for _ in range(steps):
        b = B @ u + dt
        systems.append(LinearSystem(A, b, True, True))
        u, _info = pyamg.krylov.cg(A, b, x0=u, tol=1e-12, maxiter=500, M=ml)
    return systems


def user_sequences(quick: bool) -> list[tuple[str, list[LinearSystem]]]:
    rng = np.random.default_rng(0)
    n2, n3, count = (128, 24, 3) if quick else (512, 64, 3)
    out = []
    for dim, n in ((2, n2), (3, n3)):
        N = n ** dim
        b = np.ones(N)
        darcy = [LinearSystem(diffusion_matrix(n, dim, smooth_field(n, dim, rng)), b, True, True)
                 for _ in range(count)]
        out.append((f"{dim}-D darcy-like {n}^{dim}, {count} coefficients", darcy))
        heat = heat_trajectory(n, dim, 2 * count, 1e-3 if dim == 2 else 2e-3)
        out.append((f"{dim}-D heat CN {n}^{dim}, {2 * count} steps", heat))
    return out


def part_user(quick: bool) -> list[dict]:
    out = []
    for label, systems in user_sequences(quick):
        names = ["splu", "pyamg-cg", "pyamg-cg-fresh", "ic-cg", "auto", "auto-cold"]
        skip = "3-D" in label and not quick
        if skip:
            names.remove("splu")
        solvers = {name: make_strategy(name) for name in names}
        # the warm start for the pyamg variant that is best on this kind of sequence
        name = "pyamg-cg-fresh" if "darcy" in label else "pyamg-cg"
        solvers[f"{name}+ws"] = WarmStarted(make_strategy(name))
        rows = run_interleaved(solvers, systems)
        if skip:
            rows["splu"] = {"skipped": "3-D LU fill (minutes, GBs); see text"}
        ours = ("auto", "auto-cold")
        cold = [r["seconds"] for k, r in rows.items()
                if k not in ours and "+ws" not in k and "seconds" in r]
        warm = [r["seconds"] for k, r in rows.items() if k not in ours and "seconds" in r]
        out.append({"sequence": label, "unknowns": int(systems[0].A.shape[0]), "rows": rows,
                    "auto_vs_best_baseline": rows["auto"]["seconds"] / min(cold),
                    "auto_vs_best_incl_warm": rows["auto"]["seconds"] / min(warm),
                    "auto_cold_vs_best_baseline": rows["auto-cold"]["seconds"] / min(cold)})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    record = {"quick": args.quick, "user": part_user(args.quick)}
    for c in record["user"]:
        print(f"USER {c['sequence']} (n={c['unknowns']}): auto / best baseline (x0=0) = "
              f"{c['auto_vs_best_baseline']:.2f}; auto / best incl. warm-started baselines = "
              f"{c['auto_vs_best_incl_warm']:.2f}; auto-cold / best baseline (x0=0) = "
              f"{c['auto_cold_vs_best_baseline']:.2f}")
        print(format_rows(c["rows"]), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=1, default=float))


if __name__ == "__main__":
    main()
