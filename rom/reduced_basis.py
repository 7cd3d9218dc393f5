"""Certified Galerkin reduced basis with an offline/online split and a weak greedy.

Problem: find ``u(mu)`` with ``A(mu) u = f(mu)``, ``A(mu) = sum_q thA_q(mu) A_q``,
``f(mu) = sum_q thf_q(mu) f_q`` (:class:`solvers.problems.AffineDecomposition`).

* **Basis** ``V = [z_1 .. z_N]``, orthonormal in ``X = A(mu_ref)`` (energy
  inner product at the reference parameter; symmetric part if ``A`` is not).
* **Offline** the projected terms ``A_q^N = V^T A_q V`` and ``f_q^N = V^T f_q``
  and the estimator data (:mod:`rom.estimators`) are stored.
* **Online** for a batch of parameters ``A_N(mu) = sum_q thA_q(mu) A_q^N`` is
  assembled with one ``einsum``, all systems are solved by one batched
  ``np.linalg.solve``, and ``Delta(mu) = ||r(mu)||_{X'} / alpha_LB(mu)``
  bounds ``||u(mu) - V u_N(mu)||_X``; cost independent of the truth size.
* **Weak greedy** over a training set ``Xi`` (:func:`rom.greedy.weak_greedy`
  with :class:`RBSurrogate`): repeatedly add the truth solution at
  ``argmax_Xi Delta(mu) / ||u_N(mu)||_X`` until that relative bound is below
  ``tol`` or ``max_basis`` is reached.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack

from solvers.problems.base import AffineDecomposition

from .coercivity import MinTheta
from .estimators import RieszSolver, make_estimator, online_residual_norm
from .gram_schmidt import GramSchmidt
from .greedy import GreedyStep, weak_greedy
from .truth import AffineTruth


def batch_thetas(fn: Callable[[np.ndarray], np.ndarray], mus: np.ndarray) -> np.ndarray:
    """Evaluate a coefficient function on the rows of ``mus`` -> ``(B, Q)``.

    Tries one vectorised call first (a ``(B, Q)`` result, ``B Q`` values row
    by row, or one ``(Q,)`` row for a coefficient constant in ``mu``),
    accepted only if it equals the row-wise results at five parameters spread
    over the batch; otherwise loops.
    """
    mus = np.atleast_2d(np.asarray(mus, dtype=float))
    first = np.atleast_1d(np.asarray(fn(mus[0]), dtype=float))
    B = len(mus)
    if B > 2:
        try:
            with np.errstate(all="ignore"):
                out = np.asarray(fn(mus), dtype=float)
            check = np.unique(np.linspace(0, B - 1, 5).astype(int))
            ref = [first] + [np.atleast_1d(fn(mus[i])) for i in check[1:]]
            if out.size == B * first.size:   # (B, Q), or flattened row by row
                out = out.reshape(B, first.size)
                if all(np.array_equal(out[i], r) for i, r in zip(check, ref)):
                    return out
            elif out.shape == first.shape and all(np.array_equal(r, first) for r in ref):
                return np.broadcast_to(first, (B, first.size)).copy()   # constant in mu
        except Exception:  # noqa: BLE001 - scalar-only coefficient functions
            pass
    return np.array([first] + [np.atleast_1d(np.asarray(fn(m), dtype=float)) for m in mus[1:]])


def energy_product(A_ref: Any) -> sp.csr_matrix:
    """``X``: the symmetric part of ``A(mu_ref)``, the energy inner product of the basis."""
    return sp.csr_matrix(0.5 * (A_ref + A_ref.T))


def warn_outside(mus: np.ndarray, lo: np.ndarray, hi: np.ndarray, what: str = "training") -> None:
    """Warn (``RuntimeWarning``) when some rows of ``mus`` leave the box ``[lo, hi]``."""
    mus = np.atleast_2d(mus)
    tol = 1e-12 * np.maximum(np.maximum(np.abs(lo), np.abs(hi)), 1.0)
    out = ((mus < lo - tol) | (mus > hi + tol)).any(axis=1)
    if np.any(out):
        warnings.warn(f"{int(out.sum())} of {len(mus)} parameter(s) lie outside the {what} box "
                      f"[{np.round(lo, 6).tolist()}, {np.round(hi, 6).tolist()}]; "
                      "the reduced model extrapolates", RuntimeWarning, stacklevel=3)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` where ``den > 0``, ``inf`` elsewhere; a quotient beyond the float range
    is ``inf`` too (that is its meaning here: an uncertified or unresolved parameter)."""
    num, den = np.broadcast_arrays(np.asarray(num, float), np.asarray(den, float))
    with np.errstate(over="ignore"):
        return np.divide(num, den, out=np.full(num.shape, np.inf), where=den > 0)


