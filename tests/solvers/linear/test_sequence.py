"""Sequence solvers on the problem zoo: agreement with sparse LU, strategies, auto."""

import json

import numpy as np
import pytest
import scipy.sparse.linalg as spla

from solvers.linear import SOLVERS, make_solver
from solvers.linear.system import LinearSystem
from solvers.problems import make_problem


def sequence(name, n=4, resolution=16, seed=0, **opts):
    prob = make_problem(name, resolution, **opts)
    space = prob.parameter_space
    mus = space.from_unit(np.random.default_rng(seed).uniform(0.01, 0.99, (n, space.dim)))
    return [prob.assemble(mu) for mu in mus]


def complex_helmholtz(n=3, resolution=12):
    prob = make_problem("helmholtz", resolution, bc="impedance", k_max=10.0)
    space = prob.parameter_space
    mus = space.from_unit(np.random.default_rng(0).uniform(0.01, 0.99, (n, space.dim)))
    return [prob.assemble_complex(mu) for mu in mus]


CASES = {
    "spd": (lambda: sequence("darcy"),
            ["cg", "amg-cg", "def-cg", "ssor-cg", "gmres", "gcrodr", "auto", "direct"]),
    "nonsymmetric": (lambda: sequence("advection_diffusion"), ["gmres", "gcrodr", "auto"]),
    "indefinite": (lambda: sequence("helmholtz", k_max=12.0), ["gmres", "gcrodr", "auto"]),
    "complex": (complex_helmholtz, ["gmres", "gcrodr", "direct", "auto"]),
}


@pytest.mark.parametrize("kind", list(CASES))
def test_every_solver_agrees_with_direct(kind):
    make, names = CASES[kind]
    systems = make()
    assert kind != "spd" or all(s.spd for s in systems)
    assert kind != "complex" or np.iscomplexobj(systems[0].A.data)
    for name in names:
        precs = ["none", "ilu"] if name in ("gmres", "gcrodr") else [None]
        for pre in precs:
            solver = make_solver(name, **({} if pre is None else {"precond": pre}))
            for s in systems:
                x, st = solver.solve(s)
                xd = spla.spsolve(s.A.tocsc(), s.b)
                r = np.linalg.norm(s.b - s.A @ x) / np.linalg.norm(s.b)
                assert st.converged and r <= 1e-8, (name, pre, st)
                assert np.linalg.norm(x - xd) <= 1e-5 * np.linalg.norm(xd), (name, pre)
            json.dumps(solver.settings())


def test_strategies_and_info_records():
    systems = sequence("darcy", n=5)
    for strategy in ("independent", "warm-start", "reuse-preconditioner", "recycle"):
        solver = make_solver("cg", precond="ic0", strategy=strategy)
        builds = 0
        for s in systems:
            _, st = solver.solve(s)
            assert st.converged
            builds += st.info["precond_builds"]
            assert {"strategy", "precond", "precond_rebuilds", "recycle_dim"} <= set(st.info)
        if strategy in ("independent", "warm-start"):
            assert builds == len(systems)
        else:
            assert builds < len(systems)
        if strategy == "recycle":
            assert st.info["recycle_dim"] > 0
    solver = make_solver("gmres", precond="ilu", strategy="recycle", k=6, restart=20)
    for s in systems:
        _, st = solver.solve(s)
    assert st.info["recycle_dim"] == 6 and st.solver == "gmres"


def test_warm_start_on_repeated_system_needs_no_iterations():
    s = sequence("darcy", n=1)[0]
    solver = make_solver("cg", strategy="warm-start")
    _, first = solver.solve(s)
    _, again = solver.solve(s)
    assert first.iterations > 10 and again.iterations <= 2 and again.converged


