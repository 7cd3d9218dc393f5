"""Two-level / multilevel aggregation preconditioners and what ``auto`` does with them."""

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from solvers.linear import make_solver
from solvers.linear.auto import AutoSolver, best_start
from solvers.linear.krylov import cg
from solvers.linear.precond import PRECONDS, make_precond
from solvers.linear.system import LinearSystem
from solvers.linear.twolevel import (
    CoarseSpace,
    MultilevelJacobi,
    TwoLevelJacobi,
    aggregation_basis,
    gershgorin_jacobi_bound,
)
from solvers.problems import fd, make_problem
from solvers.problems.grid import Grid


def diffusion(n, dim=2, seed=0, contrast=1.0):
    """``-div(a grad u)`` on ``n^dim`` interior nodes (Dirichlet), a smooth log-normal ``a``."""
    grid = Grid.uniform(n + 2, dim)
    grids = np.meshgrid(*grid.axes, indexing="ij")
    rng = np.random.default_rng(seed)
    a = np.exp(contrast * sum(rng.standard_normal() * np.cos(np.pi * (k + 1) * g)
                              for k, g in enumerate(grids)))
    return fd.diffusion_operator(grid, a)


def dense_operator(M, n):
    return M.apply(np.eye(n))


def test_aggregation_basis_partitions_the_unknowns():
    A = diffusion(20)
    for levels in (1, 2, 3):
        P = aggregation_basis(A, levels)
        assert P.shape[0] == A.shape[0]
        assert np.all(P.getnnz(axis=1) == 1) and np.all(P.data == 1.0)  # one aggregate each
        assert np.all(P.getnnz(axis=0) >= 1)  # no empty aggregate
        if levels > 1:
            assert P.shape[1] < aggregation_basis(A, levels - 1).shape[1]
    with pytest.raises(ValueError, match="levels"):
        aggregation_basis(A, 0)


@pytest.mark.parametrize("smooth", [0, 1])
def test_coarse_correction_is_the_a_orthogonal_projection(smooth):
    """``Q A`` with ``Q = P A_c^{-1} P^T`` is the identity on range(P) and ``A``-orthogonal."""
    A = diffusion(16, seed=1)
    cs = CoarseSpace(A, 2, smooth=smooth)
    P = cs.P.toarray()
    QAP = cs.apply(A @ P)
    assert np.allclose(QAP, P, atol=1e-10 * np.abs(P).max())
    v = np.random.default_rng(0).standard_normal(A.shape[0])
    e = v - cs.apply(A @ v)  # (I - QA) v is A-orthogonal to range(P)
    assert np.abs(P.T @ (A @ e)).max() <= 1e-9 * np.abs(A @ v).max()
    assert np.allclose(cs.apply(np.stack([v, 2 * v], axis=1))[:, 1], 2 * cs.apply(v))


@pytest.mark.parametrize("make", [
    lambda A: TwoLevelJacobi(A, levels=2),
    lambda A: TwoLevelJacobi(A, levels=1, smooth=0),
    lambda A: MultilevelJacobi(A, coarse_max=20),
])
def test_multiplicative_cycles_are_spd_contractions(make):
    """``B`` is symmetric and the error propagation ``I - B A`` has eigenvalues in ``[0, 1)``."""
    A = diffusion(14, seed=2, contrast=1.5)
    n = A.shape[0]
    M = make(A)
    B = dense_operator(M, n)
    assert np.allclose(B, B.T, atol=1e-12 * np.abs(B).max())
    lam = np.linalg.eigvalsh(B)
    assert lam.min() > 0
    # eigenvalues of B A = those of the symmetric L^T B L with A = L L^T
    L = np.linalg.cholesky(A.toarray())
    mu = np.linalg.eigvalsh(L.T @ B @ L)
    assert mu.min() > 0 and mu.max() <= 1 + 1e-10


def test_additive_two_level_is_spd():
    A = diffusion(12, seed=3)
    B = dense_operator(TwoLevelJacobi(A, mode="additive"), A.shape[0])
    assert np.allclose(B, B.T, atol=1e-12 * np.abs(B).max())
    assert np.linalg.eigvalsh(B).min() > 0


@pytest.mark.parametrize("name,opts", [("twolevel", {}), ("twolevel", {"mode": "additive"}),
                                       ("multilevel", {"coarse_max": 50})])
def test_pcg_agrees_with_a_direct_solve(name, opts):
    assert name in PRECONDS
    for A in (diffusion(40, contrast=2.0), diffusion(12, dim=3, seed=4)):
        b = np.random.default_rng(1).standard_normal(A.shape[0])
        M = make_precond(name, A, **opts)
        x, st = cg(A, b, M=M, rtol=1e-10)
        xd = spla.spsolve(A.tocsc(), b)
        assert st.converged and np.linalg.norm(b - A @ x) <= 1e-10 * np.linalg.norm(b)
        assert np.linalg.norm(x - xd) <= 1e-7 * np.linalg.norm(xd)
        assert np.allclose(M.apply(np.stack([b, -b], 1))[:, 1], -M.apply(b))


def test_darcy_problem_with_auto_in_the_iterative_regime():
    prob = make_problem("darcy", 24)
    dim = prob.parameter_space.dim
    mus = prob.parameter_space.from_unit(np.random.default_rng(0).uniform(0.05, 0.95, (3, dim)))
    auto = AutoSolver()
    auto.choose = lambda system, A: "spd-cg"
    for mu in mus:
        s = prob.assemble(mu)
        x, st = auto.solve(s)
        xd = spla.spsolve(s.A.tocsc(), s.b)
        assert st.converged and st.info["precond"] == "multilevel"
        assert np.linalg.norm(x - xd) <= 1e-6 * np.linalg.norm(xd)


