"""Vectorised finite-difference operators on node-centred tensor grids (1-D/2-D/3-D).

Nodes are numbered in C order of ``grid.shape`` (axis 0 = x slowest). Every
operator is assembled from index arrays in one shot (no Python loop over
nodes), as a COO triple that is summed into CSR.

Boundary conditions, per axis (``bc`` is one string or one per axis; ``None``
takes ``"periodic"`` where ``grid.periodic`` says so and ``"dirichlet"`` elsewhere):

``"dirichlet"``
    The first and last node of the axis carry prescribed values and are not
    unknowns. Returned operators act on the *unknowns* only, i.e. the interior
    nodes, so they are the homogeneous-Dirichlet operators; the coupling to
    non-zero boundary values is ``restrict(...)[1]``.
``"periodic"``
    The grid omits the right endpoint (``Grid.uniform(..., periodic=True)``);
    neighbours wrap around. All nodes of the axis are unknowns.
``"neumann"``
    Zero normal flux, all nodes are unknowns. Discretised as a finite-volume
    (vertex-centred) scheme whose boundary nodes own half cells, which is the
    ghost-point scheme ``u_{-1} = u_{1}`` multiplied by the node weights of
    :func:`node_weights` (so the matrix stays symmetric; divide rows by the
    weights to get the ghost-point equations).

The mathematics of :func:`diffusion_operator` (conservative form):

.. math::

    (-\\nabla\\cdot(a\\nabla u))_i \\approx \\sum_d \\frac{a_{i+e_d/2}(u_i-u_{i+e_d})
        + a_{i-e_d/2}(u_i-u_{i-e_d})}{h_d^2},

with face values ``a_{i+e_d/2} = (a_i + a_{i+e_d})/2`` (arithmetic, linear in
``a``) or ``2 a_i a_{i+e_d}/(a_i + a_{i+e_d})`` (harmonic). It is second-order
consistent for smooth ``a`` and symmetric positive (semi-)definite.
"""

from __future__ import annotations

from typing import Sequence, Union

import numpy as np
import scipy.sparse as sp

from .grid import Grid

BC = Union[str, Sequence[str], None]
_BCS = ("dirichlet", "periodic", "neumann")

__all__ = ["axis_bcs", "interior_mask", "unknown_index", "interior_to_full",
           "full_to_interior", "node_weights", "face_shape", "face_centres",
           "nodal_face_coefficients", "diffusion_operator", "diffusion_operator_faces",
           "laplacian",
           "gradient_operator", "convection_operator", "nodal_gradient", "restrict"]


# -- boundary conditions and unknowns ----------------------------------------------

def axis_bcs(grid: Grid, bc: BC = None) -> tuple[str, ...]:
    """Normalise ``bc`` to one of ``dirichlet|periodic|neumann`` per axis and check it."""
    if bc is None:
        out = tuple("periodic" if p else "dirichlet" for p in grid.periodic)
    elif isinstance(bc, str):
        out = (bc,) * grid.ndim
    else:
        out = tuple(bc)
    if len(out) != grid.ndim:
        raise ValueError(f"expected {grid.ndim} boundary conditions, got {len(out)}")
    for d, (kind, per) in enumerate(zip(out, grid.periodic, strict=True)):
        if kind not in _BCS:
            raise ValueError(f"unknown boundary condition {kind!r}; valid: {', '.join(_BCS)}")
        if (kind == "periodic") != bool(per):
            raise ValueError(
                f"axis {d}: boundary condition {kind!r} does not match the grid "
                f"({'periodic, right endpoint omitted' if per else 'not periodic'}); "
                "build periodic grids with Grid.uniform(..., periodic=True)")
        if grid.shape[d] < (3 if kind == "dirichlet" else 2):
            raise ValueError(f"axis {d} has too few nodes ({grid.shape[d]}) for {kind}")
    return out


def interior_mask(grid: Grid, bc: BC = None) -> np.ndarray:
    """Boolean array of ``grid.shape``: ``True`` at the unknowns (not on a Dirichlet boundary)."""
    kinds = axis_bcs(grid, bc)
    mask = np.ones(grid.shape, dtype=bool)
    for d, kind in enumerate(kinds):
        if kind == "dirichlet":
            sl = [slice(None)] * grid.ndim
            sl[d] = 0
            mask[tuple(sl)] = False
            sl[d] = -1
            mask[tuple(sl)] = False
    return mask


