"""The settings of a generation run, checked before any file is made.

``rom generate`` validates everything it can before it creates a journal, a
lock or a temporary (issue 15: a run refused half way must leave nothing that
a corrected rerun trips over): the sample count, sampler and solve order
(:func:`check_settings`), the sequence solver with its options and
preconditioner (:func:`run_solver`), and the parameter design, whose values
must be finite (:func:`design`). :func:`run_config` is the record of those
settings stored in the dataset (and compared on resume).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from solvers.linear import make_solver
from solvers.linear.precond import check_precond_name
from solvers.problems import Problem
from solvers.problems.sampling import SAMPLERS, sample_unit

#: the solve orders: sample order, or a similarity order (``solvers.ordering``)
ORDERS = ("given", "sorted")


def run_config(problem: Problem, n: int, *, seed: int, sampler: str, solver: Any,
               solver_name: str, precond: str | None, order: str) -> dict[str, Any]:
    """The dataset's ``config``: ``Problem.config()`` plus the generation settings."""
    return {**problem.config(), "n_samples": int(n), "seed": int(seed), "sampler": sampler,
            "solver": solver_name, "solver_settings": solver.settings(), "precond": precond,
            "order": order}


def check_settings(n: int, sampler: str, order: str) -> None:
    """Refuse a non-positive sample count, an unknown sampler or solve order."""
    if int(n) <= 0:
        raise ValueError(f"number of samples must be positive, got {n}")
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; valid: {', '.join(SAMPLERS)}")
    if order not in ORDERS:
        raise ValueError(f"unknown order {order!r}; valid: {', '.join(ORDERS)}")


def run_solver(solver_name: str, solver_options: Mapping[str, Any] | None,
               precond: str | None) -> Any:
    """The sequence solver of a run: ``make_solver(name, **options)``, ``precond`` included."""
    opts = dict(solver_options or {})
    if precond is not None:
        opts["precond"] = precond
    if isinstance(opts.get("precond"), str):
        check_precond_name(opts["precond"])
    return make_solver(solver_name, **opts)


def design(problem: Problem, n: int, sampler: str, seed: int) -> np.ndarray:
    """The ``(n, p)`` parameters of a run, drawn from the seed; non-finite ones are refused."""
    space = problem.parameter_space
    parameters = space.from_unit(sample_unit(n, space.dim, sampler, seed))
    bad = [f"{name} in {list(r)}" for name, r, ok in
           zip(space.names, space.ranges, np.isfinite(parameters).all(axis=0)) if not ok]
    if bad:
        raise ValueError(f"parameters of problem {problem.name!r} drawn with non-finite "
                         f"values: {', '.join(bad)} (their ranges must be finite)")
    return parameters
