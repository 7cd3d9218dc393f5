"""Online choice of a solver parameter across a sequence of systems (bandit feedback).

Khodak, Chow, Balcan & Talwalkar, "Learning to Relax: Setting Solver Parameters
Across a Sequence of Linear System Instances" (ICLR 2024): the relaxation
parameter ``omega`` of SOR / SSOR-CG is picked from a grid for each new system
and only the cost of the chosen ``omega`` (normalised iteration count, or wall
time) is observed.

* :class:`TsallisINF` (Zimmert & Seldin 2021, ``alpha = 1/2``): play
  ``p_t = argmin_p <p, L_hat> - (4/eta_t) sum_i sqrt(p_i)``, i.e.
  ``p_i = 4 / (eta_t (L_hat_i - x))^2`` with the normaliser ``x`` found by
  Newton's method. Scale-free learning rate ``eta_t = eta0 / (S_t sqrt(t))``
  with ``S_t`` the largest loss seen so far, so multiplying every loss by a
  constant changes nothing. ``L_hat`` sums the reduced-variance
  importance-weighted estimates ``(loss - B_t) / p_I`` of the played arm, with
  the predictable baseline ``B_t = beta * (mean of the losses before t)``
  (``beta = 1/2``), equivalent to adding ``B_t`` to every arm's estimate.
* :func:`geometric_omegas`: the a-priori grid ``omega_j = 2 - r^j``, geometric
  in ``2 - omega``, the scale on which Young's optimum
  ``2 - omega_opt ~ 2 sqrt(1 - mu^2)`` moves with the Jacobi spectral radius ``mu``.
* :class:`TsallisINFCB`: the contextual variant with a binned scalar context,
  one Tsallis-INF learner per bin.
* :class:`ChebCB`: a regression-oracle contextual bandit (SquareCB,
  Foster & Rakhlin 2020) whose oracle fits, per arm, the cost as a degree-``d``
  Chebyshev series in the scalar context (ridge least squares), and plays by
  inverse-gap weighting ``p_a = 1 / (K + gamma_t (yhat_a - min yhat))``.

:class:`CostScale` turns iteration counts or seconds into losses in ``[0, 1]``
(fixed or adaptive scale); ChebCB clips its losses to ``[0, 1]``, Tsallis-INF
takes any finite non-negative loss (its rate is scale-free).
"""

from __future__ import annotations

import numpy as np


def geometric_omegas(count: int = 5, ratio: float = 0.5) -> tuple[float, ...]:
    """Relaxation grid ``omega_j = 2 - ratio^j``, ``j = 0..count-1`` (``omega_0 = 1``, Gauss-Seidel).

    For a consistently ordered matrix with Jacobi spectral radius ``mu`` Young's
    optimum is ``omega_opt = 2 / (1 + sqrt(1 - mu^2))``, so
    ``2 - omega_opt ~ 2 sqrt(1 - mu^2)``: a grid geometric in ``2 - omega`` covers
    each factor ``1 / ratio^2`` of the Jacobi gap ``1 - mu^2`` (i.e. of the
    condition number) with one arm, the same resolution at every scale. The
    default is ``(1, 1.5, 1.75, 1.875, 1.9375)``.
    """
    if count < 1 or not 0 < ratio < 1:
        raise ValueError(f"geometric omega grid needs count >= 1 and 0 < ratio < 1, "
                         f"got count={count}, ratio={ratio}")
    return tuple(float(2.0 - ratio ** j) for j in range(int(count)))


