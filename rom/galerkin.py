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
