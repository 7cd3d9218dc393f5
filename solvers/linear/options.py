"""Declared options of the sequence solvers: one frozen dataclass per method.

Every sequence solver class names the dataclass of the options it takes
(``options_type``), with their types and defaults, in the spirit of pyamg's
``('name', {options})`` convention, where each method reads only the options
it declares. :func:`parse_options` turns keyword options into an instance of
it: an option the method does not declare is a ``ValueError`` naming the
option, the solver and the valid options; a value of the wrong type is a
``ValueError`` naming the option. Text is read as the type asks (``"40"`` for
an integer, ``"1,1.5,1.75"`` for a grid of numbers, ``"LO:HI"`` for a range),
so the same options come from Python, from ``--solver-opt KEY=VALUE`` and from
a pipeline file. :func:`option_defaults` lists them.

Checks of the *values* (a known strategy, ``0 < omega < 2``, ...) belong to
the solver that gives them a meaning.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

#: Khodak et al.'s relaxation grid 1.0, 1.1, ..., 1.9: the arms of a learned ``omega``
DEFAULT_OMEGAS: tuple[float, ...] = tuple(np.round(np.arange(1.0, 1.95, 0.1), 2).tolist())


@dataclass(frozen=True)
class SolverOptions:
    """Every sequence solver: stop when ``||b - A x|| <= max(rtol ||b||, atol)`` or after
    ``maxiter`` iterations (``None``: the method's default)."""

    rtol: float = 1e-8
    atol: float = 0.0
    maxiter: int | None = None


@dataclass(frozen=True)
class PreconditionedOptions(SolverOptions):
    """Krylov methods along a sequence: the preconditioner and what is carried over.

    ``strategy`` (``None``: the method's default) is ``independent``,
    ``warm-start``, ``reuse-preconditioner`` or ``recycle``; the preconditioner is
    rebuilt when the iteration count grows by ``rebuild_factor`` or the matrix
    moves by more than ``rebuild_change`` (relative Frobenius norm);
    ``reuse_precond`` overrides the strategy's choice of keeping it;
    ``precond_options`` go to :func:`~solvers.linear.precond.make_precond`.
    """

    precond: str | None = "none"
    strategy: str | None = "reuse-preconditioner"
    rebuild_factor: float = 2.0
    rebuild_change: float | None = None
    reuse_precond: bool | None = None
    precond_options: dict[str, Any] | None = None


@dataclass(frozen=True)
class CGOptions(PreconditionedOptions):
    """CG; ``k`` deflation vectors carried with ``strategy=recycle`` (deflated CG)."""

    k: int = 10


@dataclass(frozen=True)
class AmgCGOptions(CGOptions):
    """CG with a smoothed-aggregation AMG preconditioner."""

    precond: str | None = "amg"


@dataclass(frozen=True)
class DeflatedCGOptions(CGOptions):
    """Deflated CG: a Ritz basis of ``k`` vectors carried across the sequence."""

    strategy: str | None = "recycle"


@dataclass(frozen=True)
class GMRESOptions(PreconditionedOptions):
    """GMRES(``restart``); ``m`` is GCRO-DR's name for the cycle length and wins over
    ``restart`` when given; ``k`` recycled vectors with ``strategy=recycle`` (GCRO-DR)."""

    restart: int = 40
    m: int | None = None
    k: int = 20


@dataclass(frozen=True)
class GCRODROptions(GMRESOptions):
    """GCRO-DR(m, k): a Krylov subspace recycled across the sequence."""

    strategy: str | None = "recycle"


@dataclass(frozen=True)
class RelaxationOptions(SolverOptions):
    """SOR / SSOR-CG: ``omega`` a number in ``(0, 2)`` or learned online (``bandit``,
    ``cb``, ``chebcb``) over the grid ``omegas``, with the scalar context
    ``system.meta[context]`` scaled by ``context_range`` for the contextual
    learners, the cost ``feedback`` (``iterations`` or ``seconds``) and the
    bandit's ``seed``. These methods precondition themselves: ``precond`` is
    ``none``, and nothing is rebuilt.
    """

    precond: str | None = "none"
    strategy: str | None = "reuse-preconditioner"
    omega: float | str = 1.5
    omegas: tuple[float, ...] | None = DEFAULT_OMEGAS
    context: str = "context"
    context_range: tuple[float, float] | None = None
    feedback: str = "iterations"
    seed: int = 0
    # fixed for methods without an external preconditioner (recorded in settings)
    rebuild_factor: ClassVar[float] = 2.0
    rebuild_change: ClassVar[float | None] = None
    reuse_precond: ClassVar[bool | None] = None
    precond_options: ClassVar[dict[str, Any] | None] = None


@dataclass(frozen=True)
class AutoOptions(SolverOptions):
    """``auto``: sparse direct up to ``small_max`` unknowns for every system and up to
    ``direct_max`` for non-SPD ones, Jacobi-CG for 3-D 7-point-like SPD stencils up to
    ``jacobi_max`` unknowns, the next preconditioner of its chain after
    ``spd_max_iterations``; ``precond`` fixes the preconditioner; ``rebuild_change``
    as for Krylov methods; ``warm_start`` from the best of the previous solution, its
    extrapolation and zero."""

    direct_max: int = 300_000
    small_max: int = 5000
    precond: str | None = None
    rebuild_change: float = 0.05
    spd_max_iterations: int = 150
    warm_start: bool = True
    jacobi_max: int = 110_000


# ------------------------------------------------------------------ reading values
class _Mismatch(Exception):
    """A value that does not read as the type asked for."""


_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def _read_bool(value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise _Mismatch


def _read_int(value: Any) -> int:
    if isinstance(value, (bool, np.bool_)):
        raise _Mismatch
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            raise _Mismatch from None
    raise _Mismatch


def as_number(value: Any) -> float | None:
    """``value`` as a float when it is a number or reads as one (booleans are not), else None."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _read_float(value: Any) -> float:
    number = as_number(value)
    if number is None:
        raise _Mismatch
    return number


def _read_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise _Mismatch


def _read_numbers(value: Any, sep: str = ",") -> tuple[float, ...]:
    """``"a,b,c"`` (``sep``-separated) or a sequence of numbers -> floats."""
    if isinstance(value, str):
        value = value.split(sep)
    if not isinstance(value, Sequence) or not len(value):
        raise _Mismatch
    return tuple(_read_float(v) for v in value)


def _read_range(value: Any) -> tuple[float, float]:
    """``"LO:HI"``, ``"LO,HI"`` or a pair -> ``(lo, hi)``."""
    if isinstance(value, str):
        value = value.replace(",", ":")
    out = _read_numbers(value, ":")
    if len(out) != 2:
        raise _Mismatch
    return out


def _read_mapping(value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    raise _Mismatch


#: annotation -> (reader, what the error message asks for)
_READERS: dict[Any, tuple[Any, str]] = {
    bool: (_read_bool, "true or false"),
    int: (_read_int, "an integer"),
    float: (_read_float, "a number"),
    str: (_read_str, "a string"),
    tuple[float, ...]: (_read_numbers, "a comma-separated list of numbers"),
    tuple[float, float]: (_read_range, "a range LO:HI"),
    dict[str, Any]: (_read_mapping, "a mapping"),
}


def _alternatives(hint: Any) -> tuple[list[Any], bool]:
    """The members of a union annotation (``None`` apart) and whether ``None`` is allowed."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        members = list(typing.get_args(hint))
    else:
        members = [hint]
    return [m for m in members if m is not type(None)], type(None) in members


def _read(value: Any, hint: Any, option: str, solver: str) -> Any:
    members, optional = _alternatives(hint)
    if value is None:
        if optional:
            return None
    else:
        for member in members:
            try:
                return _READERS[member][0](value)
            except _Mismatch:
                continue
    wanted = " or ".join([_READERS[m][1] for m in members] + (["none"] if optional else []))
    raise ValueError(f"option {option!r} of solver {solver!r} must be {wanted}, got {value!r}")


# ------------------------------------------------------------------ the public entry points
def option_defaults(options_type: type) -> dict[str, Any]:
    """``{option: default}`` of an options dataclass, in declaration order."""
    return {f.name: f.default for f in dataclasses.fields(options_type)}


def parse_options(options_type: type, solver: str, given: Mapping[str, Any]) -> Any:
    """Check ``given`` against the options ``options_type`` declares and build it.

    Unknown names and values of the wrong type raise ``ValueError`` (naming the
    option, and for unknown names the solver and the valid options).
    """
    hints = typing.get_type_hints(options_type)
    declared = option_defaults(options_type)
    values = {}
    for name, value in given.items():
        if name not in declared:
            raise ValueError(f"unknown option {name!r} for solver {solver!r}; "
                             f"valid: {', '.join(sorted(declared))}")
        values[name] = _read(value, hints[name], name, solver)
    _check_tolerances(values, solver)
    return options_type(**values)


def _check_tolerances(values: Mapping[str, Any], solver: str) -> None:
    """``rtol`` and ``atol`` finite and non-negative, ``maxiter`` at least 1 (or ``None``)."""
    for name in ("rtol", "atol"):
        v = values.get(name)
        if v is not None and not (np.isfinite(v) and v >= 0):
            raise ValueError(f"option {name!r} of solver {solver!r} must be a finite number "
                             f">= 0, got {v!r}")
    v = values.get("maxiter")
    if v is not None and v < 1:
        raise ValueError(f"option 'maxiter' of solver {solver!r} must be at least 1, got {v!r}")
