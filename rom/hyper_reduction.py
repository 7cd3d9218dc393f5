"""Hyper-reduction of the Burgers flux term: DEIM, Q-DEIM and ECSW (empirical cubature).

The semi-discrete Burgers equation (:mod:`solvers.problems.burgers`) has the
nonlinear term ``N(u)_i = (F_{i+1/2} - F_{i-1/2}) / h`` with the
energy-conserving flux ``F_{i+1/2} = (u_i² + u_i u_{i+1} + u_{i+1}²)/6``.
Its Galerkin projection ``f_r(a) = Φ^T N(Φ a)`` costs ``O(n r)``; each
hyper-reduction below replaces it by

.. math::

    f_r(a) \\approx W \\, N_P(Φ_S a), \\qquad W \\in R^{r \\times m},

where ``P`` are ``m`` sampled points and ``S = {p-1, p, p+1 : p ∈ P}`` their
flux stencils, so the online cost is ``3 m r`` multiply-adds for the sampled
states, ``O(m)`` for the fluxes and ``r m`` for ``W``: independent of ``n``.

* **DEIM** (Chaturantabut & Sorensen 2010) and **Q-DEIM** (Drmač & Gugercin
  2016): ``U`` are POD modes of snapshots of ``N(u)``, ``P`` their (Q-)DEIM
  indices (:func:`rom.eim.deim`, :func:`rom.eim.qdeim`), and
  ``W = Φ^T U (U_P)^{-1}``: the interpolant of ``N`` from its values at ``P``,
  projected. With ``m = n`` points (``U`` square, orthogonal) it is exact.
* **ECSW** (energy-conserving sampling and weighting, Farhat et al. 2014; the
  empirical cubature of Hernández et al. 2017): the reduced term is a sum of
  per-point contributions ``f_r(a) = Σ_i Φ_i^T N_i(Φ a)``; on training states
  ``u_k`` the vector ``b = [f_r(a_k)]_k`` is ``G 1`` with
  ``G[(k, j), i] = Φ_{ij} N_i(u_k)``. A sparse non-negative ``w`` with
  ``||G w - b|| <= tol ||b||`` (:func:`sparse_nnls`, Lawson–Hanson's active set
  stopped early) gives ``W = Φ_P^T diag(w_P)``. Non-negative weights keep the
  reduced term a positive quadrature of the full one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .eim import deim, qdeim


def flux(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The energy-conserving flux ``(x² + x y + y²)/6`` between neighbours ``x`` (left) and ``y``."""
    return (x * x + x * y + y * y) / 6.0


def flux_divergence(u: np.ndarray, h: float) -> np.ndarray:
    """``N(u)_i = (F_{i+1/2} - F_{i-1/2})/h`` on the periodic grid, along axis 0 of ``u``."""
    F = flux(u, np.roll(u, -1, axis=0))
    return (F - np.roll(F, 1, axis=0)) / h


def stencil(points: np.ndarray, n: int) -> np.ndarray:
    """The periodic flux stencils ``(p-1, p, p+1) mod n`` of ``points``: shape ``(3, m)``."""
    p = np.asarray(points, dtype=np.int64)
    return np.stack([(p - 1) % n, p, (p + 1) % n])


