"""Certified local reduced bases: one RB per cluster of the parameters, chosen online by the bound.

A dictionary of ``K`` certified Galerkin reduced bases (:mod:`rom.reduced_basis`)
of the affine form ``A(mu) = sum_q thA_q(mu) A_q``, ``f(mu) = sum_q thf_q(mu) f_q``:
basis ``V_k`` is built by the weak greedy (:func:`rom.greedy.weak_greedy`) on the
training parameters of cluster ``k`` only (the clusters come from outside, e.g.
k-medoids on a snapshot dissimilarity, :mod:`rom.clustering`). Every local model
shares the truth space, the energy product ``X = A(mu_ref)`` and the coercivity
lower bound ``alpha_LB(mu)`` of the global ``rb`` kind (min-theta at the
problem's ``min_theta_ref``, else SCM fitted on the training set), so for every
``k`` and every ``mu``

    ||u(mu) - V_k u_k(mu)||_X  <=  Delta_k(mu) = ||r_k(mu)||_{X'} / alpha_LB(mu)

(Prud'homme et al. 2002; Hesthaven, Rozza, Stamm 2016, ch. 4).

**Bound selector.** Online, every candidate is solved and
``k*(mu) = argmin_k Delta_k(mu)``: the returned error bound is the smallest of
``K`` valid bounds, hence valid itself (certified by construction, whatever
the clustering), and never larger than the bound of any other candidate, in
particular of the cluster a classifier would pick. Its cost is ``K`` reduced
solves and residual norms, ``O(sum_k N_k^3 + Q_a^2 N_k^2)``, against
``O(N_g^3 + Q_a^2 N_g^2)`` for one global basis of size ``N_g``; the thetas and
``alpha_LB`` are computed once (they do not depend on the basis). Local
dictionaries pay off when ``N_g`` is much larger than the local sizes (a
slowly decaying Kolmogorov n-width of the whole manifold, fast decay on each
cluster; Eftang, Patera, Ronquist 2010, "hp certified reduced basis";
Haasdonk, Dihlmann, Ohlberger 2011; Daniel et al. 2020, ROM-net).

**Nearest selector** (the cheap comparison): the cluster of the nearest
training parameter in the unit-cube coordinates of the parameter space; one
local solve, its own (still valid) bound, which may exceed the best one:
:meth:`LocalRB.compare_selectors` measures how often and by how much.

Storage: :meth:`LocalRB.save` writes plain arrays into an ``h5py.Group`` (or any
mapping), the problem's configuration and the small metadata as JSON text in
``uint8`` arrays; :meth:`LocalRB.load` rebuilds the online models from them
(no pickle).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, MutableMapping
from typing import Any

import numpy as np
from scipy.linalg import lapack

from solvers.problems import problem_from_config
from solvers.problems.base import AffineDecomposition, Problem

from .coercivity import SCM, MinTheta
from .estimators import STABLE_FLOOR, STANDARD_FLOOR, online_residual_norm
from .reduced_basis import OnlineRB, ReducedBasis, _ratio, batch_thetas, energy_product


def _box(problem: Problem) -> tuple[np.ndarray, np.ndarray]:
    """The parameter box of the problem (a normal coordinate unbounded)."""
    space = problem.parameter_space
    r = np.array(space.ranges, dtype=float)
    normal = np.array([k == "normal" for k in space.kinds], dtype=bool)
    return np.where(normal, -np.inf, r[:, 0]), np.where(normal, np.inf, r[:, 1])


def unit_map(problem: Problem) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(log, lo, width)`` with unit coordinates ``(t(mu) - lo) / width``, ``t = log`` on the
    log-uniform coordinates (the inverse of ``from_unit``); a normal coordinate is kept."""
    space = problem.parameter_space
    log = np.array([k == "loguniform" for k in space.kinds])
    r = np.array(space.ranges, dtype=float)
    uni = np.array([k != "normal" for k in space.kinds]) & (r[:, 1] > r[:, 0])
    t = np.where(log[:, None], np.log(np.where(log[:, None], r, 1.0)), r)
    return log, np.where(uni, t[:, 0], 0.0), np.where(uni, t[:, 1] - t[:, 0], 1.0)


