"""A priori efficiency criterion of a dictionary of local bases, and the choice of K.

Before any local model is built, the training snapshots alone tell how much a
dictionary of ``K`` local affine bases of dimension ``N`` can gain over one
global basis of the same dimension (Daniel, Casenave, Akkari, Ryckelynck,
"Physics-informed cluster analysis and a priori efficiency criterion for the
construction of local reduced-order bases", 2021: the local Kolmogorov widths
against the global one). With centred POD singular values ``sigma_i`` of all
snapshots and ``sigma_{c,i}`` of cluster ``c``, the squared projection errors
on the training set are ``E_glob(N) = sum_{i>N} sigma_i^2`` and
``E_loc(N) = sum_c sum_{i>N} sigma_{c,i}^2``, and the criterion is

    G(K, N) = sqrt(E_glob(N) / E_loc(N))        (> 1: the dictionary pays off).

In-sample, ``E_loc`` is optimistic (a cluster of at most ``N + 1`` snapshots
has no error at all), so for the *choice* of ``K`` the same ratio is measured
by ``F``-fold cross-validation on the training snapshots: each held-out
snapshot is projected on the global basis and on the basis of its cluster,
both built without it; ``K`` is the smallest one of the sweep whose
cross-validated mean relative projection error is within ``slack`` (5 %) of
the sweep's best (fewer local models cost fewer offline builds). Its
validation against the gain measured on test data is benchmark 4
(``benchmarks/rom_local.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .clustering import cluster
from .local_pod import affine_projection_error
from .pod import pod


def affine_pod(S: np.ndarray, N: int, basis: str = "affine"
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(mean, modes (n, <= N), singular values)`` of the centred rows of ``S``; with
    ``basis="linear"`` of the uncentred rows scaled to unit norm (mean zero), as
    :func:`rom.local_pod.fit_model`."""
    if basis == "linear":
        mean = np.zeros(S.shape[1])
        res = pod((S / np.linalg.norm(S, axis=1)[:, None]).T, max_modes=max(N, 1))
    else:
        mean = S.mean(axis=0)
        res = pod((S - mean).T, max_modes=max(N, 1))
    return mean, res.modes[:, :N], res.singular_values


def tail2(sigma: np.ndarray, N: int) -> float:
    return float(np.sum(np.asarray(sigma[N:], float) ** 2))


def in_sample_gain(S: np.ndarray, labels: np.ndarray, N: int, basis: str = "affine") -> float:
    """``G(K, N) = sqrt(E_glob(N) / E_loc(N))`` on the training snapshots (``inf`` when the
    local bases reproduce every snapshot)."""
    S = np.asarray(S, float).reshape(len(labels), -1)
    _, _, sg = affine_pod(S, N, basis)
    e_loc = 0.0
    for c in np.unique(labels):
        rows = S[labels == c]
        if len(rows) > 1:
            e_loc += tail2(affine_pod(rows, N, basis)[2], N)
    e_glob = tail2(sg, N)
    return float(np.sqrt(e_glob / e_loc)) if e_loc > 0 else float("inf")


def cv_errors(S: np.ndarray, labels: np.ndarray, N: int, *, folds: int = 5, seed: int = 0,
              basis: str = "affine") -> tuple[np.ndarray, np.ndarray]:
    """Cross-validated relative projection errors ``(global, local)`` of every training
    snapshot (bases built without its fold; local: the basis of its own cluster)."""
    S = np.asarray(S, float).reshape(len(labels), -1)
    n = len(S)
    folds = max(2, min(folds, n))
    fold = np.random.default_rng(seed).permutation(n) % folds
    norms = np.linalg.norm(S, axis=1)
    norms = np.where(norms > 0, norms, 1.0)
    eg, el = np.empty(n), np.empty(n)
    for f in range(folds):
        test, train = fold == f, fold != f
        mean, V, _ = affine_pod(S[train], N, basis)
        eg[test] = affine_projection_error(S[test], mean, V)
        for c in np.unique(labels[test]):
            rows = test & (labels == c)
            fit = train & (labels == c)
            if fit.sum() == 0:      # the whole cluster held out: no local basis, the global one
                el[rows] = eg[rows]
                continue
            m, Vc, _ = affine_pod(S[fit], N, basis)
            el[rows] = affine_projection_error(S[rows], m, Vc)
    return eg / norms, el / norms


@dataclass
class SweepPoint:
    """One ``K`` of the sweep: in-sample gain, cross-validated mean relative errors."""

    K: int
    gain_in_sample: float
    cv_global: float
    cv_local: float
    loss: float

    @property
    def gain_cv(self) -> float:
        return self.cv_global / self.cv_local if self.cv_local > 0 else float("inf")

    def as_dict(self) -> dict[str, Any]:
        return {"K": self.K, "gain_in_sample": self.gain_in_sample, "gain_cv": self.gain_cv,
                "cv_global_mean_rel": self.cv_global, "cv_local_mean_rel": self.cv_local,
                "kmedoids_loss": self.loss}


def sweep_k(S: np.ndarray, D: np.ndarray, ks: Any, N: int, *, folds: int = 5, seed: int = 0,
            slack: float = 0.05, basis: str = "affine") -> tuple[int, list[SweepPoint]]:
    """Cluster ``D`` for each ``K`` in ``ks`` and score it (module docstring); returns the
    chosen ``K`` and the sweep."""
    S = np.asarray(S, float).reshape(len(D), -1)
    ks = sorted({int(k) for k in ks if 1 <= int(k) <= len(D)})
    if not ks:
        raise ValueError(f"no admissible number of clusters for {len(D)} samples")
    points = []
    for k in ks:
        cl = cluster(D, k, seed=seed)
        eg, el = cv_errors(S, cl.labels, N, folds=folds, seed=seed, basis=basis)
        points.append(SweepPoint(k, in_sample_gain(S, cl.labels, N, basis), float(eg.mean()),
                                 float(el.mean()), cl.loss))
    best = min(p.cv_local for p in points)
    chosen = next(p.K for p in points if p.cv_local <= (1 + slack) * best)
    return chosen, points
