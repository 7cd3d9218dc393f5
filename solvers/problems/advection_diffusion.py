"""Steady advection-diffusion with a constant wind: the non-symmetric member of the zoo."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.sparse as sp

from . import fd
from .base import AffineDecomposition, LinearSystem, ParameterSpace, Problem
from .grid import Grid
from .lifting import convection_coupling, diffusion_coupling


class AdvectionDiffusion(Problem):
    """``-ε Δu + b·∇u = f`` on ``(0,1)^2``, ``u = 0`` on the boundary, ``f = 1`` (option ``f``).

    **Wind.** Constant ``b = |b| (cos θ, sin θ)``.

    **Parameters.** ``eps`` log-uniform in ``[eps_min, eps_max]`` (0.01, 1),
    ``b_mag`` uniform in ``[0, b_max]`` (1), ``angle`` uniform in ``[0, 2π]``.

    **Discretisation.** Node-centred grid, unknowns the interior nodes;
    5-point Laplacian and central differences ``(u_{i+1} - u_{i-1})/(2h)`` for
    ``b·∇u``: second order, ``A = ε(-Δ_h) + C_h`` with ``C_h`` skew-symmetric,
    so ``A`` is non-symmetric but positive real (``xᵀAx = ε xᵀ(-Δ_h)x > 0``),
    hence non-singular for every ``ε > 0``.

    **Cell Péclet condition.** With ``Pe_h = max_d |b_d| h / (2ε)``, the
    matrix is an M-matrix (discrete maximum principle, no spurious
    oscillations) iff ``Pe_h ≤ 1``. For ``Pe_h > 1`` the central scheme
    stays second order and stable in the energy norm but the solution can
    oscillate near outflow boundary layers (width ``~ε/|b|``); refine the grid
    (``h ≤ 2ε/|b|``) or narrow the ``eps`` range. Every system records its
    ``cell_peclet`` in ``LinearSystem.meta``.

    **Prescribed data** (``prescribe``): ``source`` replaces the constant
    ``f``; ``dirichlet`` gives ``u = g`` on the boundary (lifted:
    ``b = f_I - (ε L_IB + C_IB) g_B``).

    **Affine decomposition** (certified RB, :meth:`affine_decomposition`). With
    ``L = -Δ_h``, ``C_x, C_y`` the central differences of ``∂_x, ∂_y`` (skew-symmetric)
    and ``s = 2 b_max``,

        A(μ) = ε L + (b_x + s) C_x + (b_y + s) C_y + 1 · (-s (C_x + C_y)),

    every coefficient positive and every term positive semidefinite (``xᵀCx = 0``),
    so the min-theta bound at ``μ_ref = (eps_max, 0, 0)`` (``X = eps_max L``) is
    rigorous: ``α_LB(μ) = min(ε / eps_max, (b_x + s)/s, (b_y + s)/s, 1) = ε / eps_max``,
    the exact coercivity constant. With ``dirichlet`` prescribed the right-hand
    side is affine too: ``f_I - ε L_IB g - b_x C_{x,IB} g - b_y C_{y,IB} g``.

    **Fields.** Input ``"b"`` (the wind, channels (b_x, b_y), constant over
    the grid) and ``"eps"`` (constant field); output ``"u"``.
    """

    name = "advection_diffusion"
    input_names = ("b", "eps")
    output_names = ("u",)
    defaults: dict[str, Any] = {"eps_min": 0.01, "eps_max": 1.0, "b_max": 1.0, "f": 1.0}
    min_resolution = 4
    prescribable = ("source", "dirichlet")

    def __init__(self, resolution: int, **options: Any) -> None:
        super().__init__(resolution, **options)
        o = self.options
        if not 0 < o["eps_min"] <= o["eps_max"]:
            raise ValueError("need 0 < eps_min <= eps_max")
        if o["b_max"] < 0:
            raise ValueError("b_max must be non-negative")
        self._grid = Grid.uniform(self.resolution, 2)

    @property
    def parameter_space(self) -> ParameterSpace:
        o = self.options
        return ParameterSpace(("eps", "b_mag", "angle"), ("loguniform", "uniform", "uniform"),
                              ((float(o["eps_min"]), float(o["eps_max"])),
                               (0.0, float(o["b_max"])), (0.0, 2 * np.pi)))

    @property
    def grid(self) -> Grid:
        return self._grid

    @staticmethod
    def _mu(mu: np.ndarray) -> tuple[float, np.ndarray]:
        mu = np.asarray(mu, dtype=float).ravel()
        if mu.size != 3:
            raise ValueError(f"expected 3 parameters (eps, b_mag, angle), got {mu.size}")
        if mu[0] <= 0:
            raise ValueError(f"eps must be positive, got {mu[0]}")
        return float(mu[0]), mu[1] * np.array([np.cos(mu[2]), np.sin(mu[2])])

    def cell_peclet(self, mu: np.ndarray) -> float:
        """``max_d |b_d| h_d / (2 ε)``: the central scheme is an M-matrix iff this is ≤ 1."""
        eps, b = self._mu(mu)
        return float(max(abs(b[d]) * self.grid.spacing[d] for d in range(2)) / (2 * eps))

    def input_fields(self, mu: np.ndarray) -> dict[str, np.ndarray]:
        eps, b = self._mu(mu)
        return {"b": np.broadcast_to(b, self.grid.shape + (2,)).copy(),
                "eps": np.full(self.grid.shape, eps)}

    def operator(self, mu: np.ndarray) -> sp.csr_matrix:
        """``A = ε(-Δ_h) + b·∇_h`` on the interior nodes."""
        eps, b = self._mu(mu)
        g = self.grid
        return (eps * fd.diffusion_operator(g, 1.0) + fd.convection_operator(g, tuple(b))).tocsr()

    def assemble(self, mu: np.ndarray) -> LinearSystem:
        g = self.grid
        f = fd.full_to_interior(g, self.data("source", default=float(self.options["f"])))
        f = f.astype(float)
        eps, wind = self._mu(mu)
        if "dirichlet" in self.prescribed:
            values = self.boundary_values()
            f = f - (eps * diffusion_coupling(g, [1.0] * g.ndim, values)
                     + convection_coupling(g, tuple(wind), values))
        symmetric = not np.any(wind)
        return LinearSystem(self.operator(mu), f, symmetric=symmetric, spd=symmetric,
                            meta={"cell_peclet": self.cell_peclet(mu)})

    has_affine_decomposition = True

    def affine_decomposition(self) -> AffineDecomposition:
        g, s = self.grid, 2.0 * max(float(self.options["b_max"]), 1e-300)
        L = fd.diffusion_operator(g, 1.0).tocsr()
        Cx = fd.convection_operator(g, (1.0, 0.0)).tocsr()
        Cy = fd.convection_operator(g, (0.0, 1.0)).tocsr()
        f = fd.full_to_interior(g, self.data("source", default=float(self.options["f"])))
        f_terms: tuple[np.ndarray, ...] = (np.asarray(f, dtype=float),)
        lifted = "dirichlet" in self.prescribed
        if lifted:
            v = self.boundary_values()
            f_terms += (-diffusion_coupling(g, [1.0] * g.ndim, v),
                        -convection_coupling(g, (1.0, 0.0), v),
                        -convection_coupling(g, (0.0, 1.0), v))

        def wind(mu: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            m = np.atleast_2d(np.asarray(mu, dtype=float))
            if m.shape[1] != 3 or np.any(m[:, 0] <= 0):
                raise ValueError("expected parameters (eps > 0, b_mag, angle)")
            return m[:, 0], m[:, 1] * np.cos(m[:, 2]), m[:, 1] * np.sin(m[:, 2])

        def one(mu: np.ndarray) -> tuple[float, float, float] | None:
            """``(eps, b_x, b_y)`` of one parameter vector by scalar arithmetic (the online
            phase of a reduced basis calls the thetas once per parameter), else ``None``."""
            if np.ndim(mu) != 1 or len(mu) != 3:
                return None
            eps, b, a = (float(v) for v in mu)
            if not eps > 0:
                raise ValueError("expected parameters (eps > 0, b_mag, angle)")
            return eps, b * math.cos(a), b * math.sin(a)

        def theta_A(mu: np.ndarray) -> np.ndarray:   # one (3,) or a batch (B, 3)
            w = one(mu)
            if w is not None:
                return np.array([w[0], w[1] + s, w[2] + s, 1.0])
            eps, bx, by = wind(mu)
            return np.column_stack([eps, bx + s, by + s, np.ones_like(eps)])

        def theta_f(mu: np.ndarray) -> np.ndarray:
            w = one(mu)
            if w is not None:
                return np.array([1.0, *w]) if lifted else np.ones(1)
            eps, bx, by = wind(mu)
            return (np.column_stack([np.ones_like(eps), eps, bx, by]) if lifted
                    else np.ones((len(eps), 1)))

        return AffineDecomposition((L, Cx, Cy, sp.csr_matrix(-s * (Cx + Cy))), f_terms, theta_A,
                                   theta_f,
                                   min_theta_ref=np.array([float(self.options["eps_max"]), 0, 0]))

    def to_fields(self, mu: np.ndarray, x: np.ndarray) -> dict[str, np.ndarray]:
        return {"u": fd.interior_to_full(self.grid, np.asarray(x, dtype=float),
                                         self.boundary_values())}
