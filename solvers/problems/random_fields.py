"""Gaussian random fields by truncated Karhunen-Loève (spectral) expansion.

The field is a sample of ``N(0, C)`` with the Matérn-like covariance operator

.. math::  C = \\sigma^2 (-\\Delta + \\tau^2 I)^{-\\alpha}

on the box spanned by a grid (Neumann boundary conditions with the cosine
basis, periodic with the Fourier basis). ``C`` is diagonal in the eigenbasis
``φ_k`` of ``-Δ``, so a sample is

.. math::  g(x) = \\sum_{k} \\sqrt{\\lambda_k}\\, \\xi_k\\, \\varphi_k(x), \\qquad
           \\xi_k \\sim N(0, 1) \\text{ i.i.d.},\\quad
           \\lambda_k = \\sigma^2 (|\\kappa_k|^2 + \\tau^2)^{-\\alpha},

truncated to ``n_modes`` modes per axis. Basis (unit interval, L2-orthonormal):
cosine ``φ_0 = 1, φ_j = √2 cos(π j x)`` with ``κ_j = π j``; Fourier
``1, √2 cos(2π j x), √2 sin(2π j x)`` with ``κ = 2π j``. In several dimensions
``φ_k`` is the tensor product and ``|κ_k|^2`` the sum over axes. Coordinates
are mapped to the unit interval per axis (the eigenvalues use the unit box).

The default scaling ``σ = τ^{α-1}`` is the one of the FNO Darcy benchmark
(Li et al. 2021, α = 2, τ = 3), which keeps the variance of order one. With
``zero_mean=True`` (also as in that benchmark) the constant mode is left out.

The parameters are the standard-normal coefficients ``ξ``, so a sample is the
same function at every resolution: evaluating on two grids gives the same
values at common nodes, to round-off.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .grid import Grid

__all__ = ["GaussianRandomField"]


@dataclass(frozen=True)
class GaussianRandomField:
    """Truncated KL expansion of ``N(0, σ²(-Δ+τ²)^(-α))`` on a box (see module docstring)."""

    ndim: int = 2
    n_modes: int = 16
    alpha: float = 2.0
    tau: float = 3.0
    basis: str = "cosine"
    zero_mean: bool = False
    sigma: float | None = None

    def __post_init__(self) -> None:
        if self.ndim < 1 or self.ndim > 3:
            raise ValueError(f"random fields support 1 to 3 dimensions, got {self.ndim}")
        if self.n_modes < 1:
            raise ValueError(f"n_modes must be at least 1, got {self.n_modes}")
        if self.basis not in ("cosine", "fourier"):
            raise ValueError(f"unknown basis {self.basis!r}; valid: cosine, fourier")
        if self.tau <= 0 or self.alpha <= 0:
            raise ValueError("tau and alpha must be positive")
        if self.zero_mean and self.n_modes ** self.ndim == 1:
            raise ValueError("zero_mean with a single mode leaves no modes")

    # -- modes ---------------------------------------------------------------
    @property
    def scale(self) -> float:
        """``σ`` (defaults to the FNO scaling ``τ^{α-1}``)."""
        return float(self.tau ** (self.alpha - 1.0) if self.sigma is None else self.sigma)

    def _wavenumbers_1d(self) -> np.ndarray:
        j = np.arange(self.n_modes)
        if self.basis == "cosine":
            return np.pi * j
        return 2.0 * np.pi * ((j + 1) // 2)

    def _modes(self) -> np.ndarray:
        """Multi-indices ``(n_params, ndim)`` of the retained modes, C order."""
        return self._mode_table

    @cached_property
    def _mode_table(self) -> np.ndarray:
        grids = np.meshgrid(*[np.arange(self.n_modes)] * self.ndim, indexing="ij")
        idx = np.stack([g.ravel() for g in grids], axis=1)
        return idx[1:] if self.zero_mean else idx

    @property
    def n_params(self) -> int:
        return self.n_modes ** self.ndim - (1 if self.zero_mean else 0)

    def param_names(self, prefix: str = "xi") -> tuple[str, ...]:
        return tuple(prefix + "_" + "_".join(str(int(i)) for i in k) for k in self._modes())

    def eigenvalues(self) -> np.ndarray:
        """``λ_k = σ² (|κ_k|² + τ²)^{-α}`` in parameter order."""
        return self._eigenvalue_table.copy()

    @cached_property
    def _eigenvalue_table(self) -> np.ndarray:
        kap = self._wavenumbers_1d()[self._modes()]
        return self.scale ** 2 * (np.sum(kap ** 2, axis=1) + self.tau ** 2) ** (-self.alpha)

    # -- evaluation ----------------------------------------------------------
    def _basis_1d(self, x: np.ndarray, derivative: bool = False) -> np.ndarray:
        """``(len(x), n_modes)`` values (or d/dx) of the 1-D basis at unit coordinates ``x``."""
        j = np.arange(self.n_modes)
        kap = self._wavenumbers_1d()
        c = np.where(j == 0, 1.0, np.sqrt(2.0))
        ph = np.outer(x, kap)
        if self.basis == "cosine":
            return c * (-kap * np.sin(ph) if derivative else np.cos(ph))
        is_sin = (j % 2 == 0) & (j > 0)
        val = np.where(is_sin, np.sin(ph), np.cos(ph))
        der = np.where(is_sin, kap * np.cos(ph), -kap * np.sin(ph))
        return c * (der if derivative else val)

    def _unit_coords(self, grid: Grid) -> list[tuple[np.ndarray, float]]:
        out = []
        for ax, per in zip(grid.axes, grid.periodic, strict=True):
            length = (ax[-1] - ax[0]) * (len(ax) / (len(ax) - 1) if per else 1.0)
            if length <= 0:
                raise ValueError("grid axes must have at least two increasing nodes")
            out.append(((ax - ax[0]) / length, float(length)))
        return out

    def coefficients(self, xi: np.ndarray) -> np.ndarray:
        """The tensor ``√λ_k ξ_k`` of shape ``(n_modes,)*ndim`` (zero where a mode is left out)."""
        xi = np.asarray(xi, dtype=float).ravel()
        if xi.size != self.n_params:
            raise ValueError(f"expected {self.n_params} KL coefficients, got {xi.size}")
        coef = np.zeros((self.n_modes,) * self.ndim)
        coef[tuple(self._modes().T)] = np.sqrt(self._eigenvalue_table) * xi
        return coef

    def evaluate(self, xi: np.ndarray, grid: Grid, derivative: int | None = None) -> np.ndarray:
        """The field (or its exact derivative along axis ``derivative``) on ``grid.shape``."""
        if grid.ndim != self.ndim:
            raise ValueError(f"field is {self.ndim}-D, grid is {grid.ndim}-D")
        out = self.coefficients(xi)
        for d, (x, length) in enumerate(self._unit_coords(grid)):
            B = self._basis_1d(x, derivative == d)
            if derivative == d:
                B = B / length
            # contract mode axis d with the basis: the result's axis d becomes space
            out = np.moveaxis(np.tensordot(B, out, axes=([1], [d])), 0, d)
        return out

    def evaluate_nodes(self, xi: np.ndarray, grid: Grid, nodes: tuple[np.ndarray, ...]
                       ) -> np.ndarray:
        """The field at the grid nodes with multi-indices ``nodes`` (one index array per
        axis): ``O(len × n_modes^ndim)`` work, independent of the grid size; equal to
        ``evaluate(xi, grid)[nodes]`` up to round-off."""
        B = [self._basis_1d(x[np.asarray(idx)])  # (points, n_modes) per axis
             for (x, _), idx in zip(self._unit_coords(grid), nodes, strict=True)]
        # g(p) = Σ_k coef[k_1, ..., k_d] Π_d B_d[p, k_d], contracted one axis at a time
        out = np.tensordot(B[0], self.coefficients(xi), axes=([1], [0]))
        for Bd in B[1:]:
            out = np.einsum("pk,pk...->p...", Bd, out)
        return out

    def variance(self, grid: Grid) -> np.ndarray:
        """Exact pointwise variance ``Σ_k λ_k φ_k(x)²`` of the truncated field on ``grid``."""
        lam = np.zeros((self.n_modes,) * self.ndim)
        lam[tuple(self._modes().T)] = self.eigenvalues()
        out = lam
        for d, (x, _) in enumerate(self._unit_coords(grid)):
            B = self._basis_1d(x) ** 2
            out = np.moveaxis(np.tensordot(B, out, axes=([1], [d])), 0, d)
        return out

    def sample(self, rng: np.random.Generator, n: int = 1) -> np.ndarray:
        """``(n, n_params)`` standard-normal coefficients."""
        return rng.standard_normal((n, self.n_params))
