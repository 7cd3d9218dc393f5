"""GCRO-DR: GMRES with deflated restarting and subspace recycling across systems.

Parks, de Sturler, Mackey, Johnson & Maiti, "Recycling Krylov subspaces for
sequences of linear systems", SIAM J. Sci. Comput. 28 (2006).

Right preconditioning: the operator is ``A M`` and ``x = x0 + M z``. A recycle
space ``U`` (``k`` vectors in ``z``-space) is carried between solves. For a new
matrix, ``A M U = Q R`` (one block product, ``k`` matvecs) gives ``C = Q``,
``U <- U R^{-1}`` so that ``A M U = C`` with orthonormal ``C``. Each cycle runs
``m - k`` Arnoldi steps with ``(I - C C^*) A M``::

    A M [U~ V_j] = [C V_{j+1}] G,   G = [[D, B], [0, Hbar_j]]

(``U~ = U D`` with unit columns), minimises ``||V_{j+1}^*(r) - Hbar y||`` (the
``C``-block of the residual is annihilated by ``y_U = -B y``), and replaces
``U`` by the ``k`` harmonic Ritz vectors of the pencil
``(G^* G, G^* [C V_{j+1}]^* [U~ V_j])`` of smallest modulus (the first system
uses a GMRES(m) cycle and the pencil ``(Hbar^* Hbar, H_m^*)``). All block
operations are dense matrix products on row-stored bases (BLAS-3); the small
eigenproblems use ``scipy.linalg.eig``. With ``k = 0`` every cycle is a GMRES(m)
cycle, so the method reduces to GMRES(m).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import scipy.linalg as sla

from .base import SolveStats
from .convention import setup
from .krylov import Arnoldi, carried_basis, rows_dot


@dataclass
class RecycleSpace:
    """Rows ``U`` (recycle vectors in ``z``-space) and ``C = A M U`` (orthonormal rows).

    ``C`` is valid only for the operator it was computed with; pass
    ``same_operator=True`` to :func:`gcrodr` to keep it.
    """

    U: np.ndarray | None = None
    C: np.ndarray | None = None

    @property
    def dim(self) -> int:
        return 0 if self.U is None else int(self.U.shape[0])


def _smallest_harmonic(G: np.ndarray, W: np.ndarray, k: int, real: bool) -> np.ndarray:
    """Columns ``P`` spanning the ``k`` eigenvectors of ``G^* G p = theta G^* W p``
    with smallest ``|theta|`` (real bases from conjugate pairs for real data)."""
    GH = G.conj().T
    vals, vecs = sla.eig(GH @ G, GH @ W)
    finite = np.isfinite(vals)
    order = np.argsort(np.where(finite, np.abs(vals), np.inf))
    order = [i for i in order if finite[i]]
    if not real:
        return vecs[:, order[:k]]
    cols: list[np.ndarray] = []
    used: set[int] = set()
    for i in order:
        if len(cols) >= k:
            break
        if i in used:
            continue
        v = vecs[:, i]
        if abs(vals[i].imag) <= 1e-12 * max(abs(vals[i]), 1e-300):
            cols.append(v.real)
        else:
            cols.append(v.real)
            if len(cols) < k:
                cols.append(v.imag)
            # skip the conjugate partner
            partner = [j for j in order if j not in used and j != i
                       and abs(vals[j] - np.conj(vals[i])) <= 1e-10 * abs(vals[i])]
            if partner:
                used.add(partner[0])
        used.add(i)
    if not cols:
        return np.zeros((G.shape[1], 0))
    P, R = np.linalg.qr(np.stack(cols, axis=1))
    keep = np.abs(np.diag(R)) > 1e-12 * np.abs(R[0, 0])
    return P[:, keep]


def _update_recycle(G: np.ndarray, W: np.ndarray, Vhat: list[np.ndarray], What: list[np.ndarray],
                    k: int, real: bool) -> tuple[np.ndarray, np.ndarray] | None:
    """New ``(U, C)`` rows from ``A M [What] = [Vhat] G`` (blocks of rows)."""
    P = _smallest_harmonic(G, W, k, real)
    if P.shape[1] == 0:
        return None
    Q, R = np.linalg.qr(G @ P)
    if np.any(np.abs(np.diag(R)) <= 1e-14 * np.abs(R).max()):
        return None
    Y = sla.solve_triangular(R, P.T, trans="T", lower=False).T  # P R^{-1}
    C = _combine(Q, Vhat)
    U = _combine(Y, What)
    return U, C


def _combine(coef: np.ndarray, blocks: list[np.ndarray]) -> np.ndarray:
    """Rows of ``[blocks] @ coef`` (columns view): ``sum_i coef_i^T block_i``."""
    out, row = None, 0
    for blk in blocks:
        part = coef[row: row + blk.shape[0]].T @ blk
        out = part if out is None else out + part
        row += blk.shape[0]
    return out


def gcrodr(A: Any, b: np.ndarray, x0: np.ndarray | None = None, *, rtol: float = 1e-8,
           atol: float = 0.0, maxiter: int | None = None, M: Any = None,
           callback: Callable[[np.ndarray], None] | None = None, m: int = 40, k: int = 20,
           recycle: RecycleSpace | None = None, same_operator: bool = False
           ) -> tuple[np.ndarray, SolveStats]:
    """Solve ``A x = b`` by GCRO-DR(m, k), reading and updating ``recycle`` in place.

    ``maxiter`` counts Arnoldi steps (default ``10 n``). ``same_operator=True``
    says ``A M`` is the operator ``recycle.C`` was built for (no ``k`` matvecs to
    rebuild it). ``stats.info`` has ``recycle_dim`` and ``cycles``. An operator or
    preconditioner that returns NaN/inf ends the solve with status ``nan`` (the recycle
    space is then left as it was).
    """
    run = setup(A, b, x0, rtol=rtol, atol=atol, maxiter=maxiter, M=M)
    recycle = recycle if recycle is not None else RecycleSpace()
    if run.zero_rhs:
        return run.solved_by_zero("gcrodr", info={"recycle_dim": recycle.dim})
    op, b, x, dtype, tol, maxiter = run.op, run.b, run.x, run.dtype, run.tol, run.maxiter
    n = run.n
    m = max(1, min(int(m), n))
    k = max(0, min(int(k), m - 1))
    real = not np.iscomplexobj(x)
    aop = run.right_preconditioned()

    def correct(z: np.ndarray) -> None:
        x.__iadd__(run.precondition(z))

    it, cycles, status = 0, 0, "maxiter"
    r, matvecs = run.initial_residual()
    U, C, carried_matvecs = carried_basis(recycle.U, recycle.C, n=n, k=k, dtype=dtype, op=aop,
                                          same_operator=same_operator)
    if U is not None and not np.all(np.isfinite(C)):  # A M U is NaN/inf: nothing to carry
        U = C = None
    if U is not None:
        if carried_matvecs:  # C = A M U afresh: orthonormalise, A M (U R^{-1}) = Q
            matvecs += carried_matvecs
            Q, R = np.linalg.qr(C.T)
            good = np.abs(np.diag(R)) > 1e-12 * max(np.abs(R).max(), 1e-300)
            if not np.all(good):
                Q, R, U = Q[:, good], R[np.ix_(good, good)], U[good]
            C = np.ascontiguousarray(Q.T)
            U = sla.solve_triangular(R, U, trans="T", lower=False)  # rows of U R^{-1}
        c = rows_dot(C, r)
        correct(U.T @ c)
        r -= C.T @ c
    stagnant = 0
    while it < maxiter:
        rn = float(np.linalg.norm(r))
        if not np.isfinite(rn):
            status = "nan"
            break
        if rn <= tol:
            r, done = run.replace_residual()
            matvecs += 1
            if done:
                status = "converged"
                break
            if C is not None:
                c = rows_dot(C, r)
                correct(U.T @ c)
                r -= C.T @ c
            continue
        cycles += 1
        kk = 0 if C is None else C.shape[0]
        arn = Arnoldi(aop, r, min(m - kk, maxiter - it), C=C)
        while arn.j < arn.m and not arn.breakdown and arn.residual > tol:
            arn.step()
        j = arn.j
        it += j
        matvecs += j
        if arn.nonfinite:  # the operator or the preconditioner returned NaN/inf
            status = "nan"
            break
        if j == 0:
            status = "breakdown"
            break
        y = arn.solution()
        H = arn.H[: j + 1, :j]
        V = arn.V[: j + 1]
        z = V[:j].T @ y
        if C is not None:
            z -= U.T @ (arn.B[:, :j] @ y)
        correct(z)
        r_new = V.T @ (arn.beta * np.eye(j + 1, 1, dtype=dtype)[:, 0] - H @ y)
        if callback is not None:
            callback(x)
        stagnant = stagnant + 1 if float(np.linalg.norm(r_new)) > 0.999 * rn else 0
        r = r_new
        if stagnant >= 5:
            status = "stagnation"
            break
        if k > 0 and j > 1:
            if C is None:
                G, W = H, np.eye(j + 1, j, dtype=dtype)
                upd = _update_recycle(G, W, [V], [V[:j]], min(k, j - 1), real)
            else:
                d = 1.0 / np.linalg.norm(U, axis=1)
                Ut = U * d[:, None]
                G = np.zeros((kk + j + 1, kk + j), dtype=dtype)
                G[:kk, :kk] = np.diag(d)
                G[:kk, kk:] = arn.B[:, :j]
                G[kk:, kk:] = H
                W = np.zeros_like(G)
                W[:kk, :kk] = rows_dot(C, Ut.T)
                W[kk:, :kk] = rows_dot(V, Ut.T)
                W[kk:, kk:] = np.eye(j + 1, j)
                upd = _update_recycle(G, W, [arn.W[: kk + j + 1]], [Ut, V[:j]], k, real)
            if upd is not None:
                U, C = upd
                c = rows_dot(C, r)
                correct(U.T @ c)
                r -= C.T @ c
        if arn.breakdown and float(np.linalg.norm(r)) > tol:
            r_true = b - op(x)
            matvecs += 1
            if float(np.linalg.norm(r_true)) > tol:
                status = "breakdown"
                break
            r = r_true
    if k > 0 and U is not None and status != "nan":
        recycle.U, recycle.C = U, C
    return run.result("gcrodr", iterations=it, matvecs=matvecs, status=status,
                      info={"recycle_dim": 0 if U is None else int(U.shape[0]),
                            "cycles": cycles, "m": m, "k": k})