def test_iterations_stay_flat_under_refinement():
    """With a fixed number of aggregation passes ``H/h`` is bounded: flat CG iterations,
    while Jacobi-CG grows like ``1/h``."""
    its = {"twolevel": [], "multilevel": [], "jacobi": []}
    for n in (32, 64, 128):
        A = diffusion(n, seed=5)
        b = np.ones(A.shape[0])
        for name in its:
            _, st = cg(A, b, M=make_precond(name, A), rtol=1e-8, maxiter=5000)
            assert st.converged
            its[name].append(st.iterations)
    for name in ("twolevel", "multilevel"):
        assert its[name][-1] <= 1.25 * its[name][0] + 3, its
    assert its["jacobi"][-1] >= 3 * its["jacobi"][0], its
    assert its["multilevel"][-1] < its["jacobi"][-1] / 5


def test_bad_input_is_a_clear_error():
    A = diffusion(10)
    g = gershgorin_jacobi_bound(A)
    assert 1.9 < g <= 2.0 + 1e-12  # diagonally dominant M-matrix
    with pytest.raises(ValueError, match="omega"):
        TwoLevelJacobi(A, omega=2.5 / g)
    with pytest.raises(ValueError, match="mode"):
        TwoLevelJacobi(A, mode="sideways")
    with pytest.raises(ValueError, match="positive diagonal"):
        TwoLevelJacobi(-A)


# ------------------------------------------------------------------ auto
def test_best_start_picks_the_smallest_residual_or_zero():
    A = diffusion(10)
    x = np.random.default_rng(0).standard_normal(A.shape[0])
    b = A @ x
    label, x0, res = best_start(A, b, [("far", 10 * x), ("near", x + 1e-3), ("none", None)])
    assert label == "near" and x0 is not None and res < 1e-2 * np.linalg.norm(b)
    label, x0, res = best_start(A, b, [("far", -x)])
    assert label == "zero" and x0 is None and res == pytest.approx(np.linalg.norm(b))


def test_auto_warm_start_and_extrapolation():
    A = diffusion(72, dim=2, seed=6)
    assert A.shape[0] > 5000
    rng = np.random.default_rng(2)
    u = rng.standard_normal(A.shape[0])
    auto = make_solver("auto")  # SPD, more than 5000 unknowns: CG
    # a sequence whose solutions move linearly: x_i = u + i v, so extrapolation is exact
    v = 0.01 * rng.standard_normal(A.shape[0])
    labels, iters = [], []
    for i in range(4):
        xs = u + i * v
        x, st = auto.solve(LinearSystem(A, A @ xs, True, True))
        assert st.converged and np.linalg.norm(x - xs) <= 1e-6 * np.linalg.norm(xs)
        assert st.info["auto_choice"] == "spd-cg"
        labels.append(st.info["warm_start"])
        iters.append(st.iterations)
    assert labels[0] == "zero" and labels[1] == "previous" and labels[3] == "extrapolated"
    assert iters[3] < iters[0]
    # without warm start every solve starts from zero
    cold = make_solver("auto", warm_start=False)
    cold.solve(LinearSystem(A, A @ u, True, True))
    _, st = cold.solve(LinearSystem(A, A @ (u + v), True, True))
    assert st.info["warm_start"] == "zero" and st.iterations > iters[1]


def test_auto_switches_preconditioner_when_iterations_are_high():
    A = diffusion(72, seed=7)
    b = np.ones(A.shape[0])
    auto = make_solver("auto", spd_max_iterations=1)
    x, st = auto.solve(LinearSystem(A, b, True, True))
    assert st.converged and st.info["auto_switch"] == "amg-cg"
    x, st = auto.solve(LinearSystem(A, 2 * b, True, True))
    assert st.converged and st.info["precond"] in ("amg", "ic0")
    assert auto.settings()["spd_max_iterations"] == 1


def test_auto_starts_3d_with_jacobi_and_moves_on_when_it_struggles(monkeypatch):
    import solvers.linear.auto as seq

    A = diffusion(18, dim=3, seed=8)
    b = np.ones(A.shape[0])
    auto = make_solver("auto")
    x, st = auto.solve(LinearSystem(A, b, True, True))
    assert st.converged and st.info["precond"] == "jacobi"
    assert np.linalg.norm(x - spla.spsolve(A.tocsc(), b)) <= 1e-6 * np.linalg.norm(x)
    monkeypatch.setattr(seq, "JACOBI_MAX_ITERATIONS", 1)
    auto = make_solver("auto")
    x, st = auto.solve(LinearSystem(A, b, True, True))
    assert st.converged and st.info["auto_switch"] == "multilevel-cg"
    _, st = auto.solve(LinearSystem(A, 2 * b, True, True))
    assert st.info["precond"] == "multilevel"


def test_smoother_hook_reproduces_the_jacobi_vcycle():
    """``smoother=`` with the default diagonal is the default cycle bit for bit; as a sparse
    matrix (applied ``S`` / ``S^T``) it agrees to round-off; a bad vector is refused."""
    A = diffusion(40, seed=3, contrast=1.5)
    n = A.shape[0]
    r = np.random.default_rng(2).standard_normal(n)
    ref = MultilevelJacobi(A, coarse_max=100)
    w = ref.levels[0].sdinv.copy()
    same = MultilevelJacobi(A, coarse_max=100, smoother=w)
    assert np.array_equal(same.apply(r), ref.apply(r))
    sparse = MultilevelJacobi(A, coarse_max=100, smoother=sp.diags(w).tocsr())
    assert np.allclose(sparse.apply(r), ref.apply(r), rtol=1e-13, atol=0)
    with pytest.raises(ValueError, match="diagonal smoother"):
        MultilevelJacobi(A, smoother=np.ones(3))
