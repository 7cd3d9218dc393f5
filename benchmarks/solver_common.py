"""Model matrices of the linear-solver benchmarks (the result table is
:func:`solvers.benchmarking.format_rows`)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def laplacian(n: int, dim: int) -> sp.csr_matrix:
    T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n)) * (n + 1) ** 2
    I = sp.identity(n)
    if dim == 2:
        return (sp.kron(T, I) + sp.kron(I, T)).tocsr()
    return (sp.kron(sp.kron(T, I), I) + sp.kron(sp.kron(I, T), I)
            + sp.kron(sp.kron(I, I), T)).tocsr()


def diffusion_matrix(n: int, dim: int, a: np.ndarray) -> sp.csr_matrix:
    """``-div(a grad u)`` (cell-centred coefficient ``a`` on nodes, arithmetic face means)."""
    h2 = (n + 1) ** 2
    N = n ** dim
    a = a.reshape((n,) * dim)
    rows, cols, vals = [], [], []
    idx = np.arange(N).reshape((n,) * dim)
    diag = np.zeros((n,) * dim)
    for ax in range(dim):
        sl_lo = [slice(None)] * dim
        sl_hi = [slice(None)] * dim
        sl_lo[ax], sl_hi[ax] = slice(0, n - 1), slice(1, n)
        af = 0.5 * (a[tuple(sl_lo)] + a[tuple(sl_hi)]) * h2
        i, j = idx[tuple(sl_lo)].ravel(), idx[tuple(sl_hi)].ravel()
        rows += [i, j]
        cols += [j, i]
        vals += [-af.ravel(), -af.ravel()]
        diag[tuple(sl_lo)] += af
        diag[tuple(sl_hi)] += af
        # Dirichlet faces at the two ends of the axis
        e_lo = [slice(None)] * dim
        e_hi = [slice(None)] * dim
        e_lo[ax], e_hi[ax] = 0, n - 1
        diag[tuple(e_lo)] += a[tuple(e_lo)] * h2
        diag[tuple(e_hi)] += a[tuple(e_hi)] * h2
    rows.append(idx.ravel())
    cols.append(idx.ravel())
    vals.append(diag.ravel())
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(N, N))


def smooth_field(n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    """A log-normal coefficient from a few low Fourier modes (contrast about 10)."""
    x = np.linspace(0, 1, n)
    grids = np.meshgrid(*([x] * dim), indexing="ij")
    g = np.zeros((n,) * dim)
    for _ in range(6):
        k = rng.integers(1, 4, size=dim)
        phase = rng.uniform(0, 2 * np.pi)
        g += rng.standard_normal() * np.cos(sum(np.pi * k[d] * grids[d] for d in range(dim)) + phase)
    return np.exp(0.6 * g).ravel()