@dataclass
class SampledNonlinearity:
    """``f_r(a) ≈ W N_P(Φ_S a)`` (see the module docstring); ``full`` evaluates ``Φ^T N(Φ a)``.

    ``Phi_s`` has shape ``(3, m, r)`` (the basis rows at the left, centre and
    right stencil nodes of the ``m`` points), ``W`` ``(r, m)``. Calls accept
    ``a`` of shape ``(r,)`` or ``(r, B)`` (a batch of states as columns).
    """

    method: str
    points: np.ndarray
    W: np.ndarray
    Phi_s: np.ndarray
    h: float
    n: int
    full_basis: np.ndarray | None = None   # set for method "none": the whole basis

    @property
    def sampled_entries(self) -> int:
        """State entries read per evaluation (``3 m``; ``n`` without hyper-reduction)."""
        if self.full_basis is not None:
            return int(self.full_basis.shape[0])
        return int(len(np.unique(stencil(self.points, self.n))))

    def __post_init__(self) -> None:
        self._m = int(self.Phi_s.shape[1])
        # fused stencil rows: [Φ_+ - Φ_-; Φ_- + Φ_0 + Φ_+] (2m x r), one product per call
        self._C = np.ascontiguousarray(np.vstack([self.Phi_s[2] - self.Phi_s[0],
                                                  self.Phi_s[0] + self.Phi_s[1] + self.Phi_s[2]]))
        self._W6 = np.ascontiguousarray(self.W / (6.0 * self.h))

    def __call__(self, a: np.ndarray) -> np.ndarray:
        """``W N_P(Φ_S a)`` with ``6 h N_i = (u_{i+1} - u_{i-1})(u_{i-1} + u_i + u_{i+1})``
        (the flux difference factorised: three products per point)."""
        if self.full_basis is not None:
            Phi = self.full_basis
            return Phi.T @ flux_divergence(Phi @ a, self.h)
        v = self._C @ a
        return self._W6 @ (v[:self._m] * v[self._m:])

    def jacobian(self, a: np.ndarray) -> np.ndarray:
        """``d f_r / d a`` at one state ``a (r,)``: ``W (D_- Φ_- + D_0 Φ_0 + D_+ Φ_+)``."""
        if self.full_basis is not None:
            n = self.full_basis.shape[0]
            Phi_s = self.full_basis[stencil(np.arange(n), n)]
            W = self.full_basis.T
        else:
            Phi_s, W = self.Phi_s, self.W
        um, u0, up = Phi_s @ a
        dm, d0, dp = -(2 * um + u0), up - um, u0 + 2 * up
        inner = dm[:, None] * Phi_s[0] + d0[:, None] * Phi_s[1] + dp[:, None] * Phi_s[2]
        return W @ inner / (6.0 * self.h)

    def tensors(self) -> dict[str, np.ndarray]:
        return {"hyper_points": self.points, "hyper_W": self.W}


def interpolation_points(U: np.ndarray, method: str) -> np.ndarray:
    """DEIM (``"deim"``) or Q-DEIM (``"qdeim"``) indices of the basis ``U (n x m)``."""
    if method == "deim":
        return deim(U).indices
    if method == "qdeim":
        return qdeim(U).indices
    raise ValueError(f"unknown interpolation point selection {method!r}; valid: deim, qdeim")


def sparse_nnls(G: np.ndarray, b: np.ndarray, *, tol: float = 1e-8,
                max_points: int | None = None) -> tuple[np.ndarray, float]:
    """Lawson–Hanson active-set NNLS ``min ||G w - b||, w >= 0``, stopped as soon as
    ``||G w - b|| <= tol ||b||`` or ``max_points`` weights are positive.

    Returns ``(w, relative residual)``. Each outer step adds the index of the
    largest positive gradient entry ``(G^T r)_j`` to the passive set and solves
    the least-squares problem on it, stepping back to the feasible boundary
    (and dropping zero weights) while a passive weight would turn negative;
    without the early stops it is the exact NNLS solution (Lawson & Hanson 1974,
    ch. 23), as :func:`scipy.optimize.nnls`.
    """
    G, b = np.asarray(G, dtype=float), np.asarray(b, dtype=float)
    n = G.shape[1]
    max_points = n if max_points is None else min(int(max_points), n)
    bnorm = float(np.linalg.norm(b)) or 1.0
    w = np.zeros(n)
    passive = np.zeros(n, dtype=bool)
    r = b.copy()
    for _ in range(3 * n):
        if np.linalg.norm(r) <= tol * bnorm or passive.sum() >= max_points:
            break
        g = G.T @ r
        g[passive] = -np.inf
        j = int(np.argmax(g))
        if g[j] <= 1e-14 * bnorm * np.linalg.norm(G[:, j]):
            break
        passive[j] = True
        while True:
            z = np.zeros(n)
            z[passive] = np.linalg.lstsq(G[:, passive], b, rcond=None)[0]
            if np.all(z[passive] > 0):
                w = z
                break
            neg = passive & (z <= 0)
            alpha = float(np.min(w[neg] / (w[neg] - z[neg])))
            w = w + alpha * (z - w)
            passive &= w > 1e-14 * max(1.0, float(w.max()))
            w[~passive] = 0.0
        r = b - G @ w
    return w, float(np.linalg.norm(r) / bnorm)


