"""The calling convention of the single-system functions, written once.

Every function of :mod:`~solvers.linear.krylov`, :mod:`~solvers.linear.gcrodr`,
:mod:`~solvers.linear.deflated_cg` and :mod:`~solvers.linear.sor` follows
scipy.sparse.linalg's ``f(A, b, x0=None, *, rtol, atol, maxiter, M, callback)
-> (x, SolveStats)`` and starts and ends the same way, as scipy's ``_isolve``
does with ``make_system`` and ``_get_atol_rtol``:

* :func:`setup` checks ``A x = b`` (square, matching shapes, finite data),
  brings ``b`` and ``x0`` to the common dtype ``result_type(A, b, float64)``,
  turns ``A`` and ``M`` into their actions ``v -> A v`` and ``r -> M r``, the
  tolerances into one absolute target ``tol = max(rtol ||b||_2, atol)`` and
  ``maxiter=None`` into ``10 n``; ``b = 0`` with ``atol = 0`` has the solution
  ``x = 0`` (:attr:`Iteration.zero_rhs`);
* :meth:`Iteration.result` judges convergence on the *true* residual,
  ``||b - A x||_2 <= tol``, whatever the iteration's own estimate said, and
  builds the :class:`~solvers.linear.base.SolveStats` record;
  :meth:`Iteration.replace_residual` is the residual replacement of CG and
  GCRO-DR (the recursive residual met the target: recompute ``b - A x`` and go
  on from it unless it meets the target too).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .base import SolveStats, check_system

Operator = Callable[[np.ndarray], np.ndarray]
#: times an iteration may restart its recurrence from the true residual before it stops
MAX_REPLACEMENTS = 3


def as_matvec(A: Any) -> Operator:
    """``v -> A v`` for a sparse/dense matrix, a ``LinearOperator`` or a callable.

    Works on vectors ``(n,)`` and blocks ``(n, k)``.
    """
    if sp.issparse(A) or isinstance(A, np.ndarray):
        return lambda v: A @ v
    if isinstance(A, spla.LinearOperator):
        return lambda v: A.matvec(v) if v.ndim == 1 else A.matmat(v)
    if callable(A):
        return A
    raise ValueError(f"cannot apply an operator of type {type(A).__name__}")


def as_precond(M: Any) -> Operator | None:
    """The action ``r -> M r`` of a preconditioner (``None`` for the identity)."""
    if M is None:
        return None
    if hasattr(M, "apply"):
        return M.apply
    return as_matvec(M)


def _operator_dtype(A: Any, b: np.ndarray) -> np.dtype:
    """Check ``A`` against ``b`` (matrices fully, other operators by shape) and return its dtype."""
    if sp.issparse(A) or isinstance(A, np.ndarray):
        check_system(A, b)
        return A.dtype
    shape = getattr(A, "shape", None)
    if shape is None or len(shape) != 2 or shape[0] != shape[1]:
        raise ValueError(f"operator must be square, got shape {shape}")
    if shape[0] != b.shape[0]:
        raise ValueError(f"right-hand side has {b.shape[0]} rows, operator has {shape[0]}")
    if not np.all(np.isfinite(b)):
        raise ValueError("right-hand side contains NaN or inf")
    return getattr(A, "dtype", np.float64) or np.float64


@dataclass
class Iteration:
    """One solve of ``A x = b`` as :func:`setup` prepared it; ``x`` is updated in place."""

    op: Operator                 #: ``v -> A v``
    prec: Operator | None        #: ``r -> M r`` (``None``: no preconditioner)
    b: np.ndarray
    x: np.ndarray
    dtype: np.dtype
    rtol: float
    atol: float
    maxiter: int                 #: ``10 n`` unless given
    bnorm: float = field(init=False)
    tol: float = field(init=False)  #: the absolute target ``max(rtol ||b||, atol)``
    t0: float = field(default_factory=time.perf_counter)
    replacements: int = 0        #: residual replacements so far (:meth:`replace_residual`)

    def __post_init__(self) -> None:
        self.bnorm = float(np.linalg.norm(self.b))
        self.tol = max(self.rtol * self.bnorm, self.atol)

    @property
    def n(self) -> int:
        return int(self.b.shape[0])

    @property
    def zero_rhs(self) -> bool:
        """``b = 0`` and ``atol = 0``: ``x = 0`` is the solution, nothing to iterate."""
        return self.bnorm == 0 and self.atol == 0

    def precondition(self, r: np.ndarray) -> np.ndarray:
        """``M r`` (``r`` itself without a preconditioner)."""
        return self.prec(r) if self.prec else r

    def right_preconditioned(self) -> Operator:
        """``v -> A M v``, the operator of right-preconditioned methods."""
        op, prec = self.op, self.prec
        return (lambda v: op(prec(v))) if prec else op

    def initial_residual(self) -> tuple[np.ndarray, int]:
        """``(r0, matvecs)``: ``b - A x0``, or ``b`` (no matvec) when ``x0 = 0``."""
        if np.any(self.x):
            return self.b - self.op(self.x), 1
        return self.b.copy(), 0

    def replace_residual(self) -> tuple[np.ndarray, bool]:
        """Residual replacement, for when the recursive residual meets ``tol``.

        Returns the true residual ``r = b - A x`` (one matvec, for the caller to
        count) and whether to stop: ``||r|| <= tol``, or :data:`MAX_REPLACEMENTS`
        replacements have not brought the true residual there (rounding in the
        recurrence bounds what it can reach; :meth:`result` then says so).
        """
        r = self.b - self.op(self.x)
        done = bool(np.linalg.norm(r) <= self.tol) or self.replacements >= MAX_REPLACEMENTS
        if not done:
            self.replacements += 1
        return r, done

    def result(self, name: str, *, iterations: int, matvecs: int, status: str,
               info: dict[str, Any] | None = None) -> tuple[np.ndarray, SolveStats]:
        """``(x, stats)`` with convergence judged on the true residual ``||b - A x|| <= tol``.

        A status the iteration set (``maxiter``, ``indefinite``, ...) is kept when the
        true residual misses the target; an empty or ``converged`` one becomes
        ``inaccurate``, and a non-finite ``x`` or residual is always ``nan``. Costs
        one matvec (counted) when ``x`` is finite.
        """
        x, b = self.x, self.b
        if np.all(np.isfinite(x)):
            rnorm = float(np.linalg.norm(b - self.op(x)))
            matvecs += 1
        else:
            rnorm = float("nan")
        rel = rnorm / self.bnorm if self.bnorm > 0 else rnorm
        ok = bool(np.isfinite(rnorm) and rnorm <= self.tol)
        if ok:
            status = "converged"
        elif not np.isfinite(rnorm):
            status = "nan"
        elif status in ("", "converged"):
            status = "inaccurate"
        return x, SolveStats(name, iterations=iterations, matvecs=matvecs, residual=rel,
                             seconds=time.perf_counter() - self.t0, converged=ok,
                             status=status, info=info or {})

    def solved_by_zero(self, name: str, info: dict[str, Any] | None = None
                       ) -> tuple[np.ndarray, SolveStats]:
        """The record of the ``b = 0`` case: ``x = 0`` after no iteration."""
        self.x[:] = 0
        return self.result(name, iterations=0, matvecs=0, status="converged", info=info)


def setup(A: Any, b: np.ndarray, x0: np.ndarray | None, *, rtol: float, atol: float,
          maxiter: int | None, M: Any = None) -> Iteration:
    """Validate ``A x = b`` and return the :class:`Iteration` every method starts from."""
    t0 = time.perf_counter()
    b = np.asarray(b)
    if b.ndim != 1:
        raise ValueError(f"right-hand side must be a vector, got shape {b.shape}")
    dtype = np.result_type(_operator_dtype(A, b), b.dtype, np.float64)
    if x0 is None:
        x = np.zeros(b.shape[0], dtype=dtype)
    else:
        x = np.array(x0, dtype=dtype)
        if x.shape != b.shape:
            raise ValueError(f"x0 has shape {x.shape}, expected {b.shape}")
    return Iteration(as_matvec(A), as_precond(M), b.astype(dtype, copy=False), x, dtype,
                     float(rtol), float(atol),
                     10 * b.shape[0] if maxiter is None else int(maxiter), t0=t0)