def test_auto_follows_its_documented_rule_on_real_systems():
    """``auto``: up to 5000 unknowns sparse direct; above, SPD -> CG with the multilevel
    preconditioner (2-D stencil); non-SPD -> direct up to ``direct_max``, else GMRES(40)
    with a kept ILU (GCRO-DR only after a restarted GMRES solve)."""
    spd = sequence("darcy", n=2)
    _, st = make_solver("auto").solve(spd[0])
    assert spd[0].A.shape[0] <= 5000 and st.info["auto_choice"] == "direct"
    big = sequence("darcy", n=2, resolution=80)
    assert big[0].A.shape[0] > 5000 and all(s.spd for s in big)
    auto = make_solver("auto")
    for s in big:
        x, st = auto.solve(s)
        assert st.converged and st.info["auto_choice"] == "spd-cg", st
        assert st.info["precond"] == "multilevel" and st.info["method"] == "cg"
        xd = spla.spsolve(s.A.tocsc(), s.b)
        assert np.linalg.norm(x - xd) <= 1e-6 * np.linalg.norm(xd)
    nonsym = sequence("advection_diffusion", n=2, resolution=80)
    assert nonsym[0].A.shape[0] > 5000 and not nonsym[0].spd
    assert abs(nonsym[0].A - nonsym[0].A.T).max() > 0
    _, st = make_solver("auto").solve(nonsym[0])  # below direct_max = 300 000
    assert st.converged and st.info["auto_choice"] == "direct"
    auto = make_solver("auto", direct_max=5000)
    method = "gmres"
    for s in nonsym:
        x, st = auto.solve(s)
        assert st.converged and st.info["auto_choice"] == "general"
        assert st.info["method"] == method and st.info["precond"] == "ilu"
        assert "fallback" not in st.info
        assert np.linalg.norm(s.b - s.A @ x) <= 1e-8 * np.linalg.norm(s.b)
        # a restarted GMRES(40) solve hands the next systems to GCRO-DR
        assert ("auto_switch" in st.info) == (method == "gmres" and st.iterations > 40)
        method = "gcrodr" if "auto_switch" in st.info else method
    assert method == "gcrodr" and st.info["recycle_dim"] > 0  # a space to carry on
    # the decision rule itself, on a 3-D 7-point stencil (n = 27000, fill-heavy for LU)
    import scipy.sparse as sp

    from solvers.linear.auto import AutoSolver

    T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(30, 30))
    I = sp.identity(30)
    A3 = (sp.kron(sp.kron(T, I), I) + sp.kron(sp.kron(I, T), I) + sp.kron(sp.kron(I, I), T)).tocsr()
    b3 = np.ones(A3.shape[0])
    assert AutoSolver().choose(LinearSystem(A3, b3, True, True), A3) == "spd-cg"
    assert AutoSolver().choose(LinearSystem(A3, b3, False, False), A3) == "direct"
    assert AutoSolver(direct_max=1000).choose(LinearSystem(A3, b3, False, False), A3) == "general"
    assert AutoSolver().first_precond(A3) == "jacobi"  # 3-D, n <= jacobi_max
    assert AutoSolver(jacobi_max=1000).first_precond(A3) == "multilevel"
    assert AutoSolver().choose(spd[0], spd[0].A) == "direct"  # small
    A2 = make_problem("darcy", 130).assemble(np.zeros(make_problem("darcy", 130)
                                                     .parameter_space.dim)).A
    assert AutoSolver().choose(LinearSystem(A2, None, True, True), A2) == "spd-cg"
    assert AutoSolver().first_precond(A2) == "multilevel"  # 2-D stencil
    assert "auto" in SOLVERS and "amg-cg" in SOLVERS


def test_bad_options_are_clear_errors():
    with pytest.raises(ValueError, match="unknown solver"):
        make_solver("nope")
    with pytest.raises(ValueError, match="strategy"):
        make_solver("cg", strategy="magic")
    with pytest.raises(ValueError, match="preconditioner"):
        make_solver("cg", precond="magic").solve(sequence("darcy", n=1)[0])
    with pytest.raises(ValueError, match="precond must be none"):
        make_solver("sor", precond="ilu")
