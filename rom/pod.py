"""Proper orthogonal decomposition in a general inner product.

Given snapshots ``S = [s_1, ..., s_m]`` (columns) and an SPD inner-product
matrix ``X`` (``(u, v)_X = v^T X u``, identity when ``X`` is ``None``), POD finds
the ``X``-orthonormal modes ``V`` minimising the projection error

    sum_j ||s_j - V V^T X s_j||_X^2 = sum_{i>N} sigma_i^2,

where ``sigma_i`` are the singular values of ``S`` as an operator from
Euclidean ``R^m`` into ``(R^n, X)``. We compute them *without* forming the
correlation matrix ``S^T X S`` (which squares the condition number and loses
every ``sigma_i < sqrt(eps) sigma_1``): first an ``X``-orthonormal QR
factorisation ``S = Q R`` by classical Gram–Schmidt with one
re-orthogonalisation (:func:`rom.gram_schmidt.x_qr`), then the SVD of
the small triangular factor ``R = U Sigma W^T``; the modes are ``Q U``. Small
singular values are then accurate to about ``eps * sigma_1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from .gram_schmidt import x_qr


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
