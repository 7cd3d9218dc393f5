"""The Helmholtz equation in a heterogeneous medium: indefinite and, with impedance, complex."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from . import fd
from .base import LinearSystem, ParameterSpace, Problem
from .grid import Grid
from .lifting import diffusion_coupling


class Helmholtz(Problem):
    """``-Δu - k(x)² u = f`` on ``(0,1)^2`` with a point-like source.

    **Medium.** ``k(x)² = k0² (1 + δ m(x))`` with the smooth bump
    ``m(x) = exp(-|x - (1/2, 1/2)|² / (2 w²))``, ``w = medium_width``.
    **Source.** Normalised Gaussian ``f(x) = exp(-|x - x_s|²/(2σ²)) / (2πσ²)``,
    ``σ = source_width``, centred at ``x_s = (xs, ys)``.

    **Parameters** (uniform): ``k0 ∈ [k_min, k_max]``, ``delta ∈ [-delta_max,
    delta_max]`` (``delta_max < 1`` keeps ``k² > 0``), ``xs, ys ∈ [0.2, 0.8]``.

    **Boundary conditions and discretisation** (node-centred grid, 5-point
    Laplacian, second order):

    * ``bc="dirichlet"``: ``u = 0``; unknowns the interior nodes;
      ``A = -Δ_h - diag(k²)`` is real symmetric and indefinite once ``k²``
      exceeds the smallest Dirichlet eigenvalue ``2π²`` (near-singular close
      to the resonances ``π²(m² + n²)``).
    * ``bc="impedance"``: first-order absorbing condition ``∂u/∂n - i k u = 0``
      on every side; unknowns all nodes. Ghost points ``u_{-1} = u_1 +
      2h (i k u_0 + g)`` at each side (second order; two ghosts at corners);
      the equations are scaled by the trapezoidal node weights ``W`` (1/2 on
      sides, 1/4 at corners), which makes the matrix complex symmetric:
      ``A = K_h - diag(W k²) - i diag(B k)``, ``b = W f``, with ``K_h`` the
      half-cell Neumann Laplacian and ``B`` the boundary length of each node's
      cell over ``h²``.

    Complex systems: :meth:`assemble_complex` returns the complex symmetric
    system (``A = Aᵀ``); :meth:`assemble` returns its real equivalent
    ``[[Re A, -Im A], [Im A, Re A]] [Re x; Im x] = [Re b; Im b]`` (real
    non-symmetric, so real-only solvers work). The output ``"u"`` of the
    impedance problem has a trailing channel axis ``(real, imag)``.

    **Prescribed data** (``prescribe``): ``source`` replaces the Gaussian
    ``f`` (real or complex); ``bc="dirichlet"``: ``dirichlet`` gives ``u = g``
    on the boundary (lifted, ``b = f_I - L_IB g_B``); ``bc="impedance"``:
    ``impedance`` is the data ``g`` of ``∂u/∂n - i k u = g``, a callable
    ``g(x, y, nx, ny)`` of the boundary nodes and the outward normal of each
    side, a number, or a nodal array (its boundary values, the same on both
    sides at a corner).

    **Fields.** Inputs ``"k"`` (wavenumber) and ``"f"`` (source); output ``"u"``.
    """

    name = "helmholtz"
    input_names = ("k", "f")
    output_names = ("u",)
    defaults: dict[str, Any] = {"bc": "dirichlet", "k_min": 5.0, "k_max": 20.0,
                                "delta_max": 0.3, "medium_width": 0.15, "source_width": 0.05}
    min_resolution = 5

    def __init__(self, resolution: int, **options: Any) -> None:
        super().__init__(resolution, **options)
        o = self.options
        if o["bc"] not in ("dirichlet", "impedance"):
            raise ValueError(f"unknown bc {o['bc']!r} for helmholtz; valid: dirichlet, impedance")
        if not 0 < o["k_min"] <= o["k_max"]:
            raise ValueError("need 0 < k_min <= k_max")
        if not 0 <= o["delta_max"] < 1:
            raise ValueError("delta_max must be in [0, 1) so that k^2 stays positive")
        if o["medium_width"] <= 0 or o["source_width"] <= 0:
            raise ValueError("medium_width and source_width must be positive")
        self._grid = Grid.uniform(self.resolution, 2)

    @property
    def impedance(self) -> bool:
        return self.options["bc"] == "impedance"

    @property
    def prescribable(self) -> tuple[str, ...]:  # type: ignore[override]
        return ("source", "impedance") if self.impedance else ("source", "dirichlet")

    @property
    def parameter_space(self) -> ParameterSpace:
        o = self.options
        return ParameterSpace(("k0", "delta", "xs", "ys"), ("uniform",) * 4,
                              ((float(o["k_min"]), float(o["k_max"])),
                               (-float(o["delta_max"]), float(o["delta_max"])),
                               (0.2, 0.8), (0.2, 0.8)))

    @property
    def grid(self) -> Grid:
        return self._grid

    @property
    def _bc(self) -> str:
        return "neumann" if self.impedance else "dirichlet"

    # -- fields ------------------------------------------------------------------
    @staticmethod
    def _mu(mu: np.ndarray) -> np.ndarray:
        mu = np.asarray(mu, dtype=float).ravel()
        if mu.size != 4:
            raise ValueError(f"expected 4 parameters (k0, delta, xs, ys), got {mu.size}")
        return mu

    def wavenumber(self, mu: np.ndarray) -> np.ndarray:
        """``k(x) = k0 sqrt(1 + δ m(x))`` on the full grid."""
        k0, delta = self._mu(mu)[:2]
        X, Y = self.grid.mesh()
        w = float(self.options["medium_width"])
        m = np.exp(-((X - 0.5) ** 2 + (Y - 0.5) ** 2) / (2 * w * w))
        return k0 * np.sqrt(1.0 + delta * m)

    def source(self, mu: np.ndarray) -> np.ndarray:
        """The normalised Gaussian source on the full grid."""
        xs, ys = self._mu(mu)[2:]
        X, Y = self.grid.mesh()
        s = float(self.options["source_width"])
        return np.exp(-((X - xs) ** 2 + (Y - ys) ** 2) / (2 * s * s)) / (2 * np.pi * s * s)

    def input_fields(self, mu: np.ndarray) -> dict[str, np.ndarray]:
        return {"k": self.wavenumber(mu), "f": self._source(mu)}

    def _source(self, mu: np.ndarray) -> np.ndarray:
        """The prescribed source, else the Gaussian :meth:`source`."""
        return self.data("source") if "source" in self.prescribed else self.source(mu)

    # -- discretisation -------------------------------------------------------------
    def _boundary_terms(self) -> list[tuple[int, int, np.ndarray, float]]:
        """Per side ``(axis, end, flat node indices, weight)``: weight = ``(1/h_d)·Π_{e≠d} w_e``
        at each node (``w_e`` the trapezoid factor along the other axis)."""
        g = self.grid
        idx = np.arange(int(np.prod(g.shape))).reshape(g.shape)
        out = []
        for d in range(2):
            other = 1 - d
            w_other = np.ones(g.shape[other])
            w_other[[0, -1]] = 0.5
            for end in (0, -1):
                nodes = np.take(idx, end, axis=d)
                out.append((d, end, nodes, w_other / g.spacing[d]))
        return out

    def assemble_complex(self, mu: np.ndarray) -> LinearSystem:
        """The complex system (Dirichlet: real), with the prescribed data if any."""
        g = self.grid
        k = self.wavenumber(mu)
        f = self._source(mu)
        if not self.impedance:
            A = fd.diffusion_operator(g, 1.0) - sp.diags(fd.full_to_interior(g, k ** 2))
            b = fd.full_to_interior(g, f)
            if "dirichlet" in self.prescribed:
                b = b - diffusion_coupling(g, [1.0] * g.ndim, self.boundary_values())
            return LinearSystem(A.tocsr(), b, symmetric=True, spd=False,
                                meta={"k_max": float(k.max())})
        W = fd.node_weights(g, "neumann")
        kf = k.ravel()
        B = np.zeros(kf.size)
        b = (W * f.ravel()).astype(complex)
        for d, end, nodes, weight in self._boundary_terms():
            B[nodes] += weight
            if "impedance" in self.prescribed:
                b[nodes] += weight * self._impedance_data(d, end)
        A = fd.diffusion_operator(g, 1.0, "neumann") - sp.diags(W * kf ** 2) - 1j * sp.diags(B * kf)
        return LinearSystem(A.tocsr(), b, symmetric=True, spd=False,
                            meta={"complex": True, "k_max": float(k.max())})

    def _impedance_data(self, d: int, end: int) -> np.ndarray:
        """The prescribed impedance data ``g`` on the side ``x_d = end`` (0 or -1)."""
        value = self.prescribed["impedance"]
        if not callable(value):
            return np.take(self.data("impedance"), end, axis=d)
        X, Y = self.grid.mesh()
        normal = [0.0, 0.0]
        normal[d] = -1.0 if end == 0 else 1.0
        return value(np.take(X, end, axis=d), np.take(Y, end, axis=d), *normal)

    @staticmethod
    def _real_form(system: LinearSystem) -> LinearSystem:
        if not system.meta.get("complex"):
            return system
        Ar, Ai = system.A.real.tocsr(), system.A.imag.tocsr()
        A = sp.bmat([[Ar, -Ai], [Ai, Ar]], format="csr")
        b = np.concatenate([system.b.real, system.b.imag])
        meta = {k: v for k, v in system.meta.items() if k != "complex"}
        return LinearSystem(A, b, symmetric=False, spd=False,
                            meta={**meta, "complex_unknowns": True, "layout": "real-imag blocks"})

    def assemble(self, mu: np.ndarray) -> LinearSystem:
        return self._real_form(self.assemble_complex(mu))

    def to_fields(self, mu: np.ndarray, x: np.ndarray) -> dict[str, np.ndarray]:
        """``"u"``: real ``(n, n)`` (Dirichlet) or ``(n, n, 2)`` = (real, imag) (impedance).

        ``x`` is the solution of :meth:`assemble` (real blocks) or of
        :meth:`assemble_complex` (complex).
        """
        g = self.grid
        x = np.asarray(x)
        if not self.impedance:
            return {"u": fd.interior_to_full(g, np.real_if_close(x).astype(float),
                                             self.boundary_values())}
        n = int(np.prod(g.shape))
        if np.iscomplexobj(x) and x.size == n:
            z = x
        elif x.size == 2 * n:
            z = x[:n] + 1j * x[n:]
        else:
            raise ValueError(f"expected {n} complex or {2 * n} real unknowns, got {x.size}")
        return {"u": np.stack([z.real, z.imag], axis=-1).reshape(g.shape + (2,))}
