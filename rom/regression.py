"""Non-intrusive POD: POD of dataset snapshots plus regression of the coefficients.

Snapshots ``s(mu_k)`` (any field, time-dependent ones flattened per sample)
are centred by their mean ``s_bar``; the POD modes ``V`` (Euclidean l2,
:func:`rom.pod.pod`) give coefficients ``a_k = V^T (s(mu_k) - s_bar)``, and a
regression ``mu -> a`` on parameters scaled to the unit cube predicts
``s(mu) ~ s_bar + V a(mu)``:

* ``rbf``: :class:`scipy.interpolate.RBFInterpolator` (thin-plate spline with
  a linear polynomial tail, or the linear kernel with a constant tail when
  there are no more samples than ``d + 1``; exact at the training points);
* ``gp``: Gaussian-process posterior mean with an anisotropic squared-
  exponential kernel ``k(x, y) = exp(-sum_j (x_j - y_j)^2 / (2 l_j^2))`` and
  noise ``sigma^2``, one GP per (standardised) coefficient, hyperparameters
  ``(log l, log sigma)`` by maximising its log marginal likelihood (L-BFGS-B).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg as sla
from scipy.interpolate import RBFInterpolator
from scipy.optimize import minimize

from .pod import pod

REGRESSORS = ("rbf", "gp")


def unit_scaling(params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(lo, width)`` of the training box (width 1 for constant parameters)."""
    lo, hi = params.min(axis=0), params.max(axis=0)
    width = np.where(hi > lo, hi - lo, 1.0)
    return lo, width


def _sqexp(A: np.ndarray, B: np.ndarray, ell: np.ndarray) -> np.ndarray:
    d = (A[:, None, :] - B[None, :, :]) / ell
    return np.exp(-0.5 * np.sum(d * d, axis=-1))


