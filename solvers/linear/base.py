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


class DirectSolver(SequenceSolver):
    """Sparse LU (SuperLU), factorising once while the matrix does not change."""

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
            try:
                self._lu = spla.splu(A.tocsc())
            except RuntimeError as exc:  # "Factor is exactly singular"
                raise ValueError(f"direct solve failed: {exc}") from None
            self._A = A.copy()
        x = self._lu.solve(np.asarray(system.b, dtype=np.result_type(A.dtype, system.b.dtype, float)))
        seconds = time.perf_counter() - t0
        res = true_residual(A, x, system.b)
        ok = bool(np.isfinite(res) and res <= max(self.rtol, 1e-6))
        return x, SolveStats(self.name, iterations=1, matvecs=0, residual=res, seconds=seconds,
                             converged=ok, status="ok" if ok else "inaccurate",
                             info={"factor_reused": reused})