def unknown_index(grid: Grid, bc: BC = None) -> np.ndarray:
    """Flat node index -> unknown number (``-1`` on Dirichlet boundary nodes)."""
    mask = interior_mask(grid, bc).ravel()
    idx = np.full(mask.size, -1, dtype=np.int64)
    idx[mask] = np.arange(int(mask.sum()))
    return idx


def interior_to_full(grid: Grid, x: np.ndarray, boundary_value: float | np.ndarray = 0.0,
                     bc: BC = None) -> np.ndarray:
    """Scatter unknowns ``x`` of shape ``(n_unknowns, *channels)`` to a full grid field.

    Boundary nodes get ``boundary_value`` (a scalar or an array of the full field's
    shape, whose boundary entries are used).
    """
    mask = interior_mask(grid, bc)
    x = np.asarray(x)
    n = int(mask.sum())
    if x.shape[0] != n:
        raise ValueError(f"expected {n} unknowns on a {grid.shape} grid, got {x.shape[0]}")
    out_shape = grid.shape + x.shape[1:]
    out = np.empty(out_shape, dtype=np.result_type(x, np.asarray(boundary_value)))
    out[...] = boundary_value
    out[mask] = x
    return out


def full_to_interior(grid: Grid, u: np.ndarray, bc: BC = None) -> np.ndarray:
    """The unknowns (C order) of a full grid field ``u`` of shape ``(*grid.shape, *channels)``."""
    u = np.asarray(u)
    if u.shape[:grid.ndim] != grid.shape:
        raise ValueError(f"field shape {u.shape} does not start with the grid shape {grid.shape}")
    return u[interior_mask(grid, bc)]


def node_weights(grid: Grid, bc: BC = None) -> np.ndarray:
    """Trapezoidal node weights (fraction of a full cell owned by each node), flat.

    ``1/2`` per Neumann axis on which the node is an end node; 1 otherwise.
    """
    kinds = axis_bcs(grid, bc)
    w = np.ones(grid.shape)
    for d, kind in enumerate(kinds):
        if kind == "neumann":
            w *= _end_factor(grid.shape, d)
    return w.ravel()


def _end_factor(shape: tuple[int, ...], d: int) -> np.ndarray:
    """Array broadcastable to ``shape``: 1/2 at both ends of axis ``d``, 1 elsewhere."""
    f = np.ones(shape[d])
    f[[0, -1]] = 0.5
    s = [1] * len(shape)
    s[d] = shape[d]
    return f.reshape(s)


# -- assembly helpers ---------------------------------------------------------------

def _neighbour_pairs(shape: tuple[int, ...], d: int, periodic: bool
                     ) -> tuple[np.ndarray, np.ndarray, tuple[slice, ...]]:
    """Flat indices ``(p, q)`` of node pairs ``q = p + e_d`` along axis ``d``.

    Also returns the slice of the left nodes (so per-face arrays can be built by
    slicing nodal arrays). Periodic axes include the wrap-around pair.
    """
    idx = np.arange(int(np.prod(shape))).reshape(shape)
    if periodic:
        q = np.roll(idx, -1, axis=d)
        return idx.ravel(), q.ravel(), (slice(None),) * len(shape)
    left = [slice(None)] * len(shape)
    right = [slice(None)] * len(shape)
    left[d], right[d] = slice(0, -1), slice(1, None)
    return idx[tuple(left)].ravel(), idx[tuple(right)].ravel(), tuple(left)


def _nodal(grid: Grid, value: float | np.ndarray, what: str) -> np.ndarray:
    """Broadcast a scalar or nodal array to ``grid.shape`` (float or complex)."""
    arr = np.asarray(value)
    if arr.ndim == 0:
        return np.full(grid.shape, arr.item())
    if arr.shape != grid.shape:
        if arr.size == int(np.prod(grid.shape)):
            return arr.reshape(grid.shape)
        raise ValueError(f"{what} has shape {arr.shape}, expected a scalar or {grid.shape}")
    return arr


def _to_unknowns(grid: Grid, kinds: tuple[str, ...], rows: np.ndarray, cols: np.ndarray,
                 vals: np.ndarray, restrict_cols: bool = True) -> sp.csr_matrix:
    """Sum a full-grid COO triple into CSR over the unknowns (rows and, optionally, columns)."""
    uidx = unknown_index(grid, kinds)
    n = int((uidx >= 0).sum())
    r = uidx[rows]
    if restrict_cols:
        c = uidx[cols]
        keep = (r >= 0) & (c >= 0)
        shape = (n, n)
    else:
        c = cols
        keep = r >= 0
        shape = (n, uidx.size)
    A = sp.coo_matrix((vals[keep], (r[keep], c[keep])), shape=shape).tocsr()
    A.sum_duplicates()
    return A


