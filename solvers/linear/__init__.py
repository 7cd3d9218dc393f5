"""Linear solvers: a registry of sequence solvers behind one small interface.

Single-system functions (scipy's calling convention, ``-> (x, SolveStats)``):
:func:`~solvers.linear.krylov.cg`, :func:`~solvers.linear.krylov.gmres`,
:func:`~solvers.linear.gcrodr.gcrodr`, :func:`~solvers.linear.deflated_cg.deflated_cg`,
:func:`~solvers.linear.sor.sor`, :func:`~solvers.linear.sor.ssor_cg`.
Sequence solvers by CLI name: ``direct``, ``cg``, ``gmres``, ``gcrodr``, ``def-cg``,
``sor``, ``ssor-cg``, ``amg-cg``, ``auto`` (see :mod:`solvers.linear.sequence`).
"""

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
    try:
        return SOLVERS[name](**options)
    except TypeError as exc:
        raise ValueError(f"bad option for solver {name!r}: {exc}") from None


def _register_builtin() -> None:
    from .sequence import SEQUENCE_SOLVERS

    for key, factory in SEQUENCE_SOLVERS.items():
        SOLVERS.setdefault(key, factory)


_register_builtin()

__all__ = ["SOLVERS", "SequenceSolver", "SolveStats", "DirectSolver", "make_solver",
           "register_solver", "true_residual"]
