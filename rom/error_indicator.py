"""A residual error indicator for the non-certified reduced Burgers models (Galerkin, opinf).

The reduced trajectory ``u_r(t) = Φ a(t)`` with ``u̇_r = Φ ȧ`` (``ȧ`` the reduced
model's own right-hand side) leaves the residual of the full semi-discrete
scheme

.. math::

    ρ(t) = u̇_r - ν D_2 u_r + N(u_r)

(:mod:`solvers.problems.burgers`), which vanishes for the true trajectory.
Evaluated at ``m`` equispaced sample points ``P`` (each needs its three-point
stencil: ``3 m r`` multiply-adds per stored time, independent of ``n``), the
indicator is the relative residual

.. math::

    η = \\Bigl(\\sum_k \\sum_{i \\in P} ρ_i(t_k)^2 \\Bigr)^{1/2} \\Big/
        \\Bigl(\\sum_k \\sum_{i \\in P} (ν D_2 u_r - N(u_r))_i(t_k)^2\\Bigr)^{1/2}

over the stored times ``t_k`` (equispaced points make both sums ``m/n`` times
a quadrature of the full norms). It is not a bound: the error obeys
``ė = J e + ρ``, so a small residual means a small error only as far as the
full dynamics are stable; its usefulness is reported as the rank (Spearman)
and linear (Pearson) correlation with the true error over the test samples
(as in the error-indicator-based adaptive ROM of Casenave, Akkari,
Ryckelynck et al.).
"""

from __future__ import annotations

import numpy as np

from .hyper_reduction import flux, stencil


def indicator_points(n: int, m: int = 64) -> np.ndarray:
    """``min(m, n)`` equispaced sample points of the ``n``-node grid."""
    m = max(1, min(int(m), n))
    return np.unique(np.floor(np.arange(m) * n / m).astype(np.int64))


def residual_indicator(Phi: np.ndarray, h: float, nu: float, states: np.ndarray,
                       derivatives: np.ndarray, points: np.ndarray) -> float:
    """``η`` of one reduced trajectory: ``states`` and ``derivatives`` ``(T, r)``."""
    Phi_s = Phi[stencil(points, Phi.shape[0])]          # (3, m, r)
    um, u0, up = Phi_s @ states.T                       # (m, T) each
    rhs = nu * (um - 2.0 * u0 + up) / h ** 2 - (flux(u0, up) - flux(um, u0)) / h
    res = Phi_s[1] @ derivatives.T - rhs
    scale = float(np.linalg.norm(rhs))
    return float(np.linalg.norm(res) / scale) if scale > 0 else float(np.linalg.norm(res))


def correlations(indicator: np.ndarray, error: np.ndarray) -> dict[str, float | None]:
    """Spearman and Pearson correlation of the indicator with the true error
    (``None`` with fewer than 3 finite pairs or a constant series)."""
    from scipy import stats

    x, y = np.asarray(indicator, dtype=float), np.asarray(error, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return {"spearman": None, "pearson": None}
    return {"spearman": float(stats.spearmanr(x, y)[0]), "pearson": float(stats.pearsonr(x, y)[0])}
