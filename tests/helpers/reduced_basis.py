"""Small affine test problems for the ROM tests (built with scipy.sparse, no problem zoo).

``thermal_block_terms(n, b)``: -div(kappa grad u) = 1 on the unit square, u = 0 on
the boundary, kappa = mu_q on block q of a b x b partition. Five-point finite
differences on an n x n interior grid; each edge carries the conductivity at its
midpoint, so A(mu) = sum_q mu_q A_q with every A_q symmetric positive semidefinite
(a weighted graph Laplacian plus boundary terms).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from solvers.problems.base import AffineDecomposition


def edge_operators(n: int):
    """Difference matrices of the full (n+2)^2 grid and edge midpoints (x then y edges)."""
    m = n + 2
    h = 1.0 / (n + 1)
    D1 = sp.diags([-np.ones(m - 1), np.ones(m - 1)], [0, 1], shape=(m - 1, m))
    I = sp.identity(m)
    Dx, Dy = sp.kron(D1, I), sp.kron(I, D1)  # axis 0 = x (C order)
    x = np.linspace(0, 1, m)
    mid = 0.5 * (x[:-1] + x[1:])
    mx = np.stack(np.meshgrid(mid, x, indexing="ij"), -1).reshape(-1, 2)
    my = np.stack(np.meshgrid(x, mid, indexing="ij"), -1).reshape(-1, 2)
    interior = np.zeros((m, m), bool)
    interior[1:-1, 1:-1] = True
    return sp.vstack([Dx, Dy]).tocsr(), np.vstack([mx, my]), interior.ravel(), h


def stiffness(n: int, kappa_edges: np.ndarray) -> sp.csr_matrix:
    """``D^T diag(kappa) D / h^2`` restricted to interior nodes."""
    D, _, inner, h = edge_operators(n)
    A = (D.T @ sp.diags(kappa_edges) @ D) / h**2
    return sp.csr_matrix(A[inner][:, inner])


def block_index(points: np.ndarray, b: int) -> np.ndarray:
    ix = np.minimum((points[:, 0] * b).astype(int), b - 1)
    iy = np.minimum((points[:, 1] * b).astype(int), b - 1)
    return ix * b + iy


def thermal_block_terms(n: int = 12, b: int = 2, graded_rhs: bool = False
                        ) -> AffineDecomposition:
    """``graded_rhs``: f = 1 + 3x + 7y^2 breaks the symmetries (a richer solution manifold)."""
    _, mid, _, _ = edge_operators(n)
    blk = block_index(mid, b)
    A_terms = tuple(stiffness(n, (blk == q).astype(float)) for q in range(b * b))
    x = np.linspace(0, 1, n + 2)[1:-1]
    X, Y = np.meshgrid(x, x, indexing="ij")
    f = (1 + 3 * X + 7 * Y**2).ravel() if graded_rhs else np.ones(n * n)
    mu_ref = np.ones(b * b)
    return AffineDecomposition(A_terms, (f,), lambda mu: np.asarray(mu, float),
                               lambda mu: np.ones(1), min_theta_ref=mu_ref)
