"""Sequence solvers: what is carried from one system of a sequence to the next.

One class per registry name (:data:`SEQUENCE_SOLVERS`): ``cg``, ``amg-cg``,
``def-cg``, ``gmres``, ``gcrodr``, ``sor``, ``ssor-cg`` (an
:class:`IterativeSequenceSolver` each) and ``auto``; every class names the
dataclass of the options it takes (:mod:`solvers.linear.options`).

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
from .options import (
    DEFAULT_OMEGAS,
    AmgCGOptions,
    AutoOptions,
    CGOptions,
    DeflatedCGOptions,
    GCRODROptions,
    GMRESOptions,
    PreconditionedOptions,
    RelaxationOptions,
    option_defaults,
)
from .precond import PrecondReuse, same_matrix
from .sor import sor, ssor_cg
from .system import LinearSystem

STRATEGIES = ("independent", "warm-start", "reuse-preconditioner", "recycle")
Solved = tuple[np.ndarray, SolveStats, dict[str, Any]]


class IterativeSequenceSolver(SequenceSolver):
    """One iterative method applied along a sequence with a carry-over strategy.

    Subclasses name the ``method`` and its options, and solve one system in
    :meth:`_solve_one`; preconditioner reuse, warm starts and the statistics
    are common.
    """

    method = ""
    options_type: type = PreconditionedOptions
    #: ``maxiter`` when the options leave it at ``None``
    default_maxiter = 2000
    #: the method needs a Hermitian preconditioner (AMG built with symmetric strength)
    symmetric = False
    #: carry a subspace whatever the strategy (``def-cg``, ``gcrodr``); else with ``recycle``
    always_carries = False

    def __init__(self, **options: Any):
        super().__init__(**options)
        o = self.options
        strategy = o.strategy or option_defaults(self.options_type)["strategy"]
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r}; valid: {', '.join(STRATEGIES)}")
        self.strategy = strategy
        self.precond_name = o.precond or "none"
        self.rebuild_factor = float(o.rebuild_factor)
        self.rebuild_change = None if o.rebuild_change is None else float(o.rebuild_change)
        self.reuse_precond = (strategy in ("reuse-preconditioner", "recycle")
                              if o.reuse_precond is None else bool(o.reuse_precond))
        self.precond_options = dict(o.precond_options or {})
        self._configure(o)
        self.reset()

    def _configure(self, options: Any) -> None:
        """Read and check the method's own options (before the first :meth:`reset`)."""

    def _carries(self) -> bool:
        """Whether a subspace (recycle or deflation space) is carried to the next system."""
        return self.always_carries or self.strategy == "recycle"

    # -- state ---------------------------------------------------------------
    def reset(self) -> None:
        options = dict(self.precond_options)
        if self.precond_name == "amg":
            options.setdefault("symmetric", self.symmetric)
        self.pre = PrecondReuse(self.precond_name, reuse=self.reuse_precond,
                                rebuild_factor=self.rebuild_factor,
                                rebuild_change=self.rebuild_change, **options)
        self.recycle = RecycleSpace()
        self.deflation = DeflationSpace()
        self.prev_A: sp.csr_matrix | None = None
        self.prev_M: Any = None
        self.prev_x: np.ndarray | None = None

    def settings(self) -> dict[str, Any]:
        s = {**super().settings(), "method": self.method, "strategy": self.strategy,
             "precond": self.precond_name, "reuse_precond": self.reuse_precond,
             "rebuild_factor": self.rebuild_factor, "rebuild_change": self.rebuild_change}
        if self.precond_options:
            s["precond_options"] = dict(self.precond_options)
        return {**s, **self._method_settings()}

    def _method_settings(self) -> dict[str, Any]:
        """The method's own entries of :meth:`settings`."""
        return {}

    # -- solving ------------------------------------------------------------
    def _solve_one(self, system: LinearSystem, A: sp.csr_matrix, b: np.ndarray,
                   x0: np.ndarray | None, M: Any, same: bool, kw: dict[str, Any]) -> Solved:
        """``(x, stats, info)`` for one system: ``M`` the preconditioner, ``same`` whether
        ``A`` is the previous matrix, ``kw`` the tolerances; ``info`` is appended to
        ``stats.info`` after the common entries."""
        raise NotImplementedError

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
        maxiter = self.default_maxiter if self.maxiter is None else int(self.maxiter)
        kw = dict(rtol=self.rtol, atol=self.atol, maxiter=maxiter)
        x, st, extra = self._solve_one(system, A, b, x0, M, same, kw)
        self.pre.record(st.iterations)
        st.info.update(strategy=self.strategy, precond=self.precond_name,
                       precond_builds=self.pre.builds - builds_before,
                       precond_rebuilds=max(self.pre.builds - 1, 0), method=self.method)
        st.info.setdefault("recycle_dim", 0)
        st.info.update(extra)
        st.solver = self.name
        self.prev_A, self.prev_M, self.prev_x = A, M, x
        return x, st


class CGSequence(IterativeSequenceSolver):
    """Preconditioned CG (strategy=recycle: deflated CG)."""

    name = method = "cg"
    options_type = CGOptions
    symmetric = True

    def _method_settings(self) -> dict[str, Any]:
        return {"k": self.options.k} if self.strategy == "recycle" else {}

    def _solve_one(self, system: LinearSystem, A: sp.csr_matrix, b: np.ndarray,
                   x0: np.ndarray | None, M: Any, same: bool, kw: dict[str, Any]) -> Solved:
        if self._carries():
            x, st = deflated_cg(A, b, x0, M=M, k=self.options.k, space=self.deflation,
                                same_operator=same, **kw)
        else:
            x, st = cg(A, b, x0, M=M, **kw)
        return x, st, {}


