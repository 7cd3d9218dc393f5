"""``auto``: a method per system family, and a fall-back whenever a solve fails.

``auto`` picks a branch on the first system and keeps it (``info["auto_choice"]``):

* at most ``small_max`` (5000) unknowns: sparse direct, factorising once while
  the matrix stays the same;
* SPD (``spd-cg``): CG with a preconditioner from :data:`SPD_CHAIN`. It enters
  the chain at Jacobi for a 3-D 7-point-like stencil (5.5 to 7.5 non-zeros per
  row) with at most ``jacobi_max`` unknowns, where the ``O(n^{1/3})`` Jacobi-CG
  iterations cost less than any setup (measured at 24³-48³), and at the
  multilevel aggregation preconditioner
  (:class:`~solvers.linear.twolevel.MultilevelJacobi`) otherwise (2-D, 9-point,
  vector-valued stencils: Jacobi would take 30-40x the iterations). The
  preconditioner is kept across the sequence and rebuilt when the matrix moved
  by more than ``rebuild_change`` (relative Frobenius norm) or the iteration
  count doubled, never while the matrix does not change. When a freshly built
  one still needs more than its limit (:data:`JACOBI_MAX_ITERATIONS` for
  Jacobi, ``spd_max_iterations`` otherwise) the next of the chain takes over
  from then on, re-solving the system if it did not converge. Before the first
  setup other than Jacobi, :data:`PROBE_ITERATIONS` of Jacobi-CG probe the
  first system (an indefinite matrix shows ``(p, A p) <= 0`` there, before a
  multilevel setup is paid for);
* otherwise (``general``): sparse direct up to ``direct_max`` unknowns, else the
  ladder :data:`GENERAL_LADDER` -- GMRES(40) with an ILU kept across the
  sequence; GCRO-DR(40, 20) with that ILU and the recycle space carried; then
  GMRES(150) with a finer ILU. GMRES(40) hands the next systems to GCRO-DR
  after a solve that needed more than one cycle (restarting discards the
  Krylov space that recycling keeps; within one cycle GCRO-DR's dense work
  costs more than it saves), and within the system, from its iterate, after
  :data:`PROMOTE_CYCLES` cycles without convergence.

What is checked within every system (nothing is passed unconverged silently):

* CG that finds ``(p, A p) <= 0`` or NaN (``indefinite`` / ``nan``: a matrix
  labelled SPD that is not), or a preconditioner that cannot be built for any
  link of the chain: the system, and the rest of the sequence, goes to the
  non-SPD branch;
* a solve with a carried recycle space gets at most 1.5x the iterations of
  the last solve without one; when it misses, the system is solved again with
  a fresh preconditioner and no carried space, and none is carried from then
  on; a converged carried solve slower (in seconds) than
  :data:`RECYCLE_TIME_BUDGET` times the last GMRES(40) solve hands the sequence
  back to GMRES(40) for good;
* a rung that fails with a preconditioner kept from another matrix is run
  again with a fresh one; one that fails with a fresh preconditioner hands
  over to the next rung, from the best iterate so far;
* whatever still fails is re-solved by the sparse direct solver (with
  iterative refinement, :class:`~solvers.linear.base.DirectSolver`).

Every failed attempt is listed in ``info["fallback"]`` (strategy, status,
iterations), and the record's ``iterations``, ``matvecs`` and ``seconds`` add
up all attempts. Only when the direct solve fails too (or cannot factorise) is
the record ``converged=False``.

Iterative solves start from the best of ``x0`` (when given), the previous
solution and its linear extrapolation ``2 x_{i-1} - x_{i-2}`` -- the one with
the smallest residual, one matvec each -- or from zero when none has a
residual below ``||b||`` (``warm_start`` option; ``info["warm_start"]``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from .base import DirectSolver, SequenceSolver, SolveStats, check_system
from .gcrodr import RecycleSpace
from .options import AutoOptions
from .precond import same_matrix
from .sequence import CGSequence, GCRODRSequence, GMRESSequence, IterativeSequenceSolver
from .system import LinearSystem

#: preconditioners of CG that ``auto`` tries in turn for large SPD systems: the next
#: one when a freshly built one still needs more than its iteration limit
SPD_CHAIN = ("jacobi", "multilevel", "amg", "ic0")
#: iteration limit of Jacobi-CG before ``auto`` moves on to the multilevel preconditioner
JACOBI_MAX_ITERATIONS = 400
#: the non-SPD iterative ladder: (label, sequence solver class, options)
GENERAL_LADDER: tuple[tuple[str, type[IterativeSequenceSolver], dict[str, Any]], ...] = (
    ("gmres40-ilu", GMRESSequence, {"precond": "ilu", "strategy": "reuse-preconditioner",
                                    "restart": 40}),
    ("gcrodr-ilu", GCRODRSequence, {"precond": "ilu", "strategy": "recycle"}),
    ("gmres150-ilu", GMRESSequence, {"precond": "ilu", "strategy": "reuse-preconditioner",
                                     "restart": 150,
                                     "precond_options": {"drop_tol": 1e-5,
                                                         "fill_factor": 20.0}}),
)
#: a carried recycle space may take this multiple of the iterations of the last solve
#: that started without one; past it, the system is solved afresh
RECYCLE_BUDGET = 1.5
#: ... and never fewer than this many
RECYCLE_MIN_BUDGET = 10
#: Jacobi-CG iterations that probe a matrix labelled SPD before a costly preconditioner
#: is built: CG is Lanczos, so ``(p, A p) <= 0`` shows once a Ritz value is negative
PROBE_ITERATIONS = 30
#: a converged GCRO-DR solve with a carried space that takes more than this multiple of
#: the seconds of the last GMRES solve hands the sequence back to GMRES for good
RECYCLE_TIME_BUDGET = 1.0
#: restart cycles GMRES(40) gets within one system before GCRO-DR takes over from its
#: iterate (GCRO-DR keeps the Krylov information that restarting discards)
PROMOTE_CYCLES = 3
#: GMRES rungs stop (status ``slow``) once their pace needs more than this multiple of
#: ``maxiter`` (:func:`~solvers.linear.krylov.gmres`): the next rung, not the whole budget
GIVE_UP = 2.0
#: statuses of CG that say the matrix (or the preconditioner) is not positive definite
NOT_SPD = ("indefinite", "nan", "precond-failed")


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


def _attempt(st: SolveStats, strategy: str) -> dict[str, Any]:
    """The ``info["fallback"]`` entry of a failed attempt."""
    return {"strategy": strategy, "status": st.status, "iterations": int(st.iterations)}


def _try(solver: IterativeSequenceSolver, system: LinearSystem, start: np.ndarray | None,
         budget: int | None = None) -> tuple[np.ndarray | None, SolveStats]:
    """One attempt; a preconditioner that cannot be built is status ``precond-failed``."""
    try:
        return solver.solve(system, start, budget=budget)
    except ValueError as exc:  # the system itself was checked: the preconditioner failed
        return None, SolveStats(solver.name, status="precond-failed",
                                info={"error": str(exc), "precond": solver.precond_name,
                                      "method": solver.method})


class AutoSolver(SequenceSolver):
    """Picks a method from the system and keeps it; falls back when a solve fails
    (see the module docstring)."""

    name = "auto"
    options_type = AutoOptions

    def __init__(self, **options: Any):
        super().__init__(**options)
        o = self.options
        self.direct_max, self.precond = int(o.direct_max), o.precond
        self.small_max = int(o.small_max)
        self.jacobi_max = int(o.jacobi_max)
        self.rebuild_change = float(o.rebuild_change)
        self.spd_max_iterations = int(o.spd_max_iterations)
        self.warm_start = bool(o.warm_start)
        self.reset()

    def reset(self) -> None:
        self.direct = DirectSolver(rtol=self.rtol, atol=self.atol, maxiter=self.maxiter)
        self.iterative: IterativeSequenceSolver | None = None
        self.chain_pos = 0
        self.rung = 0                  #: position in GENERAL_LADDER
        self.carry = True              #: carry the recycle space to the next system
        self.fresh_iterations: int | None = None  #: last solve without a carried space
        self.not_spd = False           #: CG found a matrix labelled SPD indefinite
        self.probed = False            #: the Jacobi-CG probe ran (once per sequence)
        self.promote = True            #: GMRES may hand over to GCRO-DR (until demoted)
        self.fresh_seconds: float | None = None  #: seconds of the last GMRES solve
        self.history: list[np.ndarray] = []

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "direct_max": self.direct_max, "precond": self.precond,
                "rebuild_change": self.rebuild_change,
                "spd_max_iterations": self.spd_max_iterations, "warm_start": self.warm_start,
                "jacobi_max": self.jacobi_max, "small_max": self.small_max}

    # -- the decision rule ----------------------------------------------------
    def choose(self, system: LinearSystem, A: sp.csr_matrix) -> str:
        """``direct``, ``spd-cg`` or ``general`` for this system (see the module docstring)."""
        n = A.shape[0]
        if self.iterative is not None:
            return "spd-cg" if self.iterative.method == "cg" else "general"
        if n <= self.small_max:
            return "direct"
        if system.spd and not self.not_spd:
            return "spd-cg"
        return "general" if n > self.direct_max else "direct"

    def first_precond(self, A: sp.csr_matrix) -> str:
        """Where ``auto`` enters ``SPD_CHAIN`` for an SPD matrix (see the module docstring)."""
        n = A.shape[0]
        return "jacobi" if (5.5 < A.nnz / n <= 7.5 and n <= self.jacobi_max) else "multilevel"

    def _limit(self) -> int:
        return (JACOBI_MAX_ITERATIONS if SPD_CHAIN[self.chain_pos] == "jacobi"
                else self.spd_max_iterations)

    def _common(self) -> dict[str, Any]:
        return dict(rtol=self.rtol, atol=self.atol, maxiter=self.maxiter,
                    rebuild_change=self.rebuild_change)

    def _make_cg(self) -> IterativeSequenceSolver:
        return CGSequence(precond=self.precond or SPD_CHAIN[self.chain_pos],
                          strategy="reuse-preconditioner", **self._common())

    def _make_rung(self) -> IterativeSequenceSolver:
        _, cls, options = GENERAL_LADDER[self.rung]
        if self.precond:
            options = {**options, "precond": self.precond, "precond_options": None}
        solver = cls(**{**options, **self._common()})
        solver.give_up = GIVE_UP
        return solver

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

    # -- the branches ---------------------------------------------------------
    def _probe(self, system: LinearSystem, start: np.ndarray | None
               ) -> tuple[np.ndarray | None, SolveStats]:
        """:data:`PROBE_ITERATIONS` of Jacobi-CG: a matrix labelled SPD that is not shows
        ``(p, A p) <= 0`` (or a non-positive diagonal) before a costly preconditioner is
        built; CG's iterates are those of Lanczos, whose smallest Ritz value reaches the
        negative end of the spectrum within a few tens of steps unless the negative
        eigenvalues are few and close to zero (then the chain's CG finds them)."""
        from .krylov import cg
        from .precond import make_precond

        try:
            M = make_precond("jacobi", system.A)
        except ValueError as exc:   # a diagonal entry <= 0: not SPD
            return None, SolveStats("cg", status="precond-failed",
                                    info={"error": str(exc), "precond": "jacobi"})
        x, st = cg(system.A, system.b, start, M=M, rtol=self.rtol, atol=self.atol,
                   maxiter=PROBE_ITERATIONS)
        st.info.update(precond="jacobi", method="cg", probe=True)
        return x, st

    def _solve_spd(self, system: LinearSystem, start: np.ndarray | None,
                   failed: list[tuple[dict[str, Any], SolveStats]]
                   ) -> tuple[np.ndarray | None, SolveStats]:
        """CG along :data:`SPD_CHAIN`; a result with a status in :data:`NOT_SPD` means
        the chain cannot solve this matrix."""
        probe = None
        if self.iterative is None:
            if self.precond is None:
                self.chain_pos = SPD_CHAIN.index(self.first_precond(system.A))
                if SPD_CHAIN[self.chain_pos] != "jacobi" and not self.probed:
                    self.probed = True
                    xp, probe = self._probe(system, start)
                    if probe.converged or probe.status in NOT_SPD:
                        return xp, probe
                    if xp is not None:
                        _, start, _ = best_start(system.A, system.b,
                                                 [("start", start), ("probe", xp)])
            self.iterative = self._make_cg()
        x, st = _try(self.iterative, system, start)
        if probe is not None:  # its cost is part of this solve
            st.iterations += probe.iterations
            st.matvecs += probe.matvecs
            st.seconds += probe.seconds
            st.info["probe"] = _attempt(probe, "jacobi-cg-probe")
        switch = None
        while self.precond is None and self.chain_pos + 1 < len(SPD_CHAIN) and (
                st.status == "precond-failed"
                or (st.info.get("precond_builds") and st.iterations > self._limit())):
            # this family is hard for the current preconditioner (e.g. high contrast)
            self.chain_pos += 1
            self.iterative = self._make_cg()
            switch = f"{SPD_CHAIN[self.chain_pos]}-cg"
            if st.converged:
                break
            failed.append((_attempt(st, f"{st.info.get('precond')}-cg"), st))
            x, st = _try(self.iterative, system, start)
        if switch:
            st.info["auto_switch"] = switch
        return x, st

    def _solve_general(self, system: LinearSystem, start: np.ndarray | None,
                       failed: list[tuple[dict[str, Any], SolveStats]]
                       ) -> tuple[np.ndarray | None, SolveStats]:
        """The rungs of :data:`GENERAL_LADDER`, from the best iterate so far.

        GMRES(40) with a kept ILU first. When it needs more than one cycle (restarted
        GMRES forgets its Krylov space; recycling keeps it) the next systems go to
        GCRO-DR, which keeps that preconditioner; when it has not converged after
        :data:`PROMOTE_CYCLES` cycles, GCRO-DR takes over within the system, from its
        iterate. A GCRO-DR solve with a carried space
        gets :data:`RECYCLE_BUDGET` times the iterations of the last solve without one;
        when it misses, the system is solved again with a fresh preconditioner and no
        carried space, and no space is carried from then on; a converged carried solve
        slower than :data:`RECYCLE_TIME_BUDGET` times the last GMRES solve returns the
        sequence to GMRES for good (its dense work costs more than it saves). A rung
        that fails with a kept preconditioner is re-run with a fresh one; one that fails
        with a fresh one hands over to the next rung.
        """
        A, b = system.A, system.b
        switch, spent = None, 0
        while True:
            if self.iterative is None:
                self.iterative, self.fresh_iterations = self._make_rung(), None
            if not self.carry:
                self.iterative.recycle = RecycleSpace()
            carried = self.iterative.recycle.dim > 0
            budget = None
            if carried and self.fresh_iterations is not None:
                budget = max(int(RECYCLE_BUDGET * self.fresh_iterations), RECYCLE_MIN_BUDGET)
            cycles = self.rung == 0 and self.promote and self.carry
            if cycles:   # restarted GMRES gets PROMOTE_CYCLES cycles, then GCRO-DR
                budget = PROMOTE_CYCLES * self.iterative.restart
            x, st = _try(self.iterative, system, start, budget)
            label = GENERAL_LADDER[self.rung][0]
            if st.converged:
                self._after_converged(st, carried)
                if switch:   # the reference for a carried space: the whole system's count
                    self.fresh_iterations = (self.fresh_iterations or 0) + spent
                    st.info.setdefault("auto_switch", switch)
                return x, st
            failed.append((_attempt(st, f"{label}-carried" if carried else label), st))
            if x is not None:
                _, start, _ = best_start(A, b, [("start", start), ("attempt", x)])
            if cycles and st.status in ("maxiter", "slow") and st.iterations >= budget:
                self._next_rung()   # GCRO-DR goes on from the iterate, with this ILU
                switch, spent = GENERAL_LADDER[self.rung][0], st.iterations
                continue
            if carried:  # the carried space (or the kept preconditioner) hurts: afresh
                self.iterative.reset()
                self.carry = False
                continue
            pre = self.iterative.pre
            if st.status != "precond-failed" and pre.A is not None and not same_matrix(A, pre.A):
                self.iterative.reset()   # kept from another matrix: once more with a fresh one
                continue
            if self.rung + 1 >= len(GENERAL_LADDER):
                return x, st
            self._next_rung()

    def _next_rung(self, keep_precond: bool = True) -> None:
        """Hand over to the next rung; it takes over the preconditioner when it is built
        the same way (GMRES(40) -> GCRO-DR)."""
        old = self.iterative
        self.rung += 1
        self.iterative, self.fresh_iterations = self._make_rung(), None
        same = (old is not None and old.precond_name == self.iterative.precond_name
                and old.precond_options == self.iterative.precond_options)
        if keep_precond and same:
            self.iterative.pre = old.pre

    def _after_converged(self, st: SolveStats, carried: bool) -> None:
        """Promote GMRES to GCRO-DR after a restarted solve, demote GCRO-DR whose carried
        solve cost more time than GMRES did (see :meth:`_solve_general`)."""
        if not carried:
            self.fresh_iterations = st.iterations
        if self.rung == 0:
            self.fresh_seconds = st.seconds
            restart = getattr(self.iterative, "restart", 0)
            if self.promote and self.carry and st.iterations > restart:
                self._next_rung()
                st.info["auto_switch"] = GENERAL_LADDER[self.rung][0]
        elif (self.rung == 1 and carried and self.fresh_seconds is not None
              and st.seconds > RECYCLE_TIME_BUDGET * self.fresh_seconds):
            old = self.iterative
            self.rung, self.promote = 0, False
            self.iterative = self._make_rung()
            self.iterative.pre = old.pre
            st.info["auto_switch"] = GENERAL_LADDER[0][0]

    # -- one system -----------------------------------------------------------
    def solve(self, system: LinearSystem, x0: np.ndarray | None = None
              ) -> tuple[np.ndarray, SolveStats]:
        A = sp.csr_matrix(system.A)
        b = np.asarray(system.b)
        check_system(A, b)
        system = LinearSystem(A, b, system.symmetric, system.spd, system.meta)
        choice = self.choose(system, A)
        failed: list[tuple[dict[str, Any], SolveStats]] = []
        start_label = None
        x: np.ndarray | None = None
        if choice != "direct":
            start_label, start = self._start(A, b, x0)
            if choice == "spd-cg":
                x, st = self._solve_spd(system, start, failed)
                if st.status in NOT_SPD:  # not SPD after all: the general branch
                    failed.append((_attempt(st, f"{st.info.get('precond')}-cg"), st))
                    self.not_spd, self.iterative, x = True, None, None
                    choice = self.choose(system, A)
            if choice == "general":
                x, st = self._solve_general(system, start, failed)
        if choice == "direct" or not st.converged:
            if choice != "direct" and not any(st is f for _, f in failed):
                failed.append((_attempt(st, st.info.get("method", st.solver)), st))
            try:
                x, st = self.direct.solve(system, x0 if choice == "direct" else None)
            except ValueError as exc:  # cannot factorise: report the last iterative attempt
                if choice == "direct" or x is None:
                    raise
                st = failed.pop()[1]
                st.info["direct"] = str(exc)
        if failed:
            st.info["fallback"] = [entry for entry, _ in failed]
            for _, f in failed:
                st.iterations += f.iterations
                st.matvecs += f.matvecs
                st.seconds += f.seconds
        if choice != "direct":
            self.history = (self.history + [x])[-2:]
        st.info["auto_choice"] = choice
        if start_label is not None:
            st.info["warm_start"] = start_label
        st.solver = self.name
        return x, st
