"""Structured tensor-product grids and their meshio form.

A grid is the tensor product of 1-D axis coordinates. Fields on it are arrays
of shape ``grid.shape`` (C order, axis 0 = x). Node-centred grids of Dirichlet
problems include the boundary nodes; periodic grids omit the right endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_CELL_TYPES = {1: "line", 2: "quad", 3: "hexahedron"}


@dataclass(frozen=True, eq=False)
class Grid:
    axes: tuple[np.ndarray, ...]
    periodic: tuple[bool, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "axes", tuple(np.asarray(a, dtype=float) for a in self.axes))
        if not self.periodic:
            object.__setattr__(self, "periodic", (False,) * len(self.axes))

    @classmethod
    def uniform(cls, n: int | tuple[int, ...], ndim: int = 2, lo: float = 0.0,
                hi: float = 1.0, periodic: bool = False) -> Grid:
        """``n`` nodes per axis on ``[lo, hi]`` (``[lo, hi)`` when periodic)."""
        ns = (n,) * ndim if isinstance(n, int) else tuple(n)
        axes = tuple(np.linspace(lo, hi, k, endpoint=not periodic) for k in ns)
        return cls(axes, (periodic,) * len(ns))

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Grid) and self.periodic == other.periodic
                and len(self.axes) == len(other.axes)
                and all(np.array_equal(a, b) for a, b in zip(self.axes, other.axes)))

    @property
    def ndim(self) -> int:
        return len(self.axes)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(a) for a in self.axes)

    @property
    def spacing(self) -> tuple[float, ...]:
        return tuple(float(a[1] - a[0]) if len(a) > 1 else 1.0 for a in self.axes)

    def mesh(self) -> tuple[np.ndarray, ...]:
        """Coordinate arrays, ``indexing='ij'``."""
        return tuple(np.meshgrid(*self.axes, indexing="ij"))

    def points(self) -> np.ndarray:
        """Node coordinates ``(n_points, 3)`` in C order of ``shape`` (meshio wants 3-D points)."""
        pts = np.stack([m.ravel() for m in self.mesh()], axis=1)
        return np.pad(pts, ((0, 0), (0, 3 - self.ndim)))

    def cells(self) -> tuple[str, np.ndarray]:
        """meshio cell block: lines, quads or hexahedra connecting the nodes."""
        idx = np.arange(int(np.prod(self.shape))).reshape(self.shape)
        if self.ndim == 1:
            conn = np.stack([idx[:-1], idx[1:]], axis=1)
        elif self.ndim == 2:
            conn = np.stack([idx[:-1, :-1], idx[1:, :-1], idx[1:, 1:], idx[:-1, 1:]],
                            axis=-1).reshape(-1, 4)
        elif self.ndim == 3:
            c = [idx[:-1, :-1, :-1], idx[1:, :-1, :-1], idx[1:, 1:, :-1], idx[:-1, 1:, :-1],
                 idx[:-1, :-1, 1:], idx[1:, :-1, 1:], idx[1:, 1:, 1:], idx[:-1, 1:, 1:]]
            conn = np.stack(c, axis=-1).reshape(-1, 8)
        else:
            raise ValueError(f"no cell type for {self.ndim}-D grids")
        return _CELL_TYPES[self.ndim], conn.astype(np.int64)
