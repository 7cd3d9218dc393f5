"""Two-level aggregation preconditioner: a Jacobi smoother plus a Galerkin coarse solve.

For SPD ``A = D + (A - D)`` (``D`` its diagonal) the coarse space is spanned by
the columns of ``P`` (``n × n_c``):

* aggregates: pyamg's standard aggregation of the unfiltered matrix graph
  (strength threshold ``θ = 0``), applied ``levels`` times (aggregates of
  aggregates); ``P_0`` is the 0/1 aggregate indicator (piecewise constants:
  the near-null space of a diffusion operator);
* ``smooth = 1`` (default): the smoothed-aggregation basis
  ``P = (I - ω_P D^{-1} A) P_0`` with ``ω_P = 4 / (3 g)``, where
  ``g = max_i sum_j |a_ij| / a_ii ≥ ρ(D^{-1} A)`` (Gershgorin), which lowers
  the energy of the basis functions and roughly halves the iterations;
* ``A_c = P^T A P`` (Galerkin) is factorised once by SuperLU;
  ``Q = P A_c^{-1} P^T`` is the ``A``-orthogonal projection onto ``range(P)``
  (times ``A^{-1}``).

Two ways to combine ``Q`` with the Jacobi smoother ``S = ω D^{-1}`` (``mode``):

* ``multiplicative`` (default): the symmetric two-grid cycle with error
  propagation ``E = (I - S A)(I - Q A)(I - S A)`` and ``B = (I - E) A^{-1}``,
  applied as ``x = S r; s = r - A x; c = A_c^{-1} P^T s; x += P c;
  s -= (A P) c; x += S s``: one product with ``A``, one with the stored
  ``A P`` (sparser than ``A``) and one coarse solve per application. With
  ``ω = 4 / (3 g)``,
  ``ω ρ(D^{-1} A) ≤ 4/3 < 2``, so ``‖I - S A‖_A < 1`` and ``B`` is SPD.
* ``additive``: ``B = S + Q`` (SPD: sum of an SPD and a positive
  semi-definite matrix), no product with ``A``, about twice the iterations.

With ``levels`` passes the aggregate diameter ``H`` grows with the number of
passes, not with the grid, so ``H/h`` and with it the condition number of
``B A`` stay bounded under refinement: the CG iteration count is flat (tested).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

MODES = ("multiplicative", "additive")


def aggregation_basis(A: sp.csr_matrix, levels: int) -> sp.csr_matrix:
    """0/1 aggregate-indicator matrix ``P`` (n × n_c) after ``levels`` aggregation passes.

    Each pass aggregates the graph of the current (Galerkin) matrix
    ``C = P^T A P`` with pyamg's standard aggregation at strength threshold 0.
    Every row of ``P`` holds exactly one 1 (each unknown lies in one aggregate).
    """
    from pyamg.aggregation import standard_aggregation
    from pyamg.strength import symmetric_strength_of_connection

    if levels < 1:
        raise ValueError(f"coarse levels must be >= 1, got {levels}")
    C, P = sp.csr_matrix(A), None
    for k in range(levels):
        if C.shape[0] <= 4:
            break
        agg = standard_aggregation(symmetric_strength_of_connection(C, 0.0))[0].tocsr()
        P = agg if P is None else sp.csr_matrix(P @ agg)
        if k + 1 < levels:  # the Galerkin matrix is only needed by a further pass
            C = sp.csr_matrix(agg.T @ C @ agg)
    if P is None:
        P = sp.csr_matrix(np.ones((A.shape[0], 1)))
    return sp.csr_matrix(P, dtype=np.float64)


def gershgorin_jacobi_bound(A: sp.csr_matrix) -> float:
    """``g = max_i sum_j |a_ij| / a_ii``, an upper bound of ``ρ(D^{-1} A)``."""
    d = A.diagonal()
    if np.any(d.real <= 0):
        raise ValueError("two-level preconditioner needs a positive diagonal (is A SPD?)")
    rowsum = np.asarray(abs(A).sum(axis=1)).ravel()
    return float(np.max(rowsum / d.real))


class CoarseSpace:
    """``Q = P (P^T A P)^{-1} P^T`` for an aggregation basis ``P`` (0/1, or smoothed).

    ``smooth`` Jacobi steps ``P <- (I - ω_P D^{-1} A) P`` (``ω_P = 4/(3 g)``,
    see :func:`gershgorin_jacobi_bound`) turn the 0/1 basis into a
    smoothed-aggregation one. ``factor=False`` skips the LU of ``A_c`` (``lu`` is
    then ``None``: a multilevel cycle treats ``A_c`` recursively).
    """

    def __init__(self, A: sp.csr_matrix, levels: int, smooth: int = 0, factor: bool = True):
        A = sp.csr_matrix(A)
        P0 = aggregation_basis(A, levels)
        self.levels, self.smooth = int(levels), int(smooth)
        # 0/1 basis: aggregate index of every unknown (P0 has one entry per row)
        self.agg = P0.indices.astype(np.intp) if P0.nnz == A.shape[0] else None
        P = P0
        if smooth > 0:
            wdinv = (4.0 / (3.0 * gershgorin_jacobi_bound(A))) / A.diagonal()
            for _ in range(int(smooth)):
                P = sp.csr_matrix(P - sp.diags(wdinv) @ (A @ P))
            self.agg = None
        self.P = sp.csr_matrix(P)
        self.PT = sp.csr_matrix(self.P.T)
        self.AP = sp.csr_matrix(A @ self.P)  # kept: the multiplicative cycle uses it
        self.Ac = sp.csr_matrix(self.PT @ self.AP)
        self.lu: Any = None
        if factor:
            self.factorise()

    def factorise(self) -> None:
        """SuperLU factorisation of ``A_c`` (raises ``ValueError`` when singular)."""
        try:
            self.lu = spla.splu(sp.csc_matrix(self.Ac))
        except RuntimeError as exc:
            raise ValueError(f"coarse matrix factorisation failed: {exc}") from None

    @property
    def size(self) -> int:
        return int(self.P.shape[1])

    def restrict(self, r: np.ndarray) -> np.ndarray:
        """``P^T r``."""
        if self.agg is not None and r.ndim == 1 and not np.iscomplexobj(r):
            return np.bincount(self.agg, weights=r, minlength=self.size)
        return self.PT @ r

    def prolong(self, y: np.ndarray) -> np.ndarray:
        """``P y``."""
        if self.agg is not None and y.ndim == 1:
            return y[self.agg]
        return self.P @ y

    def apply(self, r: np.ndarray) -> np.ndarray:
        """``Q r = P A_c^{-1} P^T r`` (vectors and ``(n, k)`` blocks)."""
        return self.prolong(self.lu.solve(np.ascontiguousarray(self.restrict(r))))


class _Level:
    """One level of the hierarchy: ``A``, the smoother ``S = ω D^{-1}``, the basis ``P``."""

    def __init__(self, A: sp.csr_matrix, passes: int, smooth: int, omega: float | None,
                 check: bool, factor: bool = True):
        self.A = sp.csr_matrix(A)
        self.A.sort_indices()
        g = gershgorin_jacobi_bound(self.A)
        self.omega = 4.0 / (3.0 * g) if omega is None else float(omega)
        if check and not 0 < self.omega * g < 2:
            raise ValueError(f"omega={self.omega} may make the multiplicative two-level "
                             f"method indefinite (needs omega * {g:.3g} < 2)")
        self.sdinv = self.omega / self.A.diagonal()
        self.coarse = CoarseSpace(self.A, passes, smooth, factor=factor)
        self.AP: sp.csr_matrix | None = None
        self.S: Any = None  # sparse / operator smoother: S before, S^T after the coarse step
        self.ST: Any = None

    def smooth(self, r: np.ndarray) -> np.ndarray:
        if self.S is not None:
            return self.S @ r
        return r * (self.sdinv if r.ndim == 1 else self.sdinv[:, None])

    def smooth_post(self, s: np.ndarray) -> np.ndarray:
        """``S^T s`` (in place for the diagonal smoother)."""
        if self.ST is not None:
            return self.ST @ s
        s *= self.sdinv if s.ndim == 1 else self.sdinv[:, None]
        return s

    def set_smoother(self, smoother: np.ndarray | sp.spmatrix | spla.LinearOperator) -> None:
        """Replace ``S = ω D^{-1}``: a vector is the diagonal of ``S``; a sparse matrix or a
        ``LinearOperator`` ``S`` is applied before (``S``) and after (``S^T``) the coarse step."""
        if sp.issparse(smoother):
            self.S = sp.csr_matrix(smoother)
            self.ST = sp.csr_matrix(self.S.T)
        elif isinstance(smoother, spla.LinearOperator):  # e.g. a polynomial smoother
            self.S, self.ST = smoother, smoother.H
        else:
            w = np.asarray(smoother, dtype=float)
            if w.shape != (self.A.shape[0],) or not np.all(np.isfinite(w)):
                raise ValueError("diagonal smoother must be a finite vector of the matrix size")
            self.sdinv = w


class MultilevelJacobi:
    """Symmetric V-cycle over aggregation levels with damped-Jacobi smoothing.

    Level ``l`` has ``A_l`` (``A_0 = A``), the smoother ``S_l = ω_l D_l^{-1}``
    (``ω_l = 4 / (3 g_l)``) and the basis ``P_l`` of ``passes`` aggregation
    passes smoothed ``smooth`` times; ``A_{l+1} = P_l^T A_l P_l``. Levels are
    added while the coarse matrix has more than ``coarse_max`` rows (at most
    ``max_levels`` coarse levels); the last one is factorised (SuperLU).
    ``B_l r`` is ``x = S_l r; s = r - A_l x; c = B_{l+1} P_l^T s; x += P_l c;
    s -= (A_l P_l) c; x += S_l s``: error propagation
    ``E_l = (I - S_l A_l)(I - P_l B_{l+1} P_l^T A_l)(I - S_l A_l)``, SPD by
    induction because ``‖I - S_l A_l‖_{A_l} < 1`` and ``B_{l+1}`` is SPD with
    ``‖I - B_{l+1} A_{l+1}‖ < 1`` (exact on the coarsest level). With one
    coarse level this is the two-level method of :class:`TwoLevelJacobi`.

    ``smoother`` replaces the finest level's ``S_0``: a vector (a diagonal
    smoother, e.g. a learned damping) or a sparse matrix ``S`` applied as ``S``
    before and ``S^T`` after the coarse step (e.g. the SPAI ceiling of
    :mod:`operators.precond.ceiling`); ``B`` stays SPD when
    ``‖I - S A‖_A < 1``, i.e. ``S + S^T - S^T A S`` SPD (Hackbusch, *Multi-grid
    methods*, 1985, §10.6). ``None`` is the Jacobi smoother (bit for bit).
    """

    name = "multilevel"

    def __init__(self, A: sp.csr_matrix, passes: int = 1, smooth: int = 1,
                 coarse_max: int = 2000, max_levels: int = 8, omega: float | None = None,
                 smoother: np.ndarray | sp.spmatrix | spla.LinearOperator | None = None):
        if passes < 1 or max_levels < 1:
            raise ValueError("passes and max_levels must be >= 1")
        self.levels: list[_Level] = []
        C = sp.csr_matrix(A)
        while True:
            level = _Level(C, passes, smooth, omega, check=True, factor=False)
            level.AP = level.coarse.AP
            self.levels.append(level)
            C = level.coarse.Ac
            if C.shape[0] <= coarse_max or len(self.levels) >= max_levels \
                    or C.shape[0] >= 0.9 * level.A.shape[0]:
                break
        self.levels[-1].coarse.factorise()
        if smoother is not None:  # the finest level's smoother (see _Level.set_smoother)
            self.levels[0].set_smoother(smoother)

    @property
    def nc(self) -> int:
        """Size of the coarsest (factorised) level."""
        return self.levels[-1].coarse.size

    def _cycle(self, k: int, r: np.ndarray) -> np.ndarray:
        lev = self.levels[k]
        x = lev.smooth(r)
        s = lev.A @ x
        np.subtract(r, s, out=s)  # s = r - A x
        y = np.ascontiguousarray(lev.coarse.restrict(s))
        c = lev.coarse.lu.solve(y) if k + 1 == len(self.levels) else self._cycle(k + 1, y)
        x += lev.coarse.prolong(c)
        s -= lev.AP @ c  # s = r - A x for the updated x
        x += lev.smooth_post(s)
        return x

    def apply(self, r: np.ndarray) -> np.ndarray:
        """``B r`` (vectors and ``(n, k)`` blocks)."""
        return self._cycle(0, r)


class TwoLevelJacobi(MultilevelJacobi):
    """Two-level preconditioner: Jacobi smoother + aggregation coarse solve (module docstring).

    Options: ``levels`` (aggregation passes, default 2), ``smooth`` (Jacobi
    smoothing steps of the basis, default 1), ``mode`` (``multiplicative`` |
    ``additive``), ``omega`` (smoother damping; default ``4 / (3 g)``).
    """

    name = "twolevel"

    def __init__(self, A: sp.csr_matrix, levels: int = 2, smooth: int = 1,
                 mode: str = "multiplicative", omega: float | None = None):
        if mode not in MODES:
            raise ValueError(f"unknown two-level mode {mode!r}; valid: {', '.join(MODES)}")
        self.mode = mode
        lev = _Level(A, levels, smooth, omega, check=mode == "multiplicative")
        if mode == "multiplicative":
            lev.AP = lev.coarse.AP
        self.levels = [lev]
        self.A, self.coarse, self.omega = lev.A, lev.coarse, lev.omega

    def apply(self, r: np.ndarray) -> np.ndarray:
        """``B r`` (vectors and ``(n, k)`` blocks)."""
        if self.mode == "additive":
            return self.levels[0].smooth(r) + self.coarse.apply(r)
        return self._cycle(0, r)
