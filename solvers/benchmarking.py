"""Side-by-side comparison of ways to solve one sequence of linear systems.

A *strategy* is a named recipe for a sequence solver: one of ours from
:func:`solvers.linear.make_solver` with fixed options, or a baseline a user
would otherwise pick (sparse LU, pyamg's smoothed-aggregation CG with the
setup reused or rebuilt per system, IC(0)-CG, scipy's GMRES with ILU). Every
strategy solves the *same* systems, and :func:`run_interleaved` runs them
round-robin over the position in the sequence (system ``i`` of every strategy
before system ``i + 1``), so a change of the machine's load during the run
affects all of them alike. :func:`compare_on_problem` assembles the systems of
a steady problem (parameters from :mod:`solvers.problems.sampling`, optionally
SKR-sorted by :mod:`solvers.ordering`); :func:`format_table` prints the
result. ``rom bench solvers`` and ``benchmarks/solvers_*.py`` are built on it.

This module composes problems, orderings and linear solvers, so it sits beside
them in :mod:`solvers` rather than inside :mod:`solvers.linear` (which the
problems import).
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from solvers.linear import make_solver
from solvers.linear.base import SolveStats, true_residual
from solvers.linear.system import LinearSystem
from solvers.ordering import order_systems
from solvers.problems import make_problem
from solvers.problems.sampling import sample_unit

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
#: the strategies compared when none are named, for SPD and for other sequences
SPD_DEFAULT = ("splu", "pyamg-cg", "pyamg-cg-fresh", "ic-cg", "amg-cg", "def-cg-amg", "auto")
GENERAL_DEFAULT = ("splu", "scipy-gmres-ilu", "gmres-ilu", "gcrodr-ilu", "auto")


class PyamgCG:
    """Baseline: pyamg SA hierarchy set up once on the first matrix (``reuse=False``: for
    every system), as the preconditioner of ``pyamg.krylov.cg``."""

    def __init__(self, rtol: float = 1e-8, reuse: bool = True):
        self.rtol, self.ml, self.reuse = rtol, None, reuse
        self.name = "pyamg-cg" if reuse else "pyamg-cg-fresh"

    def solve(self, system: LinearSystem, x0: np.ndarray | None = None
              ) -> tuple[np.ndarray, SolveStats]:
        import pyamg

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

    def __init__(self, rtol: float = 1e-8):
        self.rtol = rtol

    def solve(self, system: LinearSystem, x0: np.ndarray | None = None
              ) -> tuple[np.ndarray, SolveStats]:
        import scipy.sparse.linalg as spla

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


def check_strategies(names: list[str]) -> None:
    """Reject names that are not strategies, listing the valid ones."""
    for name in names:
        if name not in STRATEGIES:
            raise ValueError(f"unknown strategy {name!r}; valid: {', '.join(STRATEGIES)}")


def make_strategy(name: str, rtol: float = 1e-8) -> Any:
    """A sequence solver (or baseline) for the strategy ``name``: ``solve(system, x0)``."""
    check_strategies([name])
    kind, opts = STRATEGIES[name]
    if kind in ("pyamg", "pyamg-fresh"):
        return PyamgCG(rtol=rtol, reuse=kind == "pyamg")
    if kind == "scipy-gmres":
        return ScipyGmresILU(rtol=rtol)
    opts = dict(opts)
    return make_solver(opts.pop("name"), rtol=rtol, **opts)


def run_interleaved(solvers: dict[str, Any], sequences: dict[str, list[Any]] | list[Any],
                    progress: Callable[[int, int], None] | None = None
                    ) -> dict[str, dict[str, Any]]:
    """Run every solver along its sequence, round-robin over the position in the sequence.

    ``sequences`` is one list for all or a list per solver (e.g. a sorted order).
    Per solver: total ``seconds``, ``iterations``, ``matvecs``, the largest true
    relative residual ``max_residual``, ``all_converged`` and the per-system
    ``seconds_per_system`` / ``iterations_per_system``. ``progress(done, total)`` is
    called after every solve.
    """
    seqs = sequences if isinstance(sequences, dict) else {k: sequences for k in solvers}
    acc = {k: {"seconds": 0.0, "iterations": 0, "matvecs": 0, "max_residual": 0.0,
               "all_converged": True, "n": 0} for k in solvers}
    length = max(len(v) for v in seqs.values())
    total, done = sum(len(seqs[k]) for k in solvers), 0
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
            done += 1
            if progress is not None:
                progress(done, total)
    out = {}
    for name, a in acc.items():
        n = max(a.pop("n"), 1)
        out[name] = {**a, "seconds_per_system": a["seconds"] / n,
                     "iterations_per_system": a["iterations"] / n}
    return out


def sample_parameters(problem: Any, n: int, seed: int) -> np.ndarray:
    """``n`` parameter vectors of ``problem``: i.i.d. uniform points of the unit cube
    (:func:`solvers.problems.sampling.sample_unit`) mapped by its parameter space."""
    space = problem.parameter_space
    return space.from_unit(sample_unit(n, space.dim, "random", seed))


def compare_on_problem(problem_name: str, resolution: int, n: int, params: dict[str, Any],
                       seed: int, strategies: list[str] | None, order: str, rtol: float,
                       progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Assemble ``n`` systems of a steady problem and solve them with every strategy.

    ``order`` is ``given`` (sample order) or ``sorted`` (SKR's ordering); without
    ``strategies`` the defaults for SPD or general systems. Returns a JSON-able
    record: the problem, sizes, ``spd`` and the :func:`run_interleaved` rows
    (``progress`` is passed on to it).
    """
    if strategies:
        check_strategies(strategies)
    problem = make_problem(problem_name, resolution, **params)
    if problem.time_dependent:
        raise ValueError(f"{problem_name} is time-dependent; comparing linear solvers needs a "
                         "steady linear problem (darcy, helmholtz, advection_diffusion, "
                         "thermal_block)")
    mus = sample_parameters(problem, n, seed)
    if order == "sorted":
        mus = mus[order_systems(problem, mus)]
    systems = [problem.assemble(mu) for mu in mus]
    spd = all(s.spd for s in systems)
    names = strategies or list(SPD_DEFAULT if spd else GENERAL_DEFAULT)
    rows = run_interleaved({name: make_strategy(name, rtol) for name in names}, systems,
                           progress)
    return {"problem": problem_name, "resolution": resolution, "n_systems": n,
            "unknowns": int(systems[0].A.shape[0]), "spd": spd, "order": order, "rtol": rtol,
            "strategies": rows}


