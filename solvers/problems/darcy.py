"""Darcy flow with a random permeability (the FNO / SKR Darcy benchmark problem)."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.special import ndtri

from . import fd
from .base import LinearSystem, ParameterSpace, Problem
from .grid import Grid
from .lifting import convection_coupling, diffusion_coupling
from .random_fields import GaussianRandomField


class Darcy(Problem):
    """Steady Darcy flow ``-div(a grad u) = f`` on ``(0,1)^2``, ``u = 0`` on the boundary.

    **Coefficient.** ``g ~ N(0, τ^{2(α-1)} (-Δ + τ²)^{-α})`` (Neumann cosine
    basis, :class:`~solvers.problems.random_fields.GaussianRandomField`),
    truncated to ``n_modes × n_modes`` modes whose standard-normal KL
    coefficients are the parameters ``mu`` (the constant mode is left out when
    ``zero_mean``; α = 2, τ = 3 as in the FNO benchmark; ``basis="fourier"``
    gives the periodic field of SKR's data generator instead). Then

    * ``coefficient="piecewise"``: ``a = a_high`` (12) where ``g ≥ 0`` else
      ``a_low`` (3), with ``f = 1``: the FNO Darcy distribution;
    * ``coefficient="lognormal"``: ``a = exp(g)``.

    **Discretisation.** Node-centred grid with ``resolution`` nodes per axis
    (``h = 1/(resolution-1)``; FNO's 85×85 has ``h = 1/84``); the unknowns are
    the ``(resolution-2)²`` interior nodes.

    * ``scheme="conservative"``: the 5-point flux form
      ``Σ_d [a_{i+1/2}(u_i - u_{i+1}) + a_{i-1/2}(u_i - u_{i-1})]/h²`` with face
      values by the ``face`` mean (arithmetic or harmonic) of the nodal ``a``;
      symmetric positive definite.
    * ``scheme="nonconservative"``: the expanded form ``-a Δu - ∇a·∇u`` with
      central differences for ``Δu``, ``∇u`` and ``∇a``; non-symmetric. Both
      are second order for smooth ``a``.
    * ``scheme="skr"``: the matrix of SKR's published data generator (Wang et
      al. 2024), rows ``(4 a_i u_i - Σ_{j~i} a_j u_j)/h²``, i.e. ``-Δ_h(a u)``:
      the 5-point Laplacian with columns scaled by ``a`` (``A = L diag(a)``). It
      is consistent with ``-Δ(a u) = f``, *not* with Darcy's equation; kept to
      reproduce SKR's benchmark. Right Jacobi preconditioning maps every such
      system to the same ``L/4``.

    **Prescribed data** (``prescribe``): ``source`` replaces the constant
    ``f``; ``dirichlet`` gives ``u = g`` on the boundary (lifted: ``b = f_I -
    A_IB g_B`` for the chosen scheme).

    **Fields.** Input ``"a"`` (the coefficient on the full grid), output ``"u"``
    (zero, or ``g``, on the boundary).

    **Sampler.** The parameters are i.i.d. standard normal; any unit-cube
    design maps through the inverse normal CDF.
    """

    name = "darcy"
    input_names = ("a",)
    output_names = ("u",)
    defaults: dict[str, Any] = {
        "coefficient": "piecewise", "f": 1.0, "scheme": "conservative", "n_modes": 16,
        "alpha": 2.0, "tau": 3.0, "a_high": 12.0, "a_low": 3.0, "face": "arithmetic",
        "zero_mean": True, "basis": "cosine",
    }
    min_resolution = 5
    prescribable = ("source", "dirichlet")

    def __init__(self, resolution: int, **options: Any) -> None:
        super().__init__(resolution, **options)
        o = self.options
        if o["coefficient"] not in ("piecewise", "lognormal"):
            raise ValueError(f"unknown coefficient {o['coefficient']!r}; valid: piecewise, lognormal")
        if o["scheme"] not in ("conservative", "nonconservative", "skr"):
            raise ValueError(f"unknown scheme {o['scheme']!r}; "
                             "valid: conservative, nonconservative, skr")
        if o["face"] not in ("arithmetic", "harmonic"):
            raise ValueError(f"unknown face average {o['face']!r}; valid: arithmetic, harmonic")
        if o["coefficient"] == "piecewise" and not (o["a_high"] > 0 and o["a_low"] > 0):
            raise ValueError("a_high and a_low must be positive")
        self.field = GaussianRandomField(ndim=2, n_modes=int(o["n_modes"]), alpha=float(o["alpha"]),
                                         tau=float(o["tau"]), basis=str(o["basis"]),
                                         zero_mean=bool(o["zero_mean"]))
        self._grid = Grid.uniform(self.resolution, 2)

    @property
    def parameter_space(self) -> ParameterSpace:
        q = (float(ndtri(0.001)), float(ndtri(0.999)))
        names = self.field.param_names()
        return ParameterSpace(names, ("normal",) * len(names), (q,) * len(names))

    @property
    def grid(self) -> Grid:
        return self._grid

    # -- coefficient -----------------------------------------------------------
    def log_field(self, mu: np.ndarray) -> np.ndarray:
        """The Gaussian random field ``g`` on the grid."""
        return self.field.evaluate(mu, self.grid)

    def coefficient(self, mu: np.ndarray) -> np.ndarray:
        """The permeability ``a`` on the full grid."""
        return self._permeability(self.log_field(mu))

    def _permeability(self, g: np.ndarray) -> np.ndarray:
        if self.options["coefficient"] == "lognormal":
            return np.exp(g)
        return np.where(g >= 0.0, float(self.options["a_high"]), float(self.options["a_low"]))

    def input_fields(self, mu: np.ndarray) -> dict[str, np.ndarray]:
        return {"a": self.coefficient(mu)}

    # -- discretisation ----------------------------------------------------------
    def operator(self, a: np.ndarray, grad_a: tuple[np.ndarray, ...] | None = None
                 ) -> sp.csr_matrix:
        """The matrix of ``-div(a grad u)`` for a nodal coefficient ``a`` (scheme option).

        ``grad_a`` (nodal, per axis) replaces the central differences of ``a`` in
        the non-conservative scheme (tests pass the exact gradient).
        """
        g = self.grid
        if self.options["scheme"] == "conservative":
            return fd.diffusion_operator(g, a, face=self.options["face"])
        a_int = fd.full_to_interior(g, a)
        if self.options["scheme"] == "skr":
            return (fd.diffusion_operator(g, 1.0) @ sp.diags(a_int)).tocsr()
        grad_a = fd.nodal_gradient(g, a) if grad_a is None else grad_a
        A = sp.diags(a_int) @ fd.diffusion_operator(g, 1.0) - fd.convection_operator(g, grad_a)
        return A.tocsr()

    def assemble(self, mu: np.ndarray) -> LinearSystem:
        a = self.coefficient(mu)
        A = self.operator(a)
        b = fd.full_to_interior(self.grid, self.data("source", default=float(self.options["f"])))
        b = b.astype(float)
        if "dirichlet" in self.prescribed:
            b = b - self.boundary_coupling(a, self.boundary_values())
        spd = self.options["scheme"] == "conservative"
        return LinearSystem(A, b, symmetric=spd, spd=spd,
                            meta={"a_min": float(a.min()), "a_max": float(a.max())})

    def boundary_coupling(self, a: np.ndarray, g: np.ndarray) -> np.ndarray:
        """``A_IB g_B`` of :meth:`operator` (``a`` nodal, ``g`` on the full grid)."""
        grid = self.grid
        scheme = self.options["scheme"]
        if scheme == "conservative":
            faces = fd.nodal_face_coefficients(grid, a, face=self.options["face"])
            return diffusion_coupling(grid, faces, g)
        ones = [1.0] * grid.ndim
        if scheme == "skr":  # -Δ_h(a u): the Laplacian's coupling to a g
            return diffusion_coupling(grid, ones, a * g)
        a_int = fd.full_to_interior(grid, a)
        return (a_int * diffusion_coupling(grid, ones, g)
                - convection_coupling(grid, fd.nodal_gradient(grid, a), g))

    # -- single entries (the online stage of operator EIM) -------------------------
    has_local_entries = True

    def matrix_entries(self, mu: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """``assemble(mu).A[rows, cols]`` from the coefficient at the row node and its four
        neighbours only: ``O(len(rows) · n_modes²)`` work, independent of the grid.

        With ``a_0`` at the row node, ``a_s`` at its neighbour ``s = ±e_d`` and
        ``h_d`` the spacing: conservative ``A_ii = Σ_s face(a_0, a_s)/h_d²``,
        ``A_{i,i+s} = -face(a_0, a_s)/h_d²``; nonconservative ``A_ii = a_0 Σ_d 2/h_d²``,
        ``A_{i,i±e_d} = -a_0/h_d² ∓ (a_{+e_d} - a_{-e_d})/(4h_d²)``; skr
        ``A_ii = a_0 Σ_d 2/h_d²``, ``A_{i,i+s} = -a_s/h_d²``. Other entries are zero.
        """
        rows, cols = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
        m = self.resolution - 2  # interior nodes per axis, C order (axis 0 = x)
        rx, ry = np.divmod(rows, m)
        cx, cy = np.divmod(cols, m)
        dx, dy = cx - rx, cy - ry
        shifts = ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))
        nodes = (np.concatenate([rx + 1 + sx for sx, _ in shifts]),
                 np.concatenate([ry + 1 + sy for _, sy in shifts]))
        a = self._permeability(self.field.evaluate_nodes(mu, self.grid, nodes))
        a = a.reshape(len(shifts), -1)
        h2 = np.array(self.grid.spacing) ** 2
        inv = np.array([0.0, 1 / h2[0], 1 / h2[0], 1 / h2[1], 1 / h2[1]])  # 1/h_d² per shift
        scheme = self.options["scheme"]
        out = np.zeros(rows.shape)
        for k, (sx, sy) in enumerate(shifts):
            hit = (dx == sx) & (dy == sy)
            if k == 0:
                if scheme == "conservative":
                    faces = _face_mean(a[0][None], a[1:], self.options["face"])
                    out[hit] = (faces * inv[1:, None]).sum(axis=0)[hit]
                else:
                    out[hit] = a[0][hit] * inv[1:].sum()
                continue
            if scheme == "conservative":
                val = -_face_mean(a[0], a[k], self.options["face"]) * inv[k]
            elif scheme == "skr":
                val = -a[k] * inv[k]
            else:  # -a Δu - ∇a·∇u with central differences; s = +1 or -1 along axis d
                plus, minus, sign = (1, 2, sx) if sx else (3, 4, sy)
                val = -a[0] * inv[k] - sign * (a[plus] - a[minus]) * inv[k] / 4.0
            out[hit] = val[hit]
        return out

    def rhs_entries(self, mu: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """``assemble(mu).b[idx]``: the constant ``f`` (a prescribed source is read at
        ``idx``; with Dirichlet data the whole ``b`` is assembled, which is not
        grid-independent)."""
        if "dirichlet" in self.prescribed:
            return self.assemble(mu).b[np.asarray(idx)]
        if "source" in self.prescribed:
            return fd.full_to_interior(self.grid, self.data("source")).astype(float)[idx]
        return np.full(np.shape(idx), float(self.options["f"]))

    def to_fields(self, mu: np.ndarray, x: np.ndarray) -> dict[str, np.ndarray]:
        return {"u": fd.interior_to_full(self.grid, np.asarray(x, dtype=float),
                                         self.boundary_values())}


def _face_mean(a: np.ndarray, b: np.ndarray, face: str) -> np.ndarray:
    """Arithmetic ``(a + b)/2`` or harmonic ``2ab/(a + b)`` face value of nodal ``a``, ``b``."""
    return 0.5 * (a + b) if face == "arithmetic" else 2.0 * a * b / (a + b)
