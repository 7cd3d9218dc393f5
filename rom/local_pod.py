"""A dictionary of local non-intrusive POD models, one per cluster of snapshots.

Given a clustering of the training snapshots (:mod:`rom.clustering`) with
labels ``c(k)`` and medoids ``m_c``, cluster ``c`` gets its own affine POD model
(:class:`rom.regression.PODRegression`): the mean ``s_bar_c`` of its snapshots,
the POD modes ``V_c`` of the centred snapshots (truncated by the relative tail
``tol`` and/or ``max_modes``, :func:`rom.pod.truncation_rank`) and a regression
``mu -> a_c(mu)`` of the coefficients on the cluster's parameters, so that

    s(mu) ~ s_bar_c + V_c a_c(mu)        for mu assigned to cluster c.

**Overlap** (Daniel et al. 2021; Amsallem, Zahr & Farhat 2012): a local basis
that sees only its own cluster is poor near the cluster's border, where the
selector is also least reliable. With ``overlap = f > 0`` each cluster's
training set is enriched with the ``ceil(f |C_c|)`` snapshots of *other*
clusters nearest to its medoid in the clustering's dissimilarity. A cluster
with a single member always gets its nearest outsider (two snapshots are the
fewest that make a centred POD and a regression).

**Basis.** ``basis="affine"`` is the centred POD of the raw snapshots (as the
``pod`` kind); ``basis="linear"`` the uncentred POD of the snapshots scaled to
unit norm, ``s(mu) ~ V_c a_c(mu)``: it minimises the sum of *relative* squared
projection errors ``sum_k |s_k - V V^T s_k|^2 / |s_k|^2`` and is the subspace
the sine dissimilarity measures (``|u - V V^T u| / |u|`` is the sine of the angle
of ``u`` to ``span V``); it is the better one when the snapshot norms vary over
decades (a diffusion coefficient over three decades).

**Coefficient regression** (``regression``): ``"members"`` fits ``mu -> a_c`` on the
cluster's own parameters, so a parameter handed to cluster ``c`` from outside
its parameter range (a selector's mistake, or a selector that looks at the
solution, :class:`rom.selectors.SurrogateSelector`) is an extrapolation;
``"all"`` (the default) fits it on *every* training parameter, with the
coefficients ``a_c(mu_k) = V_c^T (s_k - s_bar_c)`` of all snapshots in the local
basis: the same local basis, an interpolation everywhere. Measured on
``advection_diffusion`` (400 training samples, K = 4..16): prediction gains over
the global model 0.1-0.9x with ``members``, 1.03-1.26x with ``all``
(benchmarks/results/rom_local.md).

**Projection errors.** The best approximation of a snapshot ``u`` in the local
affine space, ``|u - s_bar_c - V_c V_c^T (u - s_bar_c)|``, bounds from below
what any coefficient regression can do: :meth:`LocalPOD.projection_error`
separates the error of the basis from that of the regression.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .pod import pod
from .regression import PODRegression

BASES = ("linear", "affine")
#: training parameters of each local coefficient regression (module docstring)
REGRESSION_SETS = ("all", "members")


def fit_model(params: np.ndarray, S: np.ndarray, *, basis: str = "affine",
              tol: float | None = 1e-4, max_modes: int | None = None,
              regressor: str = "rbf",
              regress_on: tuple[np.ndarray, np.ndarray] | None = None) -> PODRegression:
    """One POD + regression model of the rows of ``S``, ``basis`` ``affine`` or ``linear``
    (module docstring); the regression on ``regress_on = (params, snapshots)`` if given."""
    if basis == "affine":
        return PODRegression.fit(params, S, tol=tol, max_modes=max_modes, regressor=regressor,
                                 regress_on=regress_on)
    if basis != "linear":
        raise ValueError(f"unknown basis {basis!r}; valid: {', '.join(BASES)}")
    norms = np.linalg.norm(S, axis=1)
    if np.any(norms == 0):
        raise ValueError(f"snapshot {int(np.flatnonzero(norms == 0)[0])} is zero: a linear "
                         "basis of unit-norm snapshots needs nonzero ones")
    res = pod((S / norms[:, None]).T, tol=tol, max_modes=max_modes)
    modes = res.modes if res.n_modes else np.zeros((S.shape[1], 1))
    return PODRegression.with_regression(np.zeros(S.shape[1]), modes, res.singular_values,
                                         regressor,
                                         *((params, S) if regress_on is None else regress_on))


def cluster_members(labels: np.ndarray, medoids: np.ndarray, D: np.ndarray | None,
                    overlap: float = 0.0) -> list[np.ndarray]:
    """Training indices of each local model: the cluster, plus (``overlap``) the nearest
    snapshots of other clusters to its medoid (by ``D``); at least two per model."""
    if overlap < 0:
        raise ValueError(f"overlap must be >= 0, got {overlap}")
    labels = np.asarray(labels, dtype=np.int64)
    out = []
    for c, m in enumerate(np.asarray(medoids, dtype=np.int64)):
        own = np.flatnonzero(labels == c)
        if own.size == 0:
            raise ValueError(f"cluster {c} is empty")
        extra = max(math.ceil(overlap * own.size), 2 - own.size)
        if extra > 0:
            if D is None:
                raise ValueError("overlap needs the dissimilarity matrix")
            others = np.flatnonzero(labels != c)
            if others.size:
                near = others[np.argsort(D[m, others], kind="stable")[:extra]]
                own = np.concatenate([own, near])
        if own.size < 2:
            raise ValueError(f"cluster {c} has a single snapshot and no other to enrich it with")
        out.append(own)
    return out


def affine_projection_error(U: np.ndarray, mean: np.ndarray, modes: np.ndarray,
                            N: int | None = None) -> np.ndarray:
    """``|u - mean - V V^T (u - mean)|`` for each row ``u`` of ``U`` (first ``N`` modes)."""
    V = modes if N is None else modes[:, :N]
    R = np.asarray(U, float) - mean
    R = R - (R @ V) @ V.T
    return np.linalg.norm(R, axis=1)


@dataclass
class LocalPOD:
    """One :class:`PODRegression` per cluster (``models[c]``), trained on ``members[c]``."""

    models: list[PODRegression]
    members: list[np.ndarray]

    @classmethod
    def fit(cls, params: np.ndarray, snapshots: np.ndarray, labels: np.ndarray,
            medoids: np.ndarray, D: np.ndarray | None = None, *, tol: float | None = 1e-4,
            max_modes: int | None = None, overlap: float = 0.0,
            regressor: str = "rbf", basis: str = "affine",
            regression: str = "all") -> LocalPOD:
        """Per-cluster POD + coefficient regression (see the module docstring)."""
        if regression not in REGRESSION_SETS:
            raise ValueError(f"unknown coefficient regression {regression!r}; valid: "
                             f"{', '.join(REGRESSION_SETS)}")
        params = np.atleast_2d(np.asarray(params, float))
        S = np.asarray(snapshots, float).reshape(len(params), -1)
        members = cluster_members(labels, medoids, D, overlap)
        every = (params, S) if regression == "all" else None
        models = [fit_model(params[idx], S[idx], basis=basis, tol=tol, max_modes=max_modes,
                            regressor=regressor, regress_on=every) for idx in members]
        return cls(models, members)

    @property
    def k(self) -> int:
        return len(self.models)

    def dims(self) -> list[int]:
        return [int(m.modes.shape[1]) for m in self.models]

    def _check_labels(self, labels: np.ndarray, n: int) -> np.ndarray:
        labels = np.asarray(labels, dtype=np.int64).ravel()
        if labels.size != n:
            raise ValueError(f"{labels.size} cluster labels for {n} parameters")
        if labels.size and (labels.min() < 0 or labels.max() >= self.k):
            raise ValueError(f"cluster labels must be in 0..{self.k - 1}")
        return labels

    def predict(self, mus: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Flattened predictions ``(B, n)``: parameter ``mus[b]`` by model ``labels[b]``."""
        mus = np.atleast_2d(np.asarray(mus, float))
        labels = self._check_labels(labels, len(mus))
        out = np.empty((len(mus), self.models[0].mean.size))
        for c in np.unique(labels):
            rows = labels == c
            out[rows] = self.models[c].predict(mus[rows])
        return out

    def projection_error(self, U: np.ndarray, labels: np.ndarray,
                         N: int | None = None) -> np.ndarray:
        """Absolute best-approximation error of each row of ``U`` in its local affine space."""
        U = np.asarray(U, float).reshape(len(np.atleast_1d(labels)), -1)
        labels = self._check_labels(labels, len(U))
        err = np.empty(len(U))
        for c in np.unique(labels):
            rows = labels == c
            m = self.models[c]
            err[rows] = affine_projection_error(U[rows], m.mean, m.modes, N)
        return err

    def tensors(self, prefix: str = "local") -> dict[str, Any]:
        t: dict[str, Any] = {}
        for c, (m, idx) in enumerate(zip(self.models, self.members)):
            t.update({f"{prefix}/{c}/{k}": v for k, v in m.tensors().items()})
            t[f"{prefix}/{c}/members"] = idx
        return t

    @classmethod
    def from_tensors(cls, t: dict[str, np.ndarray], k: int, regressor: str,
                     prefix: str = "local") -> LocalPOD:
        models, members = [], []
        for c in range(k):
            p = f"{prefix}/{c}/"
            sub = {key[len(p):]: v for key, v in t.items() if key.startswith(p)}
            if "modes" not in sub:
                raise ValueError(f"corrupt model: missing the tensors of local model {c}")
            members.append(sub.pop("members"))
            models.append(PODRegression.from_tensors(sub, regressor))
        return cls(models, members)
