"""Lower-triangular factor variant: ``M = L L^T ≈ Â`` (Li et al., ICML 2023).

Values on the pattern ``tril(Â^k)`` from the network's raw output ``r``::

    l_ii = δ + softplus(r_ii + softplus^{-1}(1 - δ))     (≥ δ = 0.05, equal to 1 at r = 0)
    l_ij = tanh(r_ij + artanh Â_ij)                     (i > j; Â_ij = 0 off the pattern of A)

so ``L`` is lower triangular with a positive diagonal and ``L L^T`` is SPD.
At ``r = 0``, ``L = I + tril(Â, -1)`` (the starting guess of fine-grained IC(0)).
The bounds mirror the exact Cholesky factor of a unit-diagonal SPD matrix
(``Σ_k l_ik² = 1``, so ``|l_ij| < 1``) and keep ``L`` well conditioned
whatever the network outputs.
The preconditioner on the original matrix is
``M^{-1} = D^{-1/2} L^{-T} L^{-1} D^{-1/2}``, applied by a forward and a
backward substitution.

Loss (per matrix, averaged over probe vectors ``c``)::

    ‖(L L^T - Â) c‖² / ‖Â c‖²

With ``c = x̂`` (dataset solution, scaled) this is the supervised
``‖L L^T x̂ - b̂‖² / ‖b̂‖²``; with Gaussian ``c`` the stochastic estimate of
the Frobenius-type error ``‖L L^T - Â‖``. Both vanish iff ``L L^T c = Â c``.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch
import torch.nn.functional as F

from .graph import MatrixGraph
from .losses import factor_loss
from .pattern import Pattern

DIAG_FLOOR = 0.05
_SHIFT = math.log(math.expm1(1.0 - DIAG_FLOOR))


class FactorVariant:
    """``L`` lower triangular with positive diagonal; ``M = (L L^T)^{-1}``."""

    name = "factor"
    default_power = 1

    def values(self, raw: torch.Tensor, g: MatrixGraph) -> torch.Tensor:
        return self.pair_values(raw, g.pair_attr)

    def pair_values(self, raw: torch.Tensor, attr: torch.Tensor) -> torch.Tensor:
        """Entries of ``L`` from raw outputs and pair features ``(Q, 3)`` (``[Â_ij, ·, [i = j]]``)."""
        d = F.softplus(raw + _SHIFT) + DIAG_FLOOR
        a = attr[:, 0].clamp(-0.999, 0.999)
        return torch.where(attr[:, 2] > 0.5, d, torch.tanh(raw + torch.atanh(a)))

    def split_values(self, raw_diag: torch.Tensor, raw_off: torch.Tensor, off_attr: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`pair_values` on the diagonal and the strictly lower entries separately."""
        a = off_attr[:, 0].clamp(-0.999, 0.999)
        return F.softplus(raw_diag + _SHIFT) + DIAG_FLOOR, torch.tanh(raw_off + torch.atanh(a))

    def loss(self, vals: torch.Tensor, g: MatrixGraph, c: torch.Tensor) -> torch.Tensor:
        return factor_loss(vals, g, c)

    def build(self, values: np.ndarray, pattern: Pattern, s: np.ndarray) -> FactorPrecond:
        """``L`` with ``values`` on ``pattern`` (CSR order) -> the preconditioner."""
        return FactorPrecond(pattern.csr(values), s)


class FactorPrecond:
    """``r -> D^{-1/2} L^{-T} L^{-1} D^{-1/2} r`` (vectors or ``(n, k)`` blocks).

    The substitutions run in SuperLU's compiled triangular solves: ``L`` is
    "factorised" with the natural ordering and no pivoting (``diag_pivot_thresh
    = 0``), which for a lower-triangular matrix is fill-free (``L = L' U`` with
    ``U`` diagonal), so ``lu.solve`` and ``lu.solve(trans="T")`` are exactly
    ``L^{-1}`` and ``L^{-T}``. If SuperLU pivots anyway, scipy's
    ``spsolve_triangular`` is used.
    """

    name = "learned-factor"

    def __init__(self, L: sp.csr_matrix, s: np.ndarray):
        if np.any(L.diagonal() <= 0):
            raise ValueError("factor has a non-positive diagonal")
        self.L, self.s = L, s
        n = L.shape[0]
        self.lu = spla.splu(sp.csc_matrix(L), permc_spec="NATURAL", diag_pivot_thresh=0.0,
                            options={"SymmetricMode": True})
        ident = np.arange(n)
        if not (np.array_equal(self.lu.perm_r, ident) and np.array_equal(self.lu.perm_c, ident)):
            self.lu = None
            self.LT = sp.csr_matrix(L.T)

    def apply(self, r: np.ndarray) -> np.ndarray:
        s = self.s if r.ndim == 1 else self.s[:, None]
        y = s * r
        if self.lu is not None:
            return s * self.lu.solve(self.lu.solve(y), trans="T")
        y = spla.spsolve_triangular(self.L, y, lower=True)
        return s * spla.spsolve_triangular(self.LT, y, lower=False)

    def matrix(self) -> sp.csr_matrix:
        """``M = D^{1/2} L L^T D^{1/2} ≈ A`` (the preconditioner's inverse; for tests)."""
        Sd = sp.diags(1.0 / self.s)
        return sp.csr_matrix(Sd @ self.L @ self.L.T @ Sd)
