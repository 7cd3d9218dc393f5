"""Gram–Schmidt in a general inner product, and extended-precision products.

For an SPD inner-product matrix ``X`` (``(u, v)_X = v^T X u``; ``None`` is the
Euclidean product), :class:`GramSchmidt` grows an ``X``-orthonormal basis
column by column by classical Gram–Schmidt with one re-orthogonalisation
("twice is enough", Giraud et al. 2005), and :func:`x_qr` is the resulting
``X``-orthonormal QR factorisation ``S = Q R``. :class:`ExtendedProduct`
accumulates ``X v`` in ``np.longdouble`` so that ``X``-orthogonality and
``X``-norms of smooth vectors are not limited by cancellation in the stencil
sums. The reduced basis, its error estimators (:mod:`rom.estimators`) and POD
(:mod:`rom.pod`) build on these.
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
