"""Linear solvers: a registry of sequence solvers behind one small interface."""

from __future__ import annotations

from typing import Any, Callable

from .base import DirectSolver, SequenceSolver, SolveStats, true_residual

#: solver name -> factory(**options) -> SequenceSolver
SOLVERS: dict[str, Callable[..., SequenceSolver]] = {"direct": DirectSolver}


def register_solver(name: str, factory: Callable[..., SequenceSolver]) -> None:
    SOLVERS[name] = factory


def make_solver(name: str, **options: Any) -> SequenceSolver:
    """Build a sequence solver by name; unknown names list the valid ones."""
    if name not in SOLVERS:
        raise ValueError(f"unknown solver {name!r}; valid: {', '.join(sorted(SOLVERS))}")
    return SOLVERS[name](**options)


__all__ = ["SOLVERS", "SequenceSolver", "SolveStats", "DirectSolver", "make_solver",
           "register_solver", "true_residual"]
