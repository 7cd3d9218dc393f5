"""Residual-based a-posteriori error bounds for Galerkin reduced bases.

For ``A(mu) = sum_q thA_q(mu) A_q``, ``f(mu) = sum_q thf_q(mu) f_q`` and a reduced
solution ``u_N = V c``, the residual is the linear combination

    r(mu) = f(mu) - A(mu) u_N = C k(mu),
    C    = [f_1 .. f_Qf | A_1 z_1 .. A_Qa z_1 | ... | A_1 z_N .. A_Qa z_N],
    k    = [thf(mu), -(c_1 thA(mu)), ..., -(c_N thA(mu))],

with ``z_n`` the basis vectors. The dual norm ``||r||_{X'} = ||X^{-1} r||_X``
divided by a coercivity lower bound gives the error bound
``||u - u_N||_X <= Delta(mu) = ||r||_{X'} / alpha_LB(mu)``.

Two offline/online evaluations of ``||r||_{X'}`` are implemented:

* :class:`StandardEstimator` stores the Gram matrix ``G = C^T X^{-1} C`` and
  evaluates the quadratic form ``k^T G k``. Each term is of the size of
  ``||f||^2``, so round-off limits ``||r||`` to about ``sqrt(eps) ||f||``
  (relative errors below ~1e-8 are not certified: the bound can fall below
  the error or the square root of a negative number is taken).
* :class:`StableEstimator` computes the Riesz representers ``R = X^{-1} C``
  once and orthonormalises them in ``X`` with re-orthogonalised Gram–Schmidt,
  ``R = Q T`` with ``Q^T X Q = I`` (products with ``X`` accumulated in long
  double). Then ``||r||_{X'} = ||R k||_X = ||T k||_2``, the Euclidean norm of
  a small vector, accurate to a modest multiple of ``eps ||f||`` (Buhr,
  Engwer, Ohlberger, Rave 2014). Columns are added incrementally as the basis
  grows, so truncating to ``N`` basis vectors is a column slice.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .gram_schmidt import ExtendedProduct, GramSchmidt

#: relative accuracy floors reported with every ROM (``||r||_{X'} / ||f||_{X'}``)
STANDARD_FLOOR = float(np.sqrt(np.finfo(float).eps))
STABLE_FLOOR = 1e4 * float(np.finfo(float).eps)   # ~2e-12: T k summed in double


class RieszSolver:
    """``v -> X^{-1} v`` for an SPD inner-product matrix ``X`` (sparse LU, factorised once).

    With ``refine`` (default) one step of mixed-precision iterative refinement
    follows the LU solve: the residual ``v - X w`` is formed in extended
    precision (``np.longdouble``) and the correction solved in double. This
    takes the representer's error from ``kappa(X) eps`` down to about ``eps``,
    which is what keeps the stable estimator sharp below ``1e-11``.
    """

    def __init__(self, X: Any, refine: bool = True):
        self.X = sp.csc_matrix(X)
        self._lu = spla.splu(self.X)
        self.refine = refine
        self._X_ext = sp.csr_matrix(self.X).astype(np.longdouble) if refine else None

    def __call__(self, V: np.ndarray) -> np.ndarray:
        V = np.asarray(V)
        W = self._lu.solve(np.asarray(V, dtype=float))
        if self.refine:
            R = V.astype(np.longdouble) - self._X_ext @ W.astype(np.longdouble)
            W = W + self._lu.solve(np.asarray(R, dtype=float))
        return W



def residual_coefficients(theta_A: np.ndarray, theta_f: np.ndarray, uN: np.ndarray) -> np.ndarray:
    """The coefficient vectors ``k(mu)`` (rows) of ``r = C k`` for a batch of parameters.

    ``theta_A (B, Qa)``, ``theta_f (B, Qf)``, ``uN (B, N)`` -> ``(B, Qf + N Qa)``.
    """
    B = uN.shape[0]
    cross = -(uN[:, :, None] * theta_A[:, None, :]).reshape(B, -1)
    return np.concatenate([theta_f, cross], axis=1)


class _Estimator:
    """Shared incremental bookkeeping: the columns of ``C`` grow with the basis."""

    kind = ""
    floor = 0.0

    def __init__(self, A_terms: tuple, f_terms: tuple, riesz: RieszSolver):
        self.A_terms = A_terms
        self.f_terms = f_terms
        self.riesz = riesz
        self.Qa, self.Qf = len(A_terms), len(f_terms)
        self.n_basis = 0
        self._A_ext = [sp.csr_matrix(Aq).astype(np.longdouble) for Aq in A_terms]
        self._add_columns(np.column_stack([np.asarray(f, float) for f in f_terms]))

    def extend(self, Z: np.ndarray) -> None:
        """Add the columns ``A_q z`` of new basis vectors ``Z`` (n x k), accumulated in long double."""
        Z = np.atleast_2d(Z.T).T
        for z in Z.T:
            z_ext = np.asarray(z).astype(np.longdouble)
            self._add_columns(np.column_stack([Aq @ z_ext for Aq in self._A_ext]))
            self.n_basis += 1

    def n_columns(self, N: int) -> int:
        return self.Qf + N * self.Qa

    def _add_columns(self, C: np.ndarray) -> None:
        raise NotImplementedError

    def online_data(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def residual_norm(self, theta_A: np.ndarray, theta_f: np.ndarray, uN: np.ndarray
                      ) -> np.ndarray:
        """``||r(mu)||_{X'}`` for a batch, from the online data only."""
        data = next(iter(self.online_data().values()))
        return online_residual_norm(self.kind, data, theta_A, theta_f, uN)

    def rhs_norm(self, theta_f: np.ndarray) -> np.ndarray:
        """``||f(mu)||_{X'}``, the scale of the residual (for relative floors)."""
        zero = np.zeros((theta_f.shape[0], 0))
        return self.residual_norm(np.zeros((theta_f.shape[0], self.Qa)), theta_f, zero)


class StandardEstimator(_Estimator):
    """``||r||_{X'}^2 = k^T G k`` with the Gram matrix ``G = C^T X^{-1} C`` (loses accuracy below sqrt(eps))."""

    kind = "standard"
    floor = STANDARD_FLOOR

    def __init__(self, A_terms: tuple, f_terms: tuple, riesz: RieszSolver):
        self.C = None
        self.RC = None
        self.G = np.zeros((0, 0))
        super().__init__(A_terms, f_terms, riesz)

    def _add_columns(self, C: np.ndarray) -> None:
        R = self.riesz(C)
        C = np.asarray(C, dtype=float)
        if self.C is None:
            self.C, self.RC = C, R
            self.G = C.T @ R
        else:
            G12 = self.C.T @ R
            self.G = np.block([[self.G, G12], [G12.T, C.T @ R]])
            self.C, self.RC = np.column_stack([self.C, C]), np.column_stack([self.RC, R])
        self.G = 0.5 * (self.G + self.G.T)

    def online_data(self) -> dict[str, np.ndarray]:
        return {"G": self.G}


class StableEstimator(_Estimator):
    """``||r||_{X'} = ||T k||_2`` with ``X^{-1} C = Q T``, ``Q`` ``X``-orthonormal (accurate to ~eps)."""

    kind = "stable"
    floor = STABLE_FLOOR

    def __init__(self, A_terms: tuple, f_terms: tuple, riesz: RieszSolver):
        self.gs = GramSchmidt(ExtendedProduct(riesz.X), rtol=1e-14)
        self.T = np.zeros((0, 0))
        super().__init__(A_terms, f_terms, riesz)

    def _add_columns(self, C: np.ndarray) -> None:
        R = self.gs.extend(self.riesz(C))
        T = np.zeros((self.gs.size, self.T.shape[1] + R.shape[1]))
        T[: self.T.shape[0], : self.T.shape[1]] = self.T
        T[:, self.T.shape[1]:] = R
        self.T = T

    def online_data(self) -> dict[str, np.ndarray]:
        return {"T": self.T}


ESTIMATORS = {"standard": StandardEstimator, "stable": StableEstimator}


def make_estimator(kind: str, A_terms: tuple, f_terms: tuple, riesz: RieszSolver) -> _Estimator:
    if kind not in ESTIMATORS:
        raise ValueError(f"unknown estimator {kind!r}; valid: {', '.join(ESTIMATORS)}")
    return ESTIMATORS[kind](A_terms, f_terms, riesz)


def online_residual_norm(kind: str, data: np.ndarray, theta_A: np.ndarray, theta_f: np.ndarray,
                         uN: np.ndarray) -> np.ndarray:
    """Evaluate ``||r||_{X'}`` from stored online data (``G`` or ``T``) for a batch."""
    k = residual_coefficients(theta_A, theta_f, uN)
    m = k.shape[1]
    if kind == "stable":
        return np.linalg.norm(k @ data[:, :m].T, axis=1)
    if kind == "standard":
        return np.sqrt(np.abs(np.einsum("bi,ij,bj->b", k, data[:m, :m], k)))
    raise ValueError(f"unknown estimator {kind!r}; valid: {', '.join(ESTIMATORS)}")


def effectivities(delta: np.ndarray, err: np.ndarray) -> np.ndarray:
    """``delta / err`` per sample (``inf`` where the true error is 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(err > 0, delta / err, np.inf)


def bound_statistics(delta: np.ndarray, err: np.ndarray) -> dict[str, Any]:
    """Violations (``delta < err``) and the effectivity range of an error bound."""
    eff = effectivities(delta, err)
    return {"violations": int(np.sum(delta < err)), "min_effectivity": float(eff.min()),
            "max_effectivity": float(eff.max())}
