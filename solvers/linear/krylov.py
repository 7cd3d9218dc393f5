"""Krylov methods: preconditioned CG and right-preconditioned restarted GMRES(m).

Both follow scipy.sparse.linalg's calling convention
``f(A, b, x0=None, *, rtol, atol, maxiter, M, callback) -> (x, SolveStats)``;
``M`` approximates ``A^{-1}`` (a matrix, a ``LinearOperator``, a callable or a
preconditioner object of :mod:`solvers.linear.precond`).

Convergence is declared only when the *true* residual satisfies
``||b - A x||_2 <= max(rtol ||b||_2, atol)`` after the solve; an iteration that
stops on ``maxiter``, a breakdown, ``(p, A p) <= 0`` in CG (``indefinite``: ``A``
or ``M`` is not positive definite) or a non-finite number (``nan``: the operator
or the preconditioner returned NaN/inf) is reported with ``converged=False``
and a status saying why; it never raises.

Krylov bases are stored row-wise (``V[j]`` is the ``j``-th basis vector) so that
Gram-Schmidt against all previous vectors is one matrix-vector product with a
contiguous block (classical Gram-Schmidt with DGKS re-orthogonalisation).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import scipy.linalg as sla

from .base import SolveStats
from .convention import Iteration, Operator, setup

#: restart cycles GMRES runs before ``give_up`` may stop it (see :func:`gmres`)
GIVE_UP_CYCLES = 3


# ---------------------------------------------------------------- helpers
def projected_iterations(r0: float, r: float, it: int, tol: float) -> float:
    """Iterations still needed to take the residual from ``r`` to ``tol`` at the mean
    reduction per iteration of the first ``it`` (``r0 -> r``): ``log(tol/r) / log q``,
    ``q = (r/r0)^(1/it)``; infinite when nothing was gained."""
    if r <= tol:
        return 0.0
    if not 0 < r < r0 or it <= 0:
        return float("inf")
    return float(np.log(tol / r) / (np.log(r / r0) / it))


def rows_dot(V: np.ndarray, X: np.ndarray) -> np.ndarray:
    """``V^* X`` for a row-stored basis ``V`` (``conj(V) @ X``) without copying ``V``.

    ``conj(V) @ X = conj(V @ conj(X))``: only ``X`` (a vector or a thin block) is
    conjugated, never the ``(rows, n)`` basis (for complex data a full copy of the
    basis per product had been the largest cost of a complex Arnoldi step).
    """
    if not np.iscomplexobj(V):
        return V @ X
    if not np.iscomplexobj(X):
        return (V @ X).conj()
    return (V @ X.conj()).conj()


def carried_basis(rows: np.ndarray | None, image: np.ndarray | None, *, n: int, k: int,
                  dtype: np.dtype, op: Operator, same_operator: bool
                  ) -> tuple[np.ndarray | None, np.ndarray | None, int]:
    """A basis carried from an earlier system and its image under the current operator.

    Returns ``(rows, image, matvecs)``: the carried rows in ``dtype`` (``None`` when
    there are none, they do not have ``n`` entries or ``k = 0`` asks for none) and
    ``op`` applied to each row as one block product, ``matvecs`` of them; with
    ``same_operator`` the stored ``image`` is returned as it is (no matvec).
    """
    if k <= 0 or rows is None or rows.shape[1] != n:
        return None, None, 0
    rows = rows.astype(dtype, copy=False)
    if same_operator and image is not None:
        return rows, image, 0
    return rows, np.ascontiguousarray(op(rows.T).T), int(rows.shape[0])


def cg_step(run: Iteration, x: np.ndarray, r: np.ndarray, p: np.ndarray, Ap: np.ndarray,
            alpha: complex, callback: Callable[[np.ndarray], None] | None
            ) -> tuple[np.ndarray, complex]:
    """The update of a CG iteration: ``x += alpha p``, ``r -= alpha A p`` (in place),
    ``callback(x)``; returns ``(z, (r, z))`` with ``z = M r``."""
    x += alpha * p
    r -= alpha * Ap
    if callback is not None:
        callback(x)
    z = run.precondition(r)
    return z, np.vdot(r, z)


def cg_trouble(pAp: complex, rz: complex) -> str:
    """Why a CG step cannot be taken: ``nan`` (a non-finite ``(p, A p)`` or ``(r, M r)``:
    the operator or the preconditioner returned NaN/inf), ``indefinite``
    (``(p, A p) <= 0`` or ``(r, M r) <= 0``: ``A`` or ``M`` is not positive definite),
    or ``""`` when it can."""
    if not (np.isfinite(pAp) and np.isfinite(rz)):
        return "nan"
    if pAp.real <= 0 or rz.real <= 0:
        return "indefinite"
    return ""


def orthogonalise(V: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Classical Gram-Schmidt of ``w`` against the orthonormal rows ``V``, repeated once
    when the norm drops by more than ``1/sqrt(2)`` (DGKS criterion), which keeps the
    basis orthogonal to working precision; returns ``(w, h)`` with ``h = V^* w``."""
    before = float(np.linalg.norm(w))
    h = rows_dot(V, w)
    w = w - V.T @ h
    if float(np.linalg.norm(w)) < 0.7071 * before:
        h2 = rows_dot(V, w)
        w -= V.T @ h2
        h = h + h2
    return w, h


