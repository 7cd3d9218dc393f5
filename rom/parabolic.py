"""Certified reduced basis for linear parabolic problems: Galerkin theta scheme, POD-greedy, bound.

Problem (time-discrete)
    ``M u' + A(μ) u = f(μ)`` with ``A(μ) = Σ_q θ^A_q(μ) A_q`` coercive,
    ``f(μ) = Σ_q θ^f_q(μ) f_q`` constant in time, ``M`` SPD (the identity for
    the node-centred finite differences of ``heat_block``), ``u^0 = u_0``,
    and the theta scheme of :mod:`rom.time_stepping` (``θ = 1`` backward
    Euler, ``θ = 1/2`` Crank–Nicolson; ``K`` uniform steps ``Δt``):

    .. math::

        M \\frac{u^{j} - u^{j-1}}{Δt} + A(μ) u^{j-1+θ} = f(μ), \\qquad
        u^{j-1+θ} = θ u^{j} + (1-θ) u^{j-1}, \\quad j = 1..K.

Reduced model
    ``V`` (``n × N``) orthonormal in ``X = (A(μ_ref) + A(μ_ref)^T)/2``;
    Galerkin projection of the same scheme: ``M_N = VᵀMV``,
    ``A_N(μ) = Σ_q θ^A_q VᵀA_qV``, ``f_N = Vᵀf``, ``u_N^0`` the ``M``-orthogonal
    projection of ``u_0``; integrated by :class:`rom.time_stepping.ThetaStepper`
    on the dense reduced matrices, step for step with the full model.

A posteriori bound (Grepl & Patera 2005, M2AN 39; Haasdonk & Ohlberger 2008, M2AN 42)
    With ``e^j = u^j - V c^j`` and the residual
    ``r^j = f(μ) - M V (c^j - c^{j-1})/Δt - A(μ) V c^{j-1+θ}``, the error obeys
    ``M (e^j - e^{j-1})/Δt + A(μ) e^{j-1+θ} = r^j``. Testing with
    ``e^{j-1+θ}`` and using, for ``θ >= 1/2``,
    ``(e^j - e^{j-1})ᵀ M e^{j-1+θ} >= (|e^j|_M^2 - |e^{j-1}|_M^2)/2``, the
    coercivity ``a(v, v) >= α_LB(μ) ||v||_X^2`` and Young's inequality gives,
    for every ``k = 0..K``,

    .. math::

        |e^k|_M^2 + α_{LB} \\sum_{j=1}^{k} Δt\\, ||e^{j-1+θ}||_X^2
        \\;\\le\\; Δ_k(μ)^2 = |e^0|_M^2 + \\frac{1}{α_{LB}(μ)} \\sum_{j=1}^{k} Δt\\, ||r^j||_{X'}^2 .

    ``Δ_k`` bounds the ``M``-norm error at every step (at the stored times in
    particular; with ``M = I`` the Euclidean norm of the nodal error) and
    the space-time energy error. ``α_LB`` is min-theta at ``μ_ref``
    (:class:`rom.coercivity.MinTheta`), ``|e^0|_M`` is computed offline (``u_0``
    does not depend on ``μ``).

Stable residual norms
    ``r^j = C k_j`` with the columns
    ``C = [f_1..f_Qf | A_1 z_1 .. A_Qa z_1, M z_1 | ... | A_1 z_N .. A_Qa z_N, M z_N]``
    and ``k_j = [θ^f, -(c^{j-1+θ}_n θ^A, (c^j_n - c^{j-1}_n)/Δt)_{n=1..N}]``;
    ``||r^j||_{X'} = ||T k_j||_2`` from the ``X``-orthonormalised Riesz
    representers ``X^{-1} C = Q T`` (:class:`rom.estimators.StableEstimator`
    with the term list ``(A_1, .., A_Qa, M)``), accurate to a modest multiple
    of ``eps ||f||``, so the bound stays valid below ``sqrt(eps)``. Truncating
    to ``N`` basis vectors is a slice of ``T`` (rows and columns).

POD-greedy (Haasdonk & Ohlberger 2008; pyMOR's ``pod_greedy``)
    :class:`PODGreedySurrogate` for :func:`rom.greedy.weak_greedy`: ``η(μ) =
    Δ_K(μ) / max_k |u_N^k(μ)|_M`` over the training set; at the worst ``μ``
    the full trajectory (all ``K + 1`` steps) is computed, its ``X``-orthogonal
    projection error onto ``V`` is compressed by POD in ``X``
    (:func:`rom.pod.pod`) and its leading ``pod_modes`` modes are added.
    The basis is initialised with ``u_0`` (then ``|e^0|_M`` is round-off).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import scipy.sparse as sp

from solvers.problems.base import AffineDecomposition

from .coercivity import MinTheta
from .estimators import RieszSolver, StableEstimator
from .gram_schmidt import ExtendedProduct, GramSchmidt
from .greedy import GreedyStep, weak_greedy
from .pod import pod
from .reduced_basis import energy_product
from .time_stepping import ThetaStepper, step_schedule, theta_of


def _last_row(T: np.ndarray, m: int) -> int:
    """Rows of ``T[:, :m]`` up to the last non-zero one (the rest are exact zeros)."""
    nz = np.flatnonzero(np.any(T[:, :m] != 0.0, axis=1))
    return int(nz[-1]) + 1 if nz.size else 0


@dataclass
class ParabolicOnline:
    """Online data of a parabolic RB (sizes independent of the truth dimension)."""

    A_N: np.ndarray            # (Qa, N, N)
    M_N: np.ndarray            # (N, N)
    f_N: np.ndarray            # (Qf, N)
    b0: np.ndarray             # (N,)  V^T M u_0
    e0: np.ndarray             # (N,)  |u_0 - P_N u_0|_M with the first N vectors
    T: np.ndarray              # stable estimator factor
    theta_A: Callable[[np.ndarray], np.ndarray]
    theta_f: Callable[[np.ndarray], np.ndarray]
    coercivity: MinTheta
    times: np.ndarray
    dt: float
    scheme: str
    _slices: dict = field(default_factory=dict, repr=False)

    @property
    def N(self) -> int:
        return self.A_N.shape[1]

    @property
    def Qa(self) -> int:
        return self.A_N.shape[0]

    def sliced(self, N: int) -> tuple[np.ndarray, ...]:
        """``(A_N, M_N, f_N, c0, T, T_f, T_A, T_M)`` truncated to ``N`` vectors; ``T`` without
        its zero rows, then split into the blocks of the ``f_q``, ``A_q z_n`` and ``M z_n`` columns."""
        if N not in self._slices:
            if not 1 <= N <= self.N:
                raise ValueError(f"N must lie in 1..{self.N}, got {N}")
            m = self.f_N.shape[0] + N * (self.Qa + 1)
            MN = self.M_N[:N, :N]
            c0 = np.linalg.solve(MN, self.b0[:N])
            T = np.ascontiguousarray(self.T[:_last_row(self.T, m), :m])
            Qf = self.f_N.shape[0]
            T3 = T[:, Qf:].reshape(T.shape[0], N, self.Qa + 1)
            # per term q the (rows, N) block of the columns A_q z_n, and that of M z_n
            self._slices[N] = (np.ascontiguousarray(self.A_N[:, :N, :N]), MN,
                               self.f_N[:, :N], c0, T, np.ascontiguousarray(T[:, :Qf]),
                               np.ascontiguousarray(T3[:, :, :self.Qa].transpose(2, 0, 1)),
                               np.ascontiguousarray(T3[:, :, -1]))
        return self._slices[N]

    def stepper(self, mu: np.ndarray, N: int | None = None) -> ThetaStepper:
        """The reduced theta stepper at ``mu`` (dense ``N × N``)."""
        A_N, M_N, f_N = self.sliced(self.N if N is None else N)[:3]
        tA = np.asarray(self.theta_A(mu), float).ravel()
        tf = np.asarray(self.theta_f(mu), float).ravel()
        if "schedule" not in self._slices:
            self._slices["schedule"] = step_schedule(self.times, self.dt)
        return ThetaStepper(np.tensordot(tA, A_N, axes=1), self.times, self.dt, self.scheme,
                            tf @ f_N, M_N, schedule=self._slices["schedule"])

    def solve(self, mu: np.ndarray, N: int | None = None, bound: bool = True
              ) -> tuple[np.ndarray, np.ndarray | None]:
        """Coefficients at the stored times ``(n_out, N)`` and the bound ``Δ_k`` there (or ``None``)."""
        N = self.N if N is None else N
        _, _, _, c0, T, T_f, T_A, T_M = self.sliced(N)
        st = self.stepper(mu, N)
        C = st.integrate(c0, every_step=bound)
        if not bound:
            return C, None
        tA = np.asarray(self.theta_A(mu), float).ravel()
        tf = np.asarray(self.theta_f(mu), float).ravel()
        th, h = st.theta, st.h
        Cth = th * C[1:] + (1.0 - th) * C[:-1]
        D = (C[1:] - C[:-1]) / h
        # T k_j = T_f θ^f - (Σ_q θ^A_q T_{A_q}) c^{j-1+θ} - T_M (c^j - c^{j-1})/Δt
        Rk = (T_f @ tf)[None, :] - Cth @ np.tensordot(tA, T_A, axes=1).T - D @ T_M.T
        res2 = np.sum(Rk ** 2, axis=1)
        alpha = float(self.coercivity(tA[None])[0])
        if alpha <= 0:
            delta = np.full(C.shape[0], np.inf)
        else:
            delta = np.sqrt(self.e0[N - 1] ** 2 + np.concatenate([[0.0], np.cumsum(h * res2)])
                            / alpha)
        return C[::st.m], delta[::st.m]

    def norms(self, C: np.ndarray, N: int | None = None) -> np.ndarray:
        """``|V c|_M`` of coefficient rows."""
        MN = self.sliced(self.N if N is None else N)[1]
        return np.sqrt(np.maximum(np.einsum("ki,ij,kj->k", C, MN, C), 0.0))


class ParabolicRB:
    """Offline data and POD-greedy of a parabolic RB (module docstring).

    ``affine`` the decomposition of ``A`` and ``f``; ``u0`` the initial state;
    ``times``, ``dt``, ``scheme`` the problem's schedule; ``M`` the mass matrix
    (default identity); ``mu_ref`` the min-theta reference (default the
    decomposition's).
    """

    def __init__(self, affine: AffineDecomposition, u0: np.ndarray, times: np.ndarray, dt: float,
                 scheme: str = "be", M: Any = None, mu_ref: np.ndarray | None = None) -> None:
        mu_ref = affine.min_theta_ref if mu_ref is None else mu_ref
        if mu_ref is None:
            raise ValueError("parabolic RB needs a min-theta reference parameter (every "
                             "theta_A > 0, every A_q positive semi-definite)")
        theta_of(scheme)
        step_schedule(times, dt)
        self.affine, self.scheme, self.dt = affine, scheme, float(dt)
        self.times = np.asarray(times, dtype=float)
        self.mu_ref = np.asarray(mu_ref, dtype=float)
        n = affine.A_terms[0].shape[0]
        self.M = sp.identity(n, format="csr") if M is None else sp.csr_matrix(M)
        self.u0 = np.asarray(u0, dtype=float).ravel()
        if self.u0.size != n:
            raise ValueError(f"initial state has {self.u0.size} entries, the operators {n}")
        self.X = energy_product(affine.assemble(self.mu_ref)[0])
        self.coercivity = MinTheta(np.asarray(affine.theta_A(self.mu_ref), float), 1.0)
        self.gs = GramSchmidt(self.X, rtol=1e-13)
        self.estimator = StableEstimator(tuple(affine.A_terms) + (self.M,), affine.f_terms,
                                         RieszSolver(self.X))
        self._M_ext = ExtendedProduct(self.M)
        Qa = len(affine.A_terms)
        self.A_N, self.M_N = np.zeros((Qa, 0, 0)), np.zeros((0, 0))
        self.e0: list[float] = []
        self.history: list[GreedyStep] = []
        self._round0 = 4 * np.finfo(float).eps * float(np.sqrt(self.u0 @ (self._M_ext @ self.u0)))
        if np.any(self.u0 != 0):
            self.add(self.u0)

    @property
    def basis(self) -> np.ndarray:
        return self.gs.Q if self.gs.Q is not None else np.zeros((self.u0.size, 0))

    @property
    def N(self) -> int:
        return self.gs.size

    def truth_stepper(self, mu: np.ndarray) -> ThetaStepper:
        """The full model at ``mu`` (sparse LU of ``M + θΔtA(μ)``)."""
        A, f = self.affine.assemble(mu)
        return ThetaStepper(A, self.times, self.dt, self.scheme, f, self.M)

    def add(self, Z: np.ndarray) -> int:
        """Orthonormalise new vectors into the basis; the number added."""
        n0 = self.N
        self.gs.extend(Z)
        V = self.basis
        Znew = V[:, n0:]
        if Znew.shape[1] == 0:
            return 0
        self.A_N = np.array([V.T @ (Aq @ V) for Aq in self.affine.A_terms])
        MV = self._M_ext @ V
        self.M_N = 0.5 * (V.T @ MV + (V.T @ MV).T)
        self.f_N = np.array([V.T @ np.asarray(fq, float) for fq in self.affine.f_terms])
        self.b0 = MV.T @ self.u0
        for N in range(n0 + 1, self.N + 1):
            c = np.linalg.solve(self.M_N[:N, :N], self.b0[:N])
            e = self.u0 - V[:, :N] @ c
            # plus the round-off of forming V c in double (N eps |u_0|_M): Δ_0 stays an upper bound
            self.e0.append(float(np.sqrt(max(e @ (self._M_ext @ e), 0.0))) + self._round0 * N)
        self.estimator.extend(Znew)
        return Znew.shape[1]

    def online(self) -> ParabolicOnline:
        return ParabolicOnline(self.A_N.copy(), self.M_N.copy(), self.f_N.copy(), self.b0.copy(),
                               np.array(self.e0), self.estimator.T.copy(), self.affine.theta_A,
                               self.affine.theta_f, self.coercivity, self.times, self.dt,
                               self.scheme)

    def greedy(self, train_mu: np.ndarray, *, tol: float = 1e-6, max_basis: int = 50,
               pod_modes: int = 1, progress: Callable[[GreedyStep], None] | None = None
               ) -> list[GreedyStep]:
        """POD-greedy on the training set up to ``max_basis`` vectors (module docstring)."""
        if pod_modes < 1:
            raise ValueError(f"the number of POD-greedy modes must be positive, got {pod_modes}")

        def record(step: GreedyStep) -> None:
            self.history.append(step)
            if progress:
                progress(step)
        sur = PODGreedySurrogate(self, pod_modes, max_basis)
        weak_greedy(sur, np.atleast_2d(train_mu), tol=tol,
                    max_extensions=max(-(-(max_basis - self.N) // pod_modes), 0), progress=record)
        return self.history


class PODGreedySurrogate:
    """A :class:`ParabolicRB` as the surrogate of :func:`rom.greedy.weak_greedy` (POD-greedy)."""

    def __init__(self, rb: ParabolicRB, pod_modes: int, max_basis: int) -> None:
        self.rb, self.pod_modes, self.max_basis = rb, pod_modes, max_basis

    @property
    def size(self) -> int:
        return self.rb.N

    def relative_bounds(self, training_set: np.ndarray) -> np.ndarray:
        """``Δ_K(μ) / max_k |u_N^k(μ)|_M`` per training parameter (``inf`` for an empty basis)."""
        if self.rb.N == 0:
            return np.full(len(training_set), np.inf)
        on = self.rb.online()
        out = np.empty(len(training_set))
        for i, mu in enumerate(training_set):
            C, delta = on.solve(mu)
            norm = on.norms(C).max()
            out[i] = delta[-1] / norm if norm > 0 else np.inf
        return out

    def evaluate(self, training_set: np.ndarray) -> tuple[float, int]:
        rel = self.relative_bounds(training_set)
        return float(np.max(rel)), int(np.argmax(rel))

    def extend(self, mu: np.ndarray) -> int:
        rb = self.rb
        U = rb.truth_stepper(mu).integrate(rb.u0, every_step=True).T
        V = rb.basis
        E = U.copy()
        for _ in range(2):   # X-orthogonal projection error, re-orthogonalised
            if V.shape[1]:
                E -= V @ (V.T @ (rb.X @ E))
        k = min(self.pod_modes, self.max_basis - rb.N)
        modes = pod(E, X=rb.X, max_modes=max(k, 1)).modes
        return rb.add(modes)