def ecsw_system(Phi: np.ndarray, states: np.ndarray, h: float) -> tuple[np.ndarray, np.ndarray]:
    """``(G, b)`` of ECSW: ``G[(k, j), i] = Φ_ij N_i(u_k)`` for the states ``u_k`` (columns of
    ``states``, ``n x K``) and ``b = G 1 = [Φ^T N(u_k)]_k``."""
    N = flux_divergence(states, h)                          # (n, K)
    G = (Phi.T[None, :, :] * N.T[:, None, :]).reshape(-1, Phi.shape[0])   # (K r, n)
    return G, G.sum(axis=1)


def build(method: str, Phi: np.ndarray, h: float, *, nonlinear_snapshots: np.ndarray | None = None,
          states: np.ndarray | None = None, points: int | None = None,
          tol: float = 1e-8) -> tuple[SampledNonlinearity, dict]:
    """The hyper-reduced nonlinearity of ``method`` (``none|deim|qdeim|ecsw``) for the basis ``Φ``.

    DEIM/Q-DEIM take the POD of ``nonlinear_snapshots`` (``n x K``, values of
    ``N(u)``) truncated to ``points`` modes; ECSW takes projected ``states``
    (``n x K``) and stops at ``points`` positive weights or relative NNLS
    residual ``tol``. Returns the evaluator and a record of what was built.
    """
    n, r = Phi.shape
    if method == "none":
        return SampledNonlinearity("none", np.arange(n), Phi.T.copy(), np.zeros((3, 0, r)), h, n,
                                   full_basis=Phi), {"points": n}
    if points is None or points < 1:
        raise ValueError(f"{method} needs a positive number of sampled points, got {points}")
    if method in ("deim", "qdeim"):
        if nonlinear_snapshots is None:
            raise ValueError(f"{method} needs snapshots of the nonlinear term")
        U, sigma, _ = np.linalg.svd(nonlinear_snapshots, full_matrices=False)
        m = min(int(points), int(np.sum(sigma > sigma[0] * 1e-13)))
        U = U[:, :m]
        p = interpolation_points(U, method)
        W = Phi.T @ U @ np.linalg.inv(U[p])
        info = {"points": m, "nonlinear_sigma_tail": float(np.sqrt(np.sum(sigma[m:] ** 2)
                                                                    / np.sum(sigma ** 2)))}
    elif method == "ecsw":
        if states is None:
            raise ValueError("ecsw needs training states")
        G, b = ecsw_system(Phi, states, h)
        w, res = sparse_nnls(G, b, tol=tol, max_points=points)
        p = np.flatnonzero(w > 0)
        W = Phi[p].T * w[p]
        info = {"points": int(len(p)), "nnls_relative_residual": res,
                "weights_min": float(w[p].min()) if len(p) else 0.0}
    else:
        raise ValueError(f"unknown hyper-reduction {method!r}; valid: none, deim, qdeim, ecsw")
    p = np.asarray(p, dtype=np.int64)
    return SampledNonlinearity(method, p, W, Phi[stencil(p, n)], h, n), info


def from_tensors(method: str, Phi: np.ndarray, h: float, points: np.ndarray,
                 W: np.ndarray) -> SampledNonlinearity:
    """Rebuild a saved :class:`SampledNonlinearity` from its points and ``W``."""
    if method == "none":
        return SampledNonlinearity("none", np.asarray(points), W, np.zeros((3, 0, Phi.shape[1])),
                                   h, Phi.shape[0], full_basis=Phi)
    p = np.asarray(points, dtype=np.int64)
    return SampledNonlinearity(method, p, np.asarray(W), Phi[stencil(p, Phi.shape[0])], h,
                               Phi.shape[0])