def _face_values(a: np.ndarray, a_next: np.ndarray, face: str) -> np.ndarray:
    if face == "arithmetic":
        return 0.5 * (a + a_next)
    if face == "harmonic":
        s = a + a_next
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(s != 0, 2.0 * a * a_next / np.where(s != 0, s, 1.0), 0.0)
    raise ValueError(f"unknown face average {face!r}; valid: arithmetic, harmonic")


def face_shape(grid: Grid, d: int, bc: BC = None) -> tuple[int, ...]:
    """Shape of the array of faces normal to axis ``d`` (one fewer node along a
    non-periodic axis ``d``; as many as nodes along a periodic one)."""
    kinds = axis_bcs(grid, bc)
    shape = list(grid.shape)
    if kinds[d] != "periodic":
        shape[d] -= 1
    return tuple(shape)


def face_centres(grid: Grid, d: int, bc: BC = None) -> tuple[np.ndarray, ...]:
    """Coordinates (``indexing='ij'`` arrays of :func:`face_shape`) of the midpoints
    between node ``i`` and ``i + e_d``."""
    kinds = axis_bcs(grid, bc)
    axes = list(grid.axes)
    x = axes[d]
    if kinds[d] == "periodic":
        h = grid.spacing[d]
        axes[d] = x + 0.5 * h
    else:
        axes[d] = 0.5 * (x[:-1] + x[1:])
    return tuple(np.meshgrid(*axes, indexing="ij"))


def nodal_face_coefficients(grid: Grid, coeff: float | np.ndarray, bc: BC = None,
                            face: str = "arithmetic") -> list[np.ndarray]:
    """Face values of a nodal coefficient, one array of :func:`face_shape` per axis."""
    kinds = axis_bcs(grid, bc)
    a = _nodal(grid, coeff, "coeff")
    out = []
    for d, kind in enumerate(kinds):
        if kind == "periodic":
            out.append(_face_values(a, np.roll(a, -1, axis=d), face))
        else:
            lo = [slice(None)] * grid.ndim
            hi = [slice(None)] * grid.ndim
            lo[d], hi[d] = slice(0, -1), slice(1, None)
            out.append(_face_values(a[tuple(lo)], a[tuple(hi)], face))
    return out


def _scaled_faces(grid: Grid, faces: Sequence[float | np.ndarray], kinds: tuple[str, ...]
                  ) -> list[np.ndarray]:
    """Face conductances over ``h_d²`` (half weight along Neumann sides), per axis."""
    if len(faces) != grid.ndim:
        raise ValueError(f"expected {grid.ndim} face coefficient arrays, got {len(faces)}")
    out = []
    for d, kind in enumerate(kinds):
        fshape = face_shape(grid, d, kinds)
        w = np.asarray(faces[d])
        if w.ndim and w.shape != fshape:
            raise ValueError(f"face coefficients of axis {d} have shape {w.shape}, expected {fshape}")
        w = np.broadcast_to(w, fshape) / grid.spacing[d] ** 2
        left = [slice(None)] * grid.ndim
        if kind != "periodic":
            left[d] = slice(0, -1)
        for e, other in enumerate(kinds):  # half cells along Neumann boundaries
            if e != d and other == "neumann":
                w = w * np.broadcast_to(_end_factor(grid.shape, e), grid.shape)[tuple(left)]
        out.append(np.broadcast_to(w, fshape))
    return out


def _diffusion_triples(grid: Grid, faces: Sequence[float | np.ndarray], kinds: tuple[str, ...]
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """COO triple on the full grid of the graph-Laplacian form with face conductances."""
    rows, cols, vals = [], [], []
    for d, w in enumerate(_scaled_faces(grid, faces, kinds)):
        p, q, _ = _neighbour_pairs(grid.shape, d, kinds[d] == "periodic")
        w = w.ravel()
        rows += [p, q, p, q]
        cols += [p, q, q, p]
        vals += [w, w, -w, -w]
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)