def givens(a: complex, b: complex) -> tuple[float, complex, float]:
    """Rotation ``[[c, s], [-conj(s), c]]`` (``c`` real) mapping ``(a, b)`` to ``(rho, 0)``.

    Returns ``(c, s, rho)`` with ``|rho| = sqrt(|a|^2 + |b|^2)``.
    """
    if b == 0:
        return 1.0, 0.0, a
    if a == 0:
        return 0.0, np.conj(b) / abs(b), abs(b)
    r = np.hypot(abs(a), abs(b))
    phase = a / abs(a)
    return abs(a) / r, phase * np.conj(b) / r, phase * r


class Arnoldi:
    """Arnoldi process ``op V_j = V_{j+1} Hbar_j`` (+ ``C B_j`` when projecting out ``C``).

    With rows ``C`` (orthonormal) the operator is ``(I - C^T C^*) op``, the inner
    iteration of GCRO-DR; ``B = C^* op V``. Givens rotations keep the least-squares
    residual ``min_y ||beta e_1 - Hbar y||`` so the caller can stop early. A step whose
    ``op`` returns NaN/inf is not taken: it sets :attr:`nonfinite` (and
    :attr:`breakdown`), so ``Hbar`` stays finite and the steps before it usable.
    """

    def __init__(self, op: Operator, r0: np.ndarray, m: int, C: np.ndarray | None = None):
        n = r0.shape[0]
        self.op, self.m = op, m
        self.kk = 0 if C is None else C.shape[0]
        # one row-stored block [C; V] so that each step orthogonalises in one pass
        self.W = np.zeros((self.kk + m + 1, n), dtype=r0.dtype)
        if self.kk:
            self.W[: self.kk] = C
        self.V = self.W[self.kk:]
        self.H = np.zeros((m + 1, m), dtype=r0.dtype)
        self.B = np.zeros((self.kk, m), dtype=r0.dtype)
        self.beta = float(np.linalg.norm(r0))
        self.V[0] = r0 / self.beta
        self.g = np.zeros(m + 1, dtype=r0.dtype)
        self.g[0] = self.beta
        self.R = np.zeros((m + 1, m), dtype=r0.dtype)
        self.rot: list[tuple[float, complex]] = []
        self.j = 0
        self.breakdown = False
        self.nonfinite = not np.isfinite(self.beta)

    @property
    def residual(self) -> float:
        """``min_y ||beta e_1 - Hbar_j y||`` (the GMRES residual norm estimate)."""
        return float(abs(self.g[self.j]))

    def step(self) -> None:
        j = self.j
        w = self.op(self.V[j])
        if not np.all(np.isfinite(w)):
            self.nonfinite = self.breakdown = True
            return
        w, h = orthogonalise(self.W[: self.kk + j + 1], w)
        self.B[:, j] = h[: self.kk]
        h = h[self.kk:]
        hn = float(np.linalg.norm(w))
        self.H[: j + 1, j] = h
        self.H[j + 1, j] = hn
        if hn > 1e-14 * max(float(np.linalg.norm(h)), 1e-300):
            self.V[j + 1] = w / hn
        else:
            self.breakdown = True  # lucky breakdown: Krylov space is invariant
        col = self.H[: j + 2, j].copy()
        for i, (c, s) in enumerate(self.rot):
            col[i], col[i + 1] = c * col[i] + s * col[i + 1], -np.conj(s) * col[i] + c * col[i + 1]
        c, s, r = givens(col[j], col[j + 1])
        self.rot.append((c, s))
        col[j], col[j + 1] = r, 0.0
        self.R[: j + 2, j] = col
        self.g[j], self.g[j + 1] = c * self.g[j], -np.conj(s) * self.g[j]
        self.j = j + 1

    def solution(self) -> np.ndarray:
        """Coefficients ``y`` minimising ``||beta e_1 - Hbar_j y||``."""
        j = self.j
        if j == 0:
            return np.zeros(0, dtype=self.V.dtype)
        R = self.R[:j, :j]
        if np.any(np.diag(R) == 0):
            return np.linalg.lstsq(self.H[: j + 1, :j], self.beta * np.eye(j + 1, 1)[:, 0]
                                   .astype(self.V.dtype), rcond=None)[0]
        return sla.solve_triangular(R, self.g[:j])


