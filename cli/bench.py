"""``rom bench``: side-by-side benchmarks (a click group; ``solvers`` is the first kind).

``rom bench solvers PROBLEM --resolution R -n N`` assembles ``N`` systems of a
steady linear problem and solves the same sequence with several strategies,
baselines included (sparse LU, pyamg smoothed-aggregation CG with the setup
reused, IC(0)-CG, scipy's GMRES with ILU), printing one table: seconds per
system, iterations, matvecs and the largest true relative residual.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import click

#: strategy name -> (kind, options). kind "solver": our registry; else a baseline.
STRATEGIES: dict[str, tuple[str, dict[str, Any]]] = {
    "splu": ("solver", {"name": "direct"}),
    "pyamg-cg": ("pyamg", {}),
    "pyamg-cg-fresh": ("pyamg-fresh", {}),
    "ic-cg": ("solver", {"name": "cg", "precond": "ic0", "strategy": "independent"}),
    "scipy-gmres-ilu": ("scipy-gmres", {}),
    "cg": ("solver", {"name": "cg"}),
    "amg-cg": ("solver", {"name": "amg-cg"}),
    "def-cg-amg": ("solver", {"name": "def-cg", "precond": "amg"}),
    "ssor-cg": ("solver", {"name": "ssor-cg", "omega": 1.5}),
    "ssor-cg-bandit": ("solver", {"name": "ssor-cg", "omega": "bandit"}),
    "gmres": ("solver", {"name": "gmres", "strategy": "independent"}),
    "gmres-ilu": ("solver", {"name": "gmres", "precond": "ilu", "strategy": "independent"}),
    "gmres-ilu-reuse": ("solver", {"name": "gmres", "precond": "ilu"}),
    "gcrodr": ("solver", {"name": "gcrodr"}),
    "gcrodr-ilu": ("solver", {"name": "gcrodr", "precond": "ilu"}),
    "auto": ("solver", {"name": "auto"}),
    "auto-cold": ("solver", {"name": "auto", "warm_start": False}),
}
SPD_DEFAULT = ("splu", "pyamg-cg", "pyamg-cg-fresh", "ic-cg", "amg-cg", "def-cg-amg", "auto")
GENERAL_DEFAULT = ("splu", "scipy-gmres-ilu", "gmres-ilu", "gcrodr-ilu", "auto")


class PyamgCG:
    """Baseline: pyamg SA hierarchy set up once on the first matrix (``reuse=False``: for
    every system), as the preconditioner of ``pyamg.krylov.cg``."""

    name = "pyamg-cg"

    def __init__(self, rtol: float = 1e-8, reuse: bool = True, **_: Any):
        self.rtol, self.ml, self.reuse = rtol, None, reuse
        self.name = "pyamg-cg" if reuse else "pyamg-cg-fresh"

    def solve(self, system: Any, x0: Any = None):
        import numpy as np
        import pyamg

        from solvers.linear.base import SolveStats, true_residual

        t0 = time.perf_counter()
        if self.ml is None or not self.reuse:
            self.ml = pyamg.smoothed_aggregation_solver(system.A)
            self.M = self.ml.aspreconditioner(cycle="V")
        res: list[float] = []
        x, _info = pyamg.krylov.cg(system.A, system.b, x0=x0, tol=self.rtol, maxiter=2000,
                                   M=self.M, residuals=res)
        r = true_residual(system.A, x, system.b)
        return x, SolveStats(self.name, iterations=len(res) - 1, matvecs=len(res),
                             residual=r, seconds=time.perf_counter() - t0,
                             converged=bool(np.isfinite(r) and r <= self.rtol))


class ScipyGmresILU:
    """Baseline: ``scipy.sparse.linalg.gmres(restart=40)`` with a fresh ``spilu`` per system."""

    name = "scipy-gmres-ilu"

    def __init__(self, rtol: float = 1e-8, **_: Any):
        self.rtol = rtol

    def solve(self, system: Any, x0: Any = None):
        import numpy as np
        import scipy.sparse.linalg as spla

        from solvers.linear.base import SolveStats, true_residual

        t0 = time.perf_counter()
        ilu = spla.spilu(system.A.tocsc(), drop_tol=1e-4, fill_factor=10)
        M = spla.LinearOperator(system.A.shape, ilu.solve, dtype=ilu.L.dtype)
        count = [0]

        def cb(_: Any) -> None:
            count[0] += 1

        x, _info = spla.gmres(system.A, system.b, rtol=self.rtol, restart=40, maxiter=50,
                              M=M, callback=cb, callback_type="pr_norm")
        r = true_residual(system.A, x, system.b)
        return x, SolveStats(self.name, iterations=count[0], matvecs=count[0], residual=r,
                             seconds=time.perf_counter() - t0,
                             converged=bool(np.isfinite(r) and r <= self.rtol))


def make_strategy(name: str, rtol: float = 1e-8) -> Any:
    """A sequence solver (or baseline) for the strategy ``name``."""
    from solvers.linear import make_solver

    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; valid: {', '.join(STRATEGIES)}")
    kind, opts = STRATEGIES[name]
    if kind in ("pyamg", "pyamg-fresh"):
        return PyamgCG(rtol=rtol, reuse=kind == "pyamg")
    if kind == "scipy-gmres":
        return ScipyGmresILU(rtol=rtol)
    opts = dict(opts)
    return make_solver(opts.pop("name"), rtol=rtol, **opts)


def run_sequence(solver: Any, systems: list[Any]) -> dict[str, Any]:
    """Solve ``systems`` in order; totals of time, iterations, matvecs and the worst residual."""
    return run_interleaved({"_": solver}, {"_": systems})["_"]


def run_interleaved(solvers: dict[str, Any], sequences: dict[str, list[Any]] | list[Any]
                    ) -> dict[str, dict[str, Any]]:
    """Run every solver along its sequence, round-robin over the position in the sequence
    (system ``i`` of every strategy before system ``i + 1``), so that a change of the
    machine's load during the run affects all strategies alike. ``sequences`` is one
    list for all or a list per strategy (e.g. a sorted order)."""
    seqs = sequences if isinstance(sequences, dict) else {k: sequences for k in solvers}
    acc = {k: {"seconds": 0.0, "iterations": 0, "matvecs": 0, "max_residual": 0.0,
               "all_converged": True, "n": 0} for k in solvers}
    length = max(len(v) for v in seqs.values())
    for i in range(length):
        for name, solver in solvers.items():
            if i >= len(seqs[name]):
                continue
            t0 = time.perf_counter()
            _, st = solver.solve(seqs[name][i])
            a = acc[name]
            a["seconds"] += time.perf_counter() - t0
            a["iterations"] += st.iterations
            a["matvecs"] += st.matvecs
            a["max_residual"] = max(a["max_residual"], st.residual)
            a["all_converged"] &= bool(st.converged)
            a["n"] += 1
    out = {}
    for name, a in acc.items():
        n = max(a.pop("n"), 1)
        out[name] = {**a, "seconds_per_system": a["seconds"] / n,
                     "iterations_per_system": a["iterations"] / n}
    return out


def bench_solvers(problem_name: str, resolution: int, n: int, params: dict[str, str],
                  seed: int, strategies: list[str] | None, order: str, rtol: float
                  ) -> dict[str, Any]:
    """Assemble ``n`` systems and solve them with every strategy; a JSON-able record."""
    import numpy as np

    from solvers.problems import make_problem

    problem = make_problem(problem_name, resolution, **params)
    if problem.time_dependent:
        raise ValueError(f"{problem_name} is time-dependent; bench solvers needs a steady "
                         "linear problem (darcy, helmholtz, advection_diffusion, thermal_block)")
    space = problem.parameter_space
    mus = space.from_unit(np.random.default_rng(seed).uniform(1e-6, 1 - 1e-6, (n, space.dim)))
    if order == "sorted":
        from solvers.ordering import order_systems

        mus = mus[order_systems(problem, mus)]
    systems = [problem.assemble(mu) for mu in mus]
    spd = all(s.spd for s in systems)
    names = strategies or list(SPD_DEFAULT if spd else GENERAL_DEFAULT)
    for name in names:
        if name not in STRATEGIES:
            raise ValueError(f"unknown strategy {name!r}; valid: {', '.join(STRATEGIES)}")
    rows = run_interleaved({name: make_strategy(name, rtol) for name in names}, systems)
    return {"problem": problem_name, "resolution": resolution, "n_systems": n,
            "unknowns": int(systems[0].A.shape[0]), "spd": spd, "order": order, "rtol": rtol,
            "strategies": rows}


def format_table(record: dict[str, Any]) -> str:
    """The side-by-side table of :func:`bench_solvers`."""
    rows = record["strategies"]
    best = min(r["seconds"] for r in rows.values())
    head = (f"{record['problem']}: {record['n_systems']} systems, {record['unknowns']} unknowns, "
            f"order {record['order']}, rtol {record['rtol']:g}")
    lines = [head, f"{'strategy':<18}{'s/system':>10}{'vs best':>9}{'iters/sys':>11}"
                   f"{'matvecs':>10}{'max res':>11}  ok"]
    for name, r in rows.items():
        lines.append(f"{name:<18}{r['seconds_per_system']:>10.4f}{r['seconds'] / best:>8.2f}x"
                     f"{r['iterations_per_system']:>11.1f}{r['matvecs']:>10d}"
                     f"{r['max_residual']:>11.2e}  {'yes' if r['all_converged'] else 'NO'}")
    return "\n".join(lines)


@click.group()
def bench() -> None:
    """Side-by-side benchmarks."""


@bench.command("solvers")
@click.argument("problem")
@click.option("--resolution", "-r", type=int, default=64, help="Grid resolution.")
@click.option("-n", "n", type=int, default=20, help="Number of systems in the sequence.")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE",
              help="Problem option (repeatable).")
@click.option("--seed", type=int, default=0, help="Seed of the parameter samples.")
@click.option("--strategies", default="", metavar="A,B,...",
              help=f"Strategies to compare (default by SPD-ness); valid: {', '.join(STRATEGIES)}.")
@click.option("--order", type=click.Choice(["given", "sorted"]), default="given",
              help="Solve in sample order or SKR-sorted.")
@click.option("--rtol", type=float, default=1e-8, help="Relative true-residual tolerance.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def solvers_cmd(problem: str, resolution: int, n: int, params: tuple[str, ...], seed: int,
                strategies: str, order: str, rtol: float, as_json: bool) -> None:
    """Solve the same sequence of PROBLEM's systems with several strategies, side by side."""
    if n < 1:
        raise click.BadParameter("must be at least 1", param_hint="-n")
    pairs = {}
    for p in params:
        key, sep, value = p.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {p!r}", param_hint="--param")
        pairs[key] = value
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    names = [s.strip() for s in strategies.split(",") if s.strip()] or None
    record = bench_solvers(problem, resolution, n, pairs, seed, names, order, rtol)
    click.echo(json.dumps(record) if as_json else format_table(record))
