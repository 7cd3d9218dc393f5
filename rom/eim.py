"""Empirical interpolation: EIM (greedy, sup norm), DEIM and Q-DEIM.

All three approximate a vector ``g in R^n`` (a function sampled at ``n``
points, or any parametrised vector) from its values at ``M`` interpolation
indices ``p``: ``I_M g = Q (P^T Q)^{-1} P^T g``.

* **EIM** (Barrault, Maday, Nguyen, Patera 2004): greedy over training
  snapshots ``G = [g(mu_1) .. g(mu_K)]``. Step ``M+1`` picks the snapshot
  with the largest sup-norm interpolation error ``r = g - I_M g``, the magic
  point ``x_{M+1} = argmax |r|`` and the basis function ``q = r / r(x_{M+1})``.
  Then ``B_ij = q_j(x_i)`` is unit lower triangular (``q_j`` vanishes at the
  earlier points and is 1 at its own), so interpolation is a forward
  substitution.
* **DEIM** (Chaturantabut & Sorensen 2010): the same point selection applied
  to a given basis ``U`` (e.g. POD modes) column by column.
* **Q-DEIM** (Drmač & Gugercin 2016): the indices are the first ``M`` column
  pivots of a pivoted QR of ``U^T`` (better error constant, no loop).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg as sla


@dataclass
class Interpolant:
    """``I g = Q (Q[p])^{-1} g[p]``: ``Q (n x M)``, indices ``p (M,)``."""

    Q: np.ndarray
    indices: np.ndarray
    unit_lower: bool = False
    history: list[float] = field(default_factory=list)   # max training error after each M
    history_rel: list[float] = field(default_factory=list)
    sources: list[int] = field(default_factory=list)      # EIM: training column of each q_m

    @property
    def M(self) -> int:
        return self.Q.shape[1]

    @property
    def B(self) -> np.ndarray:
        """The interpolation matrix ``Q[p]`` (unit lower triangular for EIM)."""
        return self.Q[self.indices]

    def coefficients(self, values: np.ndarray, M: int | None = None) -> np.ndarray:
        """Coefficients from values at the indices: ``values (..., M)`` -> ``(..., M)``."""
        M = self.M if M is None else M
        v = np.asarray(values, dtype=float)[..., :M]
        B = self.B[:M, :M]
        flat = v.reshape(-1, M).T
        if self.unit_lower:
            c = sla.solve_triangular(B, flat, lower=True, unit_diagonal=True)
        else:
            c = np.linalg.solve(B, flat)
        return c.T.reshape(v.shape)

    def __call__(self, G: np.ndarray, M: int | None = None) -> np.ndarray:
        """Interpolate the columns of ``G`` (``n x K``, or one vector) from ``G[p]``."""
        M = self.M if M is None else M
        G = np.asarray(G, dtype=float)
        vals = G[self.indices[:M]]
        c = self.coefficients(vals.T, M)
        return self.Q[:, :M] @ c.T


def sup_errors(G: np.ndarray, approx: np.ndarray, relative: bool = True) -> np.ndarray:
    """Per-column ``||g - Ig||_inf`` (divided by ``||g||_inf`` when ``relative``)."""
    err = np.max(np.abs(G - approx), axis=0)
    if relative:
        scale = np.max(np.abs(G), axis=0)
        err = err / np.where(scale > 0, scale, 1.0)
    return err


def eim(G: np.ndarray, *, tol: float = 1e-8, max_terms: int | None = None,
        relative: bool = True) -> Interpolant:
    """Greedy EIM on the training snapshots ``G (n x K)`` in the sup norm.

    Stops when the largest (relative, if ``relative``) training error is
    ``<= tol``, after ``max_terms`` terms, or when the residual vanishes.
    The error of every snapshot is updated with one rank-one correction per
    step (``O(n K)`` work per step).
    """
    G = np.asarray(G, dtype=float)
    if G.ndim != 2 or G.size == 0:
        raise ValueError(f"EIM snapshots must be a non-empty n x K array, got shape {G.shape}")
    if not np.all(np.isfinite(G)):
        raise ValueError("EIM snapshots contain NaN or inf")
    n, K = G.shape
    max_terms = min(n, K) if max_terms is None else min(max_terms, n, K)
    scale = np.max(np.abs(G), axis=0) if relative else np.ones(K)
    scale = np.where(scale > 0, scale, 1.0)
    R = G.copy()                       # residuals g - I_M g of all training snapshots
    Q, idx, src, hist, hist_rel = [], [], [], [], []
    while True:
        err = np.max(np.abs(R), axis=0)
        rel = err / scale
        crit = rel if relative else err
        hist.append(float(err.max()))
        hist_rel.append(float(rel.max()))
        if crit.max() <= tol or len(idx) >= max_terms or err.max() == 0.0:
            break
        k = int(np.argmax(crit))
        i = int(np.argmax(np.abs(R[:, k])))
        q = R[:, k] / R[i, k]
        Q.append(q)
        idx.append(i)
        src.append(k)
        R -= np.outer(q, R[i])         # new residuals vanish at every magic point
    Qm = np.column_stack(Q) if Q else np.zeros((n, 0))
    return Interpolant(Qm, np.array(idx, dtype=np.int64), True, hist, hist_rel, src)


def deim(U: np.ndarray) -> Interpolant:
    """DEIM indices for the basis ``U (n x M)`` (the interpolant uses ``U`` itself)."""
    U = np.asarray(U, dtype=float)
    idx = [int(np.argmax(np.abs(U[:, 0])))]
    for l in range(1, U.shape[1]):
        c = np.linalg.solve(U[idx, :l], U[idx, l])
        r = U[:, l] - U[:, :l] @ c
        idx.append(int(np.argmax(np.abs(r))))
    return Interpolant(U, np.array(idx, dtype=np.int64))


def qdeim(U: np.ndarray) -> Interpolant:
    """Q-DEIM indices: the first ``M`` pivots of the column-pivoted QR of ``U^T``."""
    U = np.asarray(U, dtype=float)
    _, _, piv = sla.qr(U.T, mode="economic", pivoting=True)
    return Interpolant(U, np.asarray(piv[: U.shape[1]], dtype=np.int64))


def check_generalisation(train_error: float, test_error: float, factor: float = 100.0) -> bool:
    """Warn when the test error exceeds the training error by more than ``factor``."""
    if test_error > factor * max(train_error, np.finfo(float).tiny):
        warnings.warn(f"EIM test error {test_error:.2e} exceeds the training error "
                      f"{train_error:.2e} by more than {factor:g}x: the training set is "
                      "too coarse", RuntimeWarning, stacklevel=2)
        return False
    return True
