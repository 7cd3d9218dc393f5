"""SOR / SSOR / SSOR-CG and the online choice of omega (Khodak et al.'s test bed)."""

import numpy as np
import pytest
import scipy.sparse.linalg as spla

from solvers.linear import make_solver
from solvers.linear.bandits import (
    ChebCB,
    CostScale,
    TsallisINF,
    TsallisINFCB,
    chebyshev_features,
    geometric_omegas,
    make_bandit,
)
from solvers.linear.sor import (
    shifted_laplacian,
    shifted_laplacian_instances,
    sor,
    sor_shifted_laplacian_batch,
    ssor_cg,
)
from solvers.linear.system import LinearSystem

OMEGAS = np.round(np.arange(1.0, 1.95, 0.1), 2)  # Khodak et al.'s grid
GEOMETRIC = np.array(geometric_omegas())  # 2 - omega = 2^-j: 1, 1.5, 1.75, 1.875, 1.9375


def test_sor_and_ssor_match_direct():
    A = shifted_laplacian(12, 0.3)
    b = np.random.default_rng(0).standard_normal(144)
    xd = spla.spsolve(A.tocsc(), b)
    for kw in ({"omega": 1.0}, {"omega": 1.6}, {"omega": 1.3, "symmetric": True}):
        x, st = sor(A, b, **kw)
        assert st.converged and st.residual <= 1e-8
        assert np.linalg.norm(x - xd) <= 1e-6 * np.linalg.norm(xd)
    x, st = ssor_cg(A, b, omega=1.5)
    assert st.converged and st.residual <= 1e-8 and st.info["omega"] == 1.5
    assert np.linalg.norm(x - xd) <= 1e-6 * np.linalg.norm(xd)


def test_sor_optimal_omega_beats_gauss_seidel_and_divergence_is_reported():
    A = shifted_laplacian(16, 0.0)
    b = np.ones(256)
    rho = np.cos(np.pi / 17)  # Jacobi spectral radius; Young's optimal omega
    w_opt = 2 / (1 + np.sqrt(1 - rho ** 2))
    _, gs = sor(A, b, omega=1.0)
    _, opt = sor(A, b, omega=w_opt)
    assert opt.iterations < gs.iterations / 4
    indefinite = shifted_laplacian(8, -3.0)
    _, st = sor(indefinite, np.ones(64), omega=1.5, maxiter=2000)
    assert not st.converged and st.status in ("diverged", "maxiter")
    with pytest.raises(ValueError, match="omega"):
        sor(A, b, omega=2.5)


def test_batch_red_black_sor_equals_natural_sor_on_red_black_ordering():
    c, b = shifted_laplacian_instances(6, m=6, seed=3)
    counts = sor_shifted_laplacian_batch(b, c, 1.5, maxiter=2000)
    ii, jj = np.meshgrid(np.arange(6), np.arange(6), indexing="ij")
    red = ((ii + jj) % 2 == 0).ravel()
    perm = np.r_[np.flatnonzero(red), np.flatnonzero(~red)]
    for i in range(6):
        A = shifted_laplacian(6, c[i])[perm][:, perm].tocsr()
        _, st = sor(A, b[i].ravel()[perm], omega=1.5, maxiter=2000)
        assert st.converged and st.iterations == counts[i]


def test_tsallis_probabilities_and_features():
    bd = TsallisINF(4, seed=0)
    bd.L = np.array([0.0, 1.0, 5.0, 20.0])
    bd.t = 9
    p = bd.probabilities()
    assert abs(p.sum() - 1) < 1e-10 and np.all(np.diff(p) < 0)
    theta = np.linspace(0, np.pi, 7)
    T = chebyshev_features(np.cos(theta), 5)
    assert np.allclose(T, np.cos(np.outer(theta, np.arange(6))))
    assert CostScale("iterations", 100).loss(50, 0.1, True) == 0.5
    assert CostScale("iterations", 100).loss(50, 0.1, False) == 1.0
    with pytest.raises(ValueError, match="context range"):
        make_bandit("chebcb", 3)


def test_geometric_grid_and_scale_free_tsallis():
    assert geometric_omegas() == (1.0, 1.5, 1.75, 1.875, 1.9375)
    assert np.allclose(2 - np.array(geometric_omegas(4, 0.25)), 0.25 ** np.arange(4))
    with pytest.raises(ValueError, match="ratio"):
        geometric_omegas(5, 1.0)
    # eta_t = eta0 / (S_t sqrt t): losses times 1000 give the same plays and probabilities
    rng = np.random.default_rng(7)
    losses = rng.uniform(0.1, 1.0, size=(300, 5)) * np.array([1.0, 0.6, 0.9, 0.7, 1.0])
    small, large = TsallisINF(5, seed=3), TsallisINF(5, seed=3)
    for row in losses:
        a, b = small.select(), large.select()
        assert a == b
        small.update(a, row[a])
        large.update(b, 1000.0 * row[b])
    assert np.allclose(small.p, large.p)
    assert np.argmax(small.p) == 1  # the arm with the smallest mean loss
    with pytest.raises(ValueError, match="loss"):
        small.update(0, float("nan"))