# ---------------------------------------------------------------- CG
def cg(A: Any, b: np.ndarray, x0: np.ndarray | None = None, *, rtol: float = 1e-8,
       atol: float = 0.0, maxiter: int | None = None, M: Any = None,
       callback: Callable[[np.ndarray], None] | None = None) -> tuple[np.ndarray, SolveStats]:
    """Preconditioned conjugate gradients for Hermitian positive definite ``A`` (and ``M``).

    Minimises the ``A``-norm of the error over ``x0 + K_k(M A, M r0)``:
    ``alpha = (r, z) / (p, A p)``, ``x += alpha p``, ``r -= alpha A p``, ``z = M r``,
    ``beta = (r', z') / (r, z)``, ``p = z' + beta p``. When the recursive
    residual meets the tolerance the true residual is recomputed and, if it does
    not, the iteration continues from it (residual replacement). ``maxiter``
    counts iterations (default ``10 n``).
    """
    run = setup(A, b, x0, rtol=rtol, atol=atol, maxiter=maxiter, M=M)
    if run.zero_rhs:
        return run.solved_by_zero("cg")
    op, x, tol, maxiter = run.op, run.x, run.tol, run.maxiter
    it, status = 0, ""
    r, matvecs = run.initial_residual()
    while True:
        z = run.precondition(r)
        p = z.copy()
        rz = np.vdot(r, z)
        while it < maxiter and np.linalg.norm(r) > tol:
            Ap = op(p)
            matvecs += 1
            pAp = np.vdot(p, Ap)
            status = cg_trouble(pAp, rz)
            if status:
                break
            z, rz_new = cg_step(run, x, r, p, Ap, rz / pAp, callback)
            it += 1
            p *= rz_new / rz
            p += z
            rz = rz_new
        if status or it >= maxiter:
            status = status or "maxiter"
            break
        r, done = run.replace_residual()
        matvecs += 1
        if done:
            status = "converged"
            break
    return run.result("cg", iterations=it, matvecs=matvecs, status=status)


# ---------------------------------------------------------------- GMRES
def gmres(A: Any, b: np.ndarray, x0: np.ndarray | None = None, *, rtol: float = 1e-8,
          atol: float = 0.0, restart: int = 40, maxiter: int | None = None, M: Any = None,
          callback: Callable[[np.ndarray], None] | None = None, give_up: float | None = None
          ) -> tuple[np.ndarray, SolveStats]:
    """Restarted GMRES(m) with right preconditioning: ``A M u = r0``, ``x = x0 + M u``.

    Each cycle builds an orthonormal basis ``V_{j+1}`` of ``K_j(A M, r0)`` by
    Arnoldi (CGS with re-orthogonalisation) and minimises ``||beta e_1 - Hbar_j y||_2`` with Givens
    rotations, so the preconditioned residual *is* the true residual (up to
    rounding). A cycle ends after ``restart`` steps or when the estimate meets
    the tolerance; the true residual decides convergence. ``maxiter`` counts
    Arnoldi steps (matrix-vector products), default ``10 n``.

    ``give_up`` (``None``: off): after :data:`GIVE_UP_CYCLES` cycles, stop with status
    ``slow`` when the mean residual reduction per iteration so far,
    ``q = (||r|| / ||r_0||)^(1/it)``, needs more than ``give_up * maxiter`` iterations
    in all to reach the tolerance (``it + log(tol / ||r||) / log q``): a solve that
    cannot finish within ``maxiter`` at its own pace is stopped early, so that a
    caller with a fall-back (``auto``) does not pay for the whole budget.
    """
    run = setup(A, b, x0, rtol=rtol, atol=atol, maxiter=maxiter, M=M)
    if run.zero_rhs:
        return run.solved_by_zero("gmres")
    op, b, x, tol, maxiter = run.op, run.b, run.x, run.tol, run.maxiter
    m = max(1, min(int(restart), run.n))
    aop = run.right_preconditioned()
    it, status = 0, "maxiter"
    r, matvecs = run.initial_residual()
    stagnation, cycles, r0n = 0, 0, float(np.linalg.norm(r))
    while it < maxiter:
        rn = float(np.linalg.norm(r))
        if not np.isfinite(rn) or rn <= tol:
            status = "converged" if rn <= tol else "nan"
            break
        arn = Arnoldi(aop, r, min(m, maxiter - it))
        while arn.j < arn.m and not arn.breakdown and arn.residual > tol:
            arn.step()
        it += arn.j
        matvecs += arn.j
        y = arn.solution()
        du = arn.V[: arn.j].T @ y
        x += run.precondition(du)
        if callback is not None:
            callback(x)
        if arn.nonfinite or not np.all(np.isfinite(x)):
            status = "nan"
            break
        r = b - op(x)
        matvecs += 1
        rn_new = float(np.linalg.norm(r))
        stagnation = stagnation + 1 if rn_new > 0.999 * rn else 0
        if stagnation >= 3 or (arn.breakdown and rn_new > tol):
            status = "breakdown" if arn.breakdown else "stagnation"
            break
        cycles += 1
        if give_up is not None and cycles >= GIVE_UP_CYCLES and tol < rn_new < r0n \
                and it + projected_iterations(r0n, rn_new, it, tol) > give_up * maxiter:
            status = "slow"
            break
    return run.result("gmres", iterations=it, matvecs=matvecs, status=status,
                      info={"restart": m})
