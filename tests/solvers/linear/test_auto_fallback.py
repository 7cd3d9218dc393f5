"""``auto`` never passes an unconverged solve silently (issue 15, items 1 and 4): it
detects a failing strategy within the system, falls back (fresh preconditioner, no
recycle space, another method, direct) and records it; a named solver is not swapped."""

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import solvers.linear.auto as auto_module
from solvers.linear import make_solver
from solvers.linear.krylov import cg
from solvers.linear.system import LinearSystem
from solvers.problems import make_problem
from tests.helpers.matrices import convection_diffusion, laplacian, rhs

#: thresholds lowered so that a few thousand unknowns take the large-system branches
LARGE = {"small_max": 100, "direct_max": 100}


def helmholtz_sequence(res=40, count=6, complex_=True):
    p = make_problem("helmholtz", res, bc="impedance" if complex_ else "dirichlet",
                     k_min=20.0, k_max=40.0)
    mus = [np.array([30 + 0.05 * i, 0.3, 0.5, 0.5]) for i in range(count)]
    return [p.assemble_complex(mu) if complex_ else p.assemble(mu) for mu in mus]


def total_iterations(solver, systems):
    stats = [solver.solve(s)[1] for s in systems]
    return sum(st.iterations for st in stats), [st.converged for st in stats]


def test_cg_on_an_indefinite_matrix_says_indefinite():
    A = laplacian(20, shift=-3000.0)
    _, st = cg(A, rhs(A.shape[0]))
    assert not st.converged and st.status == "indefinite", st


def test_a_matrix_mislabelled_spd_falls_back_instead_of_stopping():
    A = laplacian(72, shift=-2e4)  # symmetric indefinite, 5184 unknowns
    assert A.shape[0] > 5000
    b = rhs(A.shape[0])
    auto = make_solver("auto")
    x, st = auto.solve(LinearSystem(A, b, True, True))
    assert st.converged and np.linalg.norm(b - A @ x) <= 1e-8 * np.linalg.norm(b), st
    # found by the Jacobi-CG probe, before any multilevel setup is paid for
    assert st.info["fallback"] == [{"strategy": "jacobi-cg", "status": "indefinite",
                                    "iterations": st.info["fallback"][0]["iterations"]}]
    assert 0 < st.info["fallback"][0]["iterations"] <= auto_module.PROBE_ITERATIONS
    assert st.info["auto_choice"] == "direct" and auto.iterative is None
    # the rest of the sequence goes straight to the factor
    x, st = auto.solve(LinearSystem(A, 2 * b, True, True))
    assert st.converged and "fallback" not in st.info and st.info["auto_choice"] == "direct"


def test_unconverged_iterative_solves_fall_back_to_direct_and_say_so():
    A = convection_diffusion(40)
    auto = make_solver("auto", maxiter=3, precond="jacobi", **LARGE)
    for i in range(2):
        b = rhs(A.shape[0], seed=i)
        x, st = auto.solve(LinearSystem(A, b))
        assert st.converged and np.linalg.norm(b - A @ x) <= 1e-8 * np.linalg.norm(b), st
        strategies = [f["strategy"] for f in st.info["fallback"]]
        # the ladder, then direct; the next system starts where the ladder stood
        assert strategies == (["gmres40-ilu", "gcrodr-ilu", "gmres150-ilu"] if i == 0
                              else ["gmres150-ilu"])
        assert all(f["status"] == "maxiter" for f in st.info["fallback"])
        assert st.iterations >= sum(f["iterations"] for f in st.info["fallback"])
    # an explicitly named solver is never swapped: it reports the failure
    _, st = make_solver("gcrodr", precond="jacobi", maxiter=3).solve(LinearSystem(A, b))
    assert not st.converged and st.status == "maxiter" and "fallback" not in st.info
    # the SPD branch falls back too
    L = laplacian(40)
    x, st = make_solver("auto", maxiter=2, **LARGE).solve(LinearSystem(L, b, True, True))
    assert st.converged and st.info["fallback"][-1]["status"] == "maxiter"


