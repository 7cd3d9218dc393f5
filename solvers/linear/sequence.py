"""Sequence solvers: what is carried from one system of a sequence to the next.

One class per registry name (:data:`SEQUENCE_SOLVERS`): ``cg``, ``amg-cg``,
``def-cg``, ``gmres``, ``gcrodr``, ``sor``, ``ssor-cg`` (an
:class:`IterativeSequenceSolver` each; ``auto``, built on them, is
:mod:`solvers.linear.auto`); every class names the dataclass of the options it
takes (:mod:`solvers.linear.options`). A solver named explicitly is never
swapped for another: a system it does not solve is ``converged=False`` with a
status saying why.

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
scalar context ``system.meta[context]``; a system on which the arm played does
not converge is finished from its iterate with the best arm so far (fewest
iterations among the converged solves), then by the sparse direct solver
(``info["finished_by"]``), so no learning step leaves an unconverged solution.

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
    #: GMRES stops early (status ``slow``) when its own pace cannot meet ``maxiter``
    #: times this (:func:`~solvers.linear.krylov.gmres`); ``None``: off. ``auto`` sets it
    give_up: float | None = None

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

    def solve(self, system: LinearSystem, x0: np.ndarray | None = None, *,
              budget: int | None = None) -> tuple[np.ndarray, SolveStats]:
        """Solve one system of the sequence; ``budget`` caps the iterations of this
        solve below ``maxiter`` (``auto`` uses it to stop a degrading strategy early)."""
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
        if budget is not None:
            maxiter = min(maxiter, int(budget))
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
            x, st = gmres(A, b, x0, M=M, restart=self.restart, give_up=self.give_up, **kw)
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
        self.arm_iterations: dict[int, list[int]] = {}  # converged solves of each arm

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
        info: dict[str, Any] = {"omega_arm": int(arm)}
        if st.converged:
            self.arm_iterations.setdefault(arm, []).append(st.iterations)
            return x, st, info
        return (*self._finish(system, x, st, arm, kw), info)

    def _finish(self, system: LinearSystem, x: np.ndarray, st: SolveStats, arm: int,
                kw: dict[str, Any]) -> tuple[np.ndarray, SolveStats]:
        """A learning step that did not converge: go on from ``x`` with the best arm so far
        (fewest mean iterations among converged solves), then solve directly; the record
        adds up the attempts and says what finished the system (``info["finished_by"]``)."""
        first = st
        best = min(self.arm_iterations, key=lambda a: np.mean(self.arm_iterations[a]),
                   default=None)
        finished_by = None
        if best is not None and best != arm and np.all(np.isfinite(x)):
            x, st = self.sweep(system.A, system.b, x, omega=float(self.omegas[best]), **kw)
            finished_by = f"omega={self.omegas[best]}"
        if not st.converged:
            x, st = DirectSolver(rtol=self.rtol, atol=self.atol).solve(system)
            finished_by = "direct"
        if st is not first:
            st.iterations += first.iterations
            st.matvecs += first.matvecs
            st.seconds += first.seconds
            st.info.update(omega=float(self.omegas[arm]), finished_by=finished_by,
                           first_status=first.status)
        return x, st


class SSORCGSequence(SORSequence):
    """SSOR-preconditioned CG; omega a number or learned."""

    name = method = "ssor-cg"
    default_maxiter = 2000
    sweep = staticmethod(ssor_cg)


#: CLI name -> sequence solver class (``direct`` lives in :mod:`solvers.linear.base`,
#: ``auto`` in :mod:`solvers.linear.auto`)
SEQUENCE_SOLVERS: dict[str, type[SequenceSolver]] = {
    cls.name: cls for cls in (CGSequence, GMRESSequence, GCRODRSequence, DeflatedCGSequence,
                              SORSequence, SSORCGSequence, AmgCGSequence)}
