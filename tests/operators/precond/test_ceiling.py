"""The smoother ceilings (exact SPAI, optimal diagonal, damping scan) and the learned damping."""

import numpy as np
import pytest
import scipy.sparse as sp

from operators.precond.ceiling import (
    best_omega,
    chebyshev_smoother,
    smoother_contraction,
    spai_diagonal,
    spai_pattern,
)
from operators.precond.damping import (
    LearnedDamping,
    damping_bounds,
    damping_weights,
    row_features,
    train_damping,
)
from solvers.linear.krylov import cg
from solvers.linear.twolevel import MultilevelJacobi
from solvers.problems import fd
from solvers.problems.grid import Grid


def diffusion(n, seed=0, contrast=2.0, jumps=False):
    """``-div(a grad u)`` on ``n²`` interior nodes: smooth log-normal or piecewise ``a``."""
    grid = Grid.uniform(n + 2, 2)
    X, Y = np.meshgrid(*grid.axes, indexing="ij")
    rng = np.random.default_rng(seed)
    if jumps:
        a = np.where((X > rng.uniform(0.2, 0.8)) ^ (Y > rng.uniform(0.2, 0.8)), 12.0, 3.0)
    else:
        a = np.exp(contrast * (rng.standard_normal() * np.cos(np.pi * X)
                               + rng.standard_normal() * np.sin(2 * np.pi * Y)))
    return sp.csr_matrix(fd.diffusion_operator(grid, a))


def test_spai_equals_dense_least_squares_per_column():
    A = diffusion(7, seed=3)
    Ad = A.toarray()
    M = spai_pattern(A)
    n = A.shape[0]
    assert (abs(M) > 0).sum() <= A.nnz and set(zip(*M.nonzero())) <= set(zip(*A.nonzero()))
    Md = M.toarray()
    for j in range(n):
        J = np.flatnonzero(Ad[:, j])
        e = np.zeros(n)
        e[j] = 1.0
        m, *_ = np.linalg.lstsq(Ad[:, J], e, rcond=None)
        assert np.allclose(Md[J, j], m, rtol=1e-10, atol=1e-12)
    # the optimum beats every other matrix on the pattern, e.g. Jacobi and perturbations
    f = np.linalg.norm(Ad @ Md - np.eye(n))
    assert f < np.linalg.norm(Ad @ np.diag(1 / np.diag(Ad)) - np.eye(n))
    P = M.copy()
    P.data = P.data * (1 + 1e-3 * np.random.default_rng(0).standard_normal(P.nnz))
    assert f < np.linalg.norm(Ad @ P.toarray() - np.eye(n))


def test_spai_diagonal_is_the_optimal_diagonal():
    A = diffusion(6, seed=1, jumps=True)
    Ad = A.toarray()
    w = spai_diagonal(A)
    for j in range(A.shape[0]):  # one-dimensional least squares per column
        c = Ad[:, j]
        assert np.isclose(w[j], c[j] / (c @ c), rtol=1e-13)


def test_spai_smoother_keeps_the_vcycle_spd_and_cg_converges():
    A = diffusion(24, seed=2)
    S = spai_pattern(A)
    assert smoother_contraction(A, S) < 1  # ‖I - S A‖_A < 1: the V-cycle is SPD
    M = MultilevelJacobi(A, smoother=S, coarse_max=50)
    B = M.apply(np.eye(A.shape[0]))
    assert np.allclose(B, B.T, atol=1e-12 * np.abs(B).max())
    assert np.linalg.eigvalsh((B + B.T) / 2).min() > 0
    b = np.ones(A.shape[0])
    _, st = cg(A, b, rtol=1e-10, M=M)
    assert st.converged and st.iterations < 30


def test_best_omega_is_the_minimum_of_its_scan():
    A = diffusion(30, seed=4)
    b = np.ones(A.shape[0])
    om, its = best_omega(A, b, omegas=(0.5, 0.7, 0.9, 1.5))
    assert 1.5 not in its  # fails ω g < 2: left out, not run
    assert its[om] == min(its.values())
    _, st = cg(A, b, rtol=1e-8, M=MultilevelJacobi(A, omega=om))
    assert st.iterations == its[om]


