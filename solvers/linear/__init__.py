"""Linear solvers: a registry of sequence solvers behind one small interface.

Single-system functions (scipy's calling convention, ``-> (x, SolveStats)``,
set up once in :mod:`~solvers.linear.convention`):
:func:`~solvers.linear.krylov.cg`, :func:`~solvers.linear.krylov.gmres`,
:func:`~solvers.linear.gcrodr.gcrodr`, :func:`~solvers.linear.deflated_cg.deflated_cg`,
:func:`~solvers.linear.sor.sor`, :func:`~solvers.linear.sor.ssor_cg`.
Sequence solvers by CLI name: ``direct``, ``cg``, ``gmres``, ``gcrodr``, ``def-cg``,
``sor``, ``ssor-cg``, ``amg-cg`` (see :mod:`solvers.linear.sequence`), ``auto``
(:mod:`solvers.linear.auto`: falls back to another strategy, then to the direct
solve, when one fails; a solver named explicitly is never swapped); each
declares its options as a frozen dataclass (:mod:`solvers.linear.options`), which
:func:`make_solver` checks and :func:`solver_options` lists.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .auto import AutoSolver
from .base import DirectSolver, SequenceSolver, SolveStats, true_residual
from .options import option_defaults
from .sequence import SEQUENCE_SOLVERS

#: solver name -> sequence solver class (its ``options_type`` declares the options)
SOLVERS: dict[str, type[SequenceSolver]] = {"direct": DirectSolver, **SEQUENCE_SOLVERS,
                                            "auto": AutoSolver}


def register_solver(name: str, factory: type[SequenceSolver]) -> None:
    """Make ``make_solver(name, **options)`` build ``factory(**options)``; ``factory``
    declares its options as a dataclass ``options_type``."""
    if not dataclasses.is_dataclass(getattr(factory, "options_type", None)):
        raise ValueError(f"solver {name!r} must declare its options (a dataclass "
                         "options_type)")
    SOLVERS[name] = factory


def _solver(name: str) -> type[SequenceSolver]:
    if name not in SOLVERS:
        raise ValueError(f"unknown solver {name!r}; valid: {', '.join(sorted(SOLVERS))}")
    return SOLVERS[name]


def make_solver(name: str, /, **options: Any) -> SequenceSolver:
    """Build a sequence solver by name; unknown names, unknown options and values of the
    wrong type are ``ValueError``s listing what is valid."""
    return _solver(name)(**options)


def solver_options(name: str) -> dict[str, Any]:
    """``{option: default}`` that the solver ``name`` declares."""
    return option_defaults(_solver(name).options_type)


__all__ = ["SOLVERS", "SequenceSolver", "SolveStats", "DirectSolver", "make_solver",
           "register_solver", "solver_options", "true_residual"]