def test_a_carried_space_that_misses_its_budget_is_dropped(monkeypatch):
    # GMRES(10): restarted on these systems, so auto hands the sequence to GCRO-DR
    label, cls, opts = auto_module.GENERAL_LADDER[0]
    monkeypatch.setattr(auto_module, "GENERAL_LADDER",
                        ((label, cls, {**opts, "restart": 10}),) + auto_module.GENERAL_LADDER[1:])
    monkeypatch.setattr(auto_module, "PROMOTE_CYCLES", 1000)  # hand over between systems
    monkeypatch.setattr(auto_module, "RECYCLE_BUDGET", 0.0)  # any carried solve misses
    monkeypatch.setattr(auto_module, "RECYCLE_MIN_BUDGET", 1)
    systems = helmholtz_sequence(count=5)
    auto = make_solver("auto", **LARGE)
    _, first = auto.solve(systems[0])
    assert first.info["method"] == "gmres" and first.iterations > 10
    assert first.info["auto_switch"] == "gcrodr-ilu"
    _, second = auto.solve(systems[1])   # GCRO-DR without a space yet: builds one
    assert second.info["method"] == "gcrodr" and "fallback" not in second.info
    _, third = auto.solve(systems[2])
    assert first.converged and second.converged and third.converged
    assert third.info["fallback"] == [{"strategy": "gcrodr-ilu-carried", "status": "maxiter",
                                       "iterations": 1}]
    assert not auto.carry
    for s in systems[3:]:
        _, st = auto.solve(s)
        assert st.converged and "fallback" not in st.info


def test_a_carried_space_slower_than_gmres_hands_back_to_gmres(monkeypatch):
    label, cls, opts = auto_module.GENERAL_LADDER[0]
    monkeypatch.setattr(auto_module, "GENERAL_LADDER",
                        ((label, cls, {**opts, "restart": 10}),) + auto_module.GENERAL_LADDER[1:])
    monkeypatch.setattr(auto_module, "PROMOTE_CYCLES", 1000)  # hand over between systems
    monkeypatch.setattr(auto_module, "RECYCLE_TIME_BUDGET", 0.0)  # any carried solve is slow
    systems = helmholtz_sequence(count=5)
    auto = make_solver("auto", **LARGE)
    methods, switches = [], []
    for s in systems:
        _, st = auto.solve(s)
        assert st.converged and "fallback" not in st.info
        methods.append(st.info["method"])
        switches.append(st.info.get("auto_switch"))
    # GMRES (restarted) -> GCRO-DR builds its space -> carried, slower -> GMRES for good
    assert methods == ["gmres", "gcrodr", "gcrodr", "gmres", "gmres"], methods
    assert switches[:3] == ["gcrodr-ilu", None, "gmres40-ilu"] and not auto.promote


def test_restarted_gmres_hands_over_to_gcrodr_within_the_system(monkeypatch):
    label, cls, opts = auto_module.GENERAL_LADDER[0]
    monkeypatch.setattr(auto_module, "GENERAL_LADDER",
                        ((label, cls, {**opts, "restart": 10}),) + auto_module.GENERAL_LADDER[1:])
    systems = helmholtz_sequence(count=3)
    auto = make_solver("auto", **LARGE)
    x, st = auto.solve(systems[0])
    b = systems[0].b
    assert st.converged and np.linalg.norm(b - systems[0].A @ x) <= 1e-8 * np.linalg.norm(b)
    # 3 cycles of GMRES(10), then GCRO-DR from that iterate with the same ILU
    assert st.info["fallback"] == [{"strategy": "gmres40-ilu", "status": "maxiter",
                                    "iterations": 30}]
    assert st.info["method"] == "gcrodr" and st.info["auto_switch"] == "gcrodr-ilu"
    assert st.info["precond_builds"] == 0 and st.iterations > 30
    for s in systems[1:]:
        _, st = auto.solve(s)
        assert st.converged and st.info["method"] == "gcrodr" and "fallback" not in st.info


