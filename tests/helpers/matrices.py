"""Small test matrices shared by the linear-solver tests."""

import numpy as np
import scipy.sparse as sp


def laplacian(n, shift=0.0):
    T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n))
    I = sp.identity(n)
    return ((sp.kron(T, I) + sp.kron(I, T)) * (n + 1) ** 2 + shift * sp.identity(n * n)).tocsr()


def convection_diffusion(n, wind=30.0):
    C = sp.diags([-1.0, 0.0, 1.0], [-1, 0, 1], shape=(n, n)) * (n + 1) / 2 * wind
    return (laplacian(n) + sp.kron(C, sp.identity(n)) + sp.kron(sp.identity(n), 0.5 * C)).tocsr()


def rhs(n, seed=0, dtype=float):
    rng = np.random.default_rng(seed)
    b = rng.standard_normal(n)
    if np.dtype(dtype).kind == "c":
        b = b + 1j * rng.standard_normal(n)
    return b