class TsallisINF:
    """1/2-Tsallis-INF over ``n_arms`` arms: reduced-variance estimates, scale-free rate.

    ``eta0`` (default 16) and ``baseline`` (``beta``, default 1/2) were tuned on
    Khodak et al.'s shifted-Laplacian SOR sequences with instance seeds other
    than those of the tests (benchmarks/results/solvers_bandit.md).
    """

    def __init__(self, n_arms: int, *, eta0: float = 16.0, baseline: float = 0.5,
                 seed: int | None = 0):
        if n_arms < 1:
            raise ValueError("a bandit needs at least one arm")
        if not eta0 > 0 or not 0 <= baseline <= 1:
            raise ValueError(f"Tsallis-INF needs eta0 > 0 and 0 <= baseline <= 1, "
                             f"got eta0={eta0}, baseline={baseline}")
        self.n_arms, self.eta0, self.baseline = int(n_arms), float(eta0), float(baseline)
        self.L = np.zeros(self.n_arms)
        self.t = 0
        self.rng = np.random.default_rng(seed)
        self.p = np.full(self.n_arms, 1.0 / self.n_arms)
        self.mean_loss: float | None = None
        self.scale: float | None = None  # S_t, the largest loss seen so far

    def probabilities(self) -> np.ndarray:
        """``p_i = 4 / (eta (L_i - x))^2`` with ``sum p = 1`` (Newton on ``x < min L``)."""
        eta = self.eta0 / np.sqrt(self.t + 1) / (self.scale or 1.0)
        L = self.L - self.L.min()
        x = -2.0 / eta  # there the best arm alone has p = 1, so sum p >= 1
        for _ in range(100):
            p = 4.0 / (eta * (L - x)) ** 2
            f = p.sum() - 1.0
            if abs(f) < 1e-12:
                break
            x -= f / (eta * np.sum(p ** 1.5))
        return p / p.sum()

    def select(self, context: float | None = None) -> int:
        self.p = self.probabilities()
        return int(self.rng.choice(self.n_arms, p=self.p))

    def update(self, arm: int, loss: float, context: float | None = None) -> None:
        """``L_I += (loss - B_t) / p_I`` with ``B_t = beta * mean(past losses)``; ``S_t`` updated."""
        loss = float(loss)
        if not np.isfinite(loss) or loss < 0:
            raise ValueError(f"bandit loss must be finite and >= 0, got {loss}")
        base = 0.0 if self.mean_loss is None else self.baseline * self.mean_loss
        self.L[arm] += (loss - base) / max(self.p[arm], 1e-12)
        self.mean_loss = loss if self.mean_loss is None else (
            self.mean_loss + (loss - self.mean_loss) / (self.t + 1))
        if loss > 0:
            self.scale = loss if self.scale is None else max(self.scale, loss)
        self.t += 1


class TsallisINFCB:
    """Contextual Tsallis-INF: ``n_bins`` equal bins of ``context_range``, one learner each."""

    def __init__(self, n_arms: int, context_range: tuple[float, float], *, n_bins: int = 5,
                 eta0: float = 16.0, seed: int | None = 0):
        lo, hi = map(float, context_range)
        if not hi > lo:
            raise ValueError(f"context range must have hi > lo, got {context_range}")
        self.lo, self.hi, self.n_bins = lo, hi, int(n_bins)
        rng = np.random.default_rng(seed)
        self.learners = [TsallisINF(n_arms, eta0=eta0, seed=int(rng.integers(2**31)))
                         for _ in range(self.n_bins)]

    def _bin(self, context: float | None) -> int:
        if context is None:
            raise ValueError("TsallisINFCB needs a context for every system")
        u = (float(context) - self.lo) / (self.hi - self.lo)
        return int(np.clip(np.floor(u * self.n_bins), 0, self.n_bins - 1))

    def select(self, context: float | None = None) -> int:
        return self.learners[self._bin(context)].select()

    def update(self, arm: int, loss: float, context: float | None = None) -> None:
        self.learners[self._bin(context)].update(arm, loss)


def chebyshev_features(s: np.ndarray, degree: int) -> np.ndarray:
    """``[T_0(s), ..., T_degree(s)]`` for ``s`` in ``[-1, 1]`` (three-term recurrence)."""
    s = np.atleast_1d(np.asarray(s, dtype=float))
    T = np.empty((s.size, degree + 1))
    T[:, 0] = 1.0
    if degree >= 1:
        T[:, 1] = s
    for j in range(2, degree + 1):
        T[:, j] = 2.0 * s * T[:, j - 1] - T[:, j - 2]
    return T


