"""Sorting a sequence of systems so that neighbours are similar (SKR).

Wang et al., "Accelerating Data Generation for Neural Operators via Krylov
Subspace Recycling" (ICLR 2024): Krylov recycling pays off when consecutive
systems are close, so the samples are ordered first. Features of a sample are
its input fields (``problem.input_fields(mu)``, flattened, downsampled to at
most ``max_features`` values per field), or the parameters (scaled to unit
range) when the problem has no input fields.

* ``greedy``: nearest-neighbour chain in feature space (after a PCA to at
  most 32 dimensions), starting from the sample farthest from the mean;
  ``O(N^2)``.
* ``curve``: scalable variant: the low Fourier modes of every field, a PCA to
  two dimensions and the sort along a Hilbert space-filling curve
  (``O(N log N)`` after the features).
* ``auto``: ``greedy`` up to 4000 samples, else ``curve``.

:func:`split_chunks` cuts an order into contiguous chunks for parallel workers
(each worker then recycles along its own stretch of the chain).
"""

from __future__ import annotations

from typing import Any

import numpy as np

GREEDY_MAX = 4000


def _downsample(field: np.ndarray, max_features: int) -> np.ndarray:
    """Strided subsample of a grid field to at most ``max_features`` values (flattened)."""
    a = np.asarray(field)
    if a.size > max_features and a.ndim >= 1:
        stride = int(np.ceil((a.size / max_features) ** (1.0 / a.ndim)))
        a = a[(slice(None, None, stride),) * a.ndim]
    a = a.ravel()
    return np.concatenate([a.real, a.imag]) if np.iscomplexobj(a) else a.astype(float)


def _low_modes(field: np.ndarray, modes: int) -> np.ndarray:
    """Real and imaginary parts of the Fourier modes ``|k_i| < modes`` of a field."""
    a = np.asarray(field)
    if a.ndim == 0:
        return np.atleast_1d(a).astype(float)
    F = np.fft.fftn(a) / a.size
    idx = tuple(np.r_[0:min(modes, s), max(s - modes + 1, min(modes, s)):s] for s in a.shape)
    low = F[np.ix_(*idx)].ravel()
    return np.concatenate([low.real, low.imag])


def features(problem: Any, parameters: np.ndarray, *, kind: str = "fields",
             max_features: int = 1024, modes: int = 4) -> np.ndarray:
    """Feature matrix ``(N, d)`` of the samples (``kind``: ``fields`` or ``modes``)."""
    P = np.atleast_2d(np.asarray(parameters, dtype=float))
    rows = []
    for mu in P:
        fields = problem.input_fields(mu) if problem is not None else {}
        if not fields:
            rows = None
            break
        parts = [(_downsample(f, max_features) if kind == "fields" else _low_modes(f, modes))
                 for _, f in sorted(fields.items())]
        rows.append(np.concatenate(parts))
    if rows is None:
        lo, hi = P.min(axis=0), P.max(axis=0)
        return (P - lo) / np.where(hi > lo, hi - lo, 1.0)
    return np.array(rows)


def _pca(X: np.ndarray, dim: int) -> np.ndarray:
    """Coordinates of the centred rows of ``X`` on the leading ``dim`` principal axes."""
    Xc = X - X.mean(axis=0)
    if Xc.shape[1] <= dim:
        return Xc
    U, s, _ = np.linalg.svd(Xc, full_matrices=False)
    return U[:, :dim] * s[:dim]


def greedy_order(X: np.ndarray) -> np.ndarray:
    """Nearest-neighbour chain through the rows of ``X`` from the row farthest from the mean."""
    X = np.asarray(X, dtype=float)
    N = X.shape[0]
    if N == 0:
        return np.zeros(0, dtype=np.int64)
    sq = np.einsum("ij,ij->i", X, X)
    visited = np.zeros(N, dtype=bool)
    order = np.empty(N, dtype=np.int64)
    cur = int(np.argmax(np.sum((X - X.mean(axis=0)) ** 2, axis=1)))
    for i in range(N):
        order[i] = cur
        visited[cur] = True
        if i == N - 1:
            break
        d = sq - 2.0 * (X @ X[cur])
        d[visited] = np.inf
        cur = int(np.argmin(d))
    return order


def hilbert_index(ix: np.ndarray, iy: np.ndarray, bits: int) -> np.ndarray:
    """Distance along the Hilbert curve of order ``bits`` of integer points ``(ix, iy)``.

    The classic bit-by-bit rotation/reflection (``xy2d``), vectorised over points.
    """
    x, y = ix.astype(np.int64).copy(), iy.astype(np.int64).copy()
    n = 1 << bits
    d = np.zeros_like(x)
    s = n >> 1
    while s > 0:
        rx = ((x & s) > 0).astype(np.int64)
        ry = ((y & s) > 0).astype(np.int64)
        d += s * s * ((3 * rx) ^ ry)
        # rotate the quadrant
        flip = ry == 0
        refl = flip & (rx == 1)
        x[refl], y[refl] = n - 1 - x[refl], n - 1 - y[refl]
        x[flip], y[flip] = y[flip], x[flip].copy()
        s >>= 1
    return d


def curve_order(X: np.ndarray, bits: int = 16) -> np.ndarray:
    """Sort rows by the Hilbert index of their first two principal coordinates."""
    Z = _pca(np.asarray(X, dtype=float), 2)
    if Z.shape[1] == 1:
        return np.argsort(Z[:, 0], kind="stable")
    lo, hi = Z.min(axis=0), Z.max(axis=0)
    q = ((Z - lo) / np.where(hi > lo, hi - lo, 1.0) * ((1 << bits) - 1)).astype(np.int64)
    return np.argsort(hilbert_index(q[:, 0], q[:, 1], bits), kind="stable")


def order_systems(problem: Any, parameters: np.ndarray, method: str = "auto", *,
                  max_features: int = 1024) -> np.ndarray:
    """Permutation of the samples ``parameters`` (rows) in which to solve them.

    ``method``: ``greedy``, ``curve`` or ``auto`` (greedy up to 4000 samples).
    """
    P = np.atleast_2d(np.asarray(parameters, dtype=float))
    N = P.shape[0]
    if method == "auto":
        method = "greedy" if N <= GREEDY_MAX else "curve"
    if method == "greedy":
        X = features(problem, P, kind="fields", max_features=max_features)
        return greedy_order(_pca(X, 32))
    if method == "curve":
        return curve_order(features(problem, P, kind="modes"))
    raise ValueError(f"unknown ordering method {method!r}; valid: greedy, curve, auto")


def path_length(X: np.ndarray, order: np.ndarray) -> float:
    """Sum of Euclidean distances between consecutive rows of ``X[order]``."""
    Y = np.asarray(X, dtype=float)[np.asarray(order)]
    return float(np.sum(np.linalg.norm(np.diff(Y, axis=0), axis=1)))


def split_chunks(order: np.ndarray, n_chunks: int) -> list[np.ndarray]:
    """``n_chunks`` contiguous pieces of ``order`` with sizes differing by at most one."""
    if int(n_chunks) < 1:
        raise ValueError(f"n_chunks must be at least 1, got {n_chunks}")
    return [np.asarray(c) for c in np.array_split(np.asarray(order), int(n_chunks))]
