"""The thermal block: the classical affinely parametrised benchmark of reduced-basis methods."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from . import fd
from .base import AffineDecomposition, LinearSystem, ParameterSpace, Problem
from .grid import Grid
from .lifting import diffusion_coupling

_TOL = 1e-9


def _axis_weights(x: np.ndarray, n_blocks: int) -> np.ndarray:
    """``(len(x), n_blocks)`` share of each block interval ``[i/B, (i+1)/B]`` at coordinates ``x``.

    1 strictly inside an interval, 1/2 to each neighbour on an interior
    interface, 1 at the ends of the unit interval. Rows sum to 1.
    """
    x = np.asarray(x, dtype=float).ravel()
    lo = np.arange(n_blocks) / n_blocks
    hi = np.arange(1, n_blocks + 1) / n_blocks
    w = ((x[:, None] > lo - _TOL) & (x[:, None] < hi + _TOL)).astype(float)
    return w / w.sum(axis=1, keepdims=True)


def _one(mu: np.ndarray) -> np.ndarray:
    return np.ones(1)


def _one_and_mu(mu: np.ndarray) -> np.ndarray:
    return np.concatenate([[1.0], np.asarray(mu, dtype=float).ravel()])


class ThermalBlock(Problem):
    """Heat conduction in a unit square of ``B1 × B2`` blocks of conductivity ``μ_q``.

    ``-div(μ(x) grad u) = f`` in ``(0,1)^2``, ``u = 0`` on the boundary, with
    ``μ(x) = μ_q`` on block ``q = j*B1 + i`` (``i`` along x, ``j`` along y,
    block ``[i/B1, (i+1)/B1] × [j/B2, (j+1)/B2]``) and ``f = 1`` (option ``f``).

    **Discretisation.** Node-centred grid, 5-point flux form with conductances
    on the cell faces: each face gets the conductivity of the block containing
    it, a face lying on a block interface the mean of the two blocks (its half
    cells conduct in parallel). Hence ``A(μ) = Σ_q μ_q A_q`` exactly, where
    ``A_q`` is the operator with the face indicator of block ``q`` as
    conductance; each ``A_q`` is symmetric positive semi-definite and ``A(μ)``
    is SPD for ``μ > 0``. Second order when block interfaces lie on grid lines
    (``resolution - 1`` divisible by ``B1`` and ``B2``), else first order in
    the interface position.

    **Parameters.** ``μ_q`` uniform in ``[mu_min, mu_max]`` (0.1, 1).
    ``affine_decomposition()`` gives ``θ_A(μ) = μ``, ``f`` one term, and the
    min-θ reference ``μ_ref = sqrt(mu_min*mu_max)`` in every block.

    **Prescribed data** (``prescribe``): ``source`` replaces the constant
    ``f``; ``dirichlet`` gives ``u = g`` on the boundary, lifted:
    ``b(μ) = f_I - Σ_q μ_q A_q,IB g_B``, so the affine decomposition stays exact
    with ``f_terms = (f_I, -A_1,IB g_B, ...)`` and ``θ_f(μ) = (1, μ)``.

    **Fields.** Input ``"mu_field"``: the conductivity at the nodes (interface
    nodes: the mean of the adjacent blocks); output ``"u"``.
    """

    name = "thermal_block"
    input_names = ("mu_field",)
    output_names = ("u",)
    defaults: dict[str, Any] = {"blocks_x": 2, "blocks_y": 2, "mu_min": 0.1, "mu_max": 1.0,
                                "f": 1.0}
    min_resolution = 3
    prescribable = ("source", "dirichlet")

    def __init__(self, resolution: int, **options: Any) -> None:
        super().__init__(resolution, **options)
        bx, by = int(self.options["blocks_x"]), int(self.options["blocks_y"])
        if bx < 1 or by < 1:
            raise ValueError(f"blocks_x and blocks_y must be at least 1, got {bx}, {by}")
        if not 0 < self.options["mu_min"] < self.options["mu_max"]:
            raise ValueError("need 0 < mu_min < mu_max")
        if self.resolution - 1 < max(bx, by):
            raise ValueError(f"resolution {self.resolution} too coarse for {bx}x{by} blocks")
        self.blocks = (bx, by)
        self._grid = Grid.uniform(self.resolution, 2)
        self._terms: tuple[sp.csr_matrix, ...] | None = None
        self._face_ind: list[np.ndarray] | None = None

    @property
    def n_blocks(self) -> int:
        return self.blocks[0] * self.blocks[1]

    @property
    def parameter_space(self) -> ParameterSpace:
        lo, hi = float(self.options["mu_min"]), float(self.options["mu_max"])
        return ParameterSpace(tuple(f"mu_{q}" for q in range(self.n_blocks)),
                              ("uniform",) * self.n_blocks, ((lo, hi),) * self.n_blocks)

    @property
    def grid(self) -> Grid:
        return self._grid

    # -- geometry -------------------------------------------------------------------
    def _indicators(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``(n_blocks, *x.shape)`` block shares at points (sum to 1 at every point)."""
        wx = _axis_weights(x, self.blocks[0])
        wy = _axis_weights(y, self.blocks[1])
        ind = wy[:, :, None] * wx[:, None, :]          # (points, j, i)
        return ind.reshape(x.size, self.n_blocks).T.reshape((self.n_blocks,) + x.shape)

    def _check_mu(self, mu: np.ndarray) -> np.ndarray:
        mu = np.asarray(mu, dtype=float).ravel()
        if mu.size != self.n_blocks:
            raise ValueError(f"expected {self.n_blocks} conductivities, got {mu.size}")
        if np.any(mu <= 0):
            raise ValueError("conductivities must be positive")
        return mu

    def conductivity(self, mu: np.ndarray) -> np.ndarray:
        """``μ(x)`` at the nodes (interface nodes get the mean of the adjacent blocks)."""
        mu = self._check_mu(mu)
        X, Y = self.grid.mesh()
        return np.tensordot(mu, self._indicators(X, Y), axes=1)

    def input_fields(self, mu: np.ndarray) -> dict[str, np.ndarray]:
        return {"mu_field": self.conductivity(mu)}

    def face_indicators(self) -> list[np.ndarray]:
        """Per axis, ``(n_blocks, *face_shape)`` block shares of the faces (cached)."""
        if self._face_ind is None:
            self._face_ind = [self._indicators(*fd.face_centres(self.grid, d)) for d in range(2)]
        return self._face_ind

    # -- affine decomposition ----------------------------------------------------------
    def block_operators(self) -> tuple[sp.csr_matrix, ...]:
        """``A_q``: the flux operator with the face indicator of block ``q`` as conductance."""
        if self._terms is None:
            ind = self.face_indicators()
            self._terms = tuple(fd.diffusion_operator_faces(self.grid, [ind[0][q], ind[1][q]])
                                for q in range(self.n_blocks))
        return self._terms

    def _load(self) -> np.ndarray:
        """``f_I``: the prescribed source (or the constant ``f``) at the unknowns."""
        f = self.data("source", default=float(self.options["f"]))
        return fd.full_to_interior(self.grid, f).astype(float)

    has_affine_decomposition = True

    def affine_decomposition(self) -> AffineDecomposition:
        lo, hi = float(self.options["mu_min"]), float(self.options["mu_max"])
        f_terms: tuple[np.ndarray, ...] = (self._load(),)
        lifted = "dirichlet" in self.prescribed
        if lifted:
            g, ind = self.boundary_values(), self.face_indicators()
            f_terms += tuple(-diffusion_coupling(self.grid, [ind[0][q], ind[1][q]], g)
                             for q in range(self.n_blocks))
        return AffineDecomposition(
            A_terms=self.block_operators(),
            f_terms=f_terms,
            theta_A=lambda mu: np.asarray(mu, dtype=float).ravel(),
            theta_f=_one_and_mu if lifted else _one,
            min_theta_ref=np.full(self.n_blocks, np.sqrt(lo * hi)))

    # -- systems --------------------------------------------------------------------
    def faces(self, mu: np.ndarray) -> list[np.ndarray]:
        """The face conductivities of ``μ``, one array of ``fd.face_shape`` per axis."""
        mu = self._check_mu(mu)
        return [np.tensordot(mu, ind, axes=1) for ind in self.face_indicators()]

    def operator(self, mu: np.ndarray) -> sp.csr_matrix:
        """``A(μ)`` assembled directly from the face conductivities of ``μ``."""
        return fd.diffusion_operator_faces(self.grid, self.faces(mu))

    def assemble(self, mu: np.ndarray) -> LinearSystem:
        b = self._load()
        if "dirichlet" in self.prescribed:
            b = b - diffusion_coupling(self.grid, self.faces(mu), self.boundary_values())
        return LinearSystem(self.operator(mu), b, symmetric=True, spd=True)

    def to_fields(self, mu: np.ndarray, x: np.ndarray) -> dict[str, np.ndarray]:
        return {"u": fd.interior_to_full(self.grid, np.asarray(x, dtype=float),
                                         self.boundary_values())}
