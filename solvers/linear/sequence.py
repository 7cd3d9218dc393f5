"""Sequence solvers: what is carried from one system of a sequence to the next.

Strategies (``strategy=``):

* ``independent``: every system from scratch (a new preconditioner whenever
  the matrix changes, ``x0 = 0``);
* ``warm-start``: ``x0`` = the previous solution;
* ``reuse-preconditioner``: keep the preconditioner, rebuild it when the
  iteration count grows by ``rebuild_factor`` over the count right after the
  last build (:class:`~solvers.linear.precond.PrecondReuse`);
* ``recycle``: carry a Krylov subspace (GCRO-DR for ``gmres``/``gcrodr``,
  deflated CG for ``cg``) and reuse the preconditioner.

``reuse_precond`` overrides the strategy's choice of keeping the
preconditioner (``False``: one per matrix, e.g. to compare recycling with
independent solves under the same preconditioner); ``precond_options`` are
passed to :func:`~solvers.linear.precond.make_precond`.

``omega`` of ``sor`` / ``ssor-cg`` is a number or is learned online:
``bandit`` (Tsallis-INF), ``cb`` (Tsallis-INF-CB) or ``chebcb`` (ChebCB) with the
scalar context ``system.meta[context]``. ``auto`` picks a method from the size,
the symmetry/SPD flags and whether the matrix changes between systems, and
starts each iterative solve from the best of the previous solution, its
extrapolation and zero.

Every solve's ``SolveStats.info`` records the strategy, the preconditioner and
its rebuilds, the recycle dimension and the ``omega`` used.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from .bandits import CostScale, make_bandit
from .base import DirectSolver, SequenceSolver, SolveStats, check_system
from .deflated_cg import DeflationSpace, deflated_cg
from .gcrodr import RecycleSpace, gcrodr
from .krylov import cg, gmres
from .precond import PrecondReuse, same_matrix
from .sor import sor, ssor_cg
from .system import LinearSystem

STRATEGIES = ("independent", "warm-start", "reuse-preconditioner", "recycle")
METHODS = ("cg", "gmres", "gcrodr", "def-cg", "sor", "ssor-cg")
DEFAULT_OMEGAS = tuple(np.round(np.arange(1.0, 1.95, 0.1), 2).tolist())


def _range(value: Any) -> tuple[float, float] | None:
    """``"lo:hi"``, ``"lo,hi"`` or a pair -> ``(lo, hi)``."""
    if value is None:
        return None
    if isinstance(value, str):
        parts = value.replace(",", ":").split(":")
        if len(parts) != 2:
            raise ValueError(f"context_range must read LO:HI, got {value!r}")
        return float(parts[0]), float(parts[1])
    lo, hi = value
    return float(lo), float(hi)


class IterativeSequenceSolver(SequenceSolver):
    """One iterative method applied along a sequence with a carry-over strategy."""

    def __init__(self, method: str = "cg", *, rtol: float = 1e-8, atol: float = 0.0,
                 maxiter: int | None = None, precond: str | None = "none",
                 strategy: str | None = None, restart: int = 40, m: int | None = None,
                 k: int | None = None, omega: float | str = 1.5,
                 omegas: tuple[float, ...] | str | None = None, context: str = "context",
                 context_range: Any = None, feedback: str = "iterations",
                 rebuild_factor: float = 2.0, rebuild_change: float | None = None,
                 reuse_precond: bool | None = None,
                 precond_options: dict[str, Any] | None = None, seed: int = 0,
                 name: str | None = None):
        super().__init__(rtol=rtol, atol=atol, maxiter=maxiter)
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")
        default = "recycle" if method in ("gcrodr", "def-cg") else "reuse-preconditioner"
        strategy = strategy or default
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r}; valid: {', '.join(STRATEGIES)}")
        if method in ("sor", "ssor-cg") and precond not in (None, "none"):
            raise ValueError(f"{method} has its own preconditioning; precond must be none")
        self.method, self.strategy, self.name = method, strategy, name or method
        self.precond_name = precond or "none"
        self.restart = int(m if m is not None else restart)
        self.k = int(k) if k is not None else (20 if method in ("gmres", "gcrodr") else 10)
        self.rebuild_factor = float(rebuild_factor)
        self.rebuild_change = None if rebuild_change is None else float(rebuild_change)
        self.reuse_precond = (strategy in ("reuse-preconditioner", "recycle")
                              if reuse_precond is None else bool(reuse_precond))
        self.precond_options = dict(precond_options or {})
        self.feedback, self.context, self.seed = feedback, context, int(seed)
        self.context_range = _range(context_range)
        if isinstance(omegas, str):
            omegas = tuple(float(v) for v in omegas.split(","))
        self.omegas = tuple(omegas) if omegas else DEFAULT_OMEGAS
        self.omega = omega if isinstance(omega, str) else float(omega)
        if isinstance(self.omega, str):
            try:
                self.omega = float(self.omega)
            except ValueError:
                if self.omega not in ("bandit", "cb", "chebcb"):
                    raise ValueError(f"omega must be a number, bandit, cb or chebcb; "
                                     f"got {omega!r}") from None
        if isinstance(self.omega, float) and not 0 < self.omega < 2:
            raise ValueError(f"omega must lie in (0, 2), got {self.omega}")
        CostScale(feedback)  # validates the feedback kind
        self.reset()

    # -- state ---------------------------------------------------------------
    def reset(self) -> None:
        symmetric = self.method in ("cg", "def-cg")
        options = dict(self.precond_options)
        if self.precond_name == "amg":
            options.setdefault("symmetric", symmetric)
        self.pre = PrecondReuse(self.precond_name, reuse=self.reuse_precond,
                                rebuild_factor=self.rebuild_factor,
                                rebuild_change=self.rebuild_change, **options)
        self.recycle = RecycleSpace()
        self.deflation = DeflationSpace()
        self.prev_A: sp.csr_matrix | None = None
        self.prev_M: Any = None
        self.prev_x: np.ndarray | None = None
        self.bandit = None
        if isinstance(self.omega, str):
            self.bandit = make_bandit(self.omega, len(self.omegas),
                                      context_range=self.context_range, seed=self.seed)
        self.scale = CostScale(self.feedback)  # adaptive: twice the largest cost seen

    def settings(self) -> dict[str, Any]:
        s = {**super().settings(), "method": self.method, "strategy": self.strategy,
             "precond": self.precond_name, "reuse_precond": self.reuse_precond,
             "rebuild_factor": self.rebuild_factor, "rebuild_change": self.rebuild_change}
        if self.precond_options:
            s["precond_options"] = dict(self.precond_options)
        if self.method in ("gmres", "gcrodr"):
            s.update(restart=self.restart, k=self.k if self.strategy == "recycle" else 0)
        if self.method in ("cg", "def-cg") and self.strategy == "recycle":
            s["k"] = self.k
        if self.method in ("sor", "ssor-cg"):
            s.update(omega=self.omega, feedback=self.feedback)
            if isinstance(self.omega, str):
                s.update(omegas=list(self.omegas), context=self.context,
                         context_range=list(self.context_range) if self.context_range else None)
        return s

    def _maxiter_for(self, n: int) -> int:
        if self.maxiter is not None:
            return int(self.maxiter)
        return 5000 if self.method == "sor" else 2000

    # -- solving ------------------------------------------------------------
    def _context(self, system: LinearSystem) -> float | None:
        if self.omega not in ("cb", "chebcb"):
            return None
        if self.context not in system.meta:
            raise ValueError(f"omega={self.omega} needs system.meta[{self.context!r}] "
                             f"(available: {', '.join(sorted(system.meta)) or 'none'})")
        return float(system.meta[self.context])

    def solve(self, system: LinearSystem, x0: np.ndarray | None = None
              ) -> tuple[np.ndarray, SolveStats]:
        A = sp.csr_matrix(system.A)
        b = np.asarray(system.b)
        check_system(A, b)
        same = same_matrix(A, self.prev_A)
        if x0 is None and self.strategy == "warm-start" and self.prev_x is not None \
                and self.prev_x.shape == b.shape:
            x0 = self.prev_x
        builds_before = self.pre.builds
        M = self.pre.get(A)
        maxiter = self._maxiter_for(A.shape[0])
        arm, ctx = None, self._context(system)
        kw = dict(rtol=self.rtol, atol=self.atol, maxiter=maxiter)
        if self.method in ("sor", "ssor-cg"):
            if self.bandit is not None:
                arm = self.bandit.select(ctx)
                omega = float(self.omegas[arm])
            else:
                omega = float(self.omega)
            fn = sor if self.method == "sor" else ssor_cg
            x, st = fn(A, b, x0, omega=omega, **kw)
            if arm is not None:
                self.bandit.update(arm, self.scale.loss(st.iterations, st.seconds,
                                                        st.converged), ctx)
        elif self.method in ("gcrodr",) or (self.method == "gmres"
                                            and self.strategy == "recycle"):
            k = self.k if self.strategy == "recycle" else 0
            same_op = same and M is self.prev_M
            x, st = gcrodr(A, b, x0, M=M, m=self.restart, k=k, recycle=self.recycle,
                           same_operator=same_op, **kw)
        elif self.method == "def-cg" or (self.method == "cg" and self.strategy == "recycle"):
            x, st = deflated_cg(A, b, x0, M=M, k=self.k, space=self.deflation,
                                same_operator=same, **kw)
        elif self.method == "cg":
            x, st = cg(A, b, x0, M=M, **kw)
        else:
            x, st = gmres(A, b, x0, M=M, restart=self.restart, **kw)
        self.pre.record(st.iterations)
        st.info.update(strategy=self.strategy, precond=self.precond_name,
                       precond_builds=self.pre.builds - builds_before,
                       precond_rebuilds=max(self.pre.builds - 1, 0), method=self.method)
        st.info.setdefault("recycle_dim", 0)
        if arm is not None:
            st.info["omega_arm"] = int(arm)
        st.solver = self.name
        self.prev_A, self.prev_M, self.prev_x = A, M, x
        return x, st


def best_start(A: sp.csr_matrix, b: np.ndarray, candidates: list[tuple[str, np.ndarray]]
               ) -> tuple[str, np.ndarray | None, float]:
    """The initial guess with the smallest residual ``||b - A x0||`` among ``candidates``
    (one matvec each), or ``("zero", None, ||b||)`` when none is below ``||b||``."""
    best: tuple[str, np.ndarray | None, float] = ("zero", None, float(np.linalg.norm(b)))
    for label, x0 in candidates:
        if x0 is None or x0.shape != b.shape or not np.all(np.isfinite(x0)):
            continue
        res = float(np.linalg.norm(b - A @ x0))
        if res < best[2]:
            best = (label, x0, res)
    return best


#: preconditioners of CG that ``auto`` tries in turn for large SPD systems: the next
#: one when a freshly built one still needs more than its iteration limit
SPD_CHAIN = ("jacobi", "multilevel", "amg", "ic0")
#: iteration limit of Jacobi-CG before ``auto`` moves on to the multilevel preconditioner
JACOBI_MAX_ITERATIONS = 400


class AutoSolver(SequenceSolver):
    """Picks a method from the system: size, stencil width, SPD flag; then keeps it.

    * at most 5000 unknowns: sparse direct, factorising once while the matrix
      stays the same;
    * SPD with a 3-D-like stencil (more than 5.5 non-zeros per row) and at most
      ``jacobi_max`` unknowns: Jacobi-CG (at these sizes its ``O(n^{1/3})``
      iterations cost less than any setup; measured at 24³-48³);
    * other SPD systems: CG with the multilevel aggregation preconditioner
      (:class:`~solvers.linear.twolevel.MultilevelJacobi`: damped Jacobi
      smoothing, smoothed-aggregation bases, SuperLU on the coarsest level;
      its setup costs a few CG iterations), kept across the sequence and
      rebuilt when the matrix moved by more than ``rebuild_change`` (relative
      Frobenius norm) or the iteration count doubled, never while the matrix
      does not change;
    * when a freshly built preconditioner still needs more than its limit
      (``JACOBI_MAX_ITERATIONS`` for Jacobi, ``spd_max_iterations`` otherwise,
      e.g. high-contrast coefficients), the next of ``SPD_CHAIN`` (multilevel,
      pyamg smoothed aggregation, IC(0)) from then on, re-solving the system
      if it did not converge;
    * otherwise: sparse direct up to ``direct_max`` unknowns, else GCRO-DR(40, 20)
      with an ILU preconditioner kept across the sequence (same rebuild rules).

    Iterative solves start from the best of ``x0`` (when given), the previous
    solution and its linear extrapolation ``2 x_{i-1} - x_{i-2}`` -- the one
    with the smallest residual, one matvec each -- or from zero when none has a
    residual below ``||b||`` (``warm_start`` option; ``info["warm_start"]``).
    """

    name = "auto"

    def __init__(self, *, rtol: float = 1e-8, atol: float = 0.0, maxiter: int | None = None,
                 direct_max: int = 300_000, precond: str | None = None,
                 rebuild_change: float = 0.05, spd_max_iterations: int = 150,
                 warm_start: bool = True, jacobi_max: int = 110_000,
                 amg_max: int | None = None):
        super().__init__(rtol=rtol, atol=atol, maxiter=maxiter)
        self.direct_max, self.precond = int(direct_max), precond
        self.jacobi_max = int(jacobi_max)
        self.rebuild_change = float(rebuild_change)
        # amg_max: the former name of the switch threshold (kept for old settings)
        self.spd_max_iterations = int(amg_max if amg_max is not None else spd_max_iterations)
        self.warm_start = bool(warm_start)
        self.reset()

    def reset(self) -> None:
        self.direct = DirectSolver(rtol=self.rtol, atol=self.atol, maxiter=self.maxiter)
        self.iterative: IterativeSequenceSolver | None = None
        self.chain_pos = 0
        self.prev_A: sp.csr_matrix | None = None
        self.history: list[np.ndarray] = []

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "direct_max": self.direct_max, "precond": self.precond,
                "rebuild_change": self.rebuild_change,
                "spd_max_iterations": self.spd_max_iterations, "warm_start": self.warm_start,
                "jacobi_max": self.jacobi_max}

    def choose(self, system: LinearSystem, A: sp.csr_matrix) -> str:
        """``direct``, ``spd-cg`` or ``gcrodr`` for this system (see the class docstring)."""
        n = A.shape[0]
        if self.iterative is not None:
            return "spd-cg" if self.iterative.method == "cg" else "gcrodr"
        if n <= 5000:
            return "direct"
        if system.spd:
            return "spd-cg"
        return "gcrodr" if n > self.direct_max else "direct"

    def first_precond(self, A: sp.csr_matrix) -> str:
        """Where ``auto`` enters ``SPD_CHAIN`` for an SPD matrix (see the class docstring)."""
        n = A.shape[0]
        return "jacobi" if (A.nnz / n > 5.5 and n <= self.jacobi_max) else "multilevel"

    def _limit(self) -> int:
        return (JACOBI_MAX_ITERATIONS if SPD_CHAIN[self.chain_pos] == "jacobi"
                else self.spd_max_iterations)

    def _make_iterative(self, choice: str) -> IterativeSequenceSolver:
        if choice != "gcrodr":
            precond = self.precond or SPD_CHAIN[self.chain_pos]
            return IterativeSequenceSolver(
                "cg", rtol=self.rtol, atol=self.atol, maxiter=self.maxiter, precond=precond,
                strategy="reuse-preconditioner", rebuild_change=self.rebuild_change)
        return IterativeSequenceSolver(
            "gcrodr", rtol=self.rtol, atol=self.atol, maxiter=self.maxiter,
            precond=self.precond or "ilu", strategy="recycle",
            rebuild_change=self.rebuild_change)

    def _start(self, A: sp.csr_matrix, b: np.ndarray, x0: np.ndarray | None
               ) -> tuple[str, np.ndarray | None]:
        if not self.warm_start:
            return ("given" if x0 is not None else "zero"), x0
        cands: list[tuple[str, Any]] = [("given", x0)]
        if self.history:
            cands.append(("previous", self.history[-1]))
        if len(self.history) == 2:
            cands.append(("extrapolated", 2.0 * self.history[-1] - self.history[-2]))
        label, start, _ = best_start(A, b, cands)
        return label, start

    def solve(self, system: LinearSystem, x0: np.ndarray | None = None
              ) -> tuple[np.ndarray, SolveStats]:
        A = sp.csr_matrix(system.A)
        b = np.asarray(system.b)
        choice = self.choose(system, A)
        start_label = None
        if choice == "direct":
            x, st = self.direct.solve(system, x0)
        else:
            check_system(A, b)
            if self.iterative is None:
                if choice != "gcrodr":
                    self.chain_pos = SPD_CHAIN.index(self.first_precond(A))
                self.iterative = self._make_iterative(choice)
            start_label, start = self._start(A, b, x0)
            x, st = self.iterative.solve(system, start)
            while (choice != "gcrodr" and self.precond is None and st.info["precond_builds"]
                   and st.iterations > self._limit()
                   and self.chain_pos + 1 < len(SPD_CHAIN)):
                # this family is hard for the current preconditioner (e.g. high contrast)
                self.chain_pos += 1
                self.iterative = self._make_iterative(choice)
                st.info["auto_switch"] = f"{SPD_CHAIN[self.chain_pos]}-cg"
                if not st.converged:
                    x, st = self.iterative.solve(system, start)
                    st.info["auto_switch"] = f"{SPD_CHAIN[self.chain_pos]}-cg"
                else:
                    break
            self.history = (self.history + [x])[-2:]
        st.info["auto_choice"] = choice
        if start_label is not None:
            st.info["warm_start"] = start_label
        st.solver = self.name
        self.prev_A = A
        return x, st


def _factory(method: str, doc: str, **fixed: Any):
    def make(**options: Any) -> SequenceSolver:
        merged = {**fixed, **options}
        return IterativeSequenceSolver(method, name=merged.pop("name", None) or _NAMES.get(
            (method, fixed.get("precond")), method), **merged)
    make.__doc__ = doc
    return make


_NAMES = {("cg", "amg"): "amg-cg"}

#: CLI name -> factory
SEQUENCE_SOLVERS = {
    "cg": _factory("cg", "Preconditioned CG (strategy=recycle: deflated CG)."),
    "gmres": _factory("gmres", "Right-preconditioned GMRES(restart) (strategy=recycle: GCRO-DR)."),
    "gcrodr": _factory("gcrodr", "GCRO-DR(m, k): Krylov subspace recycled across systems."),
    "def-cg": _factory("def-cg", "Deflated CG with a Ritz basis carried across SPD systems."),
    "sor": _factory("sor", "SOR sweeps; omega a number or learned (bandit, cb, chebcb)."),
    "ssor-cg": _factory("ssor-cg", "SSOR-preconditioned CG; omega a number or learned."),
    "amg-cg": _factory("cg", "CG with a smoothed-aggregation AMG preconditioner kept along "
                             "the sequence.", precond="amg"),
    "auto": AutoSolver,
}
