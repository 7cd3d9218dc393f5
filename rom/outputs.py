"""Linear output functionals of reduced-basis solutions and their certified error bounds.

An output is ``s(μ) = l(u(μ)) = lᵀ u(μ)`` for a fixed vector ``l`` at the
unknowns (time-dependent: ``s^k(μ) = lᵀ u^k(μ)`` at every stored time). The
reduced output is ``s_N = lᵀ V c``; by Cauchy–Schwarz in the dual pairing,

* steady RB, ``||u - u_N||_X <= Δ(μ)``:
  ``|s - s_N| <= ||l||_{X'} Δ(μ)``, ``||l||_{X'} = (lᵀ X^{-1} l)^{1/2}``;
* parabolic RB, ``|u^k - u_N^k|_M <= Δ_k(μ)`` (:mod:`rom.parabolic`):
  ``|s^k - s_N^k| <= ||l||_{M^{-1}} Δ_k(μ)``,
  ``||l||_{M^{-1}} = (lᵀ M^{-1} l)^{1/2}`` (``= ||l||_2`` for ``M = I``).

(Patera & Rozza 2007, ch. 4; Grepl & Patera 2005.) The dual norms are
computed once offline with a sparse factorisation (refined in extended
precision, :class:`rom.estimators.RieszSolver`). For steady RB the
primal–dual (dual-weighted residual) corrected output and its product bound
are :class:`PrimalDualOutput` (library level; ``rom evaluate`` reports the
plain output bound).

Choosing ``l`` (option ``--output``): ``mean`` — the mean of the nodal field
over the grid, ``l = 1/n_nodes`` at the unknowns (boundary nodes carry the
homogeneous Dirichlet value 0); ``none`` — no output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .estimators import RieszSolver

OUTPUTS = ("mean", "none")


@dataclass
class LinearOutput:
    """``s(u) = lᵀ u`` with the dual norm ``||l||_{Y'}`` of the norm ``Y`` the state bound uses."""

    name: str
    l: np.ndarray
    dual_norm: float

    def __call__(self, U: np.ndarray) -> np.ndarray:
        """Outputs of states (last axis: the unknowns)."""
        return np.asarray(U, dtype=float) @ self.l

    def bound(self, delta: np.ndarray) -> np.ndarray:
        """``|s - s_N| <= ||l||_{Y'} Δ`` for state bounds ``Δ`` in the ``Y`` norm."""
        return self.dual_norm * np.asarray(delta, dtype=float)


def make_output(name: str, n_unknowns: int, n_nodes: int, Y: Any = None) -> LinearOutput | None:
    """The output ``name`` (``mean`` | ``none``) with its dual norm in ``Y`` (``None``: Euclidean)."""
    if name not in OUTPUTS:
        raise ValueError(f"unknown output functional {name!r}; valid: {', '.join(OUTPUTS)}")
    if name == "none":
        return None
    if n_nodes < n_unknowns or n_unknowns < 1:
        raise ValueError(f"the mean needs 1 <= unknowns <= nodes, got {n_unknowns}, {n_nodes}")
    l = np.full(n_unknowns, 1.0 / n_nodes)
    dual = float(np.linalg.norm(l)) if Y is None else float(np.sqrt(l @ RieszSolver(Y)(l)))
    return LinearOutput(name, l, dual)


def output_statistics(s_true: np.ndarray, s_rb: np.ndarray, bound: np.ndarray) -> dict[str, Any]:
    """Output errors, bound violations and effectivities (``bound / error`` where the error > 0)."""
    err = np.abs(np.asarray(s_true, float) - np.asarray(s_rb, float))
    bound = np.asarray(bound, float)
    pos = err > 0
    eff = bound[pos] / err[pos]
    return {"max_abs_error": float(err.max()), "max_bound": float(bound.max()),
            "violations": int(np.sum(bound < err)),
            "min_effectivity": float(eff.min()) if eff.size else float("inf"),
            "max_effectivity": float(eff.max()) if eff.size else float("inf")}


def _one(mu: np.ndarray) -> np.ndarray:
    return np.ones(1)


class PrimalDualOutput:
    """Steady RB output with the primal–dual (dual-weighted residual) correction.

    Dual problem ``A(μ)ᵀ ψ(μ) = -l``, reduced by its own RB (basis ``W``). With the
    primal residual ``r_pr(μ) = f(μ) - A(μ) V c`` and ``e = u - V c``,
    ``s - s_N = lᵀe = -ψᵀ A e = -ψᵀ r_pr``, so the corrected output is

    .. math::

        \\tilde s_N(μ) = lᵀ V c - (W d)ᵀ r_{pr}(μ), \\qquad
        |s(μ) - \\tilde s_N(μ)| = |(ψ - W d)ᵀ A(μ) e|
        \\le \\frac{||r_{pr}(μ)||_{X'}\\, ||r_{du}(μ)||_{X'}}{α_{LB}(μ)}

    (Pierce & Giles 2000; Patera & Rozza 2007, ch. 4; pyMOR's primal–dual
    output estimate). The correction is affine: offline ``W_mᵀ f_q`` and
    ``W_mᵀ A_q V`` are stored, online it costs ``O(Qa N M + Qf M)``.
    ``primal`` and ``dual`` are :class:`rom.reduced_basis.ReducedBasis` objects
    (the dual built by :meth:`dual_decomposition` with the same ``X`` and
    coercivity bound).
    """

    def __init__(self, l: np.ndarray, primal: Any, dual: Any) -> None:
        self.l = np.asarray(l, dtype=float)
        self.primal, self.dual = primal, dual
        V, W = primal.basis, dual.basis
        aff = primal.affine
        self.lV = V.T @ self.l
        self.Wf = np.array([W.T @ np.asarray(fq, float) for fq in aff.f_terms])   # (Qf, M)
        self.WAV = np.array([W.T @ (Aq @ V) for Aq in aff.A_terms])              # (Qa, M, N)
        self.on_pr, self.on_du = primal.online(), dual.online()

    @staticmethod
    def dual_decomposition(affine: Any, l: np.ndarray) -> Any:
        """The affine form of the dual problem ``A(μ)ᵀ ψ = -l``."""
        from solvers.problems.base import AffineDecomposition

        return AffineDecomposition(tuple(Aq.T.tocsr() for Aq in affine.A_terms),
                                   (-np.asarray(l, dtype=float),), affine.theta_A, _one,
                                   affine.min_theta_ref)

    def __call__(self, mus: np.ndarray) -> dict[str, np.ndarray]:
        """``s_N``, ``s_corrected``, and the bounds ``||l||_{X'} Δ_pr`` and the primal–dual one."""
        mus = np.atleast_2d(mus)
        c, d_pr = self.on_pr(mus)
        d, d_du = self.on_du(mus)
        tA, tf = self.on_pr.thetas(mus)
        alpha = self.on_pr.alpha(tA, mus)
        s_N = c @ self.lV
        # (W d)^T r_pr = d^T (Σ θ_f W^T f_q - Σ θ_A W^T A_q V c)
        wr = np.einsum("bm,bm->b", d, tf @ self.Wf) - np.einsum(
            "bm,bq,qmn,bn->b", d, tA, self.WAV, c)
        # ||r||_{X'} = α Δ for either problem (same X, same coercivity bound)
        return {"s_N": s_N, "s_corrected": s_N - wr,
                "bound_corrected": alpha * d_pr * d_du}
