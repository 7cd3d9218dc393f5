"""The time-stepping model abstraction shared by full and reduced models.

A :class:`TimeStepper` maps an initial state to the states at its stored
output times ``times`` (``times[0] = 0``); full models (sparse ``n × n``
matrices) and reduced ones (dense ``N × N`` Galerkin projections) implement
it the same way, so a reduced trajectory is compared with the stored one
step for step.

Linear theta scheme (:class:`ThetaStepper`)
    For ``M u' + A u = f(t)`` with uniform steps ``Δt`` and ``t_j = j Δt``,

    .. math::

        (M + θ Δt A) u^{j+1} = (M - (1-θ) Δt A) u^j
                               + Δt (θ f(t_{j+1}) + (1-θ) f(t_j)),

    ``θ = 1`` backward Euler (``"be"``), ``θ = 1/2`` Crank–Nicolson
    (``"cn"``). The step schedule is the problems' own
    (:func:`solvers.problems.time_stepping.uniform_steps`): ``m`` equal
    substeps ``Δt <= dt`` between two of the equispaced outputs
    ``linspace(0, T, n_out)``, one step length for the whole trajectory. With
    ``M = I`` this is exactly :func:`solvers.problems.heat.integrate_heat`
    (the ``heat`` integrator), so the full model here reproduces the stored
    trajectories to the direct solver's round-off.

    The left-hand matrix is factorised once (``scipy.sparse.linalg.splu`` for
    sparse matrices). For dense (reduced) matrices the one-step propagator
    ``G = (M + θΔtA)^{-1}(M - (1-θ)ΔtA)`` and ``B = Δt (M + θΔtA)^{-1}`` are
    formed once by LU solves (``scipy.linalg.lu_factor``), so a step is one
    small matrix-vector product: ``u^{j+1} = G u^j + B f^{j+θ}``.
"""

from __future__ import annotations

from typing import Callable, Protocol, runtime_checkable

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from solvers.problems.time_stepping import uniform_steps

#: a source: ``None`` (zero), a constant vector or number, or ``t -> vector``
Source = Callable[[float], np.ndarray] | np.ndarray | float | None

SCHEMES = {"be": 1.0, "cn": 0.5}


@runtime_checkable
class TimeStepper(Protocol):
    """A model that integrates an initial state to its stored output times."""

    times: np.ndarray  #: stored output times, ``times[0] = 0``

    def integrate(self, u0: np.ndarray) -> np.ndarray:
        """The states ``(len(times), n)`` at the stored times (``u0`` first)."""
        ...


def theta_of(scheme: str | float) -> float:
    """``θ`` of a scheme name (``be`` 1, ``cn`` 1/2) or a number in ``[1/2, 1]``."""
    if isinstance(scheme, str):
        if scheme not in SCHEMES:
            raise ValueError(f"unknown time scheme {scheme!r}; valid: {', '.join(SCHEMES)}")
        return SCHEMES[scheme]
    theta = float(scheme)
    if not 0.5 <= theta <= 1.0:
        raise ValueError(f"theta must lie in [1/2, 1] (A-stable theta schemes), got {theta}")
    return theta


def step_schedule(times: np.ndarray, dt: float) -> tuple[int, float]:
    """``(m, Δt)`` for equispaced outputs ``times`` (``times[0] = 0``): the problems' schedule."""
    times = np.asarray(times, dtype=float)
    if times.ndim != 1 or times.size < 2 or times[0] != 0.0:
        raise ValueError("output times must be a 1-D array of at least two times starting at 0")
    t_final, n_out = float(times[-1]), times.size
    if not np.allclose(times, np.linspace(0.0, t_final, n_out), rtol=1e-10, atol=1e-12 * t_final):
        raise ValueError("output times must be equispaced (linspace(0, T, n_out))")
    return uniform_steps(t_final, n_out, dt)


