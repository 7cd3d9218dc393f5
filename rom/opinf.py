"""Operator inference (Peherstorfer & Willcox 2016): a quadratic reduced model fitted to data.

From projected trajectories ``a_k(t_j) = Φ^T u_k(t_j)`` alone (no access to
the full operators) fit

.. math::

    \\frac{da}{dt} = c + A a + ν A_ν a + H\\, q(a), \\qquad
    q(a) = (a_i a_j)_{i \\le j} \\in R^{r(r+1)/2},

by Tikhonov-regularised least squares

.. math::

    \\min_{O} \\sum_{k,j} \\| O\\, d(a_k(t_j), ν_k) - \\dot a_k(t_j) \\|^2 + λ^2 \\|O\\|_F^2,
    \\qquad d(a, ν) = [1;\\, a;\\, ν a;\\, q(a)],

solved as one stacked least-squares problem ``[D; λ I] O^T = [Ȧ; 0]`` (no
normal equations). The terms are chosen by ``operators`` (letters of
``cAH``); ``ν A_ν`` is the affine parameter dependence of Burgers' diffusion,
used when the trajectories' ``ν`` differ. The quadratic keeps only the
``r(r+1)/2`` unique products, so ``H`` is identifiable.

Time derivatives ``ȧ`` are second-order finite differences of the *stored*
trajectories (``numpy.gradient``: central inside, second-order one-sided at
the ends); the stored output spacing therefore limits the accuracy.

``(λ_1, λ_2)`` (``reg="auto"``) is the pair of a log-spaced grid whose model, fitted on
the other trajectories, integrates the held-out ones with the smallest mean
relative error (a blow-up counts as infinite), then refitted on all.
The model is integrated by Lawson-RK4 (the linear part exactly by its matrix
exponential, RK4 on ``c + H q(a)``) with steps ``<= cfl / ρ(T a)`` (``T a``
the quadratic term's Jacobian at the output interval's start, ``ρ`` its
spectral radius), by :func:`rom.galerkin.integrate` with its blow-up check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.linalg as sla

from solvers.problems.time_stepping import substeps

from .galerkin import ReducedBlowUp, integrate

#: regularisation grid of ``reg="auto"`` (for each of λ_1 and λ_2)
REG_GRID = tuple(10.0 ** np.arange(-6, 3))


def quadratic(a: np.ndarray) -> np.ndarray:
    """Unique products ``q(a) = (a_i a_j)_{i <= j}`` of ``a (r,)`` or ``(r, B)``."""
    i, j = _pairs(a.shape[0])
    return a[i] * a[j]


@lru_cache(maxsize=16)
def _pairs(r: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.triu_indices(r)``, cached (it is called at every right-hand side)."""
    return np.triu_indices(r)


def time_derivative(states: np.ndarray, times: np.ndarray) -> np.ndarray:
    """``d a / dt`` at the stored times by second-order differences along axis 0."""
    return np.gradient(states, np.asarray(times, dtype=float), axis=0, edge_order=2)


def data_matrix(states: np.ndarray, nu: float, operators: str, affine: bool) -> np.ndarray:
    """Rows ``d(a(t_j), ν)`` for one trajectory ``states (T, r)``."""
    cols = []
    if "c" in operators:
        cols.append(np.ones((len(states), 1)))
    if "A" in operators:
        cols.append(states)
        if affine:
            cols.append(nu * states)
    if "H" in operators:
        cols.append(quadratic(states.T).T)
    return np.hstack(cols)


