"""2-D incompressible Navier–Stokes in vorticity form on the periodic unit square (FNO benchmark).

Equation
    .. math::

        ∂_t w + u·∇w = ν Δw + f, \\qquad u = (∂_y ψ, -∂_x ψ), \\qquad -Δψ = w,

    on ``[0, 1)²`` with periodic boundaries, forcing
    ``f(x, y) = A (sin 2π(x+y) + cos 2π(x+y))`` (``A = 0.1`` in the FNO data)
    and viscosity ``ν`` (``1e-3``, ``1e-4``, ``1e-5`` in the FNO data).

Discretisation (pseudo-spectral, *not* finite differences)
    This problem is the reference benchmark of the Fourier neural operator, so
    it reproduces the scheme of the FNO data generator rather than the
    finite-difference discretisations of the rest of the zoo: Fourier
    collocation on ``N × N`` nodes (real FFTs), velocity from the stream
    function, the advection term ``u·∇w`` evaluated in physical space and
    de-aliased by the 2/3 rule (modes with ``max(|k_x|, |k_y|) > N/3`` of the
    nonlinear term are dropped).

Time integrator
    Crank–Nicolson for ``νΔw`` (exact mode by mode: each Fourier mode is a
    scalar ODE) and an explicit advection term:

    * ``scheme="fno"`` (default, the FNO generator's): forward Euler for
      ``f - u·∇w``,
      ``ŵ^{n+1} = [(1 - ½Δt ν L) ŵ^n + Δt (f̂ - F̂^n)] / (1 + ½Δt ν L)``,
      ``L = 4π²|k|²``; first order in time (second order when ``u·∇w = 0``).
    * ``scheme="cnab2"``: second-order Adams–Bashforth for the explicit part,
      ``Δt (f̂ - 3/2 F̂^n + 1/2 F̂^{n-1})`` (first step forward Euler);
      second order in time.

    ``dt`` is an upper bound; the step is shortened so that the output times
    ``t_k = k t_final / n_out`` (``k = 1..n_out``) are hit exactly. The initial
    vorticity is an *input* (``w0``), so the output trajectory starts after
    ``t = 0``, as in the FNO data files.

Parameters and sampler
    ``w0 ~ N(0, σ² (-Δ + τ² I)^{-α})`` with ``σ = 7^{3/2}``, ``τ = 7``,
    ``α = 2.5`` (the FNO generator's scaling: ``σ`` multiplies the standard
    deviation), zero mean mode, truncated to wavenumbers
    ``max(|k_x|,|k_y|) <= n_modes``; the parameters ``mu`` are the
    standard-normal KL coefficients of
    :class:`~solvers.problems.time_stepping.PeriodicGRF` (kind ``normal``),
    so a sample is the same initial field at every resolution.

Prescribed data (``Problem.prescribe``)
    ``initial`` ``w_0(x, y)`` replaces the random vorticity (its coefficients
    in ``mu`` are then unused); ``source`` replaces the forcing: a nodal array
    or number (constant in time) or ``f(x, y, t)``, which the schemes read at
    ``t_n`` (``fno``) or ``t_{n+1/2}`` (``cnab2``), keeping their orders. The
    input ``f`` is the forcing at ``t = 0``.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Union

import numpy as np
import scipy.fft as sfft

from .base import ParameterSpace, Problem, Solution
from .grid import Grid
from .time_stepping import PeriodicGRF, check_positive, normal_parameters, output_times, substeps

SCHEMES = ("fno", "cnab2")
#: the forcing of :meth:`VorticitySolver.integrate`: Fourier coefficients, or ``t -> nodal field``
Forcing = Union[np.ndarray, Callable[[float], np.ndarray]]


class VorticitySolver:
    """Pseudo-spectral integrator of the periodic vorticity equation on an ``n × n`` grid.

    Fields are arrays ``(n, n)`` at the nodes ``(i/n, j/n)``, axis 0 = x.
    """

    def __init__(self, n: int, nu: float, scheme: str = "fno") -> None:
        if scheme not in SCHEMES:
            raise ValueError(f"unknown scheme {scheme!r}; valid: {', '.join(SCHEMES)}")
        self.n, self.nu, self.scheme = int(n), check_positive("nu", nu), scheme
        kx = np.fft.fftfreq(n, d=1.0 / n)[:, None]
        ky = np.fft.rfftfreq(n, d=1.0 / n)[None, :]
        self.L = 4 * math.pi ** 2 * (kx ** 2 + ky ** 2)           # symbol of -Δ
        L_psi = self.L.copy()
        L_psi[0, 0] = 1.0
        self._inv_L = 1.0 / L_psi
        self._inv_L[0, 0] = 0.0
        # first-derivative symbols 2πik, zero at the Nyquist mode (no real derivative there)
        nyq = n // 2 if n % 2 == 0 else None
        dx = 2j * math.pi * np.where(np.abs(kx) == nyq, 0.0, kx)
        dy = 2j * math.pi * np.where(ky == nyq, 0.0, ky)
        dx, dy = np.broadcast_to(dx, self.L.shape), np.broadcast_to(dy, self.L.shape)
        # ŵ -> (u, v, w_x, w_y) = (∂_y ψ, -∂_x ψ, ∂_x w, ∂_y w) in one broadcast product
        self._grad = np.stack([dy * self._inv_L, -dx * self._inv_L, dx, dy])
        self.dealias = ((np.abs(kx) <= n / 3) & (ky <= n / 3)).astype(float)

    def advection_hat(self, w_hat: np.ndarray) -> np.ndarray:
        """De-aliased Fourier coefficients of ``u·∇w`` (``u = ∇^⊥ψ``, ``-Δψ = w``)."""
        g = sfft.irfft2(self._grad * w_hat, s=(self.n, self.n), axes=(-2, -1))
        adv = g[0] * g[2]
        adv += g[1] * g[3]
        return sfft.rfft2(adv) * self.dealias

    def _advance(self, w_hat: np.ndarray, F_prev: np.ndarray | None, forcing: Forcing,
                 a: np.ndarray, b: np.ndarray, m: int, t: float, h: float
                 ) -> tuple[np.ndarray, np.ndarray | None]:
        """``m`` steps ``ŵ <- a ŵ + b (f̂ - explicit advection)`` from time ``t``; returns ``ŵ``
        and the last ``F̂``. A time-dependent forcing is read at ``t_n`` (fno) or ``t_{n+1/2}``."""
        shift = 0.5 if self.scheme == "cnab2" else 0.0
        f_hat = forcing
        for j in range(m):
            if callable(forcing):
                f_hat = sfft.rfft2(forcing(t + (j + shift) * h))
            F = self.advection_hat(w_hat)
            if self.scheme == "cnab2" and F_prev is not None:
                explicit = f_hat - 1.5 * F + 0.5 * F_prev
            else:
                explicit = f_hat - F
            w_hat = a * w_hat + b * explicit
            F_prev = F
        return w_hat, F_prev

    def integrate(self, w0: np.ndarray, forcing: np.ndarray | Callable[[float], np.ndarray],
                  times: np.ndarray, dt: float) -> np.ndarray:
        """Vorticity at ``times`` (increasing, > 0) from ``w(0) = w0``; shape ``(len(times), n, n)``.

        ``forcing`` is a nodal array (or number), or ``t -> nodal array``.
        """
        w0 = np.asarray(w0, dtype=float)
        if w0.shape != (self.n, self.n):
            raise ValueError(f"w0 has shape {w0.shape}, expected {(self.n, self.n)}")
        w_hat = sfft.rfft2(w0)
        f_hat: Forcing = forcing if callable(forcing) else sfft.rfft2(
            np.broadcast_to(np.asarray(forcing, dtype=float), w0.shape))
        out = np.empty((len(times),) + w0.shape)
        t, F_prev = 0.0, None
        for i, t_out in enumerate(times):
            m, h = substeps(t_out - t, dt)
            a = (1 - 0.5 * h * self.nu * self.L) / (1 + 0.5 * h * self.nu * self.L)
            b = h / (1 + 0.5 * h * self.nu * self.L)
            with np.errstate(over="ignore", invalid="ignore"):  # blow-up is checked below
                w_hat, F_prev = self._advance(w_hat, F_prev, f_hat, a, b, m, t, h)
            out[i] = sfft.irfft2(w_hat, s=w0.shape)
            if not np.all(np.isfinite(out[i])):
                raise ValueError(f"navier_stokes blew up before t={t_out:g} with dt={dt:g}; "
                                 "use a smaller dt")
            t = t_out
        return out


class NavierStokes(Problem):
    """Periodic 2-D vorticity equation with random initial vorticity (FNO benchmark data).

    Options: ``nu`` viscosity, ``dt`` largest time step, ``t_final``,
    ``n_out`` output times, ``scheme`` (``fno`` | ``cnab2``), ``forcing``
    amplitude ``A``, ``n_modes`` and ``w0_sigma``/``w0_tau``/``w0_alpha`` of
    the initial-vorticity field. Inputs ``w0``, ``f``; output ``w``
    ``(n_out, N, N)``.
    """

    name = "navier_stokes"
    time_dependent = True
    input_names = ("w0", "f")
    output_names = ("w",)
    defaults: dict[str, Any] = {"nu": 1e-3, "dt": 1e-4, "t_final": 10.0, "n_out": 10,
                                "scheme": "fno", "forcing": 0.1, "n_modes": 12,
                                "w0_sigma": 7.0 ** 1.5, "w0_tau": 7.0, "w0_alpha": 2.5}
    min_resolution = 8
    prescribable = ("source", "initial")

    def __init__(self, resolution: int, **options: Any) -> None:
        super().__init__(resolution, **options)
        o = self.options
        for key in ("nu", "dt", "t_final", "w0_sigma", "w0_tau", "w0_alpha"):
            check_positive(key, o[key])
        if o["scheme"] not in SCHEMES:
            raise ValueError(f"unknown scheme {o['scheme']!r}; valid: {', '.join(SCHEMES)}")
        self._times = output_times(o["t_final"], int(o["n_out"]), include_initial=False)
        self.field = PeriodicGRF(2, int(o["n_modes"]), o["w0_sigma"], o["w0_tau"], o["w0_alpha"])

    @property
    def parameter_space(self) -> ParameterSpace:
        return ParameterSpace(*normal_parameters("w0_xi", self.field.dim))

    @property
    def grid(self) -> Grid:
        return Grid.uniform(self.resolution, ndim=2, periodic=True)

    def forcing_field(self) -> np.ndarray:
        """``f = A (sin 2π(x+y) + cos 2π(x+y))`` at the nodes."""
        X, Y = self.grid.mesh()
        s = 2 * math.pi * (X + Y)
        return self.options["forcing"] * (np.sin(s) + np.cos(s))

    def input_fields(self, mu: np.ndarray) -> dict[str, np.ndarray]:
        if "initial" in self.prescribed:
            w0 = self.data("initial").astype(float)
        else:
            w0 = self.field.evaluate(np.ravel(mu), self.grid.axes)
        return {"w0": w0, "f": self._forcing(0.0)}

    def _forcing(self, t: float) -> np.ndarray:
        """The prescribed source at ``t``, else :meth:`forcing_field`."""
        if "source" in self.prescribed:
            return self.data("source", t).astype(float)
        return self.forcing_field()

    def solve(self, mu: np.ndarray, solver: Any = None) -> Solution:
        """Integrate one trajectory (``solver`` is unused: the scheme has no linear solves)."""
        inputs = self.input_fields(mu)
        stepper = VorticitySolver(self.resolution, self.options["nu"], self.options["scheme"])
        forcing = self._forcing if callable(self.prescribed.get("source")) else inputs["f"]
        w = stepper.integrate(inputs["w0"], forcing, self._times, self.options["dt"])
        return Solution(inputs, {"w": w}, [])
