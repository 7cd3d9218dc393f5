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
are :class:`PrimalDualOutput` (``rom train rb --output-correction primal-dual``
builds the dual RB; ``rom evaluate`` then reports both outputs, their errors,
bounds and effectivities).

Choosing ``l`` (option ``--functional``): ``mean`` — the mean of the nodal field
over the grid, ``l = 1/n_nodes`` at the unknowns (boundary nodes carry the
homogeneous Dirichlet value 0); ``mean:X0:X1,Y0:Y1`` — the mean over the grid
nodes in a box (a non-compliant output: there the primal–dual correction pays);
``none`` — no output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .estimators import RieszSolver

OUTPUTS = ("mean", "mean:X0:X1[,Y0:Y1]", "none")


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


def parse_functional(spec: str) -> tuple[str, list[tuple[float, float]] | None]:
    """``(kind, box)``: ``mean`` → ``("mean", None)``, ``mean:0.5:1,0:0.5`` → the mean over
    ``[0.5, 1] x [0, 0.5]`` (one ``lo:hi`` range per grid axis), ``none`` → ``("none", None)``."""
    spec = spec.strip()
    if spec in ("mean", "none"):
        return spec, None
    head, _, ranges = spec.partition(":")
    box = []
    try:
        for r in ranges.split(",") if head == "mean" and ranges else []:
            lo, hi = (float(v) for v in r.split(":"))
            box.append((lo, hi))
    except ValueError:
        box = []
    if not box or any(not lo < hi for lo, hi in box):
        raise ValueError(f"unknown output functional {spec!r}; valid: mean, none, or the mean "
                         "over a box mean:X0:X1[,Y0:Y1] (X0 < X1 in grid coordinates)")
    return "mean", box


def nodal_unknowns(problem: Any, n: int) -> np.ndarray:
    """``k[node]``: which of the ``n`` unknowns each grid node holds (``-1`` for boundary
    nodes carrying a fixed value), probed through the problem's (affine in the unknowns)
    ``to_fields``.

    Errors when a node mixes unknowns (the output then is not a nodal mean)."""
    mu = problem.parameter_space.from_unit(np.full((1, problem.parameter_space.dim), 0.5))[0]
    name = problem.output_names[0]
    base = np.asarray(problem.to_fields(mu, np.zeros(n))[name], float)
    probe = np.asarray(problem.to_fields(mu, np.arange(1.0, n + 1.0))[name], float) - base
    k = np.rint(probe).astype(int) - 1
    if not np.allclose(probe, k + 1, atol=1e-9) or k.max() >= n or k.min() < -1:
        raise ValueError(f"the {name!r} field of {problem.name!r} is not nodal in the unknowns: "
                         "a region mean cannot be formed")
    return k


def make_output(name: str, n_unknowns: int, n_nodes: int, Y: Any = None,
                problem: Any = None) -> LinearOutput | None:
    """The output ``name`` (:func:`parse_functional`) with its dual norm in ``Y``
    (``None``: Euclidean). A box mean needs ``problem`` (its grid and unknowns)."""
    kind, box = parse_functional(name)
    if kind == "none":
        return None
    if n_nodes < n_unknowns or n_unknowns < 1:
        raise ValueError(f"the mean needs 1 <= unknowns <= nodes, got {n_unknowns}, {n_nodes}")
    if box is None:
        l = np.full(n_unknowns, 1.0 / n_nodes)
    else:
        if problem is None:
            raise ValueError("a box mean needs the problem's grid")
        grid = problem.grid
        if len(box) != grid.ndim:
            raise ValueError(f"output box {name!r} has {len(box)} ranges for a "
                             f"{grid.ndim}-D grid")
        inside = np.ones(grid.shape, bool)
        for (lo, hi), x in zip(box, grid.mesh()):
            inside &= (x >= lo - 1e-12) & (x <= hi + 1e-12)
        if not inside.any():
            raise ValueError(f"output box {name!r} contains no grid node")
        k = nodal_unknowns(problem, n_unknowns)
        l = np.zeros(n_unknowns)
        sel = k[inside]
        np.add.at(l, sel[sel >= 0], 1.0 / int(inside.sum()))
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


