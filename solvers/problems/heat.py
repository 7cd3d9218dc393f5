"""Heat equation with a random conductivity on the unit square (implicit time stepping).

Equation
    .. math::

        ∂_t u = ∇·(κ(x) ∇u) + f \\quad \\text{in } (0,1)^2 × (0, T], \\qquad
        u = 0 \\text{ on } ∂Ω, \\qquad u(·, 0) = u_0.

Discretisation in space
    Node-centred finite differences on ``N × N`` nodes (boundary included),
    the conservative five-point operator ``A ≈ -∇·(κ∇·)`` of
    :func:`solvers.problems.fd.diffusion_operator` (arithmetic face means of
    the nodal ``κ``) on the ``(N-2)²`` interior unknowns: symmetric positive
    definite, second order in ``h``.

Time integrator
    Uniform steps ``Δt <= dt`` that hit the output times
    ``linspace(0, t_final, n_out)`` exactly:

    * backward Euler (``scheme="be"``, order 1, L-stable)
      ``(I + Δt A) u^{n+1} = u^n + Δt f^{n+1}``;
    * Crank–Nicolson (``scheme="cn"``, order 2, A-stable)
      ``(I + Δt/2 A) u^{n+1} = (I - Δt/2 A) u^n + Δt/2 (f^n + f^{n+1})``.

    The matrix is the same at every step; every step's system goes through
    the given sequence solver as ``LinearSystem(M, rhs, symmetric=True,
    spd=True)`` with the previous state as initial guess (a direct solver
    factorises once, iterative ones warm-start), and its statistics are kept.

Parameters and sampler
    ``κ = exp(g)``, ``g`` a Gaussian random field
    ``N(0, σ²(-Δ_N + τ²)^{-α})`` with the cosine (Neumann) basis
    (:class:`~solvers.problems.random_fields.GaussianRandomField`,
    ``kappa_modes`` per axis, ``α = 2, τ = 3, σ = kappa_sigma``); ``u_0`` a
    sine-series field ``N(0, σ²(-Δ_D + τ²)^{-α})`` vanishing on the boundary
    (:class:`~solvers.problems.time_stepping.SineSeriesGRF`, ``u0_modes`` per
    axis). All parameters are standard-normal KL coefficients (kind
    ``normal``): first ``κ``'s, then ``u_0``'s. ``f`` is the constant option
    ``source``.

Prescribed data (``Problem.prescribe``)
    ``source`` ``f(x, y, t)`` (or a number or nodal array, constant in time),
    ``dirichlet`` ``g(x, y, t)`` (``u = g`` on ``∂Ω``; lifted: the integrator
    sees the source ``f_I - A_IB g_B(t)``, and the outputs carry ``g(t)`` on
    the boundary) and ``initial`` ``u_0(x, y)`` (replaces the random field;
    its coefficients in ``mu`` are then unused). The orders above hold with
    them (the source enters each scheme at its own time levels).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import scipy.sparse as sp

from .base import LinearSystem, ParameterSpace, Problem, Solution
from .fd import diffusion_operator, full_to_interior, interior_to_full, nodal_face_coefficients
from .grid import Grid
from .lifting import diffusion_coupling
from .random_fields import GaussianRandomField
from .time_stepping import (
    SineSeriesGRF,
    check_positive,
    normal_parameters,
    output_times,
    uniform_steps,
)

SCHEMES = ("cn", "be")

#: a source: ``None`` (zero), a constant, an interior vector, or ``t -> interior vector``
Source = Callable[[float], np.ndarray] | np.ndarray | float | None


def _source_at(source: Source, t: float) -> np.ndarray | float:
    """The source at time ``t`` (a number or an interior vector)."""
    if source is None:
        return 0.0
    if callable(source):
        return np.asarray(source(t), dtype=float)
    return source


def integrate_heat(A: sp.spmatrix, u0: np.ndarray, t_final: float, n_out: int, dt: float,
                   scheme: str = "cn", solver: Any = None, source: Source = None
                   ) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Integrate ``u' = -A u + f(t)`` (``A`` SPD) to the outputs ``linspace(0, t_final, n_out)``.

    Returns the states ``(n_out, n)`` (``u0`` first) and one stats dict per
    linear solve. ``solver`` is a sequence solver (default: sparse direct).
    """
    from solvers.linear import make_solver

    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r}; valid: {', '.join(SCHEMES)}")
    solver = solver if solver is not None else make_solver("direct")
    A = sp.csr_matrix(A)
    u = np.asarray(u0, dtype=float).copy()
    n = u.size
    m, h = uniform_steps(t_final, n_out, dt)
    theta = 1.0 if scheme == "be" else 0.5
    M = (sp.identity(n, format="csr") + theta * h * A).tocsr()
    out = np.empty((n_out, n))
    out[0] = u
    stats: list[dict[str, Any]] = []
    f_old = _source_at(source, 0.0)
    step = 0
    for k in range(1, n_out):
        for _ in range(m):
            step += 1
            f_new = _source_at(source, step * h)
            if scheme == "be":
                rhs = u + h * f_new
            else:
                rhs = u - 0.5 * h * (A @ u) + 0.5 * h * (f_old + f_new)
            rhs = np.broadcast_to(rhs, (n,)).astype(float)
            u, st = solver.solve(LinearSystem(M, rhs, symmetric=True, spd=True), x0=u)
            stats.append(st.as_dict())
            f_old = f_new
        out[k] = u
    return out, stats


