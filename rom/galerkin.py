"""POD-Galerkin reduced model of the periodic viscous Burgers equation, parametric in ``ν``.

Full model (:mod:`solvers.problems.burgers`): ``du/dt = ν D₂ u - N(u)`` on ``n``
periodic nodes, ``D₂`` the circulant second difference over ``h²``, ``N`` the
energy-conserving flux difference (:mod:`rom.hyper_reduction`).

Reduced model
    With an orthonormal basis ``Φ (n x r)`` rotated so that
    ``Φ^T D₂ Φ = diag(κ)`` (eigendecomposition of the symmetric ``r x r``
    reduced Laplacian, done once offline: it does not depend on ``ν``), the
    Galerkin system is

    .. math::

        \\frac{da}{dt} = ν\\,\\mathrm{diag}(κ)\\, a - f_r(a), \\qquad
        f_r(a) = Φ^T N(Φ a) \\;(\\text{or its hyper-reduction}),
        \\qquad a(0) = Φ^T u_0 .

    Parametric in ``ν`` by affine dependence: the same ``κ`` serves every
    ``ν``. Orthonormality makes ``|a| = |Φ a|``; the skew flux makes
    ``a^T Φ^T N(Φ a) = 0``, so without hyper-reduction the reduced energy is
    non-increasing as the full one is.

Time integration: the problem's scheme
    Lawson (integrating-factor) RK4 with ``e^{sν diag(κ)}`` applied exactly,
    the same formula as :class:`solvers.problems.burgers.BurgersSolver`, with
    outputs at the dataset's stored times and equal substeps per output
    interval. Step rules: ``"solver"`` is the full solver's
    ``min(dt, cfl h / max|Φ a|)`` (an ``O(n r)`` reconstruction per output
    interval; with the full basis the reduced trajectory is the full one to
    round-off); ``"reduced"`` is ``min(dt, cfl / (ω_r max|Φ a|))`` with ``ω_r``
    the spectral radius of the reduced central difference ``Φ^T D₁ Φ`` (the
    advection frequencies the basis can represent, ``<= 1/h``), so the steps
    are larger where the basis has no high wavenumbers (e.g. 85 instead of the
    solver's ~1,000 steps per trajectory at ``N = 40``, 1,024 points). Both
    rules read ``max|Φ a|`` once per output interval (``O(n r)``, the cost of
    writing that output); every step costs ``O(r M)``, independent of ``n``.

Stability
    The true energy cannot grow, so ``|a(t)| > growth · |a(0)|`` (or a NaN) at
    any step is reported as :class:`ReducedBlowUp`, naming the step and time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from solvers.problems.time_stepping import substeps

from .hyper_reduction import SampledNonlinearity

if TYPE_CHECKING:
    from .time_stepping import TimeStepper


class ReducedBlowUp(ValueError):
    """A reduced trajectory left the energy bound (or became non-finite)."""


def second_difference(Phi: np.ndarray, h: float) -> np.ndarray:
    """``D₂ Φ``: the periodic second difference of the columns of ``Φ`` over ``h²``."""
    return (np.roll(Phi, -1, axis=0) - 2.0 * Phi + np.roll(Phi, 1, axis=0)) / h ** 2


def diffusion_eigenbasis(Phi: np.ndarray, h: float) -> tuple[np.ndarray, np.ndarray]:
    """``(Φ V, κ)`` with ``V^T (Φ^T D₂ Φ) V = diag(κ)`` (``κ <= 0``, ascending magnitude)."""
    K = Phi.T @ second_difference(Phi, h)
    kappa, V = np.linalg.eigh(0.5 * (K + K.T))
    order = np.argsort(-kappa)
    return Phi @ V[:, order], kappa[order]


def advection_frequency(Phi: np.ndarray, h: float) -> float:
    """Spectral radius of the reduced central difference ``Φ^T D₁ Φ`` (skew: imaginary eigenvalues)."""
    D1 = (np.roll(Phi, -1, axis=0) - np.roll(Phi, 1, axis=0)) / (2.0 * h)
    return float(np.max(np.abs(np.linalg.eigvals(Phi.T @ D1)))) if Phi.shape[1] else 0.0


def integrate(step: Callable[[np.ndarray, float], np.ndarray], a0: np.ndarray, times: np.ndarray,
              step_size: Callable[[np.ndarray], float], *, growth: float = 10.0,
              name: str = "reduced model") -> tuple[np.ndarray, int]:
    """States at ``times`` (``times[0] >= 0``; ``a(0) = a0``) by equal substeps per output
    interval no longer than ``step_size(a)`` at the interval's start; ``(states, steps)``.

    ``a0`` is ``(r,)`` or ``(r, B)``; a step leaving ``|a| <= growth |a0|_max`` or
    producing a NaN raises :class:`ReducedBlowUp`.
    """
    a = np.array(a0, dtype=float)
    times = np.asarray(times, dtype=float)
    out = np.empty((len(times),) + a.shape)
    limit = growth ** 2 * max(float(np.max(np.sum(a * a, axis=0))), np.finfo(float).tiny)
    t, steps = 0.0, 0
    for i, t_out in enumerate(times):
        if t_out > t:
            m, dt = substeps(t_out - t, min(step_size(a), t_out - t))
            with np.errstate(over="ignore", invalid="ignore"):
                for k in range(m):
                    a = step(a, dt)
                    steps += 1
                    if not np.max(np.sum(a * a, axis=0)) <= limit:
                        raise ReducedBlowUp(
                            f"{name} blew up at step {steps} (t={t + (k + 1) * dt:.4g}): the "
                            f"reduced state grew past {growth:g}x its initial norm, which the "
                            "true energy cannot; use more modes or sampled points")
            t = t_out
        out[i] = a
    return out, steps


def lawson_rk4_step(a: np.ndarray, dt: float, E: np.ndarray,
                    g: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """One Lawson-RK4 step of ``da/dt = Λ a + g(a)`` with ``E = e^{dt Λ / 2}`` (diagonal)."""
    E2 = E * E
    k1 = dt * g(a)
    k2 = dt * g(E * (a + 0.5 * k1))
    k3 = dt * g(E * a + 0.5 * k2)
    k4 = dt * g(E2 * a + E * k3)
    return E2 * a + (E2 * k1 + 2.0 * E * (k2 + k3) + k4) / 6.0


@dataclass
class BurgersGalerkin:
    """The reduced Burgers model (see the module docstring): basis ``Φ`` (diffusion
    eigenbasis), ``κ``, the (hyper-reduced) nonlinearity and the output ``times``."""

    Phi: np.ndarray
    kappa: np.ndarray
    nonlinear: SampledNonlinearity
    times: np.ndarray
    h: float
    cfl: float = 1.0
    dt: float = np.inf
    step_rule: str = "reduced"
    growth: float = 10.0
    omega: float = field(init=False)

    def __post_init__(self) -> None:
        if self.step_rule not in ("solver", "reduced"):
            raise ValueError(f"unknown step rule {self.step_rule!r}; valid: solver, reduced")
        self.omega = advection_frequency(self.Phi, self.h)
        self._Phi_c = np.ascontiguousarray(self.Phi)
        self._rho = float(np.sqrt(np.max(np.sum(self.Phi ** 2, axis=1)))) if self.Phi.size else 0.0

    @property
    def r(self) -> int:
        return int(self.Phi.shape[1])

    def project(self, u0: np.ndarray) -> np.ndarray:
        """``a(0) = Φ^T u_0`` for ``u0 (n,)`` or ``(B, n)`` (-> ``(r,)`` or ``(r, B)``)."""
        return self.Phi.T @ np.asarray(u0, dtype=float).T

    def step_size(self, a: np.ndarray) -> float:
        """The step bound at state ``a`` (see the module docstring's step rules)."""
        umax = float(np.max(np.abs(self.Phi @ a)))
        speed = umax / self.h if self.step_rule == "solver" else self.omega * umax
        return min(self.dt, self.cfl / speed) if speed > 0 else self.dt

    def integrate_reduced(self, a0: np.ndarray, nu: float | np.ndarray) -> np.ndarray:
        """Reduced states at :attr:`times`: ``(len(times), r)`` (or ``(len(times), r, B)``
        for ``a0 (r, B)`` with one ``ν`` per column)."""
        a0 = np.asarray(a0, dtype=float)
        nu = np.asarray(nu, dtype=float)
        if self.nonlinear.full_basis is None and (a0.ndim == 1 or a0.shape[1] == 1):
            states = self.integrate_single(a0.reshape(-1), float(nu.reshape(-1)[0]))
            return states if a0.ndim == 1 else states[:, :, None]
        return self.integrate_reference(a0, nu)

    def integrate_reference(self, a0: np.ndarray, nu: float | np.ndarray) -> np.ndarray:
        """:meth:`integrate_reduced` by the generic path (:func:`integrate` and
        :func:`lawson_rk4_step`): any batch, any nonlinearity; the reference of the fast path."""
        a0 = np.asarray(a0, dtype=float)
        nu = np.asarray(nu, dtype=float)
        lam = np.multiply.outer(self.kappa, nu) if a0.ndim == 2 else self.kappa * float(nu)
        cache: dict[float, np.ndarray] = {}

        def step(a: np.ndarray, dt: float) -> np.ndarray:
            if dt not in cache:
                cache.clear()
                cache[dt] = np.exp(0.5 * dt * lam)
            return lawson_rk4_step(a, dt, cache[dt], lambda x: -self.nonlinear(x))

        states, self.last_steps = integrate(step, a0, self.times, self.step_size,
                                            growth=self.growth, name="reduced burgers model")
        return states

    def integrate_single(self, a0: np.ndarray, nu: float) -> np.ndarray:
        r"""One trajectory ``a0 (r,)`` at one ``ν`` with a sampled nonlinearity: the same
        steps, stages and blow-up test as :meth:`integrate_reference`, as a lean loop.

        Per step ``t -> t + s`` (Lawson RK4, ``E = e^{s ν diag(κ)/2}``; the sampled
        nonlinearity is ``g(a) = -s W ((C_1 a) ⊙ (C_2 a))`` with ``C = [C_1; C_2]`` the
        fused stencil rows of :class:`rom.hyper_reduction.SampledNonlinearity` and
        ``W_s = -s W``) the stages only enter through ``C x`` and products
        ``p_j = (C_1 x_j) ⊙ (C_2 x_j)``, so with ``C_E = C diag(E)``

        .. math::

            C x_1 = C a,\quad C x_2 = C_E a + \tfrac12 C_E W_s p_1,\quad
            C x_3 = C_E a + \tfrac12 C W_s p_2,\quad C x_4 = C_{E^2} a + C_E W_s p_3,

            a^+ = E^2 a + [\mathrm{diag}(\tfrac{E^2}{6}) W_s,\,\mathrm{diag}(\tfrac{E}{3}) W_s,
            \,\mathrm{diag}(\tfrac{E}{3}) W_s,\,\tfrac16 W_s]\,[p_1; p_2; p_3; p_4],

        the same formula as :func:`lawson_rk4_step`. All matrices depend only on ``s``
        and are formed once per distinct step (steps equal to round-off, as the equal
        substeps of uniformly stored times are, count as one) (``[C; C_E; C_{E^2}; diag(E^2)]`` gives
        ``C a, C_E a, C_{E^2} a, E^2 a`` in one product). The step rule reads
        ``max|Φ a|`` (``O(n r)``) only when the bound ``ρ|a| >= max|Φ a|`` (``ρ`` the
        largest row norm of ``Φ``) does not already allow the whole output interval:
        the same steps, fewer reconstructions. A step is 6 products and 8
        elementwise operations into preallocated buffers, ``O(m (r + m))`` flops.
        """
        nl = self.nonlinear
        C, m = nl._C, nl._m
        r = C.shape[1]
        times = np.asarray(self.times, dtype=float)
        a = np.array(a0, dtype=float)
        out = np.empty((len(times), r))
        limit = self.growth ** 2 * max(float(a @ a), np.finfo(float).tiny)
        lam = self.kappa * float(nu)
        Phi, rho = self._Phi_c, self._rho          # fixed with the basis (__post_init__)
        rate, tiny = (1.0 / self.h if self.step_rule == "solver" else self.omega), 1e-300
        vb, w, P = np.empty(6 * m + r), np.empty(2 * m), np.empty(4 * m)
        c1a, c1b, cea, ce2a, e2a = (vb[:m], vb[m:2 * m], vb[2 * m:4 * m], vb[4 * m:6 * m],
                                    vb[6 * m:])
        wa, wb = w[:m], w[m:]
        P1, P2, P3, P4 = P[:m], P[m:2 * m], P[2 * m:3 * m], P[3 * m:]
        dot, mul, add = np.dot, np.multiply, np.add
        t, steps, cached, norm2 = 0.0, 0, None, float(a @ a)
        with np.errstate(over="ignore", invalid="ignore"):   # NaN fails the test
            for i, t_out in enumerate(times):
                if t_out > t:
                    # max|Φa| <= ρ|a| (ρ the largest row norm of Φ): when that bound already
                    # allows the whole interval, so does the exact rule; else read max|Φa|
                    if min(self.dt, self.cfl / (rate * rho * float(np.sqrt(norm2)) + tiny)) \
                            >= t_out - t:
                        s_max = t_out - t
                    else:
                        umax = float(np.max(np.abs(Phi @ a)))
                        s_max = min(self.dt, self.cfl / (rate * umax)) if umax > 0 else self.dt
                    n_sub, dt = substeps(t_out - t, min(s_max, t_out - t))
                    if cached is None or abs(dt - cached) > 1e-13 * cached:   # not round-off
                        cached = dt
                        E = np.exp(0.5 * dt * lam)
                        Ws = -dt * nl._W6
                        CE, CE2 = C * E, C * (E * E)
                        big = np.ascontiguousarray(np.vstack([C, CE, CE2, np.diag(E * E)]))
                        G2, G3, G4 = 0.5 * CE @ Ws, 0.5 * C @ Ws, CE @ Ws
                        Wf = np.ascontiguousarray(np.hstack([(E * E / 6.0)[:, None] * Ws,
                                                             (E / 3.0)[:, None] * Ws,
                                                             (E / 3.0)[:, None] * Ws, Ws / 6.0]))
                    for k in range(n_sub):
                        dot(big, a, out=vb)
                        mul(c1a, c1b, out=P1)
                        dot(G2, P1, out=w)
                        add(w, cea, out=w)
                        mul(wa, wb, out=P2)
                        dot(G3, P2, out=w)
                        add(w, cea, out=w)
                        mul(wa, wb, out=P3)
                        dot(G4, P3, out=w)
                        add(w, ce2a, out=w)
                        mul(wa, wb, out=P4)
                        dot(Wf, P, out=a)          # the old state is no longer read (vb has
                        add(a, e2a, out=a)         # C a, ...; e2a lives in vb)
                        steps += 1
                        norm2 = float(dot(a, a))
                        if not norm2 <= limit:
                            raise ReducedBlowUp(
                                f"reduced burgers model blew up at step {steps} "
                                f"(t={t + (k + 1) * dt:.4g}): the reduced state grew past "
                                f"{self.growth:g}x its initial norm, which the true energy "
                                "cannot; use more modes or sampled points")
                    t = t_out
                out[i] = a
        self.last_steps = steps
        return out

    def stepper(self, nu: float) -> TimeStepper:
        """The reduced model at viscosity ``ν`` as a time stepper on full states
        (:class:`rom.time_stepping.TimeStepper`)."""
        return GalerkinStepper(self, float(nu))


@dataclass
class GalerkinStepper:
    """``TimeStepper`` view of :class:`BurgersGalerkin` at one ``ν``: ``integrate(u0)``
    gives the lifted states ``Φ a(t_k)`` at :attr:`times`, shape ``(len(times), n)``."""

    model: BurgersGalerkin
    nu: float

    @property
    def times(self) -> np.ndarray:
        return self.model.times

    def integrate(self, u0: np.ndarray) -> np.ndarray:
        return self.model.integrate_reduced(self.model.project(u0), self.nu) @ self.model.Phi.T
