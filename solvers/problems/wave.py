"""Acoustic wave equation with a variable speed on the unit square (leapfrog).

Equation
    .. math::

        ∂_{tt} u = c(x)^2 Δu + f \\quad \\text{in } Ω × (0, T], \\qquad
        u(·, 0) = u_0, \\quad ∂_t u(·, 0) = v_0,

    on ``Ω = (0,1)²`` with ``u = 0`` on ``∂Ω`` (``bc="dirichlet"``) or on the
    periodic unit square (``bc="periodic"``).

Discretisation
    Five-point Laplacian ``Δ_h`` (:func:`solvers.problems.fd.laplacian`,
    second order) on the unknowns (interior nodes, or all nodes when
    periodic); ``C² = diag(c²)`` at the unknowns. Leapfrog (central
    differences in time, second order):

    .. math::

        u^{n+1} = 2u^n - u^{n-1} + Δt^2 (C^2 Δ_h u^n + f^n), \\qquad
        u^1 = u^0 + Δt v_0 + \\tfrac{Δt^2}{2} (C^2 Δ_h u^0 + f^0)

    (the Taylor start is second order as well). By default ``f = 0`` and
    ``v_0 = 0``.
    With ``K = -Δ_h`` and ``W = C^{-2}`` the scheme conserves exactly the
    discrete energy

    .. math::

        E^{n+1/2} = \\tfrac12 \\|(u^{n+1} - u^n)/Δt\\|_W^2
                    + \\tfrac12 \\langle K u^n, u^{n+1} \\rangle

    (weighted by the cell area ``h²``), which is positive, hence the scheme
    stable, under the CFL condition ``Δt · c_max · sqrt(Σ_d 1/h_d²) <= 1``
    (``Δt² ρ(C²K) <= 4`` with ``ρ(K) <= Σ_d 4/h_d²``). The step is
    ``Δt = cfl / (c_max sqrt(Σ_d 1/h_d²))`` (or the given ``dt``, which is
    checked against the condition), shortened to hit the output times
    ``linspace(0, t_final, n_out)`` exactly.

Parameters and sampler
    ``c = c0 · exp(g)`` with ``g`` a zero-mean Gaussian random field
    (:class:`~solvers.problems.random_fields.GaussianRandomField`, cosine
    basis for Dirichlet, Fourier basis for periodic, ``c_modes`` per axis,
    ``σ = c_sigma``, ``α = 2``, ``τ = 3``; kind ``normal``). ``u_0`` is a
    Gaussian pulse ``exp(-|x - x_0|²/(2w²))`` with centre ``x_0`` uniform in
    ``[0.3, 0.7]²`` (``initial="pulse"``) or a random field with
    ``u0_modes`` per axis (``initial="grf"``: sine series for Dirichlet,
    :class:`~solvers.problems.time_stepping.PeriodicGRF` when periodic).

Prescribed data (``Problem.prescribe``)
    ``source`` ``f(x, y, t)``, ``initial`` ``u_0(x, y)`` (replaces the pulse or
    random field; its parameters are then unused), ``velocity`` ``v_0(x, y)``
    and, for ``bc="dirichlet"``, ``dirichlet`` ``g(x, y, t)``: lifted, the
    scheme sees ``f_I - C² K_IB g_B(t)`` and the outputs carry ``g(t)`` on the
    boundary. The energy identity holds for ``f = 0, g = 0`` only.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import scipy.sparse as sp

from .base import ParameterSpace, Problem, Solution
from .fd import full_to_interior, interior_to_full, laplacian
from .grid import Grid
from .lifting import diffusion_coupling
from .random_fields import GaussianRandomField
from .time_stepping import (
    PeriodicGRF,
    SineSeriesGRF,
    check_positive,
    normal_parameters,
    output_times,
    uniform_steps,
)

BCS = ("dirichlet", "periodic")
INITIAL = ("pulse", "grf")


def cfl_step(c_max: float, spacing: tuple[float, ...]) -> float:
    """The largest stable leapfrog step ``1 / (c_max sqrt(Σ_d 1/h_d²))``."""
    return 1.0 / (c_max * math.sqrt(sum(1.0 / h ** 2 for h in spacing)))


def leapfrog(K: sp.spmatrix, c2: np.ndarray, u0: np.ndarray, t_final: float, n_out: int,
             dt: float, energy: bool = False, v0: np.ndarray | None = None,
             source: Callable[[float], np.ndarray] | None = None
             ) -> tuple[np.ndarray, np.ndarray | None]:
    """Leapfrog for ``u'' = -C² K u + s(t)``, ``u(0) = u0``, ``u'(0) = v0`` (default 0, and
    ``s = 0``) to ``linspace(0, t_final, n_out)``.

    Returns the states ``(n_out, n)`` and, with ``energy=True``, the discrete
    energies ``E^{n+1/2}`` (unit weights) after every step, else ``None``.
    """
    K = sp.csr_matrix(K)
    m, h = uniform_steps(t_final, n_out, dt)
    w = 1.0 / c2
    u_old = np.asarray(u0, dtype=float).copy()
    u = u_old - 0.5 * h * h * c2 * (K @ u_old)
    if v0 is not None:
        u = u + h * np.asarray(v0, dtype=float)
    if source is not None:
        u = u + 0.5 * h * h * source(0.0)
    out = np.empty((n_out, u_old.size))
    out[0] = u_old
    energies: list[float] = []

    def record(a: np.ndarray, b: np.ndarray) -> None:
        v = (b - a) / h
        energies.append(0.5 * float(v @ (w * v)) + 0.5 * float(a @ (K @ b)))

    if energy:
        record(u_old, u)
    steps = m * (n_out - 1)
    for step in range(1, steps + 1):
        if step % m == 0:
            out[step // m] = u
        if step == steps:
            break
        u_new = 2.0 * u - u_old - h * h * c2 * (K @ u)
        if source is not None:
            u_new = u_new + h * h * source(step * h)
        if energy:
            record(u, u_new)
        u_old, u = u, u_new
    if not np.all(np.isfinite(out)):
        raise ValueError(f"wave blew up with dt={h:g}; lower cfl or dt")
    return out, (np.array(energies) if energy else None)


class Wave(Problem):
    """Wave equation ``u_tt = c(x)² Δu + f``, ``u_t(0) = v_0``, Dirichlet or periodic.

    Options: ``bc`` (``dirichlet`` | ``periodic``), ``initial`` (``pulse`` |
    ``grf``), ``t_final``, ``n_out`` (incl. ``t = 0``), ``cfl`` (<= 1),
    ``dt`` (``0`` = from ``cfl``), ``c0``, ``c_modes``, ``c_sigma``,
    ``pulse_width``, ``u0_modes``. Inputs ``c``, ``u0``; output ``u``
    ``(n_out, N, N)``.
    """

    name = "wave"
    time_dependent = True
    input_names = ("c", "u0")
    output_names = ("u",)
    defaults: dict[str, Any] = {"bc": "dirichlet", "initial": "pulse", "t_final": 1.0,
                                "n_out": 11, "cfl": 0.5, "dt": 0.0, "c0": 1.0, "c_modes": 3,
                                "c_sigma": 3.0, "pulse_width": 0.05, "u0_modes": 8}
    min_resolution = 5

    @property
    def prescribable(self) -> tuple[str, ...]:  # type: ignore[override]
        periodic = self.options["bc"] == "periodic"
        return ("source", "initial", "velocity") + (() if periodic else ("dirichlet",))

    def __init__(self, resolution: int, **options: Any) -> None:
        super().__init__(resolution, **options)
        o = self.options
        if o["bc"] not in BCS:
            raise ValueError(f"unknown bc {o['bc']!r}; valid: {', '.join(BCS)}")
        if o["initial"] not in INITIAL:
            raise ValueError(f"unknown initial {o['initial']!r}; valid: {', '.join(INITIAL)}")
        for key in ("t_final", "cfl", "c0", "c_sigma", "pulse_width"):
            check_positive(key, o[key])
        if o["cfl"] > 1:
            raise ValueError(f"cfl must be at most 1 for leapfrog stability, got {o['cfl']}")
        if o["dt"] < 0:
            raise ValueError(f"dt must be >= 0 (0 = from cfl), got {o['dt']}")
        self._times = output_times(o["t_final"], int(o["n_out"]), include_initial=True)
        periodic = o["bc"] == "periodic"
        self.c_field = GaussianRandomField(ndim=2, n_modes=int(o["c_modes"]), alpha=2.0, tau=3.0,
                                           basis="fourier" if periodic else "cosine",
                                           zero_mean=True, sigma=o["c_sigma"])
        if o["initial"] == "grf":
            K = int(o["u0_modes"])
            self.u0_field = (PeriodicGRF(2, K, 10.0, 3.0, 2.0) if periodic
                             else SineSeriesGRF(2, K, 10.0, 3.0, 2.0))
        else:
            self.u0_field = None

    @property
    def parameter_space(self) -> ParameterSpace:
        names, kinds, ranges = normal_parameters("c_xi", self.c_field.n_params)
        if self.u0_field is None:
            return ParameterSpace(names + ("x0", "y0"), kinds + ("uniform",) * 2,
                                  ranges + ((0.3, 0.7),) * 2)
        n2, k2, r2 = normal_parameters("u0_xi", self.u0_field.dim)
        return ParameterSpace(names + n2, kinds + k2, ranges + r2)

    @property
    def grid(self) -> Grid:
        return Grid.uniform(self.resolution, ndim=2, periodic=self.options["bc"] == "periodic")

    def input_fields(self, mu: np.ndarray) -> dict[str, np.ndarray]:
        mu = self.flat_parameters(mu)
        grid, nc = self.grid, self.c_field.n_params
        c = self.options["c0"] * np.exp(self.c_field.evaluate(mu[:nc], grid))
        if "initial" in self.prescribed:
            u0 = self.data("initial")
        elif self.u0_field is None:
            X, Y = grid.mesh()
            w = self.options["pulse_width"]
            u0 = np.exp(-((X - mu[nc]) ** 2 + (Y - mu[nc + 1]) ** 2) / (2 * w * w))
        else:
            u0 = self.u0_field.evaluate(mu[nc:], grid.axes)
        bc = self.options["bc"]
        return {"c": c, "u0": interior_to_full(grid, full_to_interior(grid, u0, bc),
                                               self.boundary_values(0.0), bc=bc)}

    def step_size(self, c: np.ndarray) -> float:
        """The leapfrog step bound: ``dt`` if given (checked against CFL), else ``cfl`` × CFL step."""
        limit = cfl_step(float(np.max(c)), self.grid.spacing)
        dt = self.options["dt"]
        if dt > 0:
            if dt > limit:
                raise ValueError(f"dt={dt:g} violates the CFL condition dt <= {limit:.4g} "
                                 f"(c_max={np.max(c):.4g})")
            return dt
        return self.options["cfl"] * limit

    def trajectory(self, c: np.ndarray, u0: np.ndarray, energy: bool = False
                   ) -> tuple[np.ndarray, np.ndarray | None]:
        """The trajectory ``(n_out, N, N)`` from nodal ``c`` and ``u_0`` (and energies if asked),
        with the prescribed source, initial velocity and Dirichlet data."""
        grid, bc = self.grid, self.options["bc"]
        K = -laplacian(grid, bc)
        c2 = full_to_interior(grid, np.asarray(c, float), bc) ** 2
        v0 = self.data("velocity")
        o = self.options
        U, E = leapfrog(K, c2, full_to_interior(grid, u0, bc), o["t_final"], int(o["n_out"]),
                        self.step_size(c), energy,
                        v0=None if v0 is None else full_to_interior(grid, v0, bc),
                        source=self._interior_source(c2))
        return np.stack([interior_to_full(grid, u, self.boundary_values(t), bc=bc)
                         for u, t in zip(U, self.times)]), E

    def _interior_source(self, c2: np.ndarray) -> Callable[[float], np.ndarray] | None:
        """``f_I(t) - C² K_IB g_B(t)``, or ``None`` without a prescribed source or Dirichlet data."""
        if "source" not in self.prescribed and "dirichlet" not in self.prescribed:
            return None
        grid, bc = self.grid, self.options["bc"]

        def source(t: float) -> np.ndarray:
            f = full_to_interior(grid, self.data("source", t, default=0.0), bc)
            if "dirichlet" in self.prescribed:
                f = f - c2 * diffusion_coupling(grid, [1.0] * grid.ndim, self.boundary_values(t))
            return f

        return source

    def solve(self, mu: np.ndarray, solver: Any = None) -> Solution:
        """Integrate one trajectory (``solver`` is unused: leapfrog is explicit)."""
        inputs = self.input_fields(mu)
        u, _ = self.trajectory(inputs["c"], inputs["u0"])
        return Solution(inputs, {"u": u}, [])
