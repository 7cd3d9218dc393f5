"""k-medoids clustering of snapshots on a precomputed dissimilarity matrix.

Given a dissimilarity ``D`` (``n x n``, symmetric, zero diagonal; see
:mod:`rom.dissimilarity`), k-medoids picks ``k`` samples ``m_1..m_k`` (the
medoids) minimising the loss ``sum_i min_c D[i, m_c]`` and assigns each sample
to its nearest medoid. Unlike k-means it needs no mean of snapshots, so it
works for any dissimilarity (the sine one is not a norm of differences).

Implementation: FasterPAM of the ``kmedoids`` package (Schubert & Rousseeuw,
"Fast and eager k-medoids clustering", Information Systems 101, 2021),
chosen because it is maintained, written in Rust (fast on the ``n <= 10^4``
matrices here), reaches the quality of PAM's exhaustive swap search (it
performs the same swaps eagerly, with an ``O(k)`` speed-up) and takes a
precomputed matrix. PAM finds a local optimum, so :func:`cluster` runs it
from ``n_init`` random initialisations (``seed``, ``seed + 1``, ...) plus the
deterministic BUILD one and keeps the smallest loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Clustering:
    """``labels[i]`` in ``0..k-1`` (cluster of sample ``i``), ``medoids[c]`` (the sample index
    of cluster ``c``'s medoid) and the k-medoids ``loss`` ``sum_i D[i, medoids[labels[i]]]``."""

    labels: np.ndarray
    medoids: np.ndarray
    loss: float

    @property
    def k(self) -> int:
        return int(len(self.medoids))

    def sizes(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=self.k)


def _check(D: np.ndarray, k: int) -> np.ndarray:
    D = np.asarray(D, dtype=float)
    if D.ndim != 2 or D.shape[0] != D.shape[1]:
        raise ValueError(f"dissimilarity matrix must be square, got shape {D.shape}")
    n = D.shape[0]
    if not np.all(np.isfinite(D)):
        raise ValueError("dissimilarity matrix has NaN or infinite entries")
    if k < 1:
        raise ValueError(f"the number of clusters must be >= 1, got {k}")
    if k > n:
        raise ValueError(f"{k} clusters for {n} samples: need at most one cluster per sample")
    return D


def cluster(D: np.ndarray, k: int, *, seed: int = 0, n_init: int = 5) -> Clustering:
    """k-medoids (FasterPAM) of the precomputed dissimilarity ``D`` into ``k`` clusters, best
    loss of ``n_init`` random starts and the BUILD start; an empty cluster is an error."""
    import kmedoids

    D = _check(D, k)
    n = D.shape[0]
    if k == n:
        medoids = np.arange(n)
        return Clustering(np.arange(n), medoids, 0.0)
    best = None
    starts = [("build", None)] + [("random", seed + i) for i in range(max(0, n_init))]
    for init, rs in starts:
        res = kmedoids.fasterpam(D, k, max_iter=100, init=init, random_state=rs, n_cpu=1)
        if best is None or float(res.loss) < best[0]:
            best = (float(res.loss), np.asarray(res.labels, dtype=np.int64),
                    np.asarray(res.medoids, dtype=np.int64))
    loss, labels, medoids = best
    sizes = np.bincount(labels, minlength=k)
    if len(np.unique(medoids)) < k or np.any(sizes == 0):
        raise ValueError(f"k-medoids left {int(np.sum(sizes == 0)) or k - len(np.unique(medoids))}"
                         f" of {k} clusters empty: fewer than {k} distinct snapshots")
    # each medoid is in its own cluster (ties at zero dissimilarity resolved to it)
    labels[medoids] = np.arange(k)
    return Clustering(labels, medoids, loss)


def nearest_medoid(D_to_medoids: np.ndarray) -> np.ndarray:
    """Cluster of each row of a ``(m, k)`` matrix of dissimilarities to the ``k`` medoids."""
    return np.argmin(np.asarray(D_to_medoids), axis=1).astype(np.int64)