def test_reduced_variance_estimate_is_unbiased_up_to_a_common_shift():
    """E[L_hat increment of arm i] = loss_i - B_t for every arm: differences are unbiased."""
    bd = TsallisINF(3, seed=0)
    bd.update(0, 0.4)  # mean loss 0.4, so B = 0.2 from now on
    bd.L[:] = 0.0
    bd.p = np.array([0.5, 0.3, 0.2])
    loss = np.array([0.3, 0.6, 0.9])
    expected = np.zeros(3)
    for arm in range(3):  # exact expectation over the draw I ~ p
        bd.L[:] = 0.0
        bd.update(arm, loss[arm])
        bd.t, bd.mean_loss = 1, 0.4  # undo the state change of the update
        expected += bd.p[arm] * bd.L
    assert np.allclose(expected, loss - 0.5 * 0.4)


@pytest.fixture(scope="module")
def khodak_table():
    """Iterations of red-black SOR for every omega of both grids on T = 2000 instances
    of (Delta_5 + c I) x = b on a 12 x 12 grid (10 x 10 unknowns), tol 1e-8."""
    c, b = shifted_laplacian_instances(2000, m=10, seed=0)
    table = {name: np.array([sor_shifted_laplacian_batch(b, c, w, rtol=1e-8, maxiter=1000)
                             for w in grid])
             for name, grid in (("khodak", OMEGAS), ("geometric", GEOMETRIC))}
    return c, table


def _play(bandit, table, contexts=None, maxiter=1000):
    total = 0
    for t in range(table.shape[1]):
        ctx = None if contexts is None else contexts[t]
        arm = bandit.select(ctx)
        cost = table[arm, t]
        total += cost
        bandit.update(arm, min(cost / maxiter, 1.0), ctx)
    return total


@pytest.mark.slow
def test_bandits_on_khodak_setup(khodak_table):
    c, tables = khodak_table
    table = tables["khodak"]
    best_fixed = table.sum(axis=1).min()
    worst_fixed = table.sum(axis=1).max()
    assert worst_fixed / best_fixed > 3
    # Tsallis-INF on the geometric grid (eta0, baseline and grid ratio tuned on other
    # instance seeds): observed 1.03-1.06 x its best fixed omega over 8 seeds, and
    # 1.09 x the best omega of Khodak's finer grid (itself within 0.2% of the best
    # omega on a 0.01 grid); the target is 1.10.
    geo = tables["geometric"]
    totals = np.array([_play(TsallisINF(len(GEOMETRIC), seed=s), geo) for s in range(6)])
    ratios = totals / geo.sum(axis=1).min()
    assert np.mean(ratios) <= 1.10 and max(ratios) <= 1.12, ratios
    assert np.mean(totals) <= 1.12 * best_fixed, totals / best_fixed
    # On Khodak's 10-arm grid the exploration of seven poor arms costs more:
    # observed 1.09-1.17 (mean 1.125 over 8 seeds; was 1.14-1.22 before the
    # reduced-variance baseline and the scale-free rate).
    khodak = [_play(TsallisINF(len(OMEGAS), seed=s), table) / best_fixed for s in range(3)]
    assert np.mean(khodak) <= 1.16 and max(khodak) <= 1.2, khodak
    cheb = [_play(ChebCB(len(OMEGAS), (-0.15, 0.45), seed=s), table, c) / best_fixed
            for s in range(3)]
    assert max(cheb) < 1.0, cheb  # contextual: beats the best fixed omega
    assert table.min(axis=0).sum() < best_fixed  # the instance-optimal policy it tracks
    cb = _play(TsallisINFCB(len(OMEGAS), (-0.15, 0.45), seed=0), table, c) / best_fixed
    assert cb < 1.5


def test_sequence_sor_with_chebcb_and_bandit_records_omega():
    c, b = shifted_laplacian_instances(12, m=8, seed=1)
    systems = [LinearSystem(shifted_laplacian(8, ci), bi.ravel(), True, True, {"shift": ci})
               for ci, bi in zip(c, b)]
    for omega in ("bandit", "chebcb", "cb"):
        solver = make_solver("sor", omega=omega, context="shift", context_range="-0.15:0.45")
        for s in systems:
            x, st = solver.solve(s)
            assert st.converged and st.info["omega"] in OMEGAS
            assert np.linalg.norm(s.A @ x - s.b) <= 1e-8 * np.linalg.norm(s.b)
    solver = make_solver("ssor-cg", omega="bandit", feedback="seconds")
    for s in systems[:4]:
        _, st = solver.solve(s)
        assert st.converged and st.solver == "ssor-cg"
    with pytest.raises(ValueError, match="meta"):
        make_solver("sor", omega="chebcb", context="nope", context_range="0:1").solve(systems[0])
    with pytest.raises(ValueError, match="omega"):
        make_solver("sor", omega="magic")


def test_ssor_preconditioner_is_the_ssor_matrix():
    """M^{-1} = omega (2 - omega) (D + omega U)^{-1} D (D + omega L)^{-1} (up to the scalar)."""
    from solvers.linear.precond import SSOR

    A = shifted_laplacian(5, 0.2)
    Ad = A.toarray()
    D, L, U = np.diag(np.diag(Ad)), np.tril(Ad, -1), np.triu(Ad, 1)
    r = np.random.default_rng(5).standard_normal(25)
    for w in (1.0, 1.4, 1.8):
        explicit = np.linalg.solve(D + w * U, D @ np.linalg.solve(D + w * L, r)) * w * (2 - w)
        assert np.allclose(SSOR(A, w).apply(r), explicit)
