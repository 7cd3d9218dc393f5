"""Non-zero Dirichlet data by lifting: the coupling ``A_IB g_B`` of the interior rows to the boundary.

The operators of :mod:`solvers.problems.fd` act on the interior unknowns (the
homogeneous-Dirichlet operators ``A_II``). For data ``u = g`` on the boundary
of an all-Dirichlet grid the discrete equations at the interior nodes read

.. math::

    A_{II} u_I + A_{IB} g_B = f_I \\quad\\Longrightarrow\\quad A_{II} u_I = f_I - A_{IB} g_B,

so the unknowns and the matrix stay as they are and only the right-hand side
changes. For the 3/5/7-point stencils used here, ``A_IB`` couples the first
and last interior layer along each axis ``d`` to the boundary node next to it
(never to a corner). The functions return ``A_IB g_B`` as a vector over the
unknowns (C order); ``g`` is a full grid field whose interior entries are not
read.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .fd import face_shape
from .grid import Grid

__all__ = ["diffusion_coupling", "convection_coupling"]


def _layers(grid: Grid, values: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray]:
    """``values`` (full-grid or ``face_shape`` along ``d``) at the first and last index along
    ``d``, restricted to the interior positions along every other axis."""
    if any(grid.periodic):
        raise ValueError("Dirichlet data need a grid without periodic axes")
    lo = [slice(1, -1)] * grid.ndim
    hi = list(lo)
    lo[d], hi[d] = 0, -1
    return values[tuple(lo)], values[tuple(hi)]


def _scatter(grid: Grid, d: int, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """An interior-shaped array, ``low``/``high`` on the first/last interior layer along ``d``."""
    m = tuple(n - 2 for n in grid.shape)
    out = np.zeros(m, dtype=np.result_type(low, high))
    first = [slice(None)] * grid.ndim
    last = list(first)
    first[d], last[d] = 0, -1
    out[tuple(first)] += low
    out[tuple(last)] += high
    return out


def diffusion_coupling(grid: Grid, faces: Sequence[float | np.ndarray], g: np.ndarray
                       ) -> np.ndarray:
    """``A_IB g_B`` of the conservative ``-div(a grad u)`` with face conductances ``faces``.

    ``faces[d]`` is a number or an array of ``fd.face_shape(grid, d)`` (as for
    :func:`~solvers.problems.fd.diffusion_operator_faces`; nodal coefficients
    through :func:`~solvers.problems.fd.nodal_face_coefficients`). The interior
    node next to a boundary node ``j`` along axis ``d`` has the entry
    ``-a_{face}/h_d²`` in column ``j``, so ``(A_IB g)_i = -Σ a_face g_j / h_d²``.
    """
    g = np.asarray(g)
    out = np.zeros(tuple(n - 2 for n in grid.shape), dtype=np.result_type(g, float))
    for d in range(grid.ndim):
        w = np.broadcast_to(np.asarray(faces[d]), face_shape(grid, d, "dirichlet"))
        w_lo, w_hi = _layers(grid, w, d)
        g_lo, g_hi = _layers(grid, g, d)
        out = out - _scatter(grid, d, w_lo * g_lo, w_hi * g_hi) / grid.spacing[d] ** 2
    return out.ravel()


def convection_coupling(grid: Grid, velocity: Sequence[float | np.ndarray], g: np.ndarray
                        ) -> np.ndarray:
    """``A_IB g_B`` of the central ``b·∇u`` (:func:`~solvers.problems.fd.convection_operator`).

    ``velocity[d]`` is a number or a nodal array; the interior node before
    (after) a boundary node along ``d`` has ``+b_d/(2h_d)`` (``-b_d/(2h_d)``)
    in its column.
    """
    g = np.asarray(g)
    out = np.zeros(tuple(n - 2 for n in grid.shape), dtype=np.result_type(g, float))
    for d in range(grid.ndim):
        b = np.broadcast_to(np.asarray(velocity[d], dtype=float), grid.shape)
        inner = tuple(slice(1, -1) for _ in range(grid.ndim))
        b_int = b[inner]
        g_lo, g_hi = _layers(grid, g, d)
        first = [slice(None)] * grid.ndim
        last = list(first)
        first[d], last[d] = 0, -1
        low = -b_int[tuple(first)] * g_lo
        high = b_int[tuple(last)] * g_hi
        out = out + _scatter(grid, d, low, high) / (2.0 * grid.spacing[d])
    return out.ravel()