@dataclass
class OpInfModel:
    """``da/dt = c + A a + ν A_ν a + H q(a)`` (absent terms are zero arrays)."""

    c: np.ndarray
    A: np.ndarray
    A_nu: np.ndarray
    H: np.ndarray
    times: np.ndarray
    operators: str = "cAH"
    cfl: float = 1.0
    growth: float = 10.0

    @property
    def r(self) -> int:
        return int(self.A.shape[0])

    def rhs(self, a: np.ndarray, nu: float | np.ndarray) -> np.ndarray:
        lin = self.A @ a + np.asarray(nu) * (self.A_nu @ a)
        c = self.c if a.ndim == 1 else self.c[:, None]
        return c + lin + self.H @ quadratic(a)

    def jacobian_radius(self, a: np.ndarray, nu: float | np.ndarray, linear: bool = True) -> float:
        """Largest spectral radius over the columns of ``a`` of ``J = A + ν A_ν + T a``
        (``linear=False``: of ``T a`` alone), ``T[:, k, j] = ∂²(H q(a))/∂a_k ∂a_j``."""
        if not hasattr(self, "_T"):
            r = self.r
            T = np.zeros((r, r, r))
            for p, (i, j) in enumerate(zip(*np.triu_indices(r))):
                T[:, i, j] += self.H[:, p]
                T[:, j, i] += self.H[:, p]
            self._T = T
        a2 = a.reshape(self.r, -1)
        J = np.einsum("ikj,jb->bik", self._T, a2)
        if linear:
            nus = np.broadcast_to(np.asarray(nu, dtype=float), (a2.shape[1],))
            J = J + self.A[None] + nus[:, None, None] * self.A_nu[None]
        return float(np.max(np.abs(np.linalg.eigvals(J))))

    def integrate_reduced(self, a0: np.ndarray, nu: float | np.ndarray) -> np.ndarray:
        """States at :attr:`times` (``(T, r)``, or ``(T, r, B)`` for ``a0 (r, B)``).

        Lawson-RK4 (as the Galerkin model): the linear part ``L = A + ν A_ν`` is
        applied exactly by ``e^{dt L/2}`` (``scipy.linalg.expm``, one per step length
        and column), RK4 on ``c + H q(a)``; steps ``<= cfl / ρ(T a)``, so the stiff
        inferred diffusion sets no step limit."""
        a0 = np.asarray(a0, dtype=float)
        nu_arr = np.asarray(nu, dtype=float)
        if a0.ndim == 1 or a0.shape[1] == 1:
            states = self.integrate_single(a0.reshape(-1), float(nu_arr.reshape(-1)[0]))
            return states if a0.ndim == 1 else states[:, :, None]
        return self.integrate_reference(a0, nu)

    def integrate_reference(self, a0: np.ndarray, nu: float | np.ndarray) -> np.ndarray:
        """:meth:`integrate_reduced` by the generic path (any batch): the reference of
        :meth:`integrate_single`."""
        a0 = np.asarray(a0, dtype=float)
        nu_arr = np.asarray(nu, dtype=float)
        batch = a0.ndim == 2
        L = (self.A[None] + np.reshape(nu_arr, (-1, 1, 1)) * self.A_nu[None]) if batch \
            else self.A + float(nu_arr) * self.A_nu
        cache: dict[float, np.ndarray] = {}

        def apply(E: np.ndarray, x: np.ndarray) -> np.ndarray:
            return np.einsum("bij,jb->ib", E, x) if batch else E @ x

        def g(a: np.ndarray) -> np.ndarray:
            c = self.c[:, None] if batch else self.c
            return c + self.H @ quadratic(a)

        def step(a: np.ndarray, dt: float) -> np.ndarray:
            key = float(f"{dt:.12e}")          # equal output intervals differ in round-off
            if key not in cache:
                cache.clear()
                cache[key] = sla.expm(0.5 * dt * L)
            E = cache[key]
            k1 = dt * g(a)
            k2 = dt * g(apply(E, a + 0.5 * k1))
            k3 = dt * g(apply(E, a) + 0.5 * k2)
            k4 = dt * g(apply(E, apply(E, a) + k3))
            return apply(E, apply(E, a + k1 / 6.0) + (k2 + k3) / 3.0) + k4 / 6.0

        def step_size(a: np.ndarray) -> float:
            radius = self.jacobian_radius(a, nu, linear=False)
            return self.cfl / radius if radius > 0 else np.inf

        states, self.last_steps = integrate(step, a0, self.times, step_size, growth=self.growth,
                                            name="operator-inference model")
        return states

    def integrate_single(self, a0: np.ndarray, nu: float) -> np.ndarray:
        r"""One trajectory ``a0 (r,)``: the steps, stages and blow-up test of
        :meth:`integrate_reference` as a lean loop.

        ``H q(a) = H_f (a \otimes a)`` with ``H_f (r x r²)`` holding ``H``'s columns
        at the pairs ``(i, j), i <= j`` (one product on the outer product); ``e^{s L/2}``,
        its square and ``s H_f``, ``s c`` are formed once per distinct step ``s``.
        The step rule needs ``ρ(T a)`` only when the bound ``||T a||_∞ >= ρ(T a)`` does
        not already allow the whole output interval (then the eigenvalues are read):
        the same steps with far fewer eigenvalue solves.
        """
        r = self.r
        if not hasattr(self, "_T"):
            self.jacobian_radius(np.zeros(r), nu, linear=False)          # builds T
        T2 = np.ascontiguousarray(self._T.reshape(r * r, r))  # (T a) flat
        Hf = np.zeros((r, r * r))
        i, j = _pairs(r)
        Hf[:, i * r + j] = self.H
        L = self.A + float(nu) * self.A_nu
        times = np.asarray(self.times, dtype=float)
        a = np.array(a0, dtype=float)
        out = np.empty((len(times), r))
        limit = self.growth ** 2 * max(float(a @ a), np.finfo(float).tiny)
        outer = np.multiply.outer
        t, steps, cached = 0.0, 0, None
        for i_out, t_out in enumerate(times):
            if t_out > t:
                Ta = (T2 @ a).reshape(r, r)
                bound = float(np.max(np.sum(np.abs(Ta), axis=1)))
                if bound <= 0 or self.cfl / bound >= t_out - t:
                    s_max = t_out - t
                else:
                    radius = float(np.max(np.abs(np.linalg.eigvals(Ta))))
                    s_max = self.cfl / radius if radius > 0 else np.inf
                n_sub, dt = substeps(t_out - t, min(s_max, t_out - t))
                if cached is None or abs(dt - cached) > 1e-12 * cached:     # not round-off
                    cached = dt
                    E = sla.expm(0.5 * dt * L)
                    E2, Hd, cd = E @ E, dt * Hf, dt * self.c
                with np.errstate(over="ignore", invalid="ignore"):
                    for k in range(n_sub):
                        k1 = cd + Hd @ outer(a, a).ravel()
                        x = E @ (a + 0.5 * k1)
                        k2 = cd + Hd @ outer(x, x).ravel()
                        Ea = E @ a
                        x = Ea + 0.5 * k2
                        k3 = cd + Hd @ outer(x, x).ravel()
                        x = E @ (Ea + k3)
                        k4 = cd + Hd @ outer(x, x).ravel()
                        a = E2 @ (a + k1 / 6.0) + E @ ((k2 + k3) / 3.0) + k4 / 6.0
                        steps += 1
                        if not a @ a <= limit:
                            raise ReducedBlowUp(
                                f"operator-inference model blew up at step {steps} "
                                f"(t={t + (k + 1) * dt:.4g}): the reduced state grew past "
                                f"{self.growth:g}x its initial norm, which the true energy "
                                "cannot; use more modes or sampled points")
                t = t_out
            out[i_out] = a
        self.last_steps = steps
        return out

    def tensors(self) -> dict[str, np.ndarray]:
        return {"c": self.c, "A": self.A, "A_nu": self.A_nu, "H": self.H}


