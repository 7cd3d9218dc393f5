"""Lower bounds of the coercivity constant ``alpha(mu) = inf_v a(v, v; mu) / ||v||_X^2``.

For ``A(mu) = sum_q theta_q(mu) A_q``:

* **min-theta** (Patera–Rozza): when every ``A_q`` is symmetric positive
  semidefinite and every ``theta_q(mu) > 0``,
  ``alpha(mu) >= alpha(mu_ref) min_q theta_q(mu) / theta_q(mu_ref)``.
  With ``X = A(mu_ref)`` (energy inner product) ``alpha(mu_ref) = 1``.
* **Successive constraint method** (Huynh, Rozza, Sen, Patera 2007) for the
  general case: with ``y_q = v^T A_q v / ||v||_X^2``, ``alpha(mu)`` is the
  minimum of ``sum_q theta_q(mu) y_q`` over the (unknown) set of such ``y``.
  Relaxing that set to the box ``sigma_min(A_q) <= y_q <= sigma_max(A_q)``
  intersected with ``sum_q theta_q(mu') y_q >= alpha(mu')`` at the ``M``
  constraint points ``mu'`` nearest ``mu`` gives a linear program whose value
  is a lower bound; the minimisers ``y*(mu')`` of the exact problem at the
  constraint points give an upper bound ``min_{mu'} theta(mu) . y*(mu')``.
  A greedy adds the training point of largest ``1 - LB/UB``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.optimize import linprog

_DENSE_LIMIT = 300


class MinTheta:
    """``alpha_LB(mu) = alpha_ref * min_q theta_q(mu) / theta_q(mu_ref)`` on batches of thetas."""

    kind = "min-theta"

    def __init__(self, theta_ref: np.ndarray, alpha_ref: float = 1.0):
        self.theta_ref = np.asarray(theta_ref, dtype=float)
        if np.any(self.theta_ref <= 0):
            raise ValueError("min-theta needs theta_q(mu_ref) > 0 for every q")
        self.alpha_ref = float(alpha_ref)

    def __call__(self, theta_A: np.ndarray) -> np.ndarray:
        theta_A = np.atleast_2d(theta_A)
        if np.any(theta_A <= 0):
            raise ValueError("min-theta needs theta_q(mu) > 0; use SCM for this problem")
        return self.alpha_ref * np.min(theta_A / self.theta_ref, axis=1)

    def online_data(self) -> dict[str, Any]:
        return {"theta_ref": self.theta_ref, "alpha_ref": self.alpha_ref}


def generalized_eig_extreme(A: Any, X: Any, which: str) -> tuple[float, np.ndarray]:
    """Smallest (``which="min"``) or largest (``"max"``) eigenpair of ``sym(A) v = lambda X v``.

    Only the symmetric part ``(A + A^T)/2`` enters ``v^T A v``. Dense ``eigh``
    for small problems; otherwise ARPACK (shift-invert about 0 for the
    smallest eigenvalue, plain Lanczos for the largest). A term with zero
    symmetric part (pure convection) has the eigenvalue 0.
    """
    n = A.shape[0]
    S = 0.5 * (A + A.T)
    if n <= _DENSE_LIMIT:
        Sd = S.toarray() if sp.issparse(S) else np.asarray(S)
        Xd = X.toarray() if sp.issparse(X) else np.asarray(X)
        idx = [0, 0] if which == "min" else [n - 1, n - 1]
        w, v = sla.eigh(Sd, Xd, subset_by_index=idx)
        return float(w[0]), v[:, 0]
    S, X = sp.csc_matrix(S), sp.csc_matrix(X)
    if abs(S).max() <= 1e-14 * max(abs(sp.csr_matrix(A)).max(), 1e-300):
        return 0.0, np.ones(n) / np.sqrt(float(np.ones(n) @ (X @ np.ones(n))))
    if which == "min":
        try:
            w, v = spla.eigsh(S, k=1, M=X, sigma=0.0, which="LM")
        except RuntimeError:  # singular: the smallest eigenvalue of an SPSD term is 0
            w, v = spla.eigsh(-S, k=1, M=X, which="LA")
            w = -w
    else:
        w, v = spla.eigsh(S, k=1, M=X, which="LA")
    return float(w[0]), v[:, 0]


class SCM:
    """Successive constraint method lower/upper bounds of ``alpha(mu)``.

    ``A_terms`` symmetric, ``X`` SPD, ``theta`` maps a batch ``(B, d)`` of
    parameters to ``(B, Q)``. ``fit(train_mu)`` runs the greedy until
    ``max(1 - LB/UB) <= tol`` over the training set or ``max_points`` is reached.
    """

    kind = "scm"

    def __init__(self, A_terms: tuple | None, X: Any, n_neighbors: int = 16,
                 box: np.ndarray | None = None):
        self.A_terms = A_terms
        self.X = X
        self.n_neighbors = n_neighbors
        if box is None:
            box = np.array([(generalized_eig_extreme(Aq, X, "min")[0],
                             generalized_eig_extreme(Aq, X, "max")[0]) for Aq in A_terms])
        self.box = np.asarray(box, dtype=float)
        self.C_theta = np.zeros((0, len(self.box)))   # theta at the constraint points
        self.C_mu = np.zeros((0, 0))
        self.C_alpha = np.zeros(0)
        self.C_y = np.zeros((0, len(self.box)))        # y*(mu') of the exact minimiser

    def add_point(self, mu: np.ndarray, theta: np.ndarray) -> None:
        """Compute ``alpha(mu)`` exactly (generalized eigenproblem) and add the constraint."""
        A = sum(t * Aq for t, Aq in zip(theta, self.A_terms))
        alpha, v = generalized_eig_extreme(A, self.X, "min")
        Xv = self.X @ v
        nv = float(v @ Xv)
        y = np.array([float(v @ (Aq @ v)) / nv for Aq in self.A_terms])
        self.C_mu = np.vstack([self.C_mu.reshape(-1, len(mu)), mu])
        self.C_theta = np.vstack([self.C_theta, theta])
        self.C_alpha = np.append(self.C_alpha, alpha)
        self.C_y = np.vstack([self.C_y, y])

    def _neighbors(self, mu: np.ndarray) -> np.ndarray:
        d = np.linalg.norm(self.C_mu - mu, axis=1)
        return np.argsort(d)[: self.n_neighbors]

    def lower_bound(self, mu: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """LP lower bound for each row of ``mu`` / ``theta``."""
        mu, theta = np.atleast_2d(mu), np.atleast_2d(theta)
        out = np.empty(len(theta))
        for i, (m, t) in enumerate(zip(mu, theta)):
            nb = self._neighbors(m)
            res = linprog(t, A_ub=-self.C_theta[nb], b_ub=-self.C_alpha[nb],
                          bounds=[tuple(b) for b in self.box], method="highs")
            out[i] = res.fun if res.status == 0 else -np.inf
        return out

    def upper_bound(self, theta: np.ndarray) -> np.ndarray:
        return np.min(np.atleast_2d(theta) @ self.C_y.T, axis=1)

    def fit(self, train_mu: np.ndarray, train_theta: np.ndarray, *, tol: float = 0.75,
            max_points: int = 50) -> list[float]:
        """Greedy selection of constraint points; returns ``max (1 - LB/UB)`` per step."""
        history = []
        self.add_point(train_mu[0], train_theta[0])
        while True:
            lb = self.lower_bound(train_mu, train_theta)
            ub = self.upper_bound(train_theta)
            gap = np.where(ub > 0, 1.0 - lb / ub, np.inf)
            history.append(float(np.max(gap)))
            if history[-1] <= tol or len(self.C_alpha) >= max_points:
                return history
            j = int(np.argmax(gap))
            self.add_point(train_mu[j], train_theta[j])

    def __call__(self, theta_A: np.ndarray, mu: np.ndarray | None = None) -> np.ndarray:
        if mu is None:
            raise ValueError("SCM lower bounds need the parameters mu as well as theta")
        return self.lower_bound(mu, theta_A)

    @classmethod
    def from_online_data(cls, d: dict[str, Any]) -> SCM:
        """The online part only (lower/upper bounds; no new constraint points)."""
        scm = cls(None, None, int(d["n_neighbors"]), box=d["box"])
        scm.C_mu, scm.C_theta = np.asarray(d["C_mu"]), np.asarray(d["C_theta"])
        scm.C_alpha, scm.C_y = np.asarray(d["C_alpha"]), np.asarray(d["C_y"])
        return scm

    def online_data(self) -> dict[str, Any]:
        return {"box": self.box, "C_mu": self.C_mu, "C_theta": self.C_theta,
                "C_alpha": self.C_alpha, "C_y": self.C_y, "n_neighbors": self.n_neighbors}
