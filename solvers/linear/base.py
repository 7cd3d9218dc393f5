"""Statistics records and the sequence-solver interface.

Single-system functions follow scipy.sparse.linalg's calling convention
``f(A, b, x0=None, *, rtol, atol, maxiter, M, callback) -> (x, SolveStats)``.
Generating a dataset solves a *sequence* of related systems; a
:class:`SequenceSolver` is the stateful object that carries what can be reused
from one system to the next (a factorisation, a recycle space, a
preconditioner, a bandit's state). Convergence is always judged on the true
relative residual ``||b - A x|| / ||b||`` computed after the solve.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .options import SolverOptions, parse_options
from .system import LinearSystem


@dataclass
class SolveStats:
    """One linear solve. ``residual`` is the true relative residual."""

    solver: str
    iterations: int = 0
    matvecs: int = 0
    residual: float = float("nan")
    seconds: float = 0.0
    converged: bool = False
    status: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def true_residual(A: Any, x: np.ndarray, b: np.ndarray) -> float:
    """``||b - A x||_2 / ||b||_2`` (absolute residual when ``b = 0``)."""
    r = np.linalg.norm(b - A @ x)
    nb = np.linalg.norm(b)
    return float(r / nb) if nb > 0 else float(r)


def check_system(A: Any, b: np.ndarray) -> None:
    """Reject non-square matrices, mismatched shapes and non-finite data with a clear error."""
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"matrix must be square, got shape {A.shape}")
    if b.shape[0] != A.shape[0]:
        raise ValueError(f"right-hand side has {b.shape[0]} rows, matrix has {A.shape[0]}")
    data = A.data if sp.issparse(A) else np.asarray(A)
    if not (np.all(np.isfinite(data)) and np.all(np.isfinite(b))):
        raise ValueError("matrix or right-hand side contains NaN or inf")


class SequenceSolver:
    """Solves ``A_i x_i = b_i`` one after the other, reusing state between systems.

    A subclass declares the options it takes as a frozen dataclass,
    ``options_type`` (:mod:`solvers.linear.options`); the keyword options are
    checked against it and kept as ``self.options``.
    """

    name = ""
    options_type: type = SolverOptions

    def __init__(self, **options: Any):
        self.options = parse_options(self.options_type, self.name, options)
        self.rtol, self.atol = self.options.rtol, self.options.atol
        self.maxiter = self.options.maxiter

    def settings(self) -> dict[str, Any]:
        """The options that define this solver (stored with every dataset)."""
        return {"rtol": self.rtol, "atol": self.atol, "maxiter": self.maxiter}

    def reset(self) -> None:
        """Forget everything carried between systems."""

    def solve(self, system: LinearSystem, x0: np.ndarray | None = None
              ) -> tuple[np.ndarray, SolveStats]:
        raise NotImplementedError


#: refinement steps a direct solve may take to meet its tolerance
REFINE_STEPS = 5


def lu_factor(A: Any) -> spla.SuperLU:
    """The sparse LU factorisation (SuperLU) behind the ``direct`` solver.

    A singular matrix is a ``ValueError`` ("direct solve failed: ...").
    """
    try:
        return spla.splu(sp.csc_matrix(A))
    except RuntimeError as exc:  # "Factor is exactly singular"
        raise ValueError(f"direct solve failed: {exc}") from None


def _extended(a: Any) -> Any:
    """``a`` in extended precision (``longdouble`` / ``clongdouble``)."""
    kind = np.clongdouble if np.iscomplexobj(a.data if sp.issparse(a) else a) else np.longdouble
    return a.astype(kind)


def refine(A: sp.csr_matrix, b: np.ndarray, x: np.ndarray, solve: Any, tol: float,
           steps: int = REFINE_STEPS) -> tuple[np.ndarray, float, dict[str, Any]]:
    """Iterative refinement of ``x ~ A^{-1} b`` until ``||b - A x|| <= tol``.

    Wilkinson's refinement with the factorisation at hand (Higham, *Accuracy and
    Stability of Numerical Algorithms*, ch. 12): ``r = b - A x``,
    ``x <- x + solve(r)``. Residuals are formed in double precision; when a step
    no longer reduces ``||r||`` they are formed in extended precision
    (``np.longdouble``) from then on, which removes the rounding of ``b - A x``
    itself (mixed-precision refinement). Stops when ``||r|| <= tol``, after
    ``steps`` steps, or when even the extended residual stops decreasing (the
    factorisation's error times the conditioning leaves nothing to gain).

    Returns ``(x, ||b - A x||, info)``; ``info`` has ``refinement_steps`` and, once
    used, ``residual_precision: "extended"``.
    """
    r = b - A @ x
    rn = float(np.linalg.norm(r))
    info: dict[str, Any] = {"refinement_steps": 0}
    ext: tuple[Any, Any] | None = None
    taken = 0
    while taken < steps and np.isfinite(rn) and rn > tol:
        x_new = x + solve(r.astype(x.dtype, copy=False))
        if ext is None:
            r_new = b - A @ x_new
        else:
            r_new = ext[1] - ext[0] @ _extended(x_new)
        rn_new = float(np.linalg.norm(r_new))
        taken += 1
        if rn_new < rn:
            x, r, rn = x_new, r_new, rn_new
        elif ext is None:  # rounding of b - A x dominates: form residuals in extended precision
            ext = (_extended(A), _extended(b))
            r = ext[1] - ext[0] @ _extended(x)
            rn = float(np.linalg.norm(r))
            info["residual_precision"] = "extended"
        else:
            break
    info["refinement_steps"] = taken
    return x, rn, info


class DirectSolver(SequenceSolver):
    """Sparse LU (SuperLU), factorising once while the matrix does not change.

    The solve is judged like every other: converged when ``||b - A x|| <=
    max(rtol ||b||, atol)``. A solve that misses it is improved by iterative
    refinement with the same factorisation (:func:`refine`); one that still
    misses it is ``converged=False`` with status ``inaccurate`` and
    ``info["refinement_steps"]`` saying what was tried.
    """

    name = "direct"

    def __init__(self, **options: Any):
        super().__init__(**options)
        self._A: sp.csr_matrix | None = None
        self._lu: Any = None

    def reset(self) -> None:
        self._A, self._lu = None, None

    def _same_matrix(self, A: sp.csr_matrix) -> bool:
        B = self._A
        return (B is not None and B.shape == A.shape and B.nnz == A.nnz
                and np.array_equal(B.indptr, A.indptr) and np.array_equal(B.indices, A.indices)
                and np.array_equal(B.data, A.data))

    def solve(self, system: LinearSystem, x0: np.ndarray | None = None
              ) -> tuple[np.ndarray, SolveStats]:
        A = sp.csr_matrix(system.A)
        check_system(A, system.b)
        t0 = time.perf_counter()
        reused = self._same_matrix(A)
        if not reused:
            self._lu = lu_factor(A)
            self._A = A.copy()
        b = np.asarray(system.b, dtype=np.result_type(A.dtype, system.b.dtype, float))
        x = self._lu.solve(b)
        bnorm = float(np.linalg.norm(b))
        tol = max(self.rtol * bnorm, self.atol)
        x, rnorm, info = refine(A, b, x, self._lu.solve, tol)
        seconds = time.perf_counter() - t0
        res = rnorm / bnorm if bnorm > 0 else rnorm
        ok = bool(np.isfinite(rnorm) and rnorm <= tol)
        return x, SolveStats(self.name, iterations=1, matvecs=info["refinement_steps"],
                             residual=res, seconds=seconds, converged=ok,
                             status="ok" if ok else ("nan" if not np.isfinite(rnorm)
                                                     else "inaccurate"),
                             info={"factor_reused": reused, **info})