def dual_theta_f(mu: np.ndarray) -> np.ndarray:
    """The one coefficient of the dual right-hand side ``-l`` (parameter independent)."""
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
    output estimate). The correction is affine: offline ``lᵀV``, ``W_mᵀ f_q`` and
    ``W_mᵀ A_q V`` are stored (:meth:`tensors`), online it costs
    ``O(Qa N M + Qf M)`` on top of the two reduced solves. The returned bound adds the
    rounding error of evaluating ``\\tilde s_N`` in floating point (``2 n u`` times the sum
    of the absolute values of its terms): without it the product of two residual norms
    at round-off (``~1e-24``) falls below the accuracy of the output itself.
    ``primal`` and ``dual`` are :class:`rom.reduced_basis.OnlineRB` objects with the same coercivity lower
    bound (``xᵀAᵀx = xᵀAx``: the dual operator is exactly as coercive);
    :meth:`from_bases` builds it from two offline :class:`~rom.reduced_basis.ReducedBasis`.
    """

    def __init__(self, lV: np.ndarray, Wf: np.ndarray, WAV: np.ndarray, primal: Any,
                 dual: Any) -> None:
        self.lV, self.Wf, self.WAV = (np.asarray(a, dtype=float) for a in (lV, Wf, WAV))
        self.on_pr, self.on_du = primal, dual
        self._abs = (np.abs(self.lV), np.abs(self.Wf), np.abs(self.WAV))
        if self.WAV.shape[1:] != (dual.N, primal.N) or self.lV.shape != (primal.N,):
            raise ValueError(f"primal–dual tensors of shapes {self.lV.shape}, {self.WAV.shape} "
                             f"do not match a primal basis of {primal.N} and a dual of {dual.N}")

    @classmethod
    def from_bases(cls, l: np.ndarray, primal: Any, dual: Any) -> PrimalDualOutput:
        """From the offline primal and dual reduced bases (same affine terms, transposed)."""
        V, W = primal.basis, dual.basis
        aff = primal.affine
        lV = V.T @ np.asarray(l, dtype=float)
        Wf = np.array([W.T @ np.asarray(fq, float) for fq in aff.f_terms])   # (Qf, M)
        WAV = np.array([W.T @ (Aq @ V) for Aq in aff.A_terms])              # (Qa, M, N)
        return cls(lV, Wf, WAV, primal.online(), dual.online())

    def tensors(self) -> dict[str, np.ndarray]:
        """The offline correction data (``lV``, ``Wf``, ``WAV``) to store with the model."""
        return {"lV": self.lV, "Wf": self.Wf, "WAV": self.WAV}

    @staticmethod
    def dual_decomposition(affine: Any, l: np.ndarray) -> Any:
        """The affine form of the dual problem ``A(μ)ᵀ ψ = -l``."""
        from solvers.problems.base import AffineDecomposition

        return AffineDecomposition(tuple(Aq.T.tocsr() for Aq in affine.A_terms),
                                   (-np.asarray(l, dtype=float),), affine.theta_A, dual_theta_f,
                                   affine.min_theta_ref)

    def __call__(self, mus: np.ndarray, N: int | None = None, M: int | None = None
                 ) -> dict[str, np.ndarray]:
        """``s_N``, ``s_corrected`` and the primal–dual bound ``bound_corrected`` with the
        first ``N`` primal and ``M`` dual basis vectors (default: all)."""
        mus = np.atleast_2d(mus)
        N = self.on_pr.N if N is None else N
        M = self.on_du.N if M is None else M
        c, d_pr = self.on_pr(mus, N)
        d, d_du = self.on_du(mus, M)
        tA, tf = self.on_pr.thetas(mus)
        alpha = self.on_pr.alpha(tA, mus)
        s_N = c @ self.lV[:N]
        # (W d)^T r_pr = d^T (Σ θ_f W^T f_q - Σ θ_A W^T A_q V c)
        wr = np.einsum("bm,bm->b", d, tf @ self.Wf[:, :M]) - np.einsum(
            "bm,bq,qmn,bn->b", d, tA, self.WAV[:, :M, :N], c)
        # rounding of this evaluation (a sum of products: at most n u times the sum of the
        # absolute values, n the longest sum): the product bound alone reaches 1e-24 where
        # the corrected output itself is only accurate to about eps |s|
        alV, aWf, aWAV = self._abs
        ad, ac = np.abs(d), np.abs(c)
        size = np.einsum("bn,n->b", ac, alV[:N]) + np.einsum("bm,bm->b", ad, np.abs(tf) @ aWf[:, :M]) \
            + np.einsum("bm,bq,qmn,bn->b", ad, np.abs(tA), aWAV[:, :M, :N], ac)
        rounding = 2.0 * (N + M + tA.shape[1] + tf.shape[1]) * np.finfo(float).eps * size
        # ||r||_{X'} = α Δ for either problem (same X, same coercivity bound)
        return {"s_N": s_N, "s_corrected": s_N - wr,
                "bound_corrected": alpha * d_pr * d_du + rounding}
