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

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.optimize import linprog

#: up to this size the generalized eigenproblems are solved densely (``scipy.linalg.eigh``)
DENSE_LIMIT = 2000


class MinTheta:
    """``alpha_LB(mu) = alpha_ref * min_q theta_q(mu) / theta_q(mu_ref)`` on batches of thetas."""

    kind = "min-theta"

    def __init__(self, theta_ref: np.ndarray, alpha_ref: float = 1.0):
        self.theta_ref = np.asarray(theta_ref, dtype=float)
        if np.any(self.theta_ref <= 0):
            raise ValueError("min-theta needs theta_q(mu_ref) > 0 for every q")
        self.alpha_ref = float(alpha_ref)

    def __call__(self, theta_A: np.ndarray) -> np.ndarray:
        """The lower bounds of a batch; a parameter with some ``theta_q(mu) <= 0`` gets a
        non-positive one (still a valid lower bound, certifying nothing: its error bound
        is ``inf``, see :meth:`rom.reduced_basis.OnlineRB.bound_thetas`)."""
        theta_A = np.atleast_2d(theta_A)
        return self.alpha_ref * np.min(theta_A / self.theta_ref, axis=1)

    def online_data(self) -> dict[str, Any]:
        return {"theta_ref": self.theta_ref, "alpha_ref": self.alpha_ref}


def _symmetric_part(A: Any) -> Any:
    return 0.5 * (A + A.T)


def _dense(M: Any) -> np.ndarray:
    return M.toarray() if sp.issparse(M) else np.asarray(M, dtype=float)


def generalized_eig_extreme(A: Any, X: Any, which: str, *,
                            X_solve: Callable[[np.ndarray], np.ndarray] | None = None
                            ) -> tuple[float, np.ndarray]:
    """Smallest (``which="min"``) or largest (``"max"``) eigenpair of ``sym(A) v = lambda X v``.

    Only the symmetric part ``S = (A + A^T)/2`` enters ``v^T A v``; ``X`` is SPD.
    Up to :data:`DENSE_LIMIT` unknowns: dense ``eigh``. Larger: Lanczos (ARPACK)
    on the shifted pencil ``(c X - S, X)`` for the minimum, ``(S + c X, X)`` for
    the maximum, with ``c = 2 rho`` and ``rho = max |lambda|`` (itself the
    dominant eigenvalue, found first). Both shifted pencils have their spectrum
    in ``[rho, 3 rho]`` and the wanted eigenvalue as their largest, so ARPACK's
    relative convergence test is meaningful even where ``lambda = 0`` (an SPSD
    term: the unshifted problem never converges there), and an indefinite ``S``
    gets its most negative eigenvalue (shift-invert about 0 would give the one
    nearest 0). Should Lanczos still not converge, LOBPCG preconditioned by
    ``X^{-1}`` (an exact preconditioner up to the factor 3 of the shifted
    pencil) takes over. ``X_solve`` (``b -> X^{-1} b``) reuses a factorisation
    of ``X`` across calls. A term with zero symmetric part (pure convection)
    has the eigenvalue 0.
    """
    if which not in ("min", "max"):
        raise ValueError(f"which must be 'min' or 'max', got {which!r}")
    n = A.shape[0]
    S = _symmetric_part(A)
    if n <= DENSE_LIMIT:
        idx = [0, 0] if which == "min" else [n - 1, n - 1]
        w, v = sla.eigh(_dense(S), _dense(X), subset_by_index=idx)
        return float(w[0]), v[:, 0]
    S, X = sp.csr_matrix(S), sp.csr_matrix(X)
    if abs(S).max() <= 1e-14 * max(abs(sp.csr_matrix(A)).max(), 1e-300):
        return 0.0, np.ones(n) / np.sqrt(float(np.ones(n) @ (X @ np.ones(n))))
    if X_solve is None:
        X_solve = spla.splu(sp.csc_matrix(X)).solve
    Minv = spla.LinearOperator((n, n), matvec=X_solve, dtype=float)
    rho = abs(float(_lanczos_largest(S, X, Minv, X_solve, which="LM", tol=1e-6)[0]))
    c = 2.0 * rho * (1.0 + 1e-5)
    if which == "min":
        w, v = _lanczos_largest(c * X - S, X, Minv, X_solve)
        return c - w, v
    w, v = _lanczos_largest(S + c * X, X, Minv, X_solve)
    return w - c, v


def generalized_eig_range(A: Any, X: Any, *,
                          X_solve: Callable[[np.ndarray], np.ndarray] | None = None
                          ) -> tuple[float, float]:
    """``(lambda_min, lambda_max)`` of ``sym(A) v = lambda X v`` (one dense ``eigh`` up to
    :data:`DENSE_LIMIT` unknowns, else :func:`generalized_eig_extreme` twice)."""
    if A.shape[0] <= DENSE_LIMIT:
        w = sla.eigh(_dense(_symmetric_part(A)), _dense(X), eigvals_only=True)
        return float(w[0]), float(w[-1])
    return (generalized_eig_extreme(A, X, "min", X_solve=X_solve)[0],
            generalized_eig_extreme(A, X, "max", X_solve=X_solve)[0])