class Heat(Problem):
    """Heat equation ``u_t = ∇·(κ∇u) + f`` on the unit square, ``u = 0`` on the boundary.

    Options: ``scheme`` (``cn`` | ``be``), ``dt`` (largest step), ``t_final``,
    ``n_out`` (output times incl. ``t = 0``), ``source`` (constant ``f``),
    ``kappa_modes``, ``kappa_sigma``, ``u0_modes``, ``u0_sigma``.
    Inputs ``kappa``, ``u0``; output ``u`` ``(n_out, N, N)``.
    """

    name = "heat"
    time_dependent = True
    input_names = ("kappa", "u0")
    output_names = ("u",)
    defaults: dict[str, Any] = {"scheme": "cn", "dt": 0.01, "t_final": 0.5, "n_out": 11,
                                "source": 1.0, "kappa_modes": 4, "kappa_sigma": 3.0,
                                "u0_modes": 8, "u0_sigma": 10.0}
    min_resolution = 4
    prescribable = ("source", "dirichlet", "initial")

    def __init__(self, resolution: int, **options: Any) -> None:
        super().__init__(resolution, **options)
        o = self.options
        for key in ("dt", "t_final", "kappa_sigma", "u0_sigma"):
            check_positive(key, o[key])
        if o["scheme"] not in SCHEMES:
            raise ValueError(f"unknown scheme {o['scheme']!r}; valid: {', '.join(SCHEMES)}")
        self._times = output_times(o["t_final"], int(o["n_out"]), include_initial=True)
        self.kappa_field = GaussianRandomField(ndim=2, n_modes=int(o["kappa_modes"]), alpha=2.0,
                                               tau=3.0, basis="cosine", sigma=o["kappa_sigma"])
        self.u0_field = SineSeriesGRF(2, int(o["u0_modes"]), o["u0_sigma"], 3.0, 2.0)

    @property
    def parameter_space(self) -> ParameterSpace:
        kn, kk, kr = normal_parameters("kappa_xi", self.kappa_field.n_params)
        un, uk, ur = normal_parameters("u0_xi", self.u0_field.dim)
        return ParameterSpace(kn + un, kk + uk, kr + ur)

    @property
    def grid(self) -> Grid:
        return Grid.uniform(self.resolution, ndim=2)

    def input_fields(self, mu: np.ndarray) -> dict[str, np.ndarray]:
        mu = self.flat_parameters(mu)
        nk = self.kappa_field.n_params
        kappa = np.exp(self.kappa_field.evaluate(mu[:nk], self.grid))
        if "initial" in self.prescribed:
            u0 = self.data("initial")
        else:
            u0 = self.u0_field.evaluate(mu[nk:], self.grid.axes)
        boundary = self.boundary_values(0.0)
        return {"kappa": kappa,
                "u0": interior_to_full(self.grid, full_to_interior(self.grid, u0), boundary)}

    def trajectory(self, kappa: np.ndarray, u0: np.ndarray, solver: Any = None,
                   source: Source = None) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """The trajectory ``(n_out, N, N)`` from nodal ``κ`` and ``u_0`` (boundary values ignored).

        ``source`` overrides the constant option: a number, an interior vector
        or a function ``t -> interior vector``.
        """
        grid = self.grid
        A = diffusion_operator(grid, kappa, "dirichlet")
        src = self.options["source"] if source is None else source
        o = self.options
        U, stats = integrate_heat(A, full_to_interior(grid, u0), o["t_final"], int(o["n_out"]),
                                  o["dt"], o["scheme"], solver, src)
        return np.stack([interior_to_full(grid, u) for u in U]), stats

    def interior_source(self, kappa: np.ndarray) -> Source:
        """The source the integrator sees with the prescribed data: ``f_I(t) - A_IB g_B(t)``
        (``None`` when neither a source nor Dirichlet data are prescribed)."""
        if "source" not in self.prescribed and "dirichlet" not in self.prescribed:
            return None
        grid = self.grid
        faces = nodal_face_coefficients(grid, kappa, "dirichlet")

        def source(t: float) -> np.ndarray:
            f = full_to_interior(grid, self.data("source", t, default=self.options["source"]))
            if "dirichlet" in self.prescribed:
                f = f - diffusion_coupling(grid, faces, self.boundary_values(t))
            return f

        return source

    def solve(self, mu: np.ndarray, solver: Any = None) -> Solution:
        inputs = self.input_fields(mu)
        u, stats = self.trajectory(inputs["kappa"], inputs["u0"], solver,
                                   self.interior_source(inputs["kappa"]))
        if "dirichlet" in self.prescribed:
            u = np.stack([interior_to_full(self.grid, full_to_interior(self.grid, uk),
                                           self.boundary_values(t))
                          for uk, t in zip(u, self.times)])
        return Solution(inputs, {"u": u}, stats)
