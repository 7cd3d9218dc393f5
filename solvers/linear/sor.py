"""SOR / SSOR iterations and SSOR-preconditioned CG.

For ``A = L + D + U`` (strictly lower, diagonal, strictly upper) one SOR sweep
is ``x <- x + omega D^{-1} (b - L x_new - D x - U x)`` in the natural order,
i.e. ``(D + omega L) x' = omega b - (omega U + (omega - 1) D) x``; SSOR follows
a forward sweep by a backward one. Sweeps run in pyamg's compiled kernels.

:func:`sor_shifted_laplacian_batch` is a vectorised red-black SOR for many
instances of ``(Delta_5 + c I) x = b`` on a square grid at once (the test bed of
Khodak et al., "Learning to Relax", ICLR 2024); red-black ordering is a
consistent ordering, so Young's theory for ``omega`` applies as in the natural
order.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import scipy.sparse as sp

from .base import SolveStats
from .convention import setup
from .krylov import cg
from .precond import SSOR


def sor(A: Any, b: np.ndarray, x0: np.ndarray | None = None, *, rtol: float = 1e-8,
        atol: float = 0.0, maxiter: int | None = None, M: Any = None, omega: float = 1.0,
        symmetric: bool = False, check_every: int = 1,
        callback: Callable[[np.ndarray], None] | None = None) -> tuple[np.ndarray, SolveStats]:
    """Stationary SOR (``symmetric=True``: SSOR) until ``||b - A x|| <= max(rtol ||b||, atol)``.

    ``iterations`` counts sweeps (an SSOR iteration counts as one); the residual
    is checked every ``check_every`` sweeps (one matvec each). ``M`` is ignored
    (accepted for the common calling convention). Stops as ``diverged`` when the
    residual grows by ``1e8`` or becomes non-finite.
    """
    from pyamg.relaxation.relaxation import sor as sor_sweep

    del M
    if not 0 < omega < 2:
        raise ValueError(f"SOR needs 0 < omega < 2, got {omega}")
    A = sp.csr_matrix(A)
    run = setup(A, b, x0, rtol=rtol, atol=atol, maxiter=maxiter)
    op, b, x, bnorm, tol, maxiter = run.op, run.b, run.x, run.bnorm, run.tol, run.maxiter
    if np.any(A.diagonal() == 0):
        raise ValueError("SOR: matrix has zero diagonal entries")
    A = A.astype(run.dtype, copy=False)
    r0 = float(np.linalg.norm(b - op(x)))
    matvecs, it, status = 1, 0, "maxiter"
    step = max(1, int(check_every))
    while it < maxiter:
        s = min(step, maxiter - it)
        if symmetric:  # pyamg's sweep="symmetric" ignores omega: sweep both ways explicitly
            for _ in range(s):
                sor_sweep(A, x, b, omega, iterations=1, sweep="forward")
                sor_sweep(A, x, b, omega, iterations=1, sweep="backward")
        else:
            sor_sweep(A, x, b, omega, iterations=s, sweep="forward")
        it += s
        if callback is not None:
            callback(x)
        rn = float(np.linalg.norm(b - op(x)))
        matvecs += 1
        if rn <= tol:
            status = "converged"
            break
        if not np.isfinite(rn) or rn > 1e8 * max(r0, bnorm):
            status = "diverged"
            break
    return run.result("ssor" if symmetric else "sor", iterations=it, matvecs=matvecs,
                      status=status, info={"omega": float(omega)})


def ssor_cg(A: Any, b: np.ndarray, x0: np.ndarray | None = None, *, rtol: float = 1e-8,
            atol: float = 0.0, maxiter: int | None = None, omega: float = 1.0,
            M: Any = None, callback: Callable[[np.ndarray], None] | None = None
            ) -> tuple[np.ndarray, SolveStats]:
    """CG preconditioned by SSOR(omega) (SPD ``A``, ``0 < omega < 2``); ``M`` is ignored."""
    del M
    x, st = cg(A, b, x0, rtol=rtol, atol=atol, maxiter=maxiter, M=SSOR(sp.csr_matrix(A), omega),
               callback=callback)
    st.solver = "ssor-cg"
    st.info["omega"] = float(omega)
    return x, st


def shifted_laplacian(m: int, c: float = 0.0) -> sp.csr_matrix:
    """``Delta_5 + c I`` on an ``m x m`` interior grid: 4 (+c) on the diagonal, -1 to neighbours."""
    T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(m, m))
    I = sp.identity(m)
    return (sp.kron(T, I) + sp.kron(I, T) + c * sp.identity(m * m)).tocsr()


def sor_shifted_laplacian_batch(b: np.ndarray, c: np.ndarray, omega: float, *,
                                rtol: float = 1e-8, maxiter: int = 1000) -> np.ndarray:
    """Red-black SOR iteration counts for ``(Delta_5 + c_i I) x_i = b_i``, ``x_i^0 = 0``.

    ``b``: ``(batch, m, m)`` right-hand sides on the interior grid (zero
    Dirichlet boundary), ``c``: ``(batch,)`` shifts. With ``d = 4 + c`` and ``N``
    the red-black adjacency, one sweep is
    ``x_R <- (1 - omega) x_R + omega (b_R + N x_B) / d`` followed by the same for
    the black points. The black residual after the sweep is
    ``d (1 - omega) / omega (x_B' - x_B)``, the red one ``b_R + N x_B' - d x_R'``
    (whose product is reused by the next sweep), so a sweep costs two sparse
    block products over all instances. Returns the sweeps after which
    ``||b - A x|| <= rtol ||b||`` per instance (``maxiter + 1`` if never);
    converged instances leave the batch.
    """
    b = np.asarray(b, dtype=float)
    B, m, _ = b.shape
    ii, jj = np.meshgrid(np.arange(m), np.arange(m), indexing="ij")
    red = ((ii + jj) % 2 == 0).ravel()
    Lap = shifted_laplacian(m, 0.0)
    N = (-Lap[red][:, ~red]).tocsr()
    NT = N.T.tocsr()
    flat = b.reshape(B, -1).T
    br, bb = np.ascontiguousarray(flat[red]), np.ascontiguousarray(flat[~red])
    d = 4.0 + np.asarray(c, dtype=float)[None, :]
    bn = np.linalg.norm(flat, axis=0)
    xr, xb = np.zeros_like(br), np.zeros_like(bb)
    counts = np.full(B, maxiter + 1, dtype=np.int64)
    active = np.arange(B)
    sr = br.copy()  # b_R + N x_B
    w = float(omega)
    inv_d, w_d = 1.0 / d, w / d
    for it in range(1, maxiter + 1):
        xr *= 1.0 - w
        xr += w_d * sr
        t = NT @ xr
        t += bb
        t *= inv_d
        t -= xb  # y_B - x_B
        xb += w * t
        sr = N @ xb
        sr += br
        rr = sr - d * xr
        rn2 = np.einsum("ij,ij->j", rr, rr)
        rn2 += ((1.0 - w) * d[0]) ** 2 * np.einsum("ij,ij->j", t, t)
        rn = np.sqrt(rn2)
        done = rn <= rtol * bn
        bad = ~np.isfinite(rn) | (rn > 1e8 * bn)
        if np.any(done | bad):
            counts[active[done]] = it
            keep = ~(done | bad)
            active = active[keep]
            if active.size == 0:
                break
            xr, xb, br, bb, sr = xr[:, keep], xb[:, keep], br[:, keep], bb[:, keep], sr[:, keep]
            d, bn, inv_d, w_d = d[:, keep], bn[keep], inv_d[:, keep], w_d[:, keep]
    return counts


def shifted_laplacian_instances(T: int, m: int = 10, *, seed: int = 0
                                ) -> tuple[np.ndarray, np.ndarray]:
    """The test bed of Khodak et al.: shifts ``c = -0.15 + 0.6 Beta(1/2, 3/2)`` and
    right-hand sides drawn from a standard Gaussian truncated to the ball of
    radius ``sqrt(m^2)`` (rejection sampling). Returns ``(c (T,), b (T, m, m))``.

    On a ``(m + 2) x (m + 2)`` grid with boundary (``m = 10`` for 12 x 12) the
    smallest eigenvalue of ``Delta_5`` is ``4 (1 - cos(pi / (m + 1))) > 0.15``, so
    every instance is SPD and SOR converges for ``0 < omega < 2``.
    """
    rng = np.random.default_rng(seed)
    c = -0.15 + 0.6 * rng.beta(0.5, 1.5, size=T)
    n = m * m
    out = np.empty((0, n))
    while out.shape[0] < T:
        g = rng.standard_normal((2 * T, n))
        out = np.vstack([out, g[np.linalg.norm(g, axis=1) <= np.sqrt(n)]])
    return c, out[:T].reshape(T, m, m)
