"""Designs of the unit cube: the parameter samples of a dataset.

``sample_unit(n, dim, sampler, seed)`` returns ``n`` points of ``(0, 1)^dim``;
``ParameterSpace.from_unit`` maps them to parameters by the inverse CDF of each
coordinate, so every design works for uniform, log-uniform and normal
parameters alike.

* ``random``: i.i.d. uniform points (numpy PCG64 generator seeded by ``seed``).
* ``lhs``: Latin hypercube (McKay, Beckman & Conover 1979) -- every coordinate
  has exactly one point in each of the ``n`` strata ``[k/n, (k+1)/n)``.
* ``sobol``: scrambled Sobol' sequence (Owen scrambling, scipy.stats.qmc). For
  ``n = 2^m`` each coordinate again has one point per stratum ``[k/n, (k+1)/n)``
  and the star discrepancy decays like ``O(log(n)^dim / n)`` instead of
  ``O(n^-1/2)``; other ``n`` take the first ``n`` points of the sequence.

The same ``(n, dim, sampler, seed)`` gives bitwise the same points, which is
what makes an interrupted dataset generation resumable.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.stats import qmc

SAMPLERS: tuple[str, ...] = ("random", "lhs", "sobol")


def sample_unit(n: int, dim: int, sampler: str = "random", seed: int = 0) -> np.ndarray:
    """``n`` points of the open unit cube ``(0, 1)^dim`` as an ``(n, dim)`` float array."""
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; valid: {', '.join(SAMPLERS)}")
    if int(n) <= 0:
        raise ValueError(f"number of samples must be positive, got {n}")
    if int(dim) < 0:
        raise ValueError(f"dimension must be non-negative, got {dim}")
    n, dim = int(n), int(dim)
    if dim == 0:
        return np.empty((n, 0))
    rng = np.random.default_rng(seed)
    if sampler == "random":
        u = rng.random((n, dim))
    elif sampler == "lhs":
        u = qmc.LatinHypercube(d=dim, rng=rng).random(n)
    else:
        engine = qmc.Sobol(d=dim, scramble=True, rng=rng)
        with warnings.catch_warnings():  # n not a power of two: balance is lost, still valid
            warnings.simplefilter("ignore", UserWarning)
            u = engine.random(n)
    # keep away from the closed boundary so inverse CDFs stay finite
    tiny = np.finfo(float).eps
    return np.clip(u, tiny, 1.0 - tiny)