@pytest.mark.parametrize("complex_", [True, False])
def test_helmholtz_sequences_converge_at_no_more_than_1_5x_the_best_listed(complex_):
    """Cost in products with ``A`` (each with one ILU application): GCRO-DR's extra dense
    work per iteration is not counted, which favours the listed GCRO-DR, not ``auto``."""
    systems = helmholtz_sequence(count=6, complex_=complex_)
    auto = make_solver("auto", **LARGE)
    stats = [auto.solve(s)[1] for s in systems]
    assert all(st.converged for st in stats)
    cost = sum(st.matvecs for st in stats)
    best = []
    for name, kw in [("gmres", {"precond": "ilu", "strategy": "independent"}),
                     ("gmres", {"precond": "ilu"}), ("gcrodr", {"precond": "ilu"})]:
        solver = make_solver(name, **kw)
        listed = [solver.solve(s)[1] for s in systems]
        if all(st.converged for st in listed):
            best.append(sum(st.matvecs for st in listed))
    assert cost <= 1.5 * min(best), (cost, best)


def nine_point(n):
    K = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n))
    M = sp.diags([1.0, 4.0, 1.0], [-1, 0, 1], shape=(n, n)) / 6
    return (sp.kron(K, M) + sp.kron(M, K)).tocsr() * (n + 1) ** 2  # Q1 Laplacian


def test_a_9_point_stencil_does_not_start_with_jacobi():
    A = nine_point(80)
    assert A.nnz / A.shape[0] > 8 and A.shape[0] > 5000
    assert make_solver("auto").first_precond(A) == "multilevel"
    b = rhs(A.shape[0])
    x, st = make_solver("auto").solve(LinearSystem(A, b, True, True))
    assert st.converged and st.info["precond"] == "multilevel" and st.iterations < 60, st
    # the probe ran first (and found nothing wrong): its iterations are in the count
    assert st.info["probe"]["strategy"] == "jacobi-cg-probe" and "fallback" not in st.info
    xd = spla.spsolve(A.tocsc(), b)
    assert np.linalg.norm(x - xd) <= 1e-6 * np.linalg.norm(xd)


def test_the_bandit_leaves_no_unconverged_solution():
    """A slow arm (SOR with omega = 1 needs ~700 sweeps here) hits maxiter; the system
    is finished with the best arm so far, or directly, and the record says so."""
    A = laplacian(20)
    solver = make_solver("sor", omega="bandit", omegas="1.0,1.8", maxiter=300, seed=1)
    finished = set()
    for i in range(12):
        b = rhs(A.shape[0], seed=i)
        x, st = solver.solve(LinearSystem(A, b, True, True))
        assert st.converged and np.linalg.norm(b - A @ x) <= 1e-8 * np.linalg.norm(b), st
        if "finished_by" in st.info:
            assert st.info["first_status"] == "maxiter" and st.info["omega"] == 1.0
            finished.add(st.info["finished_by"])
    assert finished  # the slow arm was played and its systems were finished


def test_gmres_gives_up_early_only_when_its_pace_cannot_meet_maxiter():
    from solvers.linear.krylov import gmres, projected_iterations

    A = laplacian(30)
    b = rhs(A.shape[0])
    _, full = gmres(A, b, restart=5, rtol=1e-10, maxiter=20000)
    assert full.converged and full.iterations > 300   # GMRES(5) truly needs more than 300
    _, plain = gmres(A, b, restart=5, rtol=1e-10, maxiter=300)
    assert plain.status == "maxiter" and plain.iterations == 300
    _, early = gmres(A, b, restart=5, rtol=1e-10, maxiter=300, give_up=1.0)
    assert early.status == "slow" and not early.converged and early.iterations < 300, early
    # this solve, which can finish within maxiter, is not stopped
    _, ok = gmres(A, b, restart=5, rtol=1e-10, maxiter=full.iterations + 50, give_up=1.0)
    assert ok.converged and ok.iterations == full.iterations
    # the projection: a rate of 10x per 10 iterations needs 10 more per decade
    assert abs(projected_iterations(1.0, 1e-1, 10, 1e-3) - 20) < 1e-9
    assert projected_iterations(1.0, 1.0, 10, 1e-3) == float("inf")