def unit_coordinates(problem: Problem | tuple, mus: np.ndarray) -> np.ndarray:
    """Parameters in the unit-cube coordinates of the problem's space (:func:`unit_map`;
    pass the map itself to skip building it)."""
    log, lo, width = problem if isinstance(problem, tuple) else unit_map(problem)
    mus = np.atleast_2d(np.asarray(mus, dtype=float))
    if log.any():
        mus = np.where(log, np.log(np.where(log, mus, 1.0)), mus)
    return (mus - lo) / width


def _text(d: Any) -> np.ndarray:
    return np.frombuffer(json.dumps(d, sort_keys=True).encode(), dtype=np.uint8).copy()


def _untext(a: Any) -> Any:
    return json.loads(np.asarray(a, dtype=np.uint8).tobytes().decode())


class LocalRB:
    """``K`` certified local reduced bases with a common coercivity bound (module docstring).

    ``models[k]`` is the :class:`~rom.reduced_basis.OnlineRB` of cluster ``k``,
    ``bases[k]`` its ``X``-orthonormal basis ``(n_truth, N_k)``; ``train_mu``
    and ``labels`` are the training parameters and their clusters (the nearest
    selector's data); ``info`` records the offline work.
    """

    def __init__(self, problem: Problem, affine: AffineDecomposition, models: list[OnlineRB],
                 bases: list[np.ndarray], mu_ref: np.ndarray, train_mu: np.ndarray,
                 labels: np.ndarray, info: dict[str, Any]):
        if not models:
            raise ValueError("a local reduced-basis dictionary needs at least one cluster")
        self.problem, self.affine = problem, affine
        self.models, self.bases = models, bases
        self.mu_ref = np.asarray(mu_ref, dtype=float)
        self.train_mu = np.atleast_2d(np.asarray(train_mu, dtype=float))
        self.labels = np.asarray(labels, dtype=np.int64)
        self.info = info
        self.coercivity = models[0].coercivity
        by_label = np.argsort(self.labels, kind="stable")
        self._umap = unit_map(problem)
        self._unit_train = unit_coordinates(self._umap, self.train_mu)[by_label]
        self._starts = np.searchsorted(self.labels[by_label], np.arange(len(models)))
        self._flat: dict[tuple, Any] = {}
        log, lo, width = self._umap
        self._log_idx = np.flatnonzero(log)
        self._lo, self._inv_width = lo, 1.0 / width

    # -- offline ---------------------------------------------------------------------------
    @classmethod
    def build(cls, problem: Problem, train_mu: np.ndarray, labels: np.ndarray, *,
              tol: float = 1e-6, max_basis: int = 50, estimator: str = "stable",
              progress: Callable[[str], None] | None = None) -> LocalRB:
        """One weak-greedy RB per cluster ``k`` on ``train_mu[labels == k]`` (relative bound
        ``<= tol`` there, at most ``max_basis`` vectors), with the ``rb`` kind's ``X`` and
        coercivity bound. ``labels`` must take every value ``0..K-1``."""
        if not getattr(problem, "has_affine_decomposition", False):
            raise ValueError(f"problem {problem.name!r} has no affine decomposition: a certified "
                             "local reduced basis cannot be built")
        train_mu = np.atleast_2d(np.asarray(train_mu, dtype=float))
        labels = np.asarray(labels).ravel()
        if labels.shape[0] != train_mu.shape[0]:
            raise ValueError(f"{labels.shape[0]} cluster labels for {train_mu.shape[0]} "
                             "training parameters")
        if not np.issubdtype(labels.dtype, np.integer) or labels.size == 0 or labels.min() < 0:
            raise ValueError("cluster labels must be non-negative integers")
        K = int(labels.max()) + 1
        sizes = np.bincount(labels, minlength=K)
        if np.any(sizes == 0):
            raise ValueError(f"cluster(s) {np.flatnonzero(sizes == 0).tolist()} have no training "
                             "parameters")
        if max_basis < 1:
            raise ValueError("the largest basis size must be positive")
        t0 = time.perf_counter()
        affine = problem.affine_decomposition()
        box = _box(problem)
        mu_ref, coercivity = affine.min_theta_ref, None
        X = None
        if mu_ref is None:   # SCM at the centre of the box, certified on the training set
            mu_ref = 0.5 * (box[0] + box[1])
            X = energy_product(affine.assemble(mu_ref)[0])
            coercivity = SCM(affine.A_terms, X)
            coercivity.fit(train_mu, batch_thetas(affine.theta_A, train_mu),
                           max_points=len(train_mu))
        models, bases, clusters = [], [], []
        for k in range(K):
            tk = time.perf_counter()
            rb = ReducedBasis(affine, mu_ref, box, estimator_kind=estimator,
                              coercivity=coercivity, X=X)
            X, coercivity = rb.X, rb.coercivity   # shared by the next clusters

            def report(step: Any, k: int = k) -> None:
                if progress:
                    progress(f"cluster {k}: N={step.N:3d}  max rel. bound "
                             f"{step.max_rel_bound:.3e}")
            rb.greedy(train_mu[labels == k], tol=tol, max_basis=max_basis, progress=report)
            models.append(rb.online())
            bases.append(rb.basis.copy())
            clusters.append({"size": int(sizes[k]), "N": int(rb.N),
                             "max_rel_bound": (float(rb.history[-1].max_rel_bound)
                                               if rb.history else None),
                             "offline_seconds": time.perf_counter() - tk})
        info = {"tol": tol, "max_basis": max_basis, "estimator": estimator,
                "offline_seconds": time.perf_counter() - t0, "clusters": clusters}
        return cls(problem, affine, models, bases, mu_ref, train_mu, labels, info)

    @property
    def K(self) -> int:
        return len(self.models)

    def dims(self) -> list[int]:
        """The local dimensions ``N_k``."""
        return [m.N for m in self.models]

    # -- online ----------------------------------------------------------------------------
    def _terms(self, k: int, N: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(A_N as (Qa, n*n), f_N, estimator data)`` of model ``k`` at ``n = min(N, N_k)``."""
        m = self.models[k]
        n = m.N if N is None else min(int(N), m.N)
        if (k, n) not in self._flat:
            cols = m.f_N.shape[0] + n * m.A_N.shape[0]
            est = m.est_data[:, :cols] if m.estimator == "stable" else m.est_data[:cols, :cols]
            self._flat[(k, n)] = (np.ascontiguousarray(m.A_N[:, :n, :n]).reshape(len(m.A_N), -1),
                                  np.ascontiguousarray(m.f_N[:, :n]), np.ascontiguousarray(est))
        return self._flat[(k, n)]

    def _thetas(self, mus: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        tA, tf = self.models[0].thetas(mus)
        return tA, tf, self.models[0].alpha(tA, mus)

    def _solve(self, k: int, tA: np.ndarray, tf: np.ndarray, alpha: np.ndarray,
               N: int | None) -> tuple[np.ndarray, np.ndarray]:
        """Coefficients ``(B, n)`` and bounds ``(B,)`` of model ``k`` (batched)."""
        A_flat, f_N, est = self._terms(k, N)
        n = f_N.shape[1]
        c = np.linalg.solve((tA @ A_flat).reshape(-1, n, n), (tf @ f_N)[:, :, None])[:, :, 0]
        res = online_residual_norm(self.models[k].estimator, est, tA, tf, c)
        return c, _ratio(res, alpha)

    def candidate_bounds(self, mus: np.ndarray, N: int | None = None
                         ) -> tuple[list[np.ndarray], np.ndarray]:
        """Every local model at every ``mu``: coefficients per model and bounds ``(B, K)``."""
        mus = np.atleast_2d(np.asarray(mus, dtype=float))
        tA, tf, alpha = self._thetas(mus)
        out = [self._solve(k, tA, tf, alpha, N) for k in range(self.K)]
        return [c for c, _ in out], np.column_stack([b for _, b in out])

    def select(self, mus: np.ndarray, N: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Bound selector: ``(labels, bounds)`` with ``labels[i] = argmin_k Delta_k(mu_i)``
        (first on ties) and ``bounds[i]`` that smallest bound."""
        _, bounds = self.candidate_bounds(mus, N)
        labels = np.argmin(bounds, axis=1)
        return labels, bounds[np.arange(len(labels)), labels]

    def _distances_one(self, mu: np.ndarray) -> np.ndarray:
        """``(K,)``: :meth:`cluster_distances` of one parameter vector without the batch
        machinery (the single-parameter online path)."""
        t = np.array(mu, dtype=float)
        t[self._log_idx] = np.log(t[self._log_idx])
        d = self._unit_train - (t - self._lo) * self._inv_width
        return np.minimum.reduceat(np.einsum("ij,ij->i", d, d), self._starts)

    def cluster_distances(self, mus: np.ndarray) -> np.ndarray:
        """``(B, K)``: squared distance (unit-cube metric) from each ``mu`` to the nearest
        training parameter of each cluster."""
        u = unit_coordinates(self._umap, mus)
        out = np.empty((len(u), self.K))
        step = max(1, 4_000_000 // max(len(self._unit_train), 1))
        for i in range(0, len(u), step):
            d2 = ((u[i:i + step, None, :] - self._unit_train[None]) ** 2).sum(axis=2)
            out[i:i + step] = np.minimum.reduceat(d2, self._starts, axis=1)
        return out

    def nearest(self, mus: np.ndarray) -> np.ndarray:
        """Cheap selector: the cluster of the nearest training parameter (unit-cube metric)."""
        return np.argmin(self.cluster_distances(mus), axis=1)

    def order(self, mus: np.ndarray) -> np.ndarray:
        """``(B, K)``: the clusters by the distance of their nearest training parameter."""
        return np.argsort(self.cluster_distances(mus), axis=1, kind="stable")

    def __call__(self, mus: np.ndarray, N: int | None = None, *, selector: str = "bound",
                 accept: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(U (B, n_truth), bound (B,), labels (B,))``: the selected local model lifted to the
        truth unknowns. ``selector`` is ``"bound"`` (all candidates, or up to the first with
        relative bound ``<= accept``, see :meth:`reduced`) or ``"nearest"``."""
        coeffs, bound, labels = self.reduced(mus, N, selector=selector, accept=accept)
        U = np.empty((len(labels), self.bases[0].shape[0]))
        for i, (c, k) in enumerate(zip(coeffs, labels)):
            U[i] = self.bases[k][:, :len(c)] @ c
        return U, bound, labels

    def fields(self, mus: np.ndarray, N: int | None = None, *, selector: str = "bound",
               accept: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(fields (B, *grid), bound, labels)``: ``__call__`` mapped to the problem's first
        output field on the grid (``problem.to_fields``: boundary values included)."""
        mus = np.atleast_2d(np.asarray(mus, dtype=float))
        U, bound, labels = self(mus, N, selector=selector, accept=accept)
        name = self.problem.output_names[0]
        return np.array([self.problem.to_fields(m, u)[name] for m, u in zip(mus, U)]), bound, labels

    def reduced(self, mus: np.ndarray, N: int | None = None, *, selector: str = "bound",
                accept: float | None = None) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
        """Like ``__call__`` without the lifting: the reduced coefficients per parameter.

        ``accept`` (bound selector only): visit the candidates in :meth:`order` and stop at
        the first whose relative bound ``Delta_k / ||u_k||_X`` is ``<= accept`` (still a
        valid bound, now certifying ``accept`` instead of the minimum); if none does, all
        are visited and the smallest is kept. One parameter with min-theta coercivity takes
        an unbatched path."""
        mus = np.atleast_2d(np.asarray(mus, dtype=float))
        if selector not in ("bound", "nearest"):
            raise ValueError(f"unknown selector {selector!r}; valid: bound, nearest")
        if len(mus) == 1 and isinstance(self.coercivity, MinTheta):
            return self._single(mus[0], N, selector, accept)
        if selector == "bound" and accept is None:
            coeffs, bounds = self.candidate_bounds(mus, N)
            labels = np.argmin(bounds, axis=1)
            return ([coeffs[k][i] for i, k in enumerate(labels)],
                    bounds[np.arange(len(labels)), labels], labels)
        order = self.order(mus) if selector == "bound" else self.nearest(mus)[:, None]
        tA, tf, alpha = self._thetas(mus)
        coeffs: list[np.ndarray] = [np.empty(0)] * len(mus)
        bound, labels = np.full(len(mus), np.inf), np.full(len(mus), -1, dtype=np.int64)
        todo = np.ones(len(mus), dtype=bool)
        for r in range(order.shape[1]):
            for k in np.unique(order[todo, r]):
                idx = np.flatnonzero(todo & (order[:, r] == k))
                c, b = self._solve(int(k), tA[idx], tf[idx], alpha[idx], N)
                better = (b < bound[idx]) | (labels[idx] < 0)
                for j in np.flatnonzero(better):
                    coeffs[idx[j]], bound[idx[j]], labels[idx[j]] = c[j], b[j], k
                if accept is not None:
                    todo[idx[b <= accept * np.linalg.norm(c, axis=1)]] = False
        return coeffs, bound, labels

    def _stack(self, N: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """All ``K`` models zero-padded to ``n = max_k min(N, N_k)`` (cached): ``A (Qa, K n n)``,
        the identity on the padded diagonal ``(K, n, n)``, ``f (Qf, K n)`` and the estimator
        data ``(K, rows, Qf + n Qa)``. Padded coefficients solve ``1 * c = 0``, so they are
        zero and the padded estimator columns (zero) do not change the residual."""
        key = (-1, -1 if N is None else int(N))
        if key not in self._flat:
            terms = [self._terms(k, N) for k in range(self.K)]
            n = max(t[1].shape[1] for t in terms)
            Qa, Qf = self.models[0].A_N.shape[0], self.models[0].f_N.shape[0]
            stable = self.models[0].estimator == "stable"
            rows = max(t[2].shape[0] for t in terms) if stable else Qf + n * Qa
            A = np.zeros((Qa, self.K, n, n))
            pad = np.zeros((self.K, n, n))
            f = np.zeros((Qf, self.K, n))
            est = np.zeros((self.K, rows, Qf + n * Qa))
            for k, (A_flat, f_N, e) in enumerate(terms):
                nk = f_N.shape[1]
                A[:, k, :nk, :nk] = A_flat.reshape(Qa, nk, nk)
                pad[k, np.arange(nk, n), np.arange(nk, n)] = 1.0
                f[:, k, :nk] = f_N
                est[k, :e.shape[0], :e.shape[1]] = e
            self._flat[key] = (A.reshape(Qa, -1), pad, f.reshape(Qf, -1), est)
        return self._flat[key]

    def _single(self, mu: np.ndarray, N: int | None, selector: str, accept: float | None
                ) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
        """One parameter: all candidates in one padded batched solve and one residual
        contraction (bound selector), else candidate by candidate by LAPACK."""
        tA = np.asarray(self.affine.theta_A(mu), dtype=float).ravel()
        tf = np.asarray(self.affine.theta_f(mu), dtype=float).ravel()
        alpha = float(self.coercivity(tA)[0])
        stable = self.models[0].estimator == "stable"
        if selector == "bound" and accept is None:
            A, pad, f, est = self._stack(N)
            K, n = pad.shape[0], pad.shape[1]
            c = np.linalg.solve((tA @ A).reshape(K, n, n) + pad, (tf @ f).reshape(K, n, 1))[..., 0]
            kk = np.concatenate([np.broadcast_to(tf, (K, tf.size)),
                                 -(c[:, :, None] * tA).reshape(K, -1)], axis=1)
            v = np.matmul(est, kk[:, :, None])[:, :, 0]
            res = np.sqrt(np.einsum("ki,ki->k", v, v) if stable
                          else np.abs(np.einsum("ki,ki->k", kk, v)))
            b = res / alpha if alpha > 0 else np.full(K, np.inf)
            k = int(np.argmin(b))
            return [c[k, :self._terms(k, N)[1].shape[1]]], b[k:k + 1], np.array([k])
        dist = self._distances_one(mu)
        order = np.argsort(dist, kind="stable") if selector == "bound" else [int(np.argmin(dist))]
        best: tuple[np.ndarray, float, int] = (np.empty(0), np.inf, -1)
        for k in order:
            c, b = self._lapack(int(k), tA, tf, alpha, N)
            if b < best[1] or best[2] < 0:
                best = (c, b, int(k))
            if accept is not None and b <= accept * np.linalg.norm(c):
                break
        return [best[0]], np.array([best[1]]), np.array([best[2]])

    def _lapack(self, k: int, tA: np.ndarray, tf: np.ndarray, alpha: float, N: int | None
                ) -> tuple[np.ndarray, float]:
        """Model ``k`` at one parameter: ``dposv`` (``dgesv`` if not SPD) and its bound."""
        A_flat, f_N, e = self._terms(k, N)
        n = f_N.shape[1]
        AN, fN = (tA @ A_flat).reshape(n, n), tf @ f_N
        c, info = lapack.dposv(AN, fN)[1:] if self._symmetric(k) else (None, 1)
        if info != 0:   # not SPD: LU with partial pivoting
            c = lapack.dgesv(AN, fN)[2]
        kk = np.concatenate([tf, -(c[:, None] * tA).ravel()])
        res = np.sqrt((v := e @ kk) @ v) if self.models[k].estimator == "stable" \
            else np.sqrt(abs(kk @ (e @ kk)))
        return c, (res / alpha if alpha > 0 else np.inf)

    def _symmetric(self, k: int) -> bool:
        """Whether every reduced term of model ``k`` is symmetric (then Cholesky is tried;
        ``dposv`` reads one triangle only, so it must not see a non-symmetric matrix)."""
        key = ("sym", k)
        if key not in self._flat:
            A = self.models[k].A_N
            self._flat[key] = bool(np.allclose(A, A.transpose(0, 2, 1), rtol=1e-12,
                                               atol=1e-14 * max(np.abs(A).max(), 1e-300)))
        return self._flat[key]

    def compare_selectors(self, mus: np.ndarray, N: int | None = None) -> dict[str, Any]:
        """How the nearest selector compares with the bound selector at ``mus``: agreement,
        the fraction where its bound is larger, and the ratios of its bound to the best."""
        mus = np.atleast_2d(np.asarray(mus, dtype=float))
        _, bounds = self.candidate_bounds(mus, N)
        best = np.argmin(bounds, axis=1)
        near = self.nearest(mus)
        rows = np.arange(len(mus))
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = bounds[rows, near] / bounds[rows, best]
        worse = bounds[rows, near] > bounds[rows, best]
        return {"n": int(len(mus)), "agreement": float(np.mean(near == best)),
                "fraction_larger": float(np.mean(worse)),
                "max_ratio": float(np.max(ratio)), "mean_ratio": float(np.mean(ratio)),
                "max_bound_bound_selector": float(np.max(bounds[rows, best])),
                "max_bound_nearest_selector": float(np.max(bounds[rows, near]))}

    # -- storage ---------------------------------------------------------------------------
    def save(self, group: MutableMapping[str, Any]) -> dict[str, Any]:
        """Write the online data into ``group`` (``h5py.Group`` or a dict of arrays); returns
        the JSON metadata (also stored in ``group["meta_json"]``)."""
        m0 = self.models[0]
        coer: dict[str, Any] = {"kind": self.coercivity.kind}
        for key, v in self.coercivity.online_data().items():
            if isinstance(v, np.ndarray):
                group[f"coercivity/{key}"] = v
            else:
                coer[key] = v
        meta = {"K": self.K, "dims": self.dims(), "estimator": m0.estimator,
                "coercivity": coer, "info": self.info}
        group["meta_json"] = _text(meta)
        group["problem_config"] = _text(self.problem.config())
        group["mu_ref"] = self.mu_ref
        group["train_mu"] = self.train_mu
        group["labels"] = self.labels
        for k, (m, V) in enumerate(zip(self.models, self.bases)):
            group[f"basis/{k}"], group[f"A_N/{k}"] = V, m.A_N
            group[f"f_N/{k}"], group[f"est/{k}"] = m.f_N, m.est_data
        return meta

    @classmethod
    def load(cls, group: Any, meta: dict[str, Any] | None = None, *,
             problem: Problem | None = None) -> LocalRB:
        """Rebuild from :meth:`save`'s arrays (``meta`` defaults to the stored one; the problem
        is rebuilt from its stored configuration unless given)."""
        def get(key: str) -> np.ndarray:
            try:
                return np.asarray(group[key][()])
            except KeyError:
                raise ValueError(f"corrupt local reduced basis: missing array {key!r}") from None
        meta = _untext(get("meta_json")) if meta is None else meta
        problem = problem_from_config(_untext(get("problem_config"))) if problem is None else problem
        affine = problem.affine_decomposition()
        c = meta["coercivity"]
        if c["kind"] == "min-theta":
            coercivity: Any = MinTheta(get("coercivity/theta_ref"), c["alpha_ref"])
        else:
            arrays = {k: get(f"coercivity/{k}") for k in ("box", "C_mu", "C_theta", "C_alpha",
                                                             "C_y") if k not in c}
            coercivity = SCM.from_online_data({**c, **arrays})
        floor = STABLE_FLOOR if meta["estimator"] == "stable" else STANDARD_FLOOR
        box = _box(problem)
        models, bases = [], []
        for k in range(int(meta["K"])):
            models.append(OnlineRB(get(f"A_N/{k}"), get(f"f_N/{k}"), meta["estimator"],
                                   get(f"est/{k}"), coercivity, affine.theta_A, affine.theta_f,
                                   box, floor))
            bases.append(get(f"basis/{k}"))
        return cls(problem, affine, models, bases, get("mu_ref"), get("train_mu"),
                   get("labels"), meta.get("info", {}))