def gp_fit_hyper(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """``log(l_1..l_d, sigma)`` maximising ``sum_j log p(Y[:, j] | X)`` (Y standardised)."""
    n, d = X.shape

    def nll(theta: np.ndarray) -> float:
        ell, sig = np.exp(theta[:d]), np.exp(theta[d])
        K = _sqexp(X, X, ell) + (sig**2 + 1e-10) * np.eye(n)
        try:
            c = sla.cho_factor(K, lower=True)
        except np.linalg.LinAlgError:
            return 1e20
        alpha = sla.cho_solve(c, Y)
        logdet = 2 * np.sum(np.log(np.diag(c[0])))
        return float(0.5 * np.sum(Y * alpha) + 0.5 * Y.shape[1] * logdet)

    x0 = np.append(np.log(np.full(d, 0.3)), np.log(1e-3))
    bounds = [(np.log(1e-2), np.log(1e2))] * d + [(np.log(1e-8), np.log(1.0))]
    return minimize(nll, x0, method="L-BFGS-B", bounds=bounds, options={"maxiter": 50}).x


@dataclass
class CoefficientRegressor:
    """``mu -> a`` on scaled parameters; rebuilt from stored training data (no pickle)."""

    kind: str
    X: np.ndarray           # scaled training parameters (K, d)
    Y: np.ndarray           # coefficients (K, N)
    hyper: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.kind not in REGRESSORS:
            raise ValueError(f"unknown regressor {self.kind!r}; valid: {', '.join(REGRESSORS)}")
        if self.kind == "rbf":
            # thin-plate spline + linear tail needs more points than d + 1; otherwise
            # the linear kernel with a constant tail (both interpolate)
            enough = len(self.X) > self.X.shape[1] + 1
            self._rbf = RBFInterpolator(self.X, self.Y,
                                        kernel="thin_plate_spline" if enough else "linear",
                                        degree=1 if enough else 0)
        else:
            self._mean, self._std = self.Y.mean(0), self.Y.std(0) + 1e-300
            Ys = (self.Y - self._mean) / self._std
            if self.hyper is None:
                self.hyper = np.array([gp_fit_hyper(self.X, Ys[:, [j]])
                                       for j in range(Ys.shape[1])])
            d, n = self.X.shape[1], len(self.X)
            self._alpha = []
            for j, h in enumerate(self.hyper):
                K = _sqexp(self.X, self.X, np.exp(h[:d])) + (np.exp(2 * h[d]) + 1e-10) * np.eye(n)
                self._alpha.append(sla.cho_solve(sla.cho_factor(K, lower=True), Ys[:, j]))

    def __call__(self, Xq: np.ndarray) -> np.ndarray:
        if self.kind == "rbf":
            return self._rbf(Xq)
        d = self.X.shape[1]
        cols = [_sqexp(Xq, self.X, np.exp(h[:d])) @ a for h, a in zip(self.hyper, self._alpha)]
        return self._mean + self._std * np.column_stack(cols)


@dataclass
class PODRegression:
    """``s(mu) ~ mean + modes @ regressor(scaled mu)``; see the module docstring."""

    mean: np.ndarray
    modes: np.ndarray
    singular_values: np.ndarray
    lo: np.ndarray
    width: np.ndarray
    regressor: CoefficientRegressor

    @classmethod
    def fit(cls, params: np.ndarray, snapshots: np.ndarray, *, tol: float | None = 1e-4,
            max_modes: int | None = None, regressor: str = "rbf",
            regress_on: tuple[np.ndarray, np.ndarray] | None = None) -> PODRegression:
        """Mean and POD modes of ``snapshots``; the coefficient regression on the same
        samples, or on ``regress_on = (params, snapshots)`` (their coefficients in this basis)."""
        params = np.atleast_2d(np.asarray(params, float))
        S = np.asarray(snapshots, float).reshape(len(params), -1)
        if len(params) < 2:
            raise ValueError("non-intrusive POD needs at least 2 training samples")
        mean = S.mean(axis=0)
        res = pod((S - mean).T, tol=tol, max_modes=max_modes)
        modes = res.modes if res.n_modes else np.zeros((S.shape[1], 1))
        return cls.with_regression(mean, modes, res.singular_values, regressor,
                                   *((params, S) if regress_on is None else regress_on))

    @classmethod
    def with_regression(cls, mean: np.ndarray, modes: np.ndarray, singular_values: np.ndarray,
                        regressor: str, params: np.ndarray, snapshots: np.ndarray
                        ) -> PODRegression:
        """The model of a given basis with its coefficient regression fitted on the
        coefficients ``(s_k - mean) @ modes`` of ``snapshots`` at ``params``."""
        params = np.atleast_2d(np.asarray(params, float))
        S = np.asarray(snapshots, float).reshape(len(params), -1)
        lo, width = unit_scaling(params)
        return cls(mean, modes, singular_values, lo, width,
                   CoefficientRegressor(regressor, (params - lo) / width, (S - mean) @ modes))

    def scale(self, mus: np.ndarray) -> np.ndarray:
        return (np.atleast_2d(np.asarray(mus, float)) - self.lo) / self.width

    def predict(self, mus: np.ndarray) -> np.ndarray:
        """Flattened predictions ``(B, n)``."""
        return self.mean + self.regressor(self.scale(mus)) @ self.modes.T

    def tensors(self) -> dict[str, Any]:
        t = {"mean": self.mean, "modes": self.modes, "singular_values": self.singular_values,
             "lo": self.lo, "width": self.width, "train_x": self.regressor.X,
             "train_coef": self.regressor.Y}
        if self.regressor.hyper is not None:
            t["gp_hyper"] = self.regressor.hyper
        return t

    @classmethod
    def from_tensors(cls, t: dict[str, np.ndarray], kind: str) -> PODRegression:
        reg = CoefficientRegressor(kind, t["train_x"], t["train_coef"], t.get("gp_hyper"))
        return cls(t["mean"], t["modes"], t["singular_values"], t["lo"], t["width"], reg)