@pytest.mark.parametrize("jumps", [False, True])
def test_learned_damping_is_spd_for_any_network_output(jumps):
    """``w_i Σ_j |a_ij| < 2`` for arbitrary raw outputs, hence an SPD V-cycle."""
    A = diffusion(20, seed=5, jumps=jumps)
    n = A.shape[0]
    rowsum = np.asarray(abs(A).sum(axis=1)).ravel()
    rng = np.random.default_rng(0)
    for raw in (1e3 * rng.standard_normal(n), np.full(n, 1e6), np.full(n, -1e6),
                rng.standard_normal(n)):
        w = damping_weights(A, raw)
        assert np.all(w > 0) and np.all(w * rowsum < 2)
        M = MultilevelJacobi(A, smoother=w, coarse_max=40)
        B = M.apply(np.eye(n))
        assert np.allclose(B, B.T, atol=1e-12 * np.abs(B).max())
        assert np.linalg.eigvalsh((B + B.T) / 2).min() > 0
        _, st = cg(A, np.ones(n), rtol=1e-10, M=M)
        assert st.converged
    with pytest.raises(ValueError, match="finite"):
        damping_weights(A, np.full(n, np.nan))


def test_learned_damping_switched_off_reproduces_the_ablation_exactly():
    """Zero raw output (the untrained network) gives the Jacobi V-cycle's iterates bit for bit."""
    A = diffusion(40, seed=6)
    b = np.random.default_rng(1).standard_normal(A.shape[0])
    model = LearnedDamping(hidden=4)
    assert np.all(model.raw(A) == 0)
    runs = []
    for M in (MultilevelJacobi(A), model.build(A), model.build(A, all_levels=True)):
        xs: list = []
        cg(A, b, rtol=1e-10, M=M, callback=lambda x, xs=xs: xs.append(x.copy()))
        runs.append(np.array(xs))
    assert runs[0].shape[0] > 3
    for r in runs[1:]:
        assert r.shape == runs[0].shape and np.array_equal(r, runs[0])


def test_row_features_of_the_five_point_stencil():
    A = diffusion(5, seed=0, contrast=0.0)  # a = 1: the scaled Laplacian
    f = row_features(A)
    cnt = A.getnnz(axis=1) - 1
    assert np.allclose(f[:, 0], cnt / 4) and np.allclose(f[:, 1], -cnt / 4)
    assert np.allclose(f[:, 2], 0.25) and np.allclose(f[:, 3], 0.25)
    assert np.allclose(f[:, 4], 0) and np.allclose(f[:, 5], cnt / 5)


def test_training_lowers_the_two_grid_contraction():
    mats = [diffusion(12, seed=s, jumps=s % 2 == 1) for s in range(4)]
    model, hist = train_damping(mats, hidden=4, epochs=8, lr=2e-2)
    assert min(hist) < hist[0]
    om, rho = damping_bounds(mats[0])
    assert 0 < om and 0 < rho < 1


@pytest.mark.parametrize("degree", [1, 2, 3])
def test_chebyshev_smoother_matches_its_polynomial_and_keeps_the_vcycle_spd(degree):
    A = diffusion(12, seed=7, jumps=True)
    n = A.shape[0]
    S = chebyshev_smoother(A, degree, alpha=8.0)
    Sd = S @ np.eye(n)
    d = A.diagonal()
    Ad = A.toarray()
    T = Ad / d[:, None]  # D^{-1} A
    g = np.max(np.abs(Ad).sum(1) / d)
    lo, hi = g / 8.0, g
    th, de = (hi + lo) / 2, (hi - lo) / 2
    # error polynomial q(D^{-1}A) = I - S A, q(t) = T_k((th - t)/de) / T_k(th/de)
    lam, V = np.linalg.eig(T)
    q = np.polynomial.chebyshev.chebval((th - lam.real) / de, [0] * degree + [1]) / \
        np.polynomial.chebyshev.chebval(th / de, [0] * degree + [1])
    E = (V * q) @ np.linalg.inv(V)
    assert np.allclose(np.eye(n) - Sd @ Ad, E.real, atol=1e-9)
    assert np.allclose(Sd, Sd.T, atol=1e-12 * np.abs(Sd).max())
    assert smoother_contraction(A, sp.csr_matrix(Sd)) < 1
    M = MultilevelJacobi(A, smoother=S, coarse_max=20)
    B = M.apply(np.eye(n))
    assert np.allclose(B, B.T, atol=1e-11 * np.abs(B).max())
    assert np.linalg.eigvalsh((B + B.T) / 2).min() > 0
