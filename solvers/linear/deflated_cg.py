"""Deflated (recycled) preconditioned CG for sequences of SPD systems.

Saad, Yeung, Erhel & Guyomarc'h, "A deflated version of the conjugate gradient
algorithm", SIAM J. Sci. Comput. 21 (2000). With a deflation basis ``W``
(``k`` columns), ``E = W^T A W`` and ``mu(v) = E^{-1} (A W)^T v``:

    x0 <- x0 + W E^{-1} W^T r0,   r0 = b - A x0          (so W^T r0 = 0)
    z0 = M r0,                    p0 = z0 - W mu(z0)
    alpha = (r, z) / (p, A p),    x += alpha p,  r -= alpha A p,  z = M r
    beta = (r', z') / (r, z),     p = z' + beta p - W mu(z')

so every search direction is ``A``-orthogonal to ``range(W)`` and CG runs on the
operator with the eigenvalues captured by ``W`` removed. Across a sequence,
``W`` is refreshed by Rayleigh-Ritz on ``Z = [W, P]`` (``P``: the first ``ell``
search directions of the current solve, whose products ``A P`` are already
known): ``(Z^T A Z) y = theta (Z^T Z) y``, keeping the ``k`` smallest Ritz
values. For a new matrix ``A W`` costs one sparse block product (``k``
matvecs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import scipy.linalg as sla

from .base import SolveStats
from .convention import setup
from .krylov import carried_basis, cg_step, cg_trouble, rows_dot


@dataclass
class DeflationSpace:
    """Rows ``W`` (deflation vectors) and ``AW`` (``A W`` for the matrix of the last solve)."""

    W: np.ndarray | None = None
    AW: np.ndarray | None = None

    @property
    def dim(self) -> int:
        return 0 if self.W is None else int(self.W.shape[0])


def _ritz(Z: np.ndarray, AZ: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Rows ``(W, AW)`` of the ``k`` smallest Ritz pairs of ``A`` on ``span(Z)``."""
    G = rows_dot(Z, Z.T)
    S = rows_dot(Z, AZ.T)
    S = 0.5 * (S + S.conj().T)
    # orthonormalise through the Gram matrix, dropping near-dependent directions
    g, Q = np.linalg.eigh(G)
    keep = g > 1e-12 * g.max()
    if not np.any(keep):
        return None
    T = Q[:, keep] / np.sqrt(g[keep])
    theta, Y = np.linalg.eigh(T.conj().T @ S @ T)
    pos = theta > 0
    if not np.any(pos):
        return None
    Y = (T @ Y[:, pos])[:, :k]
    return np.ascontiguousarray(Y.T @ Z), np.ascontiguousarray(Y.T @ AZ)


def deflated_cg(A: Any, b: np.ndarray, x0: np.ndarray | None = None, *, rtol: float = 1e-8,
                atol: float = 0.0, maxiter: int | None = None, M: Any = None,
                callback: Callable[[np.ndarray], None] | None = None, k: int = 10,
                ell: int | None = None, space: DeflationSpace | None = None,
                same_operator: bool = False) -> tuple[np.ndarray, SolveStats]:
    """Deflated PCG for SPD ``A``; reads and refreshes ``space`` in place.

    ``k``: deflation vectors kept; ``ell``: search directions collected for the
    Ritz update (default ``4 k``); ``same_operator=True`` reuses ``space.AW``.
    With an empty space the first solve is plain PCG. ``maxiter`` counts
    iterations (default ``10 n``).
    """
    run = setup(A, b, x0, rtol=rtol, atol=atol, maxiter=maxiter, M=M)
    op, b, x, dtype, tol, maxiter = run.op, run.b, run.x, run.dtype, run.tol, run.maxiter
    n = run.n
    ell = 4 * k if ell is None else int(ell)
    space = space if space is not None else DeflationSpace()
    r, matvecs = run.initial_residual()
    W, AW, carried_matvecs = carried_basis(space.W, space.AW, n=n, k=k, dtype=dtype, op=op,
                                           same_operator=same_operator)
    matvecs += carried_matvecs
    E_fac = None
    if W is not None and not np.all(np.isfinite(AW)):  # A W is NaN/inf: nothing to deflate
        W = AW = None
    if W is not None:
        E = rows_dot(W, AW.T)
        try:
            E_fac = sla.cho_factor(0.5 * (E + E.conj().T))
        except np.linalg.LinAlgError:
            W = AW = None
    if E_fac is not None:
        c = sla.cho_solve(E_fac, rows_dot(W, r))
        x += W.T @ c
        r -= AW.T @ c
        # deflate(z) = z - W E^{-1} (AW)^* z = z - Q^T (AW)^* z with rows
        # Q = (E^{-1})^T W = conj(E^{-1} conj(W)) (E Hermitian), precomputed once:
        # per iteration two block products and no small solve
        Q = np.ascontiguousarray(sla.cho_solve(E_fac, W.conj()).conj())

    def deflate(z: np.ndarray) -> np.ndarray:
        if E_fac is None:
            return z
        return z - Q.T @ rows_dot(AW, z)

    P_rows: list[np.ndarray] = []
    AP_rows: list[np.ndarray] = []
    it, status = 0, "maxiter"
    if run.zero_rhs:
        x[:] = 0
        status = "converged"
    else:
        for _attempt in range(4):
            z = run.precondition(r)
            p = np.array(deflate(z), copy=True)
            rz = np.vdot(r, z)
            while it < maxiter and np.linalg.norm(r) > tol:
                Ap = op(p)
                matvecs += 1
                pAp = np.vdot(p, Ap)
                trouble = cg_trouble(pAp, rz)
                if trouble:
                    status = trouble
                    break
                if len(P_rows) < ell:
                    s = 1.0 / np.sqrt(pAp.real)
                    P_rows.append(p * s)
                    AP_rows.append(Ap * s)
                z, rz_new = cg_step(run, x, r, p, Ap, rz / pAp, callback)
                it += 1
                p = deflate(z) + (rz_new / rz) * p
                rz = rz_new
            if status in ("indefinite", "nan") or it >= maxiter:
                break
            r = b - op(x)
            matvecs += 1
            if np.linalg.norm(r) <= tol:
                status = "converged"
                break
    if k > 0 and (P_rows or W is not None):
        blocks = ([W] if W is not None else []) + ([np.array(P_rows)] if P_rows else [])
        ablocks = ([AW] if AW is not None else []) + ([np.array(AP_rows)] if AP_rows else [])
        upd = _ritz(np.vstack(blocks), np.vstack(ablocks), k)
        if upd is not None:
            space.W, space.AW = upd
    return run.result("def-cg", iterations=it, matvecs=matvecs, status=status,
                      info={"recycle_dim": space.dim})
