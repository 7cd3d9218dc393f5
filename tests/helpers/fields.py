"""Small steady and time-dependent datasets of smooth fields for the operator tests."""

from __future__ import annotations

import numpy as np

from data.dataset import write_dataset
from solvers.problems import Grid, ParameterSpace


def _smooth_fields(rng: np.random.Generator, n: int, shape: tuple[int, ...], kmax: int = 4
                   ) -> np.ndarray:
    """Random band-limited periodic fields ``(n, *shape)`` (modes ``|k| <= kmax``)."""
    out = np.zeros((n, *shape))
    mesh = np.meshgrid(*[np.arange(m) / m for m in shape], indexing="ij")
    bcast = (-1, *[1] * len(shape))
    for k in np.ndindex(*([2 * kmax + 1] * len(shape))):
        kk = np.array(k) - kmax
        phase = 2 * np.pi * sum(ki * xi for ki, xi in zip(kk, mesh))
        amp = rng.standard_normal((n, 2)) / (1.0 + (kk ** 2).sum())
        out += amp[:, 0].reshape(bcast) * np.cos(phase) + amp[:, 1].reshape(bcast) * np.sin(phase)
    return out


def _helmholtz_periodic(a: np.ndarray, ndim: int) -> np.ndarray:
    """``u`` with ``-Δu + u = a`` on the periodic unit cube (exact via FFT)."""
    axes = tuple(range(1, ndim + 1))
    ah = np.fft.fftn(a, axes=axes)
    k2 = sum(np.meshgrid(*[(2 * np.pi * np.fft.fftfreq(n, 1.0 / n)) ** 2 for n in a.shape[1:]],
                         indexing="ij"))
    return np.fft.ifftn(ah / (1.0 + k2 / 20.0), axes=axes).real


def _space(p: int) -> ParameterSpace:
    return ParameterSpace(tuple(f"m{i}" for i in range(p)), ("normal",) * p,
                          ((-3.0, 3.0),) * p)


def write_steady(path, n: int = 12, res: int = 16, ndim: int = 2, seed: int = 0,
                 channels: bool = False):
    """Steady dataset: input ``a`` -> output ``u`` (and ``v = a**2`` as a second output)."""
    rng = np.random.default_rng(seed)
    grid = Grid.uniform(res, ndim=ndim, periodic=True)
    a = _smooth_fields(rng, n, grid.shape)
    u = _helmholtz_periodic(a, ndim)
    outputs = {"u": np.stack([u, 2 * u], axis=-1) if channels else u, "v": a ** 2}
    return write_dataset(path, problem="synthetic", config={"problem": "synthetic", "n": n},
                         grid=grid, times=None, parameters=rng.standard_normal((n, 2)),
                         parameter_space=_space(2), sampler="normal", inputs={"a": a},
                         outputs=outputs, stats={"seconds": np.full(n, 0.01)}, seed=seed)


def write_heat(path, n: int = 6, res: int = 16, n_times: int = 4, seed: int = 0, nu: float = 0.01,
               forcing: bool = False):
    """1-D periodic heat equation, exact: ``u(t) = exp(-nu |2 pi k|^2 t) u0`` mode by mode;
    input ``u0``, output ``u`` at ``t = 0.1 .. 0.1 n_times`` (initial state not stored)."""
    rng = np.random.default_rng(seed)
    grid = Grid.uniform(res, ndim=1, periodic=True)
    u0 = _smooth_fields(rng, n, grid.shape)
    times = 0.1 * np.arange(1, n_times + 1)
    k2 = (2 * np.pi * np.fft.fftfreq(res, 1.0 / res)) ** 2
    uh = np.fft.fft(u0, axis=1)
    u = np.stack([np.fft.ifft(uh * np.exp(-nu * k2 * t * 100), axis=1).real for t in times],
                 axis=1)
    inputs = {"u0": u0, **({"f": np.ones_like(u0)} if forcing else {})}
    return write_dataset(path, problem="heat_synthetic", config={"problem": "heat_synthetic"},
                         grid=grid, times=times, parameters=rng.standard_normal((n, 1)),
                         parameter_space=_space(1), sampler="normal", inputs=inputs,
                         outputs={"u": u}, stats={"seconds": np.full(n, 0.02)}, seed=seed)