class _Solver:
    """One factorisation of a sparse or dense square matrix."""

    def __init__(self, K: np.ndarray | sp.spmatrix) -> None:
        if sp.issparse(K):
            self._lu = spla.splu(sp.csc_matrix(K))
            self.solve: Callable[[np.ndarray], np.ndarray] = self._lu.solve
        else:
            lu = sla.lu_factor(np.asarray(K, dtype=float))
            self.solve = lambda b: sla.lu_solve(lu, b)


class ThetaStepper:
    """Theta scheme for ``M u' + A u = f(t)`` on the problems' step schedule (module docstring).

    ``A``, ``M`` (default identity) sparse or dense; ``source`` ``None``, a
    vector/number (constant in time) or ``t -> vector``; ``times`` the
    equispaced stored outputs; ``dt`` the largest step; ``scheme`` ``be`` |
    ``cn`` or ``θ``.
    """

    def __init__(self, A: np.ndarray | sp.spmatrix, times: np.ndarray, dt: float,
                 scheme: str | float = "cn", source: Source = None,
                 M: np.ndarray | sp.spmatrix | None = None,
                 schedule: tuple[int, float] | None = None) -> None:
        self.theta = theta_of(scheme)
        self.times = np.asarray(times, dtype=float)
        # ``schedule``: ``step_schedule(times, dt)`` computed once by the caller
        self.m, self.h = step_schedule(self.times, dt) if schedule is None else schedule
        n = A.shape[0]
        if A.shape != (n, n):
            raise ValueError(f"A must be square, got shape {A.shape}")
        sparse = sp.issparse(A)
        if M is None:
            M = sp.identity(n, format="csr") if sparse else np.eye(n)
        if M.shape != (n, n):
            raise ValueError(f"M must have the shape of A {A.shape}, got {M.shape}")
        self.A, self.M, self.n, self.source = A, M, n, source
        self._lhs = _Solver(M + self.theta * self.h * A)
        self._rhs_op = M - (1.0 - self.theta) * self.h * A
        self._G = self._B = None
        if not sparse:   # small dense (reduced) systems: the one-step propagator, formed once
            self._G = self._lhs.solve(np.asarray(self._rhs_op, dtype=float))
            if callable(source):
                self._B = self.h * self._lhs.solve(np.eye(n))

    @property
    def n_steps(self) -> int:
        """Number of time steps over the trajectory."""
        return self.m * (self.times.size - 1)

    def source_at(self, t: float) -> np.ndarray:
        """``f(t)`` as a vector of length ``n``."""
        s = self.source
        if s is None:
            return np.zeros(self.n)
        v = s(t) if callable(s) else s
        return np.broadcast_to(np.asarray(v, dtype=float), (self.n,)).astype(float)

    def integrate(self, u0: np.ndarray, every_step: bool = False) -> np.ndarray:
        """States at the stored times ``(len(times), n)``; all ``n_steps + 1`` states if ``every_step``."""
        u = np.asarray(u0, dtype=float).ravel().copy()
        if u.size != self.n:
            raise ValueError(f"initial state has {u.size} entries, the model {self.n}")
        keep = self.n_steps + 1 if every_step else self.times.size
        out = np.empty((keep, self.n))
        out[0] = u
        h, th = self.h, self.theta
        f_old = self.source_at(0.0)
        const = self._G is not None and not callable(self.source)
        g = self._lhs.solve(self.h * f_old) if const else None
        for j in range(1, self.n_steps + 1):
            if const:   # u^{j} = G u^{j-1} + (M + θΔtA)^{-1} Δt f
                u = self._G @ u + g
            else:
                f_new = self.source_at(j * h)
                f = th * f_new + (1.0 - th) * f_old
                u = (self._G @ u + self._B @ f if self._G is not None
                     else self._lhs.solve(self._rhs_op @ u + h * f))
                f_old = f_new
            if every_step:
                out[j] = u
            elif j % self.m == 0:
                out[j // self.m] = u
        return out
