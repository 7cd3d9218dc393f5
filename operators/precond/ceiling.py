"""Ceilings for learned smoothers: the best smoother of a given sparsity, computed offline per matrix.

A network that predicts a smoother of the multilevel V-cycle
(:class:`solvers.linear.twolevel.MultilevelJacobi`) can at best reproduce the
optimum of its output class. Computing that optimum exactly, per matrix and
without a network, bounds what any such network can gain:

* :func:`spai_pattern`: the Frobenius-optimal sparse approximate inverse on the
  pattern of ``A`` (Grote & Huckle, SIAM J. Sci. Comput. 18, 1997; Benzi &
  Tůma, Appl. Numer. Math. 30, 1999, for its use as a smoother see Bröker,
  Grote, Mayer & Reusken, SIAM J. Sci. Comput. 23, 2001): for every column
  ``j`` with pattern ``J = {i : a_ij ≠ 0}``, ``m_J = argmin ‖A[:, J] m − e_j‖₂``.
  For symmetric ``A`` the normal equations are
  ``(A²)[J, J] m_J = A[J, j]`` (``A[:, J]ᵀ A[:, J] = (A²)[J, J]`` and
  ``A[:, J]ᵀ e_j = A[J, j]``), so all ``n`` problems (``|J| ≤ k``, five for the
  5-point stencil) are one batched ``k × k`` solve (``numpy.linalg.solve`` on
  an ``(n, k, k)`` stack) after gathering ``(A²)[J, J]`` by a sorted-key
  search. It is applied as ``S = M`` before and ``Sᵀ`` after the coarse step.
* :func:`spai_diagonal`: the Frobenius-optimal diagonal, ``w_j = a_jj / ‖A[:, j]‖²``
  (the pattern ``J = {j}``), the same apply cost as Jacobi.
* :func:`chebyshev_smoother`: the degree-``k`` Chebyshev polynomial in
  ``D⁻¹A`` on ``[g/α, g]`` (Adams, Brezina, Hu & Tuminaro, J. Comput. Phys.
  188, 2003): ``k − 1`` extra products with ``A`` per application, the
  low-degree polynomial class a network predicting coefficients would live in.
* :func:`best_omega`: the damping ``ω`` of ``S = ω D⁻¹`` (all levels) with the
  fewest CG iterations on the system, a scan over a grid (the ceiling of a
  learned per-matrix damping; apply cost identical to the default
  ``ω = 4 / (3 g)``).

:func:`smoother_contraction` estimates ``‖I − S A‖_A`` by power iteration: below
1 the V-cycle with ``S`` / ``Sᵀ`` is SPD (Hackbusch 1985, §10.6).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla


def spai_pattern(A: sp.csr_matrix) -> sp.csr_matrix:
    """The Frobenius-optimal ``M = argmin ‖A M − I‖_F`` over matrices with the pattern of ``A``.

    ``A`` must be symmetric (the normal equations use ``A[:, J]ᵀ = A[J, :]``); each
    column's least-squares problem is solved exactly (batched normal equations,
    module docstring). Raises ``ValueError`` for a non-square matrix or a
    singular local problem (a zero column).
    """
    A = sp.csr_matrix(A, dtype=float)
    A.sum_duplicates()
    A.sort_indices()
    n = A.shape[0]
    if A.shape != (n, n):
        raise ValueError(f"SPAI needs a square matrix, got {A.shape}")
    A2 = sp.csr_matrix(A @ A)
    A2.sort_indices()
    cnt = np.diff(A.indptr)
    if np.any(cnt == 0):
        raise ValueError("SPAI: the matrix has an empty column (singular local problem)")
    k = int(cnt.max())
    mask = np.arange(k)[None, :] < cnt[:, None]
    J = np.zeros((n, k), dtype=np.int64)
    J[mask] = A.indices  # column j's pattern = row j's (symmetric A)
    keys = np.repeat(np.arange(n, dtype=np.int64), np.diff(A2.indptr)) * n + A2.indices
    q = J[:, :, None] * n + J[:, None, :]
    pos = np.minimum(np.searchsorted(keys, q.ravel()), keys.size - 1).reshape(q.shape)
    G = np.where((keys[pos] == q) & mask[:, :, None] & mask[:, None, :], A2.data[pos], 0.0)
    G[~mask] = 0.0
    idx = np.nonzero(~mask)
    G[idx[0], idx[1], idx[1]] = 1.0  # padded unknowns: identity rows, zero right-hand side
    rhs = np.zeros((n, k))
    rhs[mask] = A.data  # A[J, j] = A[j, J]
    try:
        m = np.linalg.solve(G, rhs[:, :, None])[:, :, 0]
    except np.linalg.LinAlgError:
        raise ValueError("SPAI: a local least-squares problem is singular") from None
    # column j of M holds m[j] at the rows J[j]: CSC with the structure of A (= Aᵀ)
    return sp.csr_matrix(sp.csc_matrix((m[mask], A.indices, A.indptr), shape=(n, n)))


def spai_diagonal(A: sp.csr_matrix) -> np.ndarray:
    """``w = argmin ‖A diag(w) − I‖_F``: ``w_j = a_jj / Σ_i a_ij²``."""
    A = sp.csr_matrix(A, dtype=float)
    sq = np.asarray(A.multiply(A).sum(axis=0)).ravel()
    if np.any(sq == 0):
        raise ValueError("SPAI: the matrix has an empty column")
    return A.diagonal() / sq


def chebyshev_smoother(A: sp.csr_matrix, degree: int, alpha: float,
                       lmax: float | None = None) -> spla.LinearOperator:
    """``S = p(D⁻¹A) D⁻¹``: ``degree`` steps of the Chebyshev iteration (Saad, *Iterative
    methods*, Alg. 12.1) for ``D⁻¹A x = D⁻¹ r`` from ``x = 0`` on ``[λ/α, λ]``.

    ``λ`` defaults to the Gershgorin bound ``g ≥ λ_max(D⁻¹A)``, so the error
    polynomial ``q(t) = T_k((θ − t)/δ) / T_k(θ/δ)`` (``θ, δ`` the interval's
    centre and half-width) lies in ``(−1, 1)`` on the whole spectrum ``(0, g]``:
    ``‖I − S A‖_A < 1`` and the V-cycle with ``S`` stays SPD (``S`` is symmetric,
    a polynomial in ``D⁻¹A`` times ``D⁻¹``). Costs ``degree − 1`` products with
    ``A`` per application on top of Jacobi's; degree 1 is ``S = D⁻¹ / θ``.
    """
    from solvers.linear.twolevel import gershgorin_jacobi_bound

    A = sp.csr_matrix(A)
    if degree < 1 or alpha <= 1:
        raise ValueError(f"Chebyshev smoother needs degree >= 1 and alpha > 1, got {degree}, "
                         f"{alpha}")
    hi = gershgorin_jacobi_bound(A) if lmax is None else float(lmax)
    lo = hi / alpha
    theta, delta = (hi + lo) / 2, (hi - lo) / 2
    dinv = 1.0 / A.diagonal()

    def mv(r: np.ndarray) -> np.ndarray:
        r = np.asarray(r, dtype=float).ravel()
        sigma = theta / delta
        rho = 1.0 / sigma
        d = dinv * r / theta
        x = d.copy()
        res = r
        for _ in range(degree - 1):
            res = res - A @ d
            rho_new = 1.0 / (2.0 * sigma - rho)
            d = rho_new * rho * d + (2.0 * rho_new / delta) * (dinv * res)
            rho = rho_new
            x += d
        return x

    return spla.LinearOperator(A.shape, matvec=mv, rmatvec=mv, dtype=float)


def smoother_contraction(A: sp.csr_matrix, S: Any, iterations: int = 30, seed: int = 0) -> float:
    """Power-iteration estimate of ``‖I − S A‖_A`` (``S`` a sparse matrix or a diagonal vector).

    ``‖E‖_A² = λ_max(E^* E)`` with the ``A``-adjoint ``E^* = I − A⁻¹ Sᵀ A``,
    i.e. the largest eigenvalue of ``(I − Sᵀ A)``-then-``(I − S A)`` in the
    ``A`` inner product; computed as the growth of ``‖E^k v‖_A`` (a lower
    estimate that converges to the norm for the dominant mode).
    """
    A = sp.csr_matrix(A)
    apply = (lambda v: S @ v) if sp.issparse(S) else (lambda v: np.asarray(S) * v)
    v = np.random.default_rng(seed).standard_normal(A.shape[0])
    ratio = 0.0
    for _ in range(iterations):
        nv = float(np.sqrt(v @ (A @ v)))
        w = v - apply(A @ v)
        nw = float(np.sqrt(max(w @ (A @ w), 0.0)))
        ratio = nw / nv
        v = w / nw if nw > 0 else w
    return ratio


def best_omega(A: sp.csr_matrix, b: np.ndarray,
               omegas: Sequence[float] = (0.6, 0.7, 0.8, 0.85, 0.9, 0.95),
               rtol: float = 1e-8) -> tuple[float, dict[float, int]]:
    """The damping of the multilevel V-cycle's Jacobi smoother with the fewest CG iterations.

    Returns ``(ω*, {ω: iterations})``; an ``ω`` that fails the V-cycle's SPD
    condition ``ω g_l < 2`` on some level is left out. Ties go to the smaller ``ω``.
    """
    from solvers.linear.krylov import cg
    from solvers.linear.twolevel import MultilevelJacobi

    its = {}
    for om in omegas:
        try:
            M = MultilevelJacobi(A, omega=float(om))
        except ValueError:
            continue
        _, st = cg(A, b, rtol=rtol, M=M)
        its[float(om)] = st.iterations if st.converged else 10 ** 9
    if not its:
        raise ValueError("no damping of the scan keeps the V-cycle SPD")
    best = min(its, key=lambda o: (its[o], o))
    return best, its
