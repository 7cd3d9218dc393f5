"""Helpers shared by the time-dependent problems: output schedules and periodic random data.

Output schedule
    A trajectory is stored at ``n_out`` output times. Between two output
    times the integrator takes ``m = ceil(Δt_out / dt)`` equal substeps of
    length ``Δt_out / m <= dt``, so every output time is hit exactly and the
    requested ``dt`` is an upper bound of the step actually taken.

Periodic Gaussian random fields
    ``g ~ N(0, C)`` with ``C = σ² (-Δ + τ² I)^{-α}`` on the periodic unit
    cube ``[0, 1)^d`` (FNO's Burgers and Navier–Stokes initial data). The
    eigenpairs of ``-Δ`` are ``(4π²|k|², e^{2πi k·x})``; in the real
    orthonormal basis ``{√2 cos(2πk·x), √2 sin(2πk·x)}`` over the half
    lattice ``H`` (``k ≠ 0``, one of ``±k``) the Karhunen–Loève expansion is

    .. math::

        g(x) = \\sum_{k \\in H, \\|k\\|_\\infty \\le K} \\sqrt{2 λ_k}
               \\,(a_k \\cos 2πk·x + b_k \\sin 2πk·x), \\qquad
        λ_k = σ^2 (4π^2|k|^2 + τ^2)^{-α},

    with ``a_k, b_k`` independent standard normals (the mean mode ``k = 0`` is
    zero, as in the FNO data). The field is evaluated *exactly* at the grid
    nodes from the fixed coefficient vector, so a sample is the same function
    at every resolution (a grid with fewer than ``2K + 1`` nodes per axis
    aliases the highest modes, as sampling any function would).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np


def substeps(interval: float, dt: float) -> tuple[int, float]:
    """``(m, dt_eff)``: the number of equal steps of length ``dt_eff <= dt`` covering ``interval``."""
    if not (dt > 0 and math.isfinite(dt)):
        raise ValueError(f"time step dt must be positive and finite, got {dt}")
    if interval <= 0:
        raise ValueError(f"output interval must be positive, got {interval}")
    m = max(1, math.ceil(interval / dt * (1 - 1e-12)))
    return m, interval / m


def output_times(t_final: float, n_out: int, include_initial: bool = True) -> np.ndarray:
    """Equispaced output times on ``[0, t_final]``.

    ``include_initial=True``: ``n_out`` times ``0, ..., t_final`` (``n_out >= 2``).
    ``include_initial=False``: ``t_k = k t_final / n_out``, ``k = 1..n_out`` (``n_out >= 1``).
    """
    if not (t_final > 0 and math.isfinite(t_final)):
        raise ValueError(f"t_final must be positive and finite, got {t_final}")
    if include_initial:
        if n_out < 2:
            raise ValueError(f"n_out must be at least 2 (t=0 and t_final), got {n_out}")
        return np.linspace(0.0, t_final, n_out)
    if n_out < 1:
        raise ValueError(f"n_out must be at least 1, got {n_out}")
    return t_final * np.arange(1, n_out + 1) / n_out


def check_positive(name: str, value: float) -> float:
    """Return ``value`` as float, raising a one-line ``ValueError`` unless it is positive and finite."""
    value = float(value)
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be positive and finite, got {value}")
    return value


@dataclass(frozen=True)
class _KLExpansion:
    """The settings of a truncated KL expansion of ``N(0, σ²(-Δ + τ²I)^{-α})``:
    ``ndim`` axes, ``n_modes`` wavenumbers per axis."""

    ndim: int
    n_modes: int
    sigma: float
    tau: float
    alpha: float

    #: the dimensions the expansion is written for, and how to say so
    ndims: ClassVar[tuple[int, ...]] = ()
    kind: ClassVar[str] = ""

    def __post_init__(self) -> None:
        if self.ndim not in self.ndims:
            raise ValueError(f"{self.kind} are {self.ndims[0]}-D to {self.ndims[-1]}-D, "
                             f"got ndim={self.ndim}")
        if self.n_modes < 1:
            raise ValueError(f"n_modes must be at least 1, got {self.n_modes}")


@dataclass(frozen=True)
class PeriodicGRF(_KLExpansion):
    """Truncated KL expansion of ``N(0, σ²(-Δ+τ²I)^{-α})`` on ``[0,1)^ndim`` (see module docstring).

    ``n_modes`` is ``K``, the largest wavenumber per axis; ``dim`` coefficients
    (two per wavevector of the half lattice) parametrise a sample.
    """

    ndims: ClassVar[tuple[int, ...]] = (1, 2)
    kind: ClassVar[str] = "periodic random fields"

    def wavevectors(self) -> np.ndarray:
        """The half lattice ``H`` as integer array ``(n_wave, ndim)``, ordered by ``|k|`` then lexicographically."""
        K = self.n_modes
        if self.ndim == 1:
            ks = np.arange(1, K + 1)[:, None]
        else:
            k1, k2 = np.meshgrid(np.arange(-K, K + 1), np.arange(-K, K + 1), indexing="ij")
            k1, k2 = k1.ravel(), k2.ravel()
            half = (k1 > 0) | ((k1 == 0) & (k2 > 0))
            ks = np.stack([k1[half], k2[half]], axis=1)
        order = np.lexsort(tuple(ks[:, d] for d in reversed(range(self.ndim)))
                           + ((ks ** 2).sum(axis=1),))
        return ks[order]

    @property
    def dim(self) -> int:
        """Number of standard-normal coefficients (``2 |H|``)."""
        return 2 * len(self.wavevectors())

    def eigenvalues(self) -> np.ndarray:
        """``λ_k = σ² (4π²|k|² + τ²)^{-α}`` for ``k`` in :meth:`wavevectors`."""
        k2 = (self.wavevectors() ** 2).sum(axis=1)
        return self.sigma ** 2 * (4 * math.pi ** 2 * k2 + self.tau ** 2) ** (-self.alpha)

    def evaluate(self, xi: np.ndarray, axes: tuple[np.ndarray, ...]) -> np.ndarray:
        """The field with coefficients ``xi`` (``a_k`` then ``b_k``) at the tensor grid ``axes``.

        Computed as ``Re Σ_k c_k e^{2πi k·x}`` with ``c_k = √(2λ_k)(a_k - i b_k)``
        through one small dense exponential matrix per axis.
        """
        xi = np.asarray(xi, dtype=float)
        ks = self.wavevectors()
        if xi.shape != (2 * len(ks),):
            raise ValueError(f"expected {2 * len(ks)} random-field coefficients, got shape {xi.shape}")
        if len(axes) != self.ndim:
            raise ValueError(f"expected {self.ndim} axes, got {len(axes)}")
        c = np.sqrt(2 * self.eigenvalues()) * (xi[:len(ks)] - 1j * xi[len(ks):])
        K = self.n_modes
        waves = np.arange(-K, K + 1)
        E = [np.exp(2j * math.pi * np.outer(np.asarray(a, float), waves)) for a in axes]
        if self.ndim == 1:
            C = np.zeros(2 * K + 1, dtype=complex)
            C[ks[:, 0] + K] = c
            return (E[0] @ C).real
        C = np.zeros((2 * K + 1, 2 * K + 1), dtype=complex)
        C[ks[:, 0] + K, ks[:, 1] + K] = c
        return (E[0] @ C @ E[1].T).real


def normal_parameters(prefix: str, n: int) -> tuple[tuple[str, ...], tuple[str, ...],
                                                    tuple[tuple[float, float], ...]]:
    """Names, kinds and display ranges of ``n`` standard-normal coefficients ``prefix0, prefix1, ...``."""
    q = 3.090232306167813  # 99.9% quantile of N(0, 1)
    return (tuple(f"{prefix}{j}" for j in range(n)), ("normal",) * n, ((-q, q),) * n)


@dataclass(frozen=True)
class SineSeriesGRF(_KLExpansion):
    """Truncated KL expansion of ``N(0, σ²(-Δ_D + τ²I)^{-α})`` on ``[0, 1]^ndim`` with ``u = 0`` on the boundary.

    ``-Δ_D`` is the Dirichlet Laplacian with the L²-orthonormal eigenfunctions
    ``φ_k(x) = Π_d √2 sin(π k_d x_d)`` and eigenvalues ``π²|k|²``,
    ``k ∈ {1..K}^ndim``; a sample is ``Σ_k √λ_k ξ_k φ_k(x)`` with
    ``λ_k = σ²(π²|k|² + τ²)^{-α}`` and standard-normal ``ξ_k`` (C order of
    ``k``). It vanishes on the boundary, so it is admissible initial data for
    homogeneous Dirichlet problems, and is the same function at every
    resolution.
    """

    ndims: ClassVar[tuple[int, ...]] = (1, 2, 3)
    kind: ClassVar[str] = "sine-series fields"

    @property
    def dim(self) -> int:
        return self.n_modes ** self.ndim

    def eigenvalues(self) -> np.ndarray:
        """``λ_k`` as an array of shape ``(n_modes,)*ndim``."""
        k = np.arange(1, self.n_modes + 1, dtype=float)
        k2 = sum(np.meshgrid(*[k ** 2] * self.ndim, indexing="ij"))
        return self.sigma ** 2 * (math.pi ** 2 * k2 + self.tau ** 2) ** (-self.alpha)

    def evaluate(self, xi: np.ndarray, axes: tuple[np.ndarray, ...]) -> np.ndarray:
        """The field with coefficients ``xi`` at the tensor grid ``axes`` (coordinates in ``[0, 1]``)."""
        xi = np.asarray(xi, dtype=float)
        if xi.shape != (self.dim,):
            raise ValueError(f"expected {self.dim} random-field coefficients, got shape {xi.shape}")
        if len(axes) != self.ndim:
            raise ValueError(f"expected {self.ndim} axes, got {len(axes)}")
        out = np.sqrt(self.eigenvalues()) * xi.reshape((self.n_modes,) * self.ndim)
        k = np.arange(1, self.n_modes + 1)
        for d, x in enumerate(axes):
            B = math.sqrt(2.0) * np.sin(math.pi * np.outer(np.asarray(x, float), k))
            out = np.moveaxis(np.tensordot(B, out, axes=([1], [d])), 0, d)
        return out


def uniform_steps(t_final: float, n_out: int, dt: float) -> tuple[int, float]:
    """``(m, h)`` for outputs at ``linspace(0, t_final, n_out)``: ``m`` steps of ``h <= dt`` between outputs.

    One step length for the whole trajectory, so implicit schemes keep one matrix.
    """
    return substeps(t_final / (n_out - 1), dt)