def format_rows(rows: dict[str, dict[str, Any]]) -> str:
    """The rows of :func:`run_interleaved` side by side: seconds per system, its ratio to
    the fastest, iterations per system, matvecs, the largest true residual, converged;
    a row ``{"skipped": why}`` says why it was not run."""
    width = max([18] + [len(name) + 2 for name in rows])
    timed = [r["seconds_per_system"] for r in rows.values() if "skipped" not in r]
    best = min(timed) if timed else float("nan")
    lines = [f"{'strategy':<{width}}{'s/system':>10}{'vs best':>9}{'iters/sys':>11}"
             f"{'matvecs':>10}{'max res':>11}  ok"]
    for name, r in rows.items():
        if "skipped" in r:
            lines.append(f"{name:<{width}}  skipped: {r['skipped']}")
            continue
        lines.append(f"{name:<{width}}{r['seconds_per_system']:>10.4f}"
                     f"{r['seconds_per_system'] / best:>8.2f}x"
                     f"{r['iterations_per_system']:>11.1f}{r['matvecs']:>10d}"
                     f"{r['max_residual']:>11.2e}  {'yes' if r['all_converged'] else 'NO'}")
    return "\n".join(lines)


def format_table(record: dict[str, Any]) -> str:
    """The record of :func:`compare_on_problem` as a headed table."""
    head = (f"{record['problem']}: {record['n_systems']} systems, {record['unknowns']} unknowns, "
            f"order {record['order']}, rtol {record['rtol']:g}")
    return head + "\n" + format_rows(record["strategies"])