def _diffusion_banded(grid: Grid, faces: list[np.ndarray], kinds: tuple[str, ...]
                      ) -> sp.csr_matrix:
    """The graph-Laplacian form on the unknowns, built diagonal by diagonal.

    In the C-ordered unknown grid (shape ``m``), the neighbour along axis ``d``
    is at offset ``s_d = Π_{e>d} m_e``: the operator is banded with
    off-diagonals ``-w`` at ``±s_d`` (and ``±(m_d-1) s_d`` for a periodic
    wrap) and the diagonal is the sum of the adjacent face weights; faces to
    a Dirichlet node only add to the diagonal.
    """
    m = tuple(n - 2 if k == "dirichlet" else n for n, k in zip(grid.shape, kinds, strict=True))
    size = int(np.prod(m))
    inner = tuple(slice(1, -1) if k == "dirichlet" else slice(None) for k in kinds)
    diag = np.zeros(m)
    bands: dict[int, np.ndarray] = {}

    def add_band(offset: int, values: np.ndarray) -> None:
        v = values.ravel()[:size - offset]
        bands[offset] = bands[offset] + v if offset in bands else v.copy()

    for d, kind in enumerate(kinds):
        sl = list(inner)
        sl[d] = slice(None)
        w = faces[d][tuple(sl)]                 # faces along d, unknown positions elsewhere
        stride = int(np.prod(m[d + 1:]))
        n_d = m[d]
        take = [slice(None)] * grid.ndim
        if kind == "periodic":
            diag += w + np.roll(w, 1, axis=d)   # faces j and j-1 (mod n) of node j
            up = w.copy()
            take[d] = -1
            up[tuple(take)] = 0.0               # wrap pair handled separately
            add_band(stride, -up)
            if n_d > 1:
                wrap = np.zeros(m)
                take[d] = 0
                wrap[tuple(take)] = w[tuple([slice(None)] * d + [-1])]
                add_band((n_d - 1) * stride, -wrap)
            continue
        lo = [slice(None)] * grid.ndim
        hi = [slice(None)] * grid.ndim
        if kind == "dirichlet":                 # unknown j sits between faces j and j+1
            lo[d], hi[d] = slice(0, -1), slice(1, None)
            diag += w[tuple(lo)] + w[tuple(hi)]
            up = np.zeros(m)
            take[d] = slice(0, -1)
            up[tuple(take)] = w[tuple([slice(None)] * d + [slice(1, -1)])]
        else:                                   # neumann: node j between faces j-1 and j
            pad = [(0, 0)] * grid.ndim
            pad[d] = (1, 1)
            wp = np.pad(w, pad)
            lo[d], hi[d] = slice(0, -1), slice(1, None)
            diag += wp[tuple(lo)] + wp[tuple(hi)]
            up = np.zeros(m)
            take[d] = slice(0, -1)
            up[tuple(take)] = w
        add_band(stride, -up)
    offsets = [0] + [o for o in bands] + [-o for o in bands]
    data = [diag.ravel()] + list(bands.values()) + list(bands.values())
    return sp.diags(data, offsets, shape=(size, size), format="csr")


# -- public operators ----------------------------------------------------------------

def diffusion_operator(grid: Grid, coeff: float | np.ndarray = 1.0, bc: BC = None,
                       face: str = "arithmetic") -> sp.csr_matrix:
    """Conservative discretisation of ``-div(a grad u)`` acting on the unknowns.

    ``coeff`` is ``a`` at the nodes (scalar or array of ``grid.shape``); face
    values by the arithmetic (default; linear in ``a``) or harmonic mean of the
    two adjacent nodes. 3/5/7-point stencil in 1-D/2-D/3-D. Dirichlet axes:
    homogeneous Dirichlet operator on the interior nodes. Periodic axes: all
    nodes, wrapping. Neumann axes: half-cell finite-volume form (see module
    docstring). Symmetric; positive definite when some axis is Dirichlet and
    ``a > 0``. Returns CSR of shape ``(n_unknowns, n_unknowns)``.
    """
    kinds = axis_bcs(grid, bc)
    faces = nodal_face_coefficients(grid, coeff, kinds, face)
    return diffusion_operator_faces(grid, faces, kinds)


def diffusion_operator_faces(grid: Grid, faces: Sequence[float | np.ndarray],
                             bc: BC = None) -> sp.csr_matrix:
    """``-div(a grad u)`` from face conductances ``a_{i+e_d/2}`` given directly.

    ``faces[d]`` is a scalar or an array of :func:`face_shape` ``(grid, d)``
    (e.g. a piecewise-constant coefficient evaluated at :func:`face_centres`).
    The operator is linear in the face values; otherwise as
    :func:`diffusion_operator`.
    """
    kinds = axis_bcs(grid, bc)
    return _diffusion_banded(grid, _scaled_faces(grid, faces, kinds), kinds)


