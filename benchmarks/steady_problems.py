"""Side-by-side timings for the steady problems' building blocks (one run, ratios).

1. Variable-coefficient diffusion assembly ``-div(a grad u)`` (5-point, arithmetic
   face means, homogeneous Dirichlet): ``solvers.problems.fd.diffusion_operator``
   against the idiomatic scipy construction ``Dᵀ diag(a_face) D`` from Kronecker
   difference matrices followed by slicing out the interior (the baseline a user
   would write). Both matrices are checked equal.
2. Gaussian-random-field evaluation on the node grid (Darcy's coefficient):
   separable KL matrix products (``GaussianRandomField.evaluate``) against a
   zero-padded type-I DCT (``scipy.fft.dctn``), which is what the FNO data
   generator does (an inverse DCT). Both fields are checked equal.
3. Thermal block, online assembly: ``Σ_q μ_q A_q`` from the stored affine terms
   against re-assembling ``A(μ)`` from face conductivities.
Context: one sparse direct solve (SuperLU) of the Darcy system of the same size.

Run: ``.venv/bin/python benchmarks/steady_problems.py [--quick]``
"""

from __future__ import annotations

import argparse
import os
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core each, like the single-threaded baselines

import numpy as np  # noqa: E402
import scipy.fft  # noqa: E402
import scipy.sparse as sp  # noqa: E402
import scipy.sparse.linalg as spla  # noqa: E402

from solvers.problems import fd, make_problem  # noqa: E402
from solvers.problems.grid import Grid  # noqa: E402


def best_of(fn, repeats):
    """Minimum wall time of ``repeats`` calls and the last result."""
    best, out = np.inf, None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def scipy_diffusion(grid: Grid, a: np.ndarray) -> sp.csr_matrix:
    """Baseline: ``A = Σ_d D_dᵀ diag(a_face,d / h_d²) D_d`` on all nodes, then the interior block."""
    n = grid.shape[0]
    D1 = sp.diags([-np.ones(n - 1), np.ones(n - 1)], [0, 1], shape=(n - 1, n))
    I = sp.identity(n)
    A = None
    for d, D in enumerate((sp.kron(D1, I), sp.kron(I, D1))):
        sl = [slice(None)] * 2
        sl2 = [slice(None)] * 2
        sl[d], sl2[d] = slice(0, -1), slice(1, None)
        w = 0.5 * (a[tuple(sl)] + a[tuple(sl2)]).ravel() / grid.spacing[d] ** 2
        term = D.T @ sp.diags(w) @ D
        A = term if A is None else A + term
    inner = np.flatnonzero(fd.interior_mask(grid).ravel())
    return A.tocsr()[inner][:, inner]


def dct_field(grf, xi: np.ndarray, n: int) -> np.ndarray:
    """Baseline: the same KL field by a zero-padded type-I DCT on the ``n × n`` node grid.

    ``dct1(x)_k = x_0 + (-1)^k x_{N-1} + 2 Σ_{j=1}^{N-2} x_j cos(π j k/(N-1))``, so
    the coefficient of ``√2 cos(π j x)`` enters as ``√2/2`` for ``j ≥ 1``.
    """
    c = grf.coefficients(xi)
    m = c.shape[0]
    scale = np.where(np.arange(m) == 0, 1.0, np.sqrt(2.0) / 2.0)
    X = np.zeros((n, n))
    X[:m, :m] = c * np.outer(scale, scale)
    return scipy.fft.dctn(X, type=1)


def bench_row(n: int, repeats: int, rng: np.random.Generator) -> str:
    """One table row: all timings at ``n`` nodes per axis."""
    darcy = make_problem("darcy", n, coefficient="lognormal")
    xi = rng.standard_normal(darcy.parameter_space.dim)
    a = darcy.coefficient(xi)
    g = darcy.grid
    t_ours, A = best_of(lambda: fd.diffusion_operator(g, a), repeats)
    t_base, B = best_of(lambda: scipy_diffusion(g, a), repeats)
    assert abs(A - B).max() <= 1e-10 * abs(A).max(), "assemblies differ"

    t_kl, f1 = best_of(lambda: darcy.field.evaluate(xi, g), repeats)
    t_dct, f2 = best_of(lambda: dct_field(darcy.field, xi, n), repeats)
    assert np.abs(f1 - f2).max() < 1e-10 * np.abs(f1).max(), "GRF evaluations differ"

    tb = make_problem("thermal_block", n, blocks_x=3, blocks_y=3)
    ad = tb.affine_decomposition()
    mu = tb.parameter_space.from_unit(rng.random((1, 9)))[0]
    t_aff, (Aa, _) = best_of(lambda: ad.assemble(mu), repeats)
    t_re, Ar = best_of(lambda: tb.operator(mu), repeats)
    assert abs(Aa - Ar).max() <= 1e-12 * abs(Ar).max()

    t_lu = np.nan
    if n <= 513:
        b = np.ones(A.shape[0])
        t_lu, _ = best_of(lambda: spla.splu(A.tocsc()).solve(b), 1)
    return (f"| {n} | {A.shape[0]} | {t_ours:.4f} | {t_base:.4f} | {t_base / t_ours:.1f}x "
            f"| {t_kl:.5f} | {t_dct:.5f} | {t_dct / t_kl:.1f}x | {t_aff:.4f} | {t_re:.4f} "
            f"| {t_re / t_aff:.1f}x | {t_lu:.3f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="sizes 129 and 257 only")
    args = ap.parse_args()
    sizes = (129, 257) if args.quick else (129, 257, 513, 1025)
    repeats = 3 if args.quick else 5
    rng = np.random.default_rng(0)
    print("| N (nodes/axis) | unknowns | fd.diffusion_operator [s] | scipy Dᵀ diag(a) D [s] "
          "| ratio | GRF KL products [s] | GRF DCT-I [s] | ratio | affine Σμ_qA_q [s] "
          "| re-assembly [s] | ratio | SuperLU solve [s] |")
    print("|" + "---|" * 12)
    for n in sizes:
        print(bench_row(n, repeats, rng), flush=True)


if __name__ == "__main__":
    main()
