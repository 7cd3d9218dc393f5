"""The truth (full-order) solve that every reduced model is judged against.

``u(mu) = A(mu)^{-1} b(mu)`` by the sparse LU factorisation of the ``direct``
solver of :mod:`solvers.linear` (:func:`solvers.linear.base.lu_factor`),
followed by mixed-precision iterative refinement (Wilkinson; Moler 1967; Higham, *Accuracy and Stability
of Numerical Algorithms*, ch. 12):

    r_k = b - A u_k          (accumulated in extended precision, np.longdouble)
    A d_k = r_k              (the same LU factors, in double)
    u_{k+1} = u_k + d_k

A plain LU solution carries a relative error of about ``kappa(A) eps``
(5e-14 to 1e-13 on a 2e4-unknown thermal block), which is larger than a
converged reduced basis' error, so an error bound checked against it would
show false violations. Each refinement step multiplies the error by about
``kappa(A) eps`` until it reaches the rounding of ``u`` itself (~eps); the
steps stop when the correction is below ``eps ||u||`` or stops shrinking.
The size of the last correction relative to ``u``, at least ``eps``, is
reported as :attr:`Truth.rel_error_estimate` (it is the error of the
previous iterate, so an upper estimate of the returned one's).

``A_exact`` / ``b_exact`` (extended precision) give the residual of the
exact operator when ``A`` is itself rounded, e.g. ``sum_q theta_q(mu) A_q``
summed in double (:class:`AffineTruth`). The seconds reported are those of
the factorisation and the first solve (refinement and residuals are not
counted): the direct-solve reference of a reduced model's speedup.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from solvers.linear.base import lu_factor
from solvers.problems.base import AffineDecomposition

EPS = float(np.finfo(float).eps)


@dataclass(frozen=True)
class Truth:
    """A refined reference solution: ``u``, the direct-solve ``seconds``, the estimated
    relative error ``||u - u_exact|| / ||u||`` (at least ``eps``) and the number of
    refinement steps applied."""

    u: np.ndarray
    seconds: float
    rel_error_estimate: float
    refinements: int


def truth_solve(A: Any, b: np.ndarray, *, A_exact: Any = None, b_exact: Any = None,
                max_refinements: int = 4) -> Truth:
    """``A u = b`` by sparse LU and iterative refinement with extended-precision residuals
    (of ``A_exact``/``b_exact`` when given, else of ``A``/``b``); see the module docstring."""
    A = sp.csc_matrix(A)
    b = np.asarray(b, dtype=float)
    t0 = time.perf_counter()
    lu = lu_factor(A)
    u = lu.solve(b)
    seconds = time.perf_counter() - t0
    if not np.all(np.isfinite(u)):
        raise ValueError("truth solve failed: the LU solution is not finite")
    A_ext = sp.csr_matrix(A if A_exact is None else A_exact).astype(np.longdouble)
    b_ext = np.asarray(b if b_exact is None else b_exact).astype(np.longdouble)
    norm_u = max(float(np.linalg.norm(u)), np.finfo(float).tiny)
    estimate, applied = np.inf, 0
    for _ in range(max_refinements):
        r = b_ext - A_ext @ u.astype(np.longdouble)
        d = lu.solve(np.asarray(r, dtype=float))
        size = float(np.linalg.norm(d)) / norm_u
        if size >= estimate:   # stagnated: keep the previous iterate
            break
        u, estimate, applied = u + d, size, applied + 1
        if size <= EPS:
            break
    return Truth(u, float(seconds), max(estimate, EPS), applied)


class AffineTruth:
    """Truth solutions of an affine form ``A(mu) = sum_q theta_A(mu)_q A_q`` whose refinement
    residuals use the sums in extended precision (the terms converted once)."""

    def __init__(self, affine: AffineDecomposition):
        self.affine = affine
        self._A_ext = [sp.csr_matrix(Aq).astype(np.longdouble) for Aq in affine.A_terms]
        self._f_ext = [np.asarray(fq).astype(np.longdouble) for fq in affine.f_terms]

    def __call__(self, mu: np.ndarray) -> Truth:
        mu = np.asarray(mu, dtype=float)
        A, f = self.affine.assemble(mu)
        tA = np.asarray(self.affine.theta_A(mu), dtype=float).astype(np.longdouble)
        tf = np.asarray(self.affine.theta_f(mu), dtype=float).astype(np.longdouble)
        A_ext = sum(t * Aq for t, Aq in zip(tA, self._A_ext))
        f_ext = sum(t * fq for t, fq in zip(tf, self._f_ext))
        return truth_solve(A, f, A_exact=A_ext, b_exact=f_ext)
