"""The problem zoo: a registry of parametrised finite-difference PDE problems."""

from __future__ import annotations

import importlib
from typing import Any

from .base import AffineDecomposition, LinearSystem, ParameterSpace, Problem, Solution
from .grid import Grid
from .prescribed import from_record

#: problem name -> "module:Class" (imported lazily, so the CLI starts fast)
PROBLEMS: dict[str, str] = {
    "darcy": "solvers.problems.darcy:Darcy",
    "thermal_block": "solvers.problems.thermal_block:ThermalBlock",
    "helmholtz": "solvers.problems.helmholtz:Helmholtz",
    "advection_diffusion": "solvers.problems.advection_diffusion:AdvectionDiffusion",
    "heat": "solvers.problems.heat:Heat",
    "heat_block": "solvers.problems.heat_block:HeatBlock",
    "burgers": "solvers.problems.burgers:Burgers",
    "navier_stokes": "solvers.problems.navier_stokes:NavierStokes",
    "wave": "solvers.problems.wave:Wave",
}


def problem_class(name: str) -> type[Problem]:
    if name not in PROBLEMS:
        raise ValueError(f"unknown problem {name!r}; valid: {', '.join(sorted(PROBLEMS))}")
    module, cls = PROBLEMS[name].split(":")
    return getattr(importlib.import_module(module), cls)


def make_problem(name: str, resolution: int, **options: Any) -> Problem:
    """Instantiate a problem by name (``options`` as from ``--param KEY=VALUE``)."""
    return problem_class(name)(resolution, **options)


def problem_from_config(config: dict[str, Any]) -> Problem:
    """Rebuild the problem stored in a dataset's config (``Problem.config()``).

    Prescribed data are re-read from the recorded files (and checked against
    the recorded sha256).
    """
    problem = make_problem(config["problem"], config["resolution"], **config.get("options", {}))
    records = config.get("prescribed") or {}
    if records:
        problem = problem.prescribe(**{key: from_record(key, rec) for key, rec in records.items()})
    return problem


__all__ = ["PROBLEMS", "AffineDecomposition", "Grid", "LinearSystem", "ParameterSpace", "Problem", "Solution",
           "make_problem", "problem_class", "problem_from_config"]