def fit(trajectories: Sequence[np.ndarray], nus: Sequence[float], times: np.ndarray, *,
        operators: str = "cAH", reg: float | tuple[float, float] = 1e-6,
        affine: bool | None = None,
        derivatives: Sequence[np.ndarray] | None = None) -> OpInfModel:
    """Least-squares fit of the operators to reduced trajectories ``(T, r)`` with viscosities
    ``nus`` (``affine``: fit ``ν A_ν``, default when the ``nus`` differ); ``reg`` is
    ``λ`` for both blocks or ``(λ_1, λ_2)``. ``derivatives`` (``(T, r)`` each) replace
    the finite differences when the time derivatives are known."""
    bad = set(operators) - set("cAH")
    if not operators or bad:
        raise ValueError(f"operators must be letters of 'cAH', got {operators!r}")
    lam1, lam2 = (float(reg), float(reg)) if np.ndim(reg) == 0 else map(float, reg)
    if min(lam1, lam2) < 0:
        raise ValueError(f"the regularisation must be >= 0, got {reg}")
    nus = np.asarray(nus, dtype=float)
    affine = bool(np.ptp(nus) > 0) if affine is None else affine
    D = np.vstack([data_matrix(t, nu, operators, affine) for t, nu in zip(trajectories, nus)])
    R = np.vstack(list(derivatives) if derivatives is not None
                  else [time_derivative(t, times) for t in trajectories])
    if not (np.all(np.isfinite(D)) and np.all(np.isfinite(R))):
        raise ValueError("operator inference: trajectories contain NaN or inf")
    r = trajectories[0].shape[1]
    n_quad = r * (r + 1) // 2 if "H" in operators else 0
    gamma = np.r_[np.full(D.shape[1] - n_quad, lam1), np.full(n_quad, lam2)]
    lhs = np.vstack([D, np.diag(gamma)])
    rhs = np.vstack([R, np.zeros((D.shape[1], R.shape[1]))])
    O = np.linalg.lstsq(lhs, rhs, rcond=None)[0].T            # (r, n_cols)
    k = 0
    c = np.zeros(r)
    A, A_nu, H = np.zeros((r, r)), np.zeros((r, r)), np.zeros((r, r * (r + 1) // 2))
    if "c" in operators:
        c, k = O[:, 0], 1
    if "A" in operators:
        A, k = O[:, k:k + r], k + r
        if affine:
            A_nu, k = O[:, k:k + r], k + r
    if "H" in operators:
        H = O[:, k:]
    return OpInfModel(c, A, A_nu, H, np.asarray(times, dtype=float), operators)


def trajectory_error(model: OpInfModel, trajectories: Sequence[np.ndarray],
                     nus: Sequence[float]) -> float:
    """Mean relative l2 error of the model's trajectories from their first states (inf on a blow-up)."""
    errs = []
    for t, nu in zip(trajectories, nus):
        try:
            pred = model.integrate_reduced(t[0], nu)
        except ReducedBlowUp:
            return float("inf")
        errs.append(np.linalg.norm(pred - t) / max(np.linalg.norm(t), 1e-300))
    return float(np.mean(errs))


def select_regularisation(trajectories: Sequence[np.ndarray], nus: Sequence[float],
                          times: np.ndarray, *, operators: str = "cAH",
                          grid: Sequence[float] = REG_GRID, holdout: float = 0.25,
                          ) -> tuple[tuple[float, float], list[tuple[float, float, float]]]:
    """``(λ_1, λ_2)`` of ``grid x grid`` (only ``λ_1`` without ``H``) with the smallest
    held-out trajectory error (the last ``holdout`` fraction of the trajectories are held
    out); returns ``((λ_1, λ_2), [(λ_1, λ_2, error), ...])``."""
    n = len(trajectories)
    n_val = max(1, int(round(holdout * n)))
    if n - n_val < 1:
        raise ValueError("operator inference with reg=auto needs at least 2 trajectories "
                         "(one to fit, one held out)")
    nus = np.asarray(nus, dtype=float)
    affine = bool(np.ptp(nus) > 0)
    table = []
    pairs = [(l1, l2) for l1 in grid for l2 in (grid if "H" in operators else (0.0,))]
    for l1, l2 in pairs:
        model = fit(trajectories[:-n_val], nus[:-n_val], times, operators=operators,
                    reg=(l1, l2), affine=affine)
        table.append((float(l1), float(l2),
                      trajectory_error(model, trajectories[-n_val:], nus[-n_val:])))
    best = min(table, key=lambda x: x[2])
    if not np.isfinite(best[2]):
        raise ReducedBlowUp("operator inference: every regularisation of the grid blows up on "
                            "the held-out trajectories; use fewer modes or finer stored times")
    return (best[0], best[1]), table