def laplacian(grid: Grid, bc: BC = None) -> sp.csr_matrix:
    """The discrete Laplacian ``Δ`` (negative semi-definite) on the unknowns.

    Equal to ``-diffusion_operator(grid, 1.0, bc)``: the standard
    ``(u_{i-1} - 2u_i + u_{i+1})/h^2`` per axis, second order.
    """
    return (-diffusion_operator(grid, 1.0, bc)).tocsr()


def restrict(grid: Grid, coeff: float | np.ndarray = 1.0, bc: BC = None,
             face: str = "arithmetic") -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """``(A_II, A_IB)``: the diffusion operator on the unknowns and its coupling to all nodes.

    For non-homogeneous Dirichlet data ``g`` (a full grid field, only its boundary
    values matter) the system is ``A_II x = f - A_IB g_B`` where ``g_B`` is ``g``
    with the unknowns zeroed; ``A_IB`` has shape ``(n_unknowns, n_nodes)``.
    """
    kinds = axis_bcs(grid, bc)
    faces = nodal_face_coefficients(grid, coeff, kinds, face)
    rows, cols, vals = _diffusion_triples(grid, faces, kinds)
    A_ii = _to_unknowns(grid, kinds, rows, cols, vals)
    A_all = _to_unknowns(grid, kinds, rows, cols, vals, restrict_cols=False)
    mask = interior_mask(grid, kinds).ravel()
    A_ib = (A_all @ sp.diags((~mask).astype(float))).tocsr()
    A_ib.eliminate_zeros()
    return A_ii, A_ib


def gradient_operator(grid: Grid, axis: int, bc: BC = None) -> sp.csr_matrix:
    """Central difference ``(u_{i+e_d} - u_{i-e_d}) / (2 h_d)`` for ``∂u/∂x_d`` on the unknowns.

    Second order. Dirichlet: homogeneous boundary values (the neighbour on the
    boundary contributes zero). Periodic: wraps. Neumann: the ghost value
    equals the mirror node, so the derivative at an end node is zero.
    """
    kinds = axis_bcs(grid, bc)
    if not 0 <= axis < grid.ndim:
        raise ValueError(f"axis {axis} out of range for a {grid.ndim}-D grid")
    p, q, _ = _neighbour_pairs(grid.shape, axis, kinds[axis] == "periodic")
    c = 1.0 / (2.0 * grid.spacing[axis])
    ones = np.full(p.size, c)
    # node p uses +u_q (its right neighbour); node q uses -u_p (its left neighbour)
    rows = np.concatenate([p, q])
    cols = np.concatenate([q, p])
    vals = np.concatenate([ones, -ones])
    if kinds[axis] == "neumann":
        # end nodes: ghost value u_{-1} = u_{1} makes the central difference vanish
        n_d = grid.shape[axis]
        pos = np.unravel_index(rows, grid.shape)[axis]
        keep = (pos != 0) & (pos != n_d - 1)
        rows, cols, vals = rows[keep], cols[keep], vals[keep]
    return _to_unknowns(grid, kinds, rows, cols, vals)


def convection_operator(grid: Grid, velocity: Sequence[float | np.ndarray],
                        bc: BC = None) -> sp.csr_matrix:
    """Central-difference ``b·∇u = Σ_d b_d(x_i) (u_{i+e_d} - u_{i-e_d}) / (2 h_d)`` on the unknowns.

    ``velocity`` has one entry per axis, each a scalar or a nodal array of
    ``grid.shape``. Second order; not symmetric (skew-symmetric for constant
    ``b`` with Dirichlet or periodic boundaries).
    """
    kinds = axis_bcs(grid, bc)
    if len(velocity) != grid.ndim:
        raise ValueError(f"velocity needs {grid.ndim} components, got {len(velocity)}")
    mask = interior_mask(grid, kinds)
    n = int(mask.sum())
    C = sp.csr_matrix((n, n))
    for d, b_d in enumerate(velocity):
        b = _nodal(grid, b_d, f"velocity[{d}]")[mask]
        C = C + sp.diags(b) @ gradient_operator(grid, d, kinds)
    return C.tocsr()


def nodal_gradient(grid: Grid, field: np.ndarray) -> tuple[np.ndarray, ...]:
    """Gradient of a nodal field at every node: central differences inside,
    second-order one-sided at non-periodic ends, wrap-around on periodic axes."""
    field = _nodal(grid, field, "field")
    out = []
    for d in range(grid.ndim):
        h = grid.spacing[d]
        if grid.periodic[d]:
            out.append((np.roll(field, -1, axis=d) - np.roll(field, 1, axis=d)) / (2 * h))
        else:
            out.append(np.gradient(field, h, axis=d, edge_order=2))
    return tuple(out)
