"""Online selection of the local model: a classifier ``mu -> cluster`` (or input field -> cluster).

The dictionary of local models (:mod:`rom.local_pod`) needs, for a new
parameter ``mu``, the cluster whose model to use. The *true* cluster of ``mu``
is that of its solution ``u(mu)``: the nearest medoid of ``u(mu)`` in the
clustering's dissimilarity -- unknown online, so a classifier trained on the
training pairs ``(mu_k, c(k))`` predicts it (Daniel et al., ROM-net, 2020):

* ``knn``: majority vote of the ``k`` nearest training parameters (unit-box
  scaled, Euclidean), ties to the nearest one;
* ``boosting``: multiclass gradient boosting (Friedman 2001, Algorithm 6):
  ``F_c(mu)`` sums of depth-``depth`` regression trees fitted to the softmax
  residuals ``y_c - p_c``, leaf values the Newton step
  ``(K-1)/K sum r / sum |r|(1-|r|)``, shrinkage ``rate``; class ``argmax F_c``;
* ``surrogate`` (predict, then assign): a global surrogate -- the POD +
  coefficient-regression model of all training snapshots -- predicts
  ``û(mu)``, which is assigned to its nearest medoid in the clustering's own
  dissimilarity, exactly as the true cluster is defined from ``u(mu)``. No
  classifier is trained: the regression interpolates the solution manifold,
  and the scale-invariant sine dissimilarity forgives its amplitude errors.
  Measured on ``advection_diffusion`` (400/200 samples, eps down to 1e-3, sine,
  benchmarks/results/rom_local.md): accuracy 0.96 at K = 8 against 0.79 (k-NN)
  and 0.86 (boosting);
* ``cnn``: ROM-net's classifier from the *input fields* (coefficient fields,
  sources): a small convolutional network (two conv layers, adaptive pooling,
  one linear layer; torch; the fields are first average-pooled to 8 points per
  axis, so the cost does not grow with the resolution) trained by Adam on the cross-entropy. Each input
  channel is standardised; a positive channel spanning more than two decades is
  taken in log scale first.

(The residual-bound selector of certified local RB is in :mod:`rom.local_rb`.)
Each selector stores its state as arrays (``tensors``/``from_tensors``), no
pickle; the torch weights are stored as arrays and loaded into a fresh network.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .dissimilarity import cross_dissimilarity, scaled_params

SELECTORS = ("surrogate", "knn", "boosting", "cnn")
#: the selectors with a state of their own (trained, stored): all but ``surrogate``
TRAINED_SELECTORS = SELECTORS[1:]


@dataclass
class KNNSelector:
    """k-nearest-neighbour vote on unit-box-scaled parameters."""

    X: np.ndarray
    labels: np.ndarray
    lo: np.ndarray
    width: np.ndarray
    k: int = 5
    n_classes: int = 0

    @classmethod
    def fit(cls, params: np.ndarray, labels: np.ndarray, n_classes: int, k: int = 5
            ) -> KNNSelector:
        P = np.atleast_2d(np.asarray(params, float))
        lo, hi = P.min(0), P.max(0)
        width = np.where(hi > lo, hi - lo, 1.0)
        return cls(scaled_params(P, lo, width), np.asarray(labels, np.int64), lo, width,
                   min(k, len(P)), n_classes)

    def predict(self, mus: np.ndarray, fields: Any = None) -> np.ndarray:
        Q = scaled_params(mus, self.lo, self.width)
        d2 = ((Q[:, None, :] - self.X[None, :, :]) ** 2).sum(-1)
        near = np.argsort(d2, axis=1, kind="stable")[:, :self.k]
        votes = np.zeros((len(Q), self.n_classes))
        for j in range(self.k):
            # ties go to the nearer neighbour: a slightly larger weight for nearer ranks
            np.add.at(votes, (np.arange(len(Q)), self.labels[near[:, j]]), 1.0 + 1e-6 * (self.k - j))
        return np.argmax(votes, axis=1).astype(np.int64)

    def tensors(self, prefix: str = "selector") -> dict[str, Any]:
        return {f"{prefix}/X": self.X, f"{prefix}/labels": self.labels, f"{prefix}/lo": self.lo,
                f"{prefix}/width": self.width, f"{prefix}/k": np.array(self.k),
                f"{prefix}/n_classes": np.array(self.n_classes)}

    @classmethod
    def from_tensors(cls, t: dict[str, np.ndarray], prefix: str = "selector") -> KNNSelector:
        p = prefix + "/"
        return cls(t[p + "X"], t[p + "labels"], t[p + "lo"], t[p + "width"], int(t[p + "k"]),
                   int(t[p + "n_classes"]))


# -- gradient boosting ---------------------------------------------------------------------

def _fit_tree(X: np.ndarray, r: np.ndarray, depth: int, K: int, min_leaf: int = 2
              ) -> list[tuple[int, float, int, int, float]]:
    """Regression tree on residuals ``r`` (least-squares splits) with Newton leaf values;
    nodes ``(feature, threshold, left, right, value)``, ``feature = -1`` for a leaf."""
    nodes: list[list[float]] = []

    def leaf_value(idx: np.ndarray) -> float:
        rr = r[idx]
        den = np.sum(np.abs(rr) * (1 - np.abs(rr)))
        return float((K - 1) / K * rr.sum() / den) if den > 1e-12 else 0.0

    def grow(idx: np.ndarray, level: int) -> int:
        me = len(nodes)
        nodes.append([-1, 0.0, -1, -1, leaf_value(idx)])
        if level >= depth or idx.size < 2 * min_leaf:
            return me
        best = (0.0, -1, 0.0)
        rr = r[idx]
        total, n = rr.sum(), idx.size
        for f in range(X.shape[1]):
            order = np.argsort(X[idx, f], kind="stable")
            xs, cs = X[idx, f][order], np.cumsum(rr[order])
            nl = np.arange(1, n)
            valid = (xs[1:] > xs[:-1]) & (nl >= min_leaf) & (n - nl >= min_leaf)
            if not valid.any():
                continue
            gain = cs[:-1] ** 2 / nl + (total - cs[:-1]) ** 2 / (n - nl) - total ** 2 / n
            gain = np.where(valid, gain, -np.inf)
            j = int(np.argmax(gain))
            if gain[j] > best[0] + 1e-15:
                best = (float(gain[j]), f, 0.5 * (xs[j] + xs[j + 1]))
        if best[1] < 0:
            return me
        _, f, thr = best
        go_left = X[idx, f] <= thr
        left = grow(idx[go_left], level + 1)
        right = grow(idx[~go_left], level + 1)
        nodes[me][:4] = [f, thr, left, right]
        return me

    grow(np.arange(len(X)), 0)
    return [tuple(n) for n in nodes]  # type: ignore[misc]


def _eval_tree(nodes: np.ndarray, X: np.ndarray) -> np.ndarray:
    at = np.zeros(len(X), dtype=np.int64)
    for _ in range(64):
        feat = nodes[at, 0].astype(np.int64)
        inner = feat >= 0
        if not inner.any():
            break
        rows = np.flatnonzero(inner)
        go_left = X[rows, feat[rows]] <= nodes[at[rows], 1]
        at[rows] = np.where(go_left, nodes[at[rows], 2], nodes[at[rows], 3]).astype(np.int64)
    return nodes[at, 4]


@dataclass
class BoostingSelector:
    """Multiclass gradient-boosted trees on unit-box-scaled parameters (module docstring)."""

    lo: np.ndarray
    width: np.ndarray
    prior: np.ndarray                 # initial scores F_c (log class frequencies)
    trees: list[np.ndarray] = field(default_factory=list)   # [round * K + c] -> nodes (m, 5)
    rate: float = 0.1

    @classmethod
    def fit(cls, params: np.ndarray, labels: np.ndarray, n_classes: int, *, rounds: int = 60,
            depth: int = 3, rate: float = 0.1) -> BoostingSelector:
        P = np.atleast_2d(np.asarray(params, float))
        lo, hi = P.min(0), P.max(0)
        width = np.where(hi > lo, hi - lo, 1.0)
        X = scaled_params(P, lo, width)
        y = np.asarray(labels, np.int64)
        K = n_classes
        Y = np.eye(K)[y]
        prior = np.log(np.maximum(Y.mean(0), 1e-3))
        F = np.tile(prior, (len(X), 1))
        trees: list[np.ndarray] = []
        for _ in range(rounds):
            Pm = np.exp(F - F.max(1, keepdims=True))
            Pm /= Pm.sum(1, keepdims=True)
            R = Y - Pm
            for c in range(K):
                nodes = np.array(_fit_tree(X, R[:, c], depth, K), dtype=float)
                trees.append(nodes)
                F[:, c] += rate * _eval_tree(nodes, X)
        return cls(lo, width, prior, trees, rate)

    def scores(self, mus: np.ndarray) -> np.ndarray:
        X = scaled_params(mus, self.lo, self.width)
        K = len(self.prior)
        F = np.tile(self.prior, (len(X), 1))
        for i, nodes in enumerate(self.trees):
            F[:, i % K] += self.rate * _eval_tree(nodes, X)
        return F

    def predict(self, mus: np.ndarray, fields: Any = None) -> np.ndarray:
        return np.argmax(self.scores(mus), axis=1).astype(np.int64)

    def tensors(self, prefix: str = "selector") -> dict[str, Any]:
        sizes = np.array([len(t) for t in self.trees], dtype=np.int64)
        flat = np.concatenate(self.trees) if self.trees else np.zeros((0, 5))
        return {f"{prefix}/lo": self.lo, f"{prefix}/width": self.width,
                f"{prefix}/prior": self.prior, f"{prefix}/tree_sizes": sizes,
                f"{prefix}/tree_nodes": flat, f"{prefix}/rate": np.array(self.rate)}

    @classmethod
    def from_tensors(cls, t: dict[str, np.ndarray], prefix: str = "selector"
                     ) -> BoostingSelector:
        p = prefix + "/"
        bounds = np.concatenate([[0], np.cumsum(t[p + "tree_sizes"])])
        flat = t[p + "tree_nodes"]
        trees = [flat[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
        return cls(t[p + "lo"], t[p + "width"], t[p + "prior"], trees, float(t[p + "rate"]))


# -- CNN on the input fields ---------------------------------------------------------------

def field_channels(fields: np.ndarray, spatial_dims: int) -> np.ndarray:
    """``(n, *grid[, C])`` -> ``(n, C, *grid)`` (``fields`` may be a list of such arrays,
    whose channels are concatenated)."""
    arrays = fields if isinstance(fields, (list, tuple)) else [fields]
    out = []
    for a in arrays:
        a = np.asarray(a, dtype=float)
        if a.ndim == 1 + spatial_dims:
            a = a[:, None]
        else:
            a = np.moveaxis(a.reshape(a.shape[:1 + spatial_dims] + (-1,)), -1, 1)
        out.append(a)
    return np.concatenate(out, axis=1)


def _network(channels: int, classes: int, dims: int) -> Any:
    import torch.nn as nn

    conv = nn.Conv1d if dims == 1 else nn.Conv2d
    pool = nn.AdaptiveAvgPool1d if dims == 1 else nn.AdaptiveAvgPool2d
    return nn.Sequential(pool(8), conv(channels, 8, 3, padding=1), nn.ReLU(),
                         conv(8, 8, 3, padding=1), nn.ReLU(), pool(2), nn.Flatten(),
                         nn.Linear(8 * 2 ** dims, classes))


@dataclass
class CNNSelector:
    """Small CNN ``input fields -> cluster`` (ROM-net); weights kept as arrays."""

    weights: dict[str, np.ndarray]
    log_channels: np.ndarray           # bool per channel: log scale first
    shift: np.ndarray
    scale: np.ndarray
    n_classes: int
    dims: int

    def _standardise(self, C: np.ndarray) -> np.ndarray:
        C = C.copy()
        for i in np.flatnonzero(self.log_channels):
            C[:, i] = np.log(np.maximum(C[:, i], 1e-300))
        shape = (1, -1) + (1,) * self.dims
        return (C - self.shift.reshape(shape)) / self.scale.reshape(shape)

    @classmethod
    def fit(cls, fields: Any, labels: np.ndarray, n_classes: int, spatial_dims: int, *,
            epochs: int = 150, seed: int = 0) -> CNNSelector:
        import torch

        C = field_channels(fields, spatial_dims)
        axes = (0,) + tuple(range(2, C.ndim))
        lo, hi = C.min(axis=axes), C.max(axis=axes)
        log = (lo > 0) & (hi > 100 * lo)
        sel = cls({}, log, np.zeros(C.shape[1]), np.ones(C.shape[1]), n_classes, spatial_dims)
        L = C.copy()
        for i in np.flatnonzero(log):
            L[:, i] = np.log(L[:, i])
        sel.shift, sel.scale = L.mean(axis=axes), L.std(axis=axes) + 1e-12
        torch.manual_seed(seed)
        net = _network(C.shape[1], n_classes, spatial_dims)
        x = torch.from_numpy(sel._standardise(C).astype(np.float32))
        y = torch.from_numpy(np.asarray(labels, np.int64))
        opt = torch.optim.Adam(net.parameters(), lr=1e-2)
        loss_fn = torch.nn.CrossEntropyLoss()
        for _ in range(epochs):
            opt.zero_grad()
            loss = loss_fn(net(x), y)
            loss.backward()
            opt.step()
        sel.weights = {k: v.detach().numpy().copy() for k, v in net.state_dict().items()}
        return sel

    def predict(self, mus: Any = None, fields: Any = None) -> np.ndarray:
        import torch

        if fields is None:
            raise ValueError("the cnn selector classifies input fields; none were given")
        C = field_channels(fields, self.dims)
        net = _network(C.shape[1], self.n_classes, self.dims)
        net.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in self.weights.items()})
        with torch.no_grad():
            x = torch.from_numpy(self._standardise(C).astype(np.float32))
            return net(x).argmax(1).numpy().astype(np.int64)

    def tensors(self, prefix: str = "selector") -> dict[str, Any]:
        t = {f"{prefix}/w/{k}": v for k, v in self.weights.items()}
        t.update({f"{prefix}/log_channels": self.log_channels.astype(np.int8),
                  f"{prefix}/shift": self.shift, f"{prefix}/scale": self.scale,
                  f"{prefix}/n_classes": np.array(self.n_classes),
                  f"{prefix}/dims": np.array(self.dims)})
        return t

    @classmethod
    def from_tensors(cls, t: dict[str, np.ndarray], prefix: str = "selector") -> CNNSelector:
        p = prefix + "/"
        w = {k[len(p) + 2:]: v for k, v in t.items() if k.startswith(p + "w/")}
        return cls(w, t[p + "log_channels"].astype(bool), t[p + "shift"], t[p + "scale"],
                   int(t[p + "n_classes"]), int(t[p + "dims"]))


@dataclass
class SurrogateSelector:
    """Predict, then assign (module docstring): ``argmin_k δ(û(mu), u_{m_k})``.

    ``surrogate`` has ``predict(mus) -> (B, n)`` (a :class:`rom.regression.PODRegression`
    on the same parameter features); ``medoids`` are the medoid snapshots in the shape
    the dissimilarity takes (``(K, n)``, or ``(K, n_t, n)`` for trajectories), with their
    parameters and the training box for the ``params`` dissimilarity. It stores nothing
    of its own: the model keeps the surrogate and the medoids."""

    surrogate: Any
    medoids: np.ndarray
    medoid_params: np.ndarray
    dissimilarity: str
    lo: np.ndarray
    width: np.ndarray
    trajectory_modes: int = 3

    def predict(self, mus: np.ndarray, fields: Any = None) -> np.ndarray:
        mus = np.atleast_2d(np.asarray(mus, float))
        U = self.surrogate.predict(mus).reshape((len(mus),) + self.medoids.shape[1:])
        D = cross_dissimilarity(U, self.medoids, self.dissimilarity, params_a=mus,
                                params_b=self.medoid_params, lo=self.lo, width=self.width,
                                trajectory_modes=self.trajectory_modes)
        return np.argmin(D, axis=1).astype(np.int64)

    def tensors(self, prefix: str = "selector") -> dict[str, Any]:
        return {}


def fit_selector(name: str, params: np.ndarray, labels: np.ndarray, n_classes: int, *,
                 fields: Any = None, spatial_dims: int = 2, seed: int = 0) -> Any:
    """The selector ``name`` (one of :data:`SELECTORS` but ``surrogate``, which is built from
    the model's global surrogate: :class:`SurrogateSelector`) trained on ``(mu_k, c(k))``."""
    if name == "knn":
        return KNNSelector.fit(params, labels, n_classes)
    if name == "boosting":
        return BoostingSelector.fit(params, labels, n_classes)
    if name == "cnn":
        if fields is None:
            raise ValueError("the cnn selector needs input fields; the dataset has none")
        return CNNSelector.fit(fields, labels, n_classes, spatial_dims, seed=seed)
    raise ValueError(f"unknown selector {name!r} to train; valid: {', '.join(TRAINED_SELECTORS)} "
                     "(the surrogate selector is built from a model's global surrogate)")


def load_selector(name: str, t: dict[str, np.ndarray], prefix: str = "selector") -> Any:
    cls = {"knn": KNNSelector, "boosting": BoostingSelector, "cnn": CNNSelector}.get(name)
    if cls is None:
        raise ValueError(f"unknown selector {name!r} to load; valid: "
                         f"{', '.join(TRAINED_SELECTORS)} (the surrogate selector is built "
                         "from a model's global surrogate)")
    return cls.from_tensors(t, prefix)


def confusion(true: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    """``M[i, j]``: samples of true cluster ``i`` assigned to ``j``."""
    M = np.zeros((k, k), dtype=np.int64)
    np.add.at(M, (np.asarray(true, np.int64), np.asarray(pred, np.int64)), 1)
    return M