def _lanczos_largest(T: Any, X: Any, Minv: Any, X_solve: Callable[[np.ndarray], np.ndarray],
                     which: str = "LA", tol: float = 1e-12) -> tuple[float, np.ndarray]:
    """Largest (``"LA"``) or dominant (``"LM"``) eigenpair of ``T v = lambda X v``:
    ARPACK, then LOBPCG from ARPACK's best vector; a ``ValueError`` if neither converges."""
    n = T.shape[0]
    ncv = min(n - 1, 40)
    try:
        w, v = spla.eigsh(T, k=1, M=X, Minv=Minv, which=which, tol=tol, ncv=ncv,
                          maxiter=1000)
        return float(w[0]), v[:, 0]
    except spla.ArpackNoConvergence as exc:
        partial = exc.eigenvectors
    rng = np.random.default_rng(0)
    X0 = rng.standard_normal((n, 4))
    if partial is not None and partial.size:
        X0[:, 0] = partial[:, 0]
    P = spla.LinearOperator((n, n), matvec=X_solve, matmat=lambda B: np.column_stack(
        [X_solve(b) for b in B.T]), dtype=float)
    if which == "LM":   # the dominant eigenvalue of either sign: of T, or of -T
        pairs = [_lobpcg(sign * T, X, P, X0) for sign in (1.0, -1.0)]
        (w, v), sign = max(zip(pairs, (1.0, -1.0)), key=lambda t: t[0][0])
        return sign * w, v
    return _lobpcg(T, X, P, X0)


def _lobpcg(T: Any, X: Any, P: Any, X0: np.ndarray) -> tuple[float, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)   # lobpcg's own "not reaching tol"
        w, V = spla.lobpcg(T, X0, B=X, M=P, largest=True, tol=1e-9, maxiter=500)
    v = V[:, int(np.argmax(w))]
    r = T @ v - float(np.max(w)) * (X @ v)
    scale = np.linalg.norm(T @ v) + 1e-300
    if not np.isfinite(w).all() or np.linalg.norm(r) > 1e-6 * scale:
        raise ValueError("the extreme eigenvalue of the generalized eigenproblem "
                         "sym(A) v = lambda X v did not converge (ARPACK, then LOBPCG); the "
                         "coercivity bound cannot be computed")
    return float(np.max(w)), v


class SCM:
    """Successive constraint method lower/upper bounds of ``alpha(mu)``.

    ``A_terms`` symmetric, ``X`` SPD, ``theta`` maps a batch ``(B, d)`` of
    parameters to ``(B, Q)``. ``fit(train_mu)`` runs the greedy until
    ``max(1 - LB/UB) <= tol`` over the training set or ``max_points`` is reached.
    ``progress`` receives one line per eigenvalue box term and per greedy step.
    """

    kind = "scm"

    def __init__(self, A_terms: tuple | None, X: Any, n_neighbors: int = 16,
                 box: np.ndarray | None = None,
                 progress: Callable[[str], None] | None = None):
        self.A_terms = A_terms
        self.X = X
        self.n_neighbors = n_neighbors
        self.progress = progress
        self._X_solve = (spla.splu(sp.csc_matrix(X)).solve
                         if X is not None and X.shape[0] > DENSE_LIMIT else None)
        if box is None:
            box, every = [], -(-len(A_terms) // 10)
            for q, Aq in enumerate(A_terms):
                box.append(generalized_eig_range(Aq, X, X_solve=self._X_solve))
                if (q + 1) % every == 0 or q + 1 == len(A_terms):
                    self._say(f"SCM: eigenvalue ranges of {q + 1}/{len(A_terms)} terms")
        self.box = np.asarray(box, dtype=float)
        self.C_theta = np.zeros((0, len(self.box)))   # theta at the constraint points
        self.C_mu = np.zeros((0, 0))
        self.C_alpha = np.zeros(0)
        self.C_y = np.zeros((0, len(self.box)))        # y*(mu') of the exact minimiser

    def add_point(self, mu: np.ndarray, theta: np.ndarray) -> None:
        """Compute ``alpha(mu)`` exactly (generalized eigenproblem) and add the constraint."""
        A = sum(t * Aq for t, Aq in zip(theta, self.A_terms))
        alpha, v = generalized_eig_extreme(A, self.X, "min", X_solve=self._X_solve)
        Xv = self.X @ v
        nv = float(v @ Xv)
        y = np.array([float(v @ (Aq @ v)) / nv for Aq in self.A_terms])
        self.C_mu = np.vstack([self.C_mu.reshape(-1, len(mu)), mu])
        self.C_theta = np.vstack([self.C_theta, theta])
        self.C_alpha = np.append(self.C_alpha, alpha)
        self.C_y = np.vstack([self.C_y, y])

    def _say(self, line: str) -> None:
        if self.progress is not None:
            self.progress(line)

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
            gap = np.full(len(ub), np.inf)     # 1 - LB/UB; inf where UB <= 0
            np.subtract(1.0, lb / np.where(ub > 0, ub, 1.0), out=gap, where=ub > 0)
            history.append(float(np.max(gap)))
            self._say(f"SCM: {len(self.C_alpha):3d} constraint points, "
                      f"max 1 - LB/UB {history[-1]:.3e} (target {tol:g})")
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