class AmgCGSequence(CGSequence):
    """CG with a smoothed-aggregation AMG preconditioner kept along the sequence."""

    name = "amg-cg"
    options_type = AmgCGOptions


class DeflatedCGSequence(CGSequence):
    """Deflated CG with a Ritz basis carried across SPD systems."""

    name = method = "def-cg"
    options_type = DeflatedCGOptions
    always_carries = True


class GMRESSequence(IterativeSequenceSolver):
    """Right-preconditioned GMRES(restart) (strategy=recycle: GCRO-DR)."""

    name = method = "gmres"
    options_type = GMRESOptions

    def _configure(self, options: GMRESOptions) -> None:
        self.restart = int(options.m if options.m is not None else options.restart)

    def _method_settings(self) -> dict[str, Any]:
        return {"restart": self.restart,
                "k": self.options.k if self.strategy == "recycle" else 0}

    def _solve_one(self, system: LinearSystem, A: sp.csr_matrix, b: np.ndarray,
                   x0: np.ndarray | None, M: Any, same: bool, kw: dict[str, Any]) -> Solved:
        if self._carries():
            k = self.options.k if self.strategy == "recycle" else 0
            x, st = gcrodr(A, b, x0, M=M, m=self.restart, k=k, recycle=self.recycle,
                           same_operator=same and M is self.prev_M, **kw)
        else:
            x, st = gmres(A, b, x0, M=M, restart=self.restart, **kw)
        return x, st, {}


class GCRODRSequence(GMRESSequence):
    """GCRO-DR(m, k): Krylov subspace recycled across systems."""

    name = method = "gcrodr"
    options_type = GCRODROptions
    always_carries = True


class SORSequence(IterativeSequenceSolver):
    """SOR sweeps; omega a number or learned (bandit, cb, chebcb)."""

    name = method = "sor"
    options_type = RelaxationOptions
    default_maxiter = 5000
    sweep = staticmethod(sor)

    def _configure(self, o: RelaxationOptions) -> None:
        if o.precond not in (None, "none"):
            raise ValueError(f"{self.method} has its own preconditioning; precond must be none")
        omega = o.omega
        if isinstance(omega, str) and omega not in ("bandit", "cb", "chebcb"):
            raise ValueError(f"omega must be a number, bandit, cb or chebcb; got {omega!r}")
        if isinstance(omega, float) and not 0 < omega < 2:
            raise ValueError(f"omega must lie in (0, 2), got {omega}")
        CostScale(o.feedback)  # validates the feedback kind
        self.omega, self.omegas = omega, tuple(o.omegas or DEFAULT_OMEGAS)
        self.context, self.context_range = o.context, o.context_range
        self.feedback, self.seed = o.feedback, int(o.seed)

    def reset(self) -> None:
        super().reset()
        self.bandit = None
        if isinstance(self.omega, str):
            self.bandit = make_bandit(self.omega, len(self.omegas),
                                      context_range=self.context_range, seed=self.seed)
        self.scale = CostScale(self.feedback)  # adaptive: twice the largest cost seen

    def _method_settings(self) -> dict[str, Any]:
        s: dict[str, Any] = {"omega": self.omega, "feedback": self.feedback}
        if isinstance(self.omega, str):
            s.update(omegas=list(self.omegas), context=self.context,
                     context_range=list(self.context_range) if self.context_range else None)
        return s

    def _context(self, system: LinearSystem) -> float | None:
        if self.omega not in ("cb", "chebcb"):
            return None
        if self.context not in system.meta:
            raise ValueError(f"omega={self.omega} needs system.meta[{self.context!r}] "
                             f"(available: {', '.join(sorted(system.meta)) or 'none'})")
        return float(system.meta[self.context])

    def _solve_one(self, system: LinearSystem, A: sp.csr_matrix, b: np.ndarray,
                   x0: np.ndarray | None, M: Any, same: bool, kw: dict[str, Any]) -> Solved:
        ctx = self._context(system)
        if self.bandit is None:
            x, st = self.sweep(A, b, x0, omega=float(self.omega), **kw)
            return x, st, {}
        arm = self.bandit.select(ctx)
        x, st = self.sweep(A, b, x0, omega=float(self.omegas[arm]), **kw)
        self.bandit.update(arm, self.scale.loss(st.iterations, st.seconds, st.converged), ctx)
        return x, st, {"omega_arm": int(arm)}


class SSORCGSequence(SORSequence):
    """SSOR-preconditioned CG; omega a number or learned."""

    name = method = "ssor-cg"
    default_maxiter = 2000
    sweep = staticmethod(ssor_cg)


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
    options_type = AutoOptions

    def __init__(self, **options: Any):
        super().__init__(**options)
        o = self.options
        self.direct_max, self.precond = int(o.direct_max), o.precond
        self.jacobi_max = int(o.jacobi_max)
        self.rebuild_change = float(o.rebuild_change)
        self.spd_max_iterations = int(o.spd_max_iterations)
        self.warm_start = bool(o.warm_start)
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
        common = dict(rtol=self.rtol, atol=self.atol, maxiter=self.maxiter,
                      rebuild_change=self.rebuild_change)
        if choice != "gcrodr":
            return CGSequence(precond=self.precond or SPD_CHAIN[self.chain_pos],
                              strategy="reuse-preconditioner", **common)
        return GCRODRSequence(precond=self.precond or "ilu", strategy="recycle", **common)

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


#: CLI name -> sequence solver class (``direct`` lives in :mod:`solvers.linear.base`)
SEQUENCE_SOLVERS: dict[str, type[SequenceSolver]] = {
    cls.name: cls for cls in (CGSequence, GMRESSequence, GCRODRSequence, DeflatedCGSequence,
                              SORSequence, SSORCGSequence, AmgCGSequence, AutoSolver)}
