"""1-D viscous Burgers equation on the periodic unit interval (FNO's Burgers benchmark).

Equation
    .. math::

        ∂_t u + ∂_x (u^2/2) = ν ∂_{xx} u, \\qquad x \\in [0, 1) \\text{ periodic},
        \\qquad u(x, 0) = u_0(x).

Discretisation in space (finite differences, conservative, second order)
    On ``N`` nodes ``x_i = i/N`` (``h = 1/N``)

    .. math::

        \\frac{du_i}{dt} = -\\frac{F_{i+1/2} - F_{i-1/2}}{h}
            + ν \\frac{u_{i+1} - 2u_i + u_{i-1}}{h^2}, \\qquad
        F_{i+1/2} = \\frac{u_i^2 + u_i u_{i+1} + u_{i+1}^2}{6}.

    The flux is the energy-conserving (skew-symmetric) one: the flux
    difference telescopes, so the mean ``Σ u_i h`` is conserved exactly, and
    ``Σ_i u_i (F_{i+1/2} - F_{i-1/2}) = 0``, so the discrete energy
    ``Σ u_i^2 h`` can only decrease (by viscosity); no artificial dissipation.

Time integrator (Lawson / integrating-factor RK4, fourth order)
    With ``L`` the circulant second-difference matrix times ``ν`` and ``N(u)``
    the flux difference, the classical RK4 is applied to
    ``v = e^{-tL} u``; ``e^{sL}`` is applied exactly through the FFT, since
    the circulant ``L`` has the eigenvalues ``-4ν/h² sin²(πk/N)``. The stiff
    diffusion therefore imposes no step limit; the explicit advection is
    kept stable by adaptive substeps: on each output interval the step is
    ``min(dt, cfl · h / max|u|)`` (RK4's stability interval on the imaginary
    axis is ``2√2``, and the skew flux's spectral radius is ``max|u|/h``),
    shortened so that the output times are hit exactly. Fourth order in time.

Parameters and sampler
    ``u_0 ~ N(0, σ²(-Δ + τ²I)^{-α})`` with ``σ = 25``, ``τ = 5``, ``α = 2``
    (FNO: ``N(0, 625(-Δ + 25 I)^{-2})``), truncated to ``n_modes``
    wavenumbers; ``mu`` holds its standard-normal KL coefficients
    (:class:`~solvers.problems.time_stepping.PeriodicGRF`, kind ``normal``).
    ``ν`` is an option (FNO: ``0.1``), or with ``nu_max > nu`` a log-uniform
    parameter on ``[nu, nu_max]`` appended to ``mu``. Output times ``linspace(0, t_final, n_out)``
    (``u[0] = u_0``).

Prescribed data (``Problem.prescribe``)
    ``initial`` ``u_0(x)`` (a callable of the node coordinates, a number or an
    array of ``N`` values) replaces the random field; its coefficients in
    ``mu`` are then unused. The equation has no source and the periodic
    interval no boundary data.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.fft as sfft

from .base import ParameterSpace, Problem, Solution
from .grid import Grid
from .time_stepping import PeriodicGRF, check_positive, normal_parameters, output_times, substeps


def flux_divergence(u: np.ndarray, h: float) -> np.ndarray:
    """``(F_{i+1/2} - F_{i-1/2}) / h`` with the energy-conserving flux ``(u_i² + u_i u_{i+1} + u_{i+1}²)/6``."""
    up = np.roll(u, -1)
    F = (u * u + u * up + up * up) / 6.0
    return (F - np.roll(F, 1)) / h


class BurgersSolver:
    """Integrating-factor RK4 for the semi-discrete periodic Burgers equation on ``n`` nodes."""

    def __init__(self, n: int, nu: float, cfl: float = 1.0) -> None:
        if n < 4:
            raise ValueError(f"burgers needs at least 4 nodes, got {n}")
        self.n, self.h = int(n), 1.0 / n
        self.nu, self.cfl = check_positive("nu", nu), check_positive("cfl", cfl)
        k = np.arange(n // 2 + 1)
        #: eigenvalues of ν × (circulant second difference), one per rfft mode
        self.lam = -4.0 * self.nu / self.h ** 2 * np.sin(np.pi * k / n) ** 2

    def _rhs_hat(self, u_hat: np.ndarray) -> np.ndarray:
        """Fourier coefficients of the advective part ``-(F_{i+1/2} - F_{i-1/2})/h``."""
        u = sfft.irfft(u_hat, n=self.n)
        return -sfft.rfft(flux_divergence(u, self.h))

    def step(self, u_hat: np.ndarray, dt: float) -> np.ndarray:
        """One Lawson-RK4 step of length ``dt`` on the rfft coefficients ``u_hat``."""
        E = np.exp(0.5 * dt * self.lam)
        E2 = E * E
        a = dt * self._rhs_hat(u_hat)
        b = dt * self._rhs_hat(E * (u_hat + 0.5 * a))
        c = dt * self._rhs_hat(E * u_hat + 0.5 * b)
        d = dt * self._rhs_hat(E2 * u_hat + E * c)
        return E2 * u_hat + (E2 * a + 2.0 * E * (b + c) + d) / 6.0

    def integrate(self, u0: np.ndarray, times: np.ndarray, dt: float = np.inf) -> np.ndarray:
        """``u`` at ``times`` (non-decreasing, ``>= 0``) from ``u(0) = u0``; shape ``(len(times), n)``.

        Each output interval is covered by equal steps no longer than ``dt``
        nor than the CFL step ``cfl · h / max|u|`` at the interval's start.
        """
        u = np.asarray(u0, dtype=float)
        if u.shape != (self.n,):
            raise ValueError(f"u0 has shape {u.shape}, expected ({self.n},)")
        times = np.asarray(times, dtype=float)
        if times.size and (times[0] < 0 or np.any(np.diff(times) < 0)):
            raise ValueError("output times must be non-negative and non-decreasing")
        u_hat = sfft.rfft(u)
        out = np.empty((len(times), self.n))
        t = 0.0
        for i, t_out in enumerate(times):
            if t_out > t:
                umax = float(np.max(np.abs(u)))
                step = min(dt, self.cfl * self.h / umax) if umax > 0 else dt
                if not np.isfinite(step):
                    step = t_out - t
                m, h = substeps(t_out - t, step)
                with np.errstate(over="ignore", invalid="ignore"):  # blow-up is checked below
                    for _ in range(m):
                        u_hat = self.step(u_hat, h)
                u = sfft.irfft(u_hat, n=self.n)
                if not np.all(np.isfinite(u)):
                    raise ValueError(f"burgers blew up before t={t_out:g}; lower cfl or dt")
                t = t_out
            out[i] = u
        return out


class Burgers(Problem):
    """Periodic viscous Burgers with a Gaussian-random-field initial condition.

    Options: ``nu`` viscosity (with ``nu_max > nu``: ``ν`` is a log-uniform
    parameter on ``[nu, nu_max]``, the last entry of ``mu``), ``t_final``,
    ``n_out`` output times (incl.
    ``t = 0``), ``cfl`` (advective Courant number, <= 2.8 for stability),
    ``dt`` (largest step, ``0`` = CFL only), ``n_modes`` and
    ``u0_sigma``/``u0_tau``/``u0_alpha`` of the initial field.
    Input ``u0`` ``(N,)``; output ``u`` ``(n_out, N)``.
    """

    name = "burgers"
    time_dependent = True
    input_names = ("u0",)
    output_names = ("u",)
    defaults: dict[str, Any] = {"nu": 0.1, "nu_max": 0.0, "t_final": 1.0, "n_out": 11, "cfl": 1.0, "dt": 0.0,
                                "n_modes": 32, "u0_sigma": 25.0, "u0_tau": 5.0,
                                "u0_alpha": 2.0}
    min_resolution = 8
    prescribable = ("initial",)

    def __init__(self, resolution: int, **options: Any) -> None:
        super().__init__(resolution, **options)
        o = self.options
        for key in ("nu", "t_final", "cfl", "u0_sigma", "u0_tau", "u0_alpha"):
            check_positive(key, o[key])
        if o["nu_max"] and o["nu_max"] <= o["nu"]:
            raise ValueError(f"nu_max must exceed nu={o['nu']} (or be 0 for a fixed nu), "
                             f"got {o['nu_max']}")
        if o["dt"] < 0:
            raise ValueError(f"dt must be >= 0 (0 = CFL-limited only), got {o['dt']}")
        self._times = output_times(o["t_final"], int(o["n_out"]), include_initial=True)
        self.field = PeriodicGRF(1, int(o["n_modes"]), o["u0_sigma"], o["u0_tau"], o["u0_alpha"])

    @property
    def parameter_space(self) -> ParameterSpace:
        names, kinds, ranges = normal_parameters("u0_xi", self.field.dim)
        if self.options["nu_max"]:
            names, kinds = names + ("nu",), kinds + ("loguniform",)
            ranges = ranges + ((self.options["nu"], self.options["nu_max"]),)
        return ParameterSpace(names, kinds, ranges)

    @property
    def grid(self) -> Grid:
        return Grid.uniform(self.resolution, ndim=1, periodic=True)

    def input_fields(self, mu: np.ndarray) -> dict[str, np.ndarray]:
        if "initial" in self.prescribed:
            return {"u0": self.data("initial").astype(float)}
        return {"u0": self.field.evaluate(np.ravel(mu)[:self.field.dim], self.grid.axes)}

    def viscosity(self, mu: np.ndarray) -> float:
        """``ν`` of sample ``mu`` (the option ``nu`` unless ``nu_max`` makes it a parameter)."""
        mu = self.flat_parameters(mu)
        return float(mu[-1]) if self.options["nu_max"] else float(self.options["nu"])

    def solve(self, mu: np.ndarray, solver: Any = None) -> Solution:
        """Integrate one trajectory (``solver`` is unused: the scheme has no linear solves)."""
        inputs = self.input_fields(mu)
        stepper = BurgersSolver(self.resolution, self.viscosity(mu), self.options["cfl"])
        dt = self.options["dt"] or np.inf
        return Solution(inputs, {"u": stepper.integrate(inputs["u0"], self._times, dt)}, [])
