"""Heat equation with a thermal-block conductivity: the affine parabolic benchmark of RB.

Equation
    .. math::

        ∂_t u - ∇·(μ(x) ∇u) = f \\quad \\text{in } (0,1)^2 × (0, T], \\qquad
        u = 0 \\text{ on } ∂Ω, \\qquad u(·, 0) = u_0,

    with ``μ(x) = μ_q`` on block ``q`` of ``B1 × B2`` blocks, exactly as
    :class:`~solvers.problems.thermal_block.ThermalBlock` (its flux-form
    discretisation and block operators): ``A(μ) = Σ_q μ_q A_q`` exactly, so
    the problem is *affine* in its parameters — unlike ``heat``, whose
    lognormal random conductivity is not. The mass matrix is the identity
    (node-centred finite differences), ``f`` the constant option ``f`` and
    ``u_0 = u0_amplitude · sin(πx) sin(πy)`` (independent of ``μ``).

Time integrator
    The same as ``heat`` (:func:`solvers.problems.heat.integrate_heat`):
    uniform steps ``Δt <= dt`` hitting ``linspace(0, t_final, n_out)``;
    backward Euler (``scheme="be"``) or Crank–Nicolson (``scheme="cn"``).

Parameters
    ``μ_q`` uniform in ``[mu_min, mu_max]``; ``affine_decomposition()`` is the
    thermal block's (``θ_A(μ) = μ``, one load term, min-theta reference
    ``sqrt(mu_min mu_max)`` in every block). :meth:`initial_state` gives the
    interior initial vector.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import fd
from .base import Solution
from .heat import SCHEMES, integrate_heat
from .thermal_block import ThermalBlock
from .time_stepping import check_positive, output_times


class HeatBlock(ThermalBlock):
    """``u_t - div(μ grad u) = f`` with thermal-block ``μ``; output ``u`` ``(n_out, N, N)``.

    Options: those of ``thermal_block`` plus ``scheme`` (``cn`` | ``be``),
    ``dt``, ``t_final``, ``n_out`` (output times incl. ``t = 0``) and
    ``u0_amplitude``.
    """

    name = "heat_block"
    time_dependent = True
    input_names = ("mu_field",)
    output_names = ("u",)
    defaults: dict[str, Any] = {**ThermalBlock.defaults, "scheme": "be", "dt": 0.01,
                                "t_final": 0.5, "n_out": 11, "u0_amplitude": 1.0}
    prescribable = ()

    def __init__(self, resolution: int, **options: Any) -> None:
        super().__init__(resolution, **options)
        o = self.options
        for key in ("dt", "t_final"):
            check_positive(key, o[key])
        if o["scheme"] not in SCHEMES:
            raise ValueError(f"unknown scheme {o['scheme']!r}; valid: {', '.join(SCHEMES)}")
        self._times = output_times(o["t_final"], int(o["n_out"]), include_initial=True)

    def initial_state(self) -> np.ndarray:
        """``u_0`` at the interior unknowns."""
        X, Y = self.grid.mesh()
        u0 = float(self.options["u0_amplitude"]) * np.sin(np.pi * X) * np.sin(np.pi * Y)
        return fd.full_to_interior(self.grid, u0).astype(float)

    def integrate(self, mu: np.ndarray, solver: Any = None) -> tuple[np.ndarray, list]:
        """Interior states ``(n_out, n)`` and the per-solve statistics."""
        o = self.options
        A, f = self.affine_decomposition().assemble(mu)
        return integrate_heat(A, self.initial_state(), o["t_final"], int(o["n_out"]), o["dt"],
                              o["scheme"], solver, f)

    def solve(self, mu: np.ndarray, solver: Any = None) -> Solution:
        U, stats = self.integrate(mu, solver)
        u = np.stack([fd.interior_to_full(self.grid, x) for x in U])
        return Solution(self.input_fields(mu), {"u": u}, stats)
