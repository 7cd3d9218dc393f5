"""Proper orthogonal decomposition and Gram–Schmidt in a general inner product.

Given snapshots ``S = [s_1, ..., s_m]`` (columns) and an SPD inner-product
matrix ``X`` (``(u, v)_X = v^T X u``, identity when ``X`` is ``None``), POD finds
the ``X``-orthonormal modes ``V`` minimising the projection error

    sum_j ||s_j - V V^T X s_j||_X^2 = sum_{i>N} sigma_i^2,

where ``sigma_i`` are the singular values of ``S`` as an operator from
Euclidean ``R^m`` into ``(R^n, X)``. We compute them *without* forming the
correlation matrix ``S^T X S`` (which squares the condition number and loses
every ``sigma_i < sqrt(eps) sigma_1``): first an ``X``-orthonormal QR
factorisation ``S = Q R`` by classical Gram–Schmidt with one
re-orthogonalisation ("twice is enough", Giraud et al. 2005), then the SVD of
the small triangular factor ``R = U Sigma W^T``; the modes are ``Q U``. Small
singular values are then accurate to about ``eps * sigma_1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp


class ExtendedProduct:
    """``X @ v`` accumulated in ``np.longdouble`` and rounded to double.

    For smooth ``v`` the stencil sums of ``X v`` cancel: in double they carry
    relative errors ``~ eps ||X|| ||v|| / ||X v||`` (``~ kappa(X) eps`` for
    the smoothest vectors), which would limit ``X``-orthogonality and
    ``X``-norms to ~1e-12. Extended accumulation removes that loss.
    """

    def __init__(self, X: Any):
        self.X = sp.csr_matrix(X)
        self._ext = self.X.astype(np.longdouble)
        self.shape = self.X.shape

    def __matmul__(self, v: np.ndarray) -> np.ndarray:
        return np.asarray(self._ext @ np.asarray(v).astype(np.longdouble), dtype=float)


def inner(X: Any, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``u^T X v`` for blocks of columns (``X=None`` is the Euclidean product)."""
    return u.T @ (v if X is None else X @ v)


def x_norm(X: Any, u: np.ndarray) -> np.ndarray:
    """``||u||_X`` of a vector, or of each column of a block."""
    Xu = u if X is None else X @ u
    return np.sqrt(np.maximum(np.sum(u * Xu, axis=0), 0.0))


@dataclass
class GramSchmidt:
    """An ``X``-orthonormal basis grown column by column (CGS with re-orthogonalisation).

    ``extend(W)`` orthonormalises new columns ``W`` against the basis and returns
    ``R`` with ``W = Q_new_all @ R`` (rows: all basis vectors after the call).
    A column whose remainder after two passes has ``X``-norm below
    ``rtol`` times its original norm is treated as linearly dependent and
    adds no basis vector.
    """

    X: Any = None
    rtol: float = 1e-13
    Q: np.ndarray | None = None

    @property
    def size(self) -> int:
        return 0 if self.Q is None else self.Q.shape[1]

    def extend(self, W: np.ndarray) -> np.ndarray:
        W = np.asarray(W, dtype=float)
        W = W[:, None] if W.ndim == 1 else W
        n, m = W.shape
        if self.Q is None:
            self.Q = np.zeros((n, 0))
        coef: list[np.ndarray] = []
        for j in range(m):
            v = W[:, j].copy()
            norm0 = float(x_norm(self.X, v))
            h = np.zeros(self.size)
            for _ in range(2):
                if self.size:
                    hh = inner(self.X, self.Q, v)
                    v -= self.Q @ hh
                    h += hh
            r = float(x_norm(self.X, v))
            if norm0 > 0 and r > self.rtol * norm0:
                self.Q = np.column_stack([self.Q, v / r])
                h = np.append(h, r)
            coef.append(h)
        R = np.zeros((self.size, m))
        for j, h in enumerate(coef):
            R[: h.size, j] = h
        return R


def x_qr(S: np.ndarray, X: Any = None, rtol: float = 1e-13) -> tuple[np.ndarray, np.ndarray]:
    """``S = Q R`` with ``Q^T X Q = I`` (rank-revealing only in that dependent columns add no ``Q``)."""
    gs = GramSchmidt(X, rtol)
    R = gs.extend(S)
    return (gs.Q if gs.Q is not None else np.zeros((S.shape[0], 0))), R


@dataclass
class PODResult:
    """``modes`` (``n x N``, ``X``-orthonormal) and all ``singular_values`` (descending)."""

    modes: np.ndarray
    singular_values: np.ndarray

    @property
    def n_modes(self) -> int:
        return self.modes.shape[1]

    def tail(self, N: int | None = None) -> float:
        """``sqrt(sum_{i>N} sigma_i^2)``: the Frobenius projection error with ``N`` modes."""
        N = self.n_modes if N is None else N
        return float(np.sqrt(np.sum(self.singular_values[N:] ** 2)))


def truncation_rank(sigma: np.ndarray, *, tol: float | None = None, energy: float | None = None,
                    max_modes: int | None = None) -> int:
    """Smallest ``N`` meeting every given criterion, capped by ``max_modes``.

    * ``tol``: relative l2 tail ``sqrt(sum_{i>N} s_i^2 / sum_i s_i^2) <= tol``;
    * ``energy``: captured energy ``sum_{i<=N} s_i^2 / sum_i s_i^2 >= energy``.
    Without any criterion, every numerically nonzero mode is kept.
    """
    s2 = np.asarray(sigma, dtype=float) ** 2
    total = float(s2.sum())
    if total == 0.0:
        return 0
    # tails[N] = sum_{i>=N} s_i^2, summed from the small end (accurate for tiny tails)
    tails = np.append(np.cumsum(s2[::-1])[::-1], 0.0)
    N = int(np.sum(sigma > sigma[0] * 1e-14)) if (tol is None and energy is None) else 0
    if tol is not None:
        if tol < 0:
            raise ValueError(f"tol must be >= 0, got {tol}")
        N = max(N, int(np.argmax(tails <= tol ** 2 * total)))
    if energy is not None:
        if not 0 < energy <= 1:
            raise ValueError(f"energy must be in (0, 1], got {energy}")
        N = max(N, int(np.argmax(tails <= (1.0 - energy) * total + 0.0)))
    if max_modes is not None:
        if max_modes < 1:
            raise ValueError(f"max_modes must be >= 1, got {max_modes}")
        N = min(N, max_modes)
    return N


def pod(snapshots: np.ndarray, *, X: Any = None, tol: float | None = None,
        energy: float | None = None, max_modes: int | None = None) -> PODResult:
    """POD of the columns of ``snapshots`` in the ``X`` inner product (QR, then SVD of ``R``)."""
    S = np.asarray(snapshots, dtype=float)
    if S.ndim != 2 or S.shape[1] == 0:
        raise ValueError(f"snapshots must be a non-empty 2-D array (n x m), got shape {S.shape}")
    if not np.all(np.isfinite(S)):
        raise ValueError("snapshots contain NaN or inf")
    if X is not None and sp.issparse(X):
        X = sp.csr_matrix(X)
    if X is None:
        Q, R = np.linalg.qr(S, mode="reduced")
    else:
        Q, R = x_qr(S, X)
    if R.shape[0] == 0:
        return PODResult(np.zeros((S.shape[0], 0)), np.zeros(0))
    U, sigma, _ = np.linalg.svd(R, full_matrices=False)
    N = truncation_rank(sigma, tol=tol, energy=energy, max_modes=max_modes)
    return PODResult(Q @ U[:, :N], sigma)