@dataclass
class OnlineRB:
    """Everything the online phase needs (all sizes independent of the truth dimension).

    ``A_N (Qa, N, N)``, ``f_N (Qf, N)``; ``estimator`` is ``"stable"`` (data
    ``T``) or ``"standard"`` (data ``G``); ``coercivity`` maps ``(theta_A, mu)``
    to lower bounds.
    """

    A_N: np.ndarray
    f_N: np.ndarray
    estimator: str
    est_data: np.ndarray
    coercivity: Any
    theta_A: Callable[[np.ndarray], np.ndarray]
    theta_f: Callable[[np.ndarray], np.ndarray]
    box: tuple[np.ndarray, np.ndarray]
    floor: float = 0.0

    @property
    def N(self) -> int:
        return self.A_N.shape[1]

    def thetas(self, mus: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return batch_thetas(self.theta_A, mus), batch_thetas(self.theta_f, mus)

    def solve_thetas(self, tA: np.ndarray, tf: np.ndarray, N: int | None = None) -> np.ndarray:
        """Reduced coefficients ``(B, N)``: batched assembly and solve."""
        N = self.N if N is None else N
        A_flat, f_N, _ = self._sliced(N)
        AN = (tA @ A_flat).reshape(-1, N, N)
        return np.linalg.solve(AN, (tf @ f_N)[:, :, None])[:, :, 0]

    def alpha(self, tA: np.ndarray, mus: np.ndarray) -> np.ndarray:
        if isinstance(self.coercivity, MinTheta):
            return self.coercivity(tA)
        return self.coercivity(tA, mus)

    def bound_thetas(self, tA: np.ndarray, tf: np.ndarray, uN: np.ndarray, mus: np.ndarray
                     ) -> np.ndarray:
        """``Delta(mu) = ||r||_{X'} / alpha_LB`` for a batch.

        Where the coercivity lower bound is not positive (min-theta at a parameter
        with some ``theta_q(mu) <= 0``, SCM not converged there) nothing is certified
        and ``Delta = inf``; one parameter at a time (:meth:`_single`) gives the same."""
        res = online_residual_norm(self.estimator, self._sliced(uN.shape[1])[2], tA, tf, uN)
        return _ratio(res, self.alpha(tA, mus))

    def __call__(self, mus: np.ndarray, N: int | None = None, *, bound: bool = True
                 ) -> tuple[np.ndarray, np.ndarray | None]:
        """Solve a batch of parameters: ``(u_N (B, N), Delta (B,) or None)``."""
        mus = np.atleast_2d(np.asarray(mus, dtype=float))
        if "_inner_box" not in self.__dict__:   # the box widened by the warning tolerance
            lo, hi = self.box
            tol = 1e-12 * np.maximum(np.maximum(np.abs(lo), np.abs(hi)), 1.0)
            self._inner_box = (lo - tol, hi + tol)
        if (mus < self._inner_box[0]).any() or (mus > self._inner_box[1]).any():
            warn_outside(mus, *self.box)
        if len(mus) == 1 and isinstance(self.coercivity, MinTheta):
            return self._single(mus[0], N, bound)
        tA, tf = self.thetas(mus)
        uN = self.solve_thetas(tA, tf, N)
        return uN, (self.bound_thetas(tA, tf, uN, mus) if bound else None)


    def _sliced(self, N: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Contiguous ``(A_N as (Qa, N*N), f_N, estimator data)`` truncated to ``N`` (cached).

        The stable estimator's ``T`` (from the Gram–Schmidt QR of the Riesz representers)
        is upper trapezoidal: its first ``m`` columns vanish below the rank they reach, so
        those rows are dropped too (exact zeros: the same bound, and an online cost that
        grows with the ``N`` in use, not with the largest ``N`` built)."""
        cache = self.__dict__.setdefault("_slices", {})
        if N not in cache:
            m = self.f_N.shape[0] + N * self.A_N.shape[0]
            if self.estimator == "stable":
                est = self.est_data[:, :m]
                nz = np.flatnonzero(np.any(est != 0.0, axis=1))
                est = est[: int(nz[-1]) + 1 if nz.size else 0]
            else:
                est = self.est_data[:m, :m]
            cache[N] = (np.ascontiguousarray(self.A_N[:, :N, :N]).reshape(len(self.A_N), -1),
                        np.ascontiguousarray(self.f_N[:, :N]), np.ascontiguousarray(est))
        return cache[N]

    def _symmetric(self) -> bool:
        """Whether every reduced term is symmetric (then Cholesky, ``dposv``, is tried)."""
        if "_sym" not in self.__dict__:
            A = self.A_N
            self._sym = bool(np.allclose(A, A.transpose(0, 2, 1), rtol=1e-12,
                                         atol=1e-14 * max(np.abs(A).max(), 1e-300)))
        return self._sym

    def _single(self, mu: np.ndarray, N: int | None, bound: bool
                ) -> tuple[np.ndarray, np.ndarray | None]:
        """One parameter, unbatched: the same mathematics with less overhead (LAPACK
        ``dposv`` Cholesky solve for symmetric reduced matrices, ``dgesv`` otherwise)."""
        N = self.N if N is None else N
        A_flat, f_N, est = self._sliced(N)
        tA = np.asarray(self.theta_A(mu), dtype=float).ravel()
        tf = np.asarray(self.theta_f(mu), dtype=float).ravel()
        AN, fN = (tA @ A_flat).reshape(N, N), tf @ f_N
        c, info = (lapack.dposv(AN, fN)[1:] if self._symmetric() else (None, 1))
        if info != 0:   # not symmetric positive definite: LU with partial pivoting
            c = lapack.dgesv(AN, fN)[2]
        if not bound:
            return c[None], None
        k = np.concatenate([tf, -(c[:, None] * tA).ravel()])
        if self.estimator == "stable":
            v = est @ k
            res = np.sqrt(v @ v)
        else:
            res = np.sqrt(abs(k @ (est @ k)))
        alpha = float(self.coercivity(tA)[0])
        return c[None], np.array([res / alpha if alpha > 0 else np.inf])


@dataclass
class ReducedBasis:
    """Offline data of a Galerkin RB: truth operators, ``X``-orthonormal basis, estimator.

    ``mu_ref`` defines ``X = A(mu_ref)``; ``coercivity`` defaults to min-theta
    at ``mu_ref`` (valid when the decomposition says so, see
    :class:`~solvers.problems.base.AffineDecomposition`), else pass a fitted
    :class:`~rom.coercivity.SCM`.
    """

    affine: AffineDecomposition
    mu_ref: np.ndarray
    box: tuple[np.ndarray, np.ndarray]
    estimator_kind: str = "stable"
    coercivity: Any = None
    X: Any = None
    history: list[GreedyStep] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.mu_ref = np.asarray(self.mu_ref, dtype=float)
        self.box = (np.asarray(self.box[0], float), np.asarray(self.box[1], float))
        if self.X is None:
            self.X = energy_product(self.affine.assemble(self.mu_ref)[0])
        if self.coercivity is None:
            if self.affine.min_theta_ref is None:
                raise ValueError("no min-theta reference for this problem: pass coercivity=SCM(...)")
            tref = np.asarray(self.affine.theta_A(self.mu_ref), float)
            if not np.allclose(self.mu_ref, self.affine.min_theta_ref):
                raise ValueError("min-theta needs X = A(min_theta_ref): set mu_ref to it")
            self.coercivity = MinTheta(tref, 1.0)
        self.riesz = RieszSolver(self.X)
        # a snapshot is new if its remainder exceeds 1e-13 of its norm (pyMOR's rtol): the
        # remainder is accurate to ~N eps there, and 1e-12 stopped the greedy one step early
        # at relative bounds ~2e-12 ("snapshot already in the basis")
        self.gs = GramSchmidt(self.X, rtol=1e-13)
        self.estimator = make_estimator(self.estimator_kind, self.affine.A_terms,
                                        self.affine.f_terms, self.riesz)
        n = self.X.shape[0]
        self.A_N = np.zeros((len(self.affine.A_terms), 0, 0))
        self.f_N = np.zeros((len(self.affine.f_terms), 0))
        self._AV = [np.zeros((n, 0)) for _ in self.affine.A_terms]

    @property
    def basis(self) -> np.ndarray:
        return self.gs.Q if self.gs.Q is not None else np.zeros((self.X.shape[0], 0))

    @property
    def N(self) -> int:
        return self.gs.size

    def truth_solve(self, mu: np.ndarray) -> np.ndarray:
        """The full-order solution of the affine form at ``mu`` (refined,
        :class:`rom.truth.AffineTruth`)."""
        if "_truth" not in self.__dict__:
            self._truth = AffineTruth(self.affine)
        return self._truth(np.asarray(mu, float)).u

    def add(self, snapshots: np.ndarray) -> int:
        """Orthonormalise snapshots into the basis; returns the number of vectors added."""
        n0 = self.N
        self.gs.extend(snapshots)
        Z = self.basis[:, n0:]
        if Z.shape[1] == 0:
            return 0
        V = self.basis
        Qa = len(self.affine.A_terms)
        A_N = np.zeros((Qa, self.N, self.N))
        A_N[:, :n0, :n0] = self.A_N
        for q, Aq in enumerate(self.affine.A_terms):
            self._AV[q] = np.column_stack([self._AV[q], Aq @ Z])
            A_N[q, :, n0:] = V.T @ self._AV[q][:, n0:]
            A_N[q, n0:, :n0] = Z.T @ self._AV[q][:, :n0]
        self.A_N = A_N
        self.f_N = np.array([V.T @ np.asarray(fq, float) for fq in self.affine.f_terms])
        self.estimator.extend(Z)
        return Z.shape[1]

    def online(self) -> OnlineRB:
        data = self.estimator.online_data()
        return OnlineRB(self.A_N.copy(), self.f_N.copy(), self.estimator_kind,
                        next(iter(data.values())).copy(), self.coercivity, self.affine.theta_A,
                        self.affine.theta_f, self.box, self.estimator.floor)

    def relative_bounds(self, mus: np.ndarray, _cache: dict | None = None) -> np.ndarray:
        """``Delta(mu) / ||u_N(mu)||_X`` over a batch (``inf`` where ``u_N = 0``).

        ``_cache`` keeps the thetas and coercivity bounds of a fixed training
        set between greedy steps (they do not depend on the basis).
        """
        rb = self.online()
        cache = {} if _cache is None else _cache
        if "tA" not in cache:
            cache["tA"], cache["tf"] = rb.thetas(mus)
            cache["alpha"] = rb.alpha(cache["tA"], mus)
        tA, tf, alpha = cache["tA"], cache["tf"], cache["alpha"]
        uN = rb.solve_thetas(tA, tf) if self.N else np.zeros((len(mus), 0))
        res = online_residual_norm(self.estimator_kind, rb.est_data, tA, tf, uN)
        norm = np.linalg.norm(uN, axis=1)   # X-norm: V is X-orthonormal
        # u_N = 0 (an empty basis, or a zero solution): the relative quantities are inf
        cache["indicator"] = _ratio(res, norm)
        return _ratio(res, np.where(norm > 0, alpha * norm, 0.0))

    def greedy(self, train_mu: np.ndarray, *, tol: float = 1e-6, max_basis: int = 50,
               progress: Callable[[GreedyStep], None] | None = None) -> list[GreedyStep]:
        """Weak greedy on the training set (relative bound ``Delta / ||u_N||_X``) up to
        ``max_basis`` vectors; the steps are appended to (and return) :attr:`history`."""
        if tol < 10 * self.estimator.floor:
            warnings.warn(f"greedy tolerance {tol:g} is near or below the {self.estimator_kind} "
                          f"estimator's relative floor {self.estimator.floor:.1e}"
                          + ("; use the stable estimator" if self.estimator_kind == "standard"
                             else ""), RuntimeWarning, stacklevel=2)

        def record(step: GreedyStep) -> None:
            self.history.append(step)
            if progress:
                progress(step)
        weak_greedy(RBSurrogate(self), train_mu, tol=tol,
                    max_extensions=max(max_basis - self.N, 0), progress=record)
        return self.history


class RBSurrogate:
    """A :class:`ReducedBasis` as the surrogate of :func:`rom.greedy.weak_greedy`.

    ``evaluate`` returns the largest relative bound ``Delta(mu) / ||u_N(mu)||_X``
    over the training set; parameters without a positive coercivity lower bound
    (SCM not converged there) have an infinite bound and are chosen first,
    ranked by their relative residual ``||r||_{X'} / ||u_N||_X``. ``extend``
    adds the truth solution. The thetas and coercivity bounds of the training
    set (independent of the basis) are computed once.
    """

    def __init__(self, rb: ReducedBasis):
        self.rb = rb
        self._cache: dict = {}
        self._set: np.ndarray | None = None

    @property
    def size(self) -> int:
        return self.rb.N

    def evaluate(self, training_set: np.ndarray) -> tuple[float, int]:
        if self._set is not training_set:
            self._cache, self._set = {}, training_set
        rel = self.rb.relative_bounds(training_set, self._cache)
        uncertified = ~np.isfinite(rel)
        score = (np.where(uncertified, self._cache["indicator"], -np.inf) if uncertified.any()
                 else rel)
        return float(np.max(rel)), int(np.argmax(score))

    def extend(self, mu: np.ndarray) -> int:
        return self.rb.add(self.rb.truth_solve(mu))
