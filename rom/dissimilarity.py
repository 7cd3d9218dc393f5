"""Dissimilarities between snapshots, precomputed as a matrix for k-medoids clustering.

The local reduced bases of Daniel, Casenave, Akkari and Ryckelynck
("Physics-informed cluster analysis and a priori efficiency criterion for the
construction of local reduced-order bases", 2021) group snapshots whose
*directions* are close, since a linear space is a good local model for a set
of nearly collinear vectors whatever their lengths. The kinds here:

* ``sine``: ``delta(u, v) = sin angle(u, v) = sqrt(max(0, 1 - (u, v)_X^2 /
  (|u|_X^2 |v|_X^2)))`` in the Euclidean product or a given SPD matrix ``X``
  (``(u, v)_X = v^T X u``). It is invariant under ``u -> a u`` (``a != 0``), zero
  exactly for collinear snapshots and is the distance of the line ``span{v}``
  from ``u / |u|``: ``|u - P_v u|_X = |u|_X delta(u, v)``.
* ``grassmann``: for trajectories (``snapshots`` of shape ``(n_s, n_t, n)``),
  the span ``Q_i`` of each trajectory's leading ``trajectory_modes`` POD modes
  (``X``-orthonormal) and the principal angles ``theta_j`` between two spans:
  ``cos theta_j`` are the singular values of ``Q_1^T X Q_2`` (Bjorck & Golub
  1973). ``grassmann`` is the chordal distance ``sqrt(sum_j sin^2 theta_j)``
  (``= |Q_1 Q_1^T - Q_2 Q_2^T|_F / sqrt(2)`` for equal dimensions),
  ``grassmann_projection`` the projection distance ``sin theta_max``. A
  steady snapshot is a one-dimensional subspace, where both equal ``sine``.
* ``euclidean``: ``|u - v|_X`` on the snapshots; ``params``: ``|mu - nu|`` on
  the parameters scaled to the unit box (the classical baselines).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

DISSIMILARITIES = ("sine", "grassmann", "grassmann_projection", "euclidean", "params")


def _apply(X: Any, V: np.ndarray) -> np.ndarray:
    """``X @ V`` for ``V`` of shape ``(n, m)`` (``X`` ``None``: identity)."""
    if X is None:
        return V
    return np.asarray(X @ V)


def _check_product(X: Any, n: int) -> Any:
    if X is None:
        return None
    if sp.issparse(X):
        X = sp.csr_matrix(X)
    else:
        X = np.asarray(X, dtype=float)
    if X.shape != (n, n):
        raise ValueError(f"inner-product matrix has shape {X.shape}, snapshots have "
                         f"dimension {n}")
    return X


def sine_matrix(S: np.ndarray, X: Any = None) -> np.ndarray:
    """``delta_ij = sin angle(s_i, s_j)`` in the ``X`` product for the rows ``s_i`` of ``S``."""
    S = np.asarray(S, dtype=float)
    G = S @ _apply(X, S.T)
    G = 0.5 * (G + G.T)
    nrm2 = np.diag(G).copy()
    if np.any(nrm2 <= 0):
        i = int(np.flatnonzero(nrm2 <= 0)[0])
        raise ValueError(f"snapshot {i} is zero: its angle to the others is undefined")
    cos2 = G * G / np.outer(nrm2, nrm2)
    D = np.sqrt(np.maximum(0.0, 1.0 - cos2))
    np.fill_diagonal(D, 0.0)
    return D


def subspace_basis(T: np.ndarray, r: int, X: Any = None) -> np.ndarray:
    """``X``-orthonormal basis ``(n, r')`` of the leading ``r`` POD modes of a trajectory's
    rows ``T (n_t, n)`` (``r' <= r``: the numerical rank)."""
    from .pod import pod

    res = pod(np.asarray(T, dtype=float).T, X=X, max_modes=r)
    return res.modes


def principal_angles(Q1: np.ndarray, Q2: np.ndarray, X: Any = None) -> np.ndarray:
    """Principal angles (ascending) between ``span Q1`` and ``span Q2`` (``X``-orthonormal
    columns): ``arccos`` of the singular values of ``Q1^T X Q2``; an unequal dimension
    counts the missing directions as angles ``pi/2``."""
    c = np.linalg.svd(Q1.T @ _apply(X, Q2), compute_uv=False)
    theta = np.arccos(np.clip(c, -1.0, 1.0))
    extra = abs(Q1.shape[1] - Q2.shape[1])
    return np.sort(np.concatenate([theta, np.full(extra, np.pi / 2)]))


def grassmann_matrix(trajectories: np.ndarray, *, r: int = 3, X: Any = None,
                     metric: str = "chordal") -> np.ndarray:
    """Chordal ``sqrt(sum sin^2 theta)`` or projection ``sin theta_max`` distances between the
    POD subspaces (``r`` modes) of trajectories ``(n_s, n_t, n)``."""
    bases = [subspace_basis(T, r, X) for T in trajectories]
    for i, Q in enumerate(bases):
        if Q.shape[1] == 0:
            raise ValueError(f"trajectory {i} is zero: it spans no subspace")
    n_s = len(bases)
    D = np.zeros((n_s, n_s))
    for i in range(n_s):
        XQi = _apply(X, bases[i])
        for j in range(i + 1, n_s):
            c = np.linalg.svd(XQi.T @ bases[j], compute_uv=False)
            s2 = np.maximum(0.0, 1.0 - np.clip(c, 0.0, 1.0) ** 2)
            s2 = np.concatenate([s2, np.ones(abs(bases[i].shape[1] - bases[j].shape[1]))])
            D[i, j] = D[j, i] = (np.sqrt(s2.sum()) if metric == "chordal"
                                 else np.sqrt(s2.max()))
    return D


def euclidean_matrix(V: np.ndarray, X: Any = None) -> np.ndarray:
    """``|v_i - v_j|_X`` between the rows of ``V``."""
    V = np.asarray(V, dtype=float)
    G = V @ _apply(X, V.T)
    G = 0.5 * (G + G.T)
    d = np.diag(G)
    D = np.sqrt(np.maximum(0.0, d[:, None] + d[None, :] - 2 * G))
    np.fill_diagonal(D, 0.0)
    return D


def scaled_params(params: np.ndarray, lo: np.ndarray | None = None,
                  width: np.ndarray | None = None) -> np.ndarray:
    """Parameters mapped to the unit box of their range (``lo``/``width`` given or measured)."""
    P = np.atleast_2d(np.asarray(params, dtype=float))
    if lo is None or width is None:
        lo, hi = P.min(axis=0), P.max(axis=0)
        width = np.where(hi > lo, hi - lo, 1.0)
    return (P - lo) / width


def dissimilarity_matrix(snapshots: np.ndarray, kind: str, *, params: np.ndarray | None = None,
                         product: Any = None, trajectory_modes: int = 3) -> np.ndarray:
    """The ``(n_s, n_s)`` dissimilarity matrix of ``kind`` (see the module docstring).

    ``snapshots`` is ``(n_s, n)`` (steady) or ``(n_s, n_t, n)`` (trajectories; the
    snapshot kinds other than ``grassmann`` then use the flattened trajectory);
    ``product`` an optional SPD ``(n, n)`` inner-product matrix; ``params`` ``(n_s, p)``
    is needed for ``params``.
    """
    if kind not in DISSIMILARITIES:
        raise ValueError(f"unknown dissimilarity {kind!r}; valid: {', '.join(DISSIMILARITIES)}")
    if kind == "params":
        if params is None or np.size(params) == 0:
            raise ValueError("the params dissimilarity needs the samples' parameters")
        return euclidean_matrix(scaled_params(params))
    S = np.asarray(snapshots, dtype=float)
    if S.ndim not in (2, 3) or S.shape[0] == 0:
        raise ValueError(f"snapshots must be (n_s, n) or (n_s, n_t, n), got shape {S.shape}")
    if not np.all(np.isfinite(S)):
        raise ValueError("snapshots contain NaN or inf")
    if kind.startswith("grassmann"):
        if trajectory_modes < 1:
            raise ValueError(f"trajectory_modes must be >= 1, got {trajectory_modes}")
        T = S if S.ndim == 3 else S[:, None, :]
        X = _check_product(product, T.shape[2])
        return grassmann_matrix(T, r=trajectory_modes, X=X,
                                metric="chordal" if kind == "grassmann" else "projection")
    if S.ndim == 3:
        if product is not None:
            X1 = _check_product(product, S.shape[2])
            product = sp.block_diag([X1] * S.shape[1]) if sp.issparse(X1) else \
                np.kron(np.eye(S.shape[1]), X1)
        S = S.reshape(len(S), -1)
    X = _check_product(product, S.shape[1])
    return sine_matrix(S, X) if kind == "sine" else euclidean_matrix(S, X)


def cross_dissimilarity(A: np.ndarray, B: np.ndarray, kind: str, *,
                        params_a: np.ndarray | None = None, params_b: np.ndarray | None = None,
                        lo: np.ndarray | None = None, width: np.ndarray | None = None,
                        product: Any = None, trajectory_modes: int = 3) -> np.ndarray:
    """``(m_a, m_b)`` dissimilarities of ``kind`` between the samples ``A`` and ``B`` (same
    definitions as :func:`dissimilarity_matrix`; ``params`` scaled by the given ``lo`` /
    ``width`` of the training box). Used to find the nearest medoid of new solutions."""
    if kind not in DISSIMILARITIES:
        raise ValueError(f"unknown dissimilarity {kind!r}; valid: {', '.join(DISSIMILARITIES)}")
    if kind == "params":
        if params_a is None or params_b is None:
            raise ValueError("the params dissimilarity needs the samples' parameters")
        Pa, Pb = scaled_params(params_a, lo, width), scaled_params(params_b, lo, width)
        return np.sqrt(((Pa[:, None, :] - Pb[None, :, :]) ** 2).sum(-1))
    A, B = np.asarray(A, dtype=float), np.asarray(B, dtype=float)
    if kind.startswith("grassmann"):
        Ta = A if A.ndim == 3 else A[:, None, :]
        Tb = B if B.ndim == 3 else B[:, None, :]
        X = _check_product(product, Ta.shape[2])
        Qa = [subspace_basis(T, trajectory_modes, X) for T in Ta]
        Qb = [subspace_basis(T, trajectory_modes, X) for T in Tb]
        D = np.empty((len(Qa), len(Qb)))
        for i, Q1 in enumerate(Qa):
            for j, Q2 in enumerate(Qb):
                s = np.sin(principal_angles(Q1, Q2, X))
                D[i, j] = np.sqrt(np.sum(s ** 2)) if kind == "grassmann" else s.max()
        return D
    A, B = A.reshape(len(A), -1), B.reshape(len(B), -1)
    X = _check_product(product, A.shape[1])
    G = A @ _apply(X, B.T)
    na = np.einsum("ij,ij->i", A, _apply(X, A.T).T)
    nb = np.einsum("ij,ij->i", B, _apply(X, B.T).T)
    if kind == "euclidean":
        return np.sqrt(np.maximum(0.0, na[:, None] + nb[None, :] - 2 * G))
    if np.any(na <= 0) or np.any(nb <= 0):
        raise ValueError("a snapshot is zero: its angle to the others is undefined")
    return np.sqrt(np.maximum(0.0, 1.0 - G * G / np.outer(na, nb)))