class ChebCB:
    """SquareCB with per-arm Chebyshev ridge regression of the loss on a scalar context.

    ``context_range`` maps the context to ``s in [-1, 1]``; the oracle predicts
    ``yhat_a(s) = sum_j theta_{a,j} T_j(s)`` with ``theta_a`` the ridge solution
    ``(lam I + Phi_a^T Phi_a)^{-1} Phi_a^T y_a``; the play distribution is the
    inverse-gap weighting with ``gamma_t = gamma0 sqrt(K t)``.
    """

    def __init__(self, n_arms: int, context_range: tuple[float, float], *, degree: int = 4,
                 gamma0: float = 50.0, ridge: float = 1e-2, seed: int | None = 0):
        lo, hi = map(float, context_range)
        if not hi > lo:
            raise ValueError(f"context range must have hi > lo, got {context_range}")
        self.lo, self.hi, self.K, self.degree = lo, hi, int(n_arms), int(degree)
        self.gamma0, self.t = float(gamma0), 0
        self.rng = np.random.default_rng(seed)
        q = self.degree + 1
        self.G = np.repeat((ridge * np.eye(q))[None], self.K, axis=0)
        self.h = np.zeros((self.K, q))
        self.p = np.full(self.K, 1.0 / self.K)

    def _phi(self, context: float | None) -> np.ndarray:
        if context is None:
            raise ValueError("ChebCB needs a context for every system")
        s = np.clip(2.0 * (float(context) - self.lo) / (self.hi - self.lo) - 1.0, -1.0, 1.0)
        return chebyshev_features(s, self.degree)[0]

    def predict(self, context: float) -> np.ndarray:
        """Predicted loss of every arm at ``context``."""
        theta = np.linalg.solve(self.G, self.h[:, :, None])[:, :, 0]
        return theta @ self._phi(context)

    def select(self, context: float | None = None) -> int:
        yhat = self.predict(context)
        best = int(np.argmin(yhat))
        gamma = self.gamma0 * np.sqrt(self.K * (self.t + 1))
        p = 1.0 / (self.K + gamma * (yhat - yhat[best]))
        p[best] = 0.0
        p[best] = max(0.0, 1.0 - p.sum())
        self.p = p / p.sum()
        return int(self.rng.choice(self.K, p=self.p))

    def update(self, arm: int, loss: float, context: float | None = None) -> None:
        phi = self._phi(context)
        self.G[arm] += np.outer(phi, phi)
        self.h[arm] += float(np.clip(loss, 0.0, 1.0)) * phi
        self.t += 1


class CostScale:
    """Loss in ``[0, 1]`` from a cost (iterations or seconds): ``min(cost / scale, 1)``.

    With a fixed ``scale`` (e.g. ``maxiter``) the loss is the normalised cost.
    Without one the scale is twice the largest cost seen so far (the first
    observation fixes the initial scale), so that losses use the range ``[0, 1]``
    whatever the size of the systems. ``kind`` is ``iterations`` or ``seconds``
    (wall-clock feedback). An unconverged solve has loss 1.
    """

    def __init__(self, kind: str = "iterations", scale: float | None = None):
        if kind not in ("iterations", "seconds"):
            raise ValueError(f"feedback must be 'iterations' or 'seconds', got {kind!r}")
        self.kind, self.scale, self.adaptive = kind, scale, scale is None

    def loss(self, iterations: int, seconds: float, converged: bool) -> float:
        if not converged:
            return 1.0
        cost = float(iterations if self.kind == "iterations" else seconds)
        if self.adaptive and (self.scale is None or 2.0 * cost > self.scale):
            self.scale = max(2.0 * cost, 1e-9)
        return float(min(cost / float(self.scale), 1.0))


def make_bandit(kind: str, n_arms: int, *, context_range: tuple[float, float] | None = None,
                seed: int | None = 0, **options: float) -> TsallisINF | TsallisINFCB | ChebCB:
    """``kind``: ``bandit`` (Tsallis-INF), ``cb`` (Tsallis-INF-CB) or ``chebcb``."""
    if kind == "bandit":
        return TsallisINF(n_arms, seed=seed, **options)
    if kind in ("cb", "chebcb"):
        if context_range is None:
            raise ValueError(f"omega={kind} needs a context range (context_range=LO:HI)")
        cls = TsallisINFCB if kind == "cb" else ChebCB
        return cls(n_arms, context_range, seed=seed, **options)
    raise ValueError(f"unknown bandit {kind!r}; valid: bandit, cb, chebcb")
