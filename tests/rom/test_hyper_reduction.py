"""DEIM / Q-DEIM / ECSW hyper-reduction of the Burgers flux term (rom.hyper_reduction)."""

import numpy as np
import pytest
from scipy.optimize import nnls

from rom import hyper_reduction as hr
from solvers.problems.burgers import flux_divergence as solver_flux

N = 32
H = 1.0 / N


def orthonormal(n, r, seed=0):
    return np.linalg.qr(np.random.default_rng(seed).standard_normal((n, r)))[0]


def test_flux_divergence_matches_the_solver_and_is_conservative():
    u = np.random.default_rng(1).standard_normal((N, 3))
    got = hr.flux_divergence(u, H)
    for k in range(3):
        np.testing.assert_allclose(got[:, k], solver_flux(u[:, k], H), rtol=0, atol=1e-12)
    np.testing.assert_allclose(got.sum(axis=0), 0.0, atol=1e-10)       # telescoping


@pytest.mark.parametrize("method", ["deim", "qdeim"])
def test_interpolation_with_all_points_reproduces_the_nonlinear_term(method):
    """N(u) has zero mean, so its snapshots span n-1 dimensions: n-1 points is 'as many as
    unknowns' of that space, and the interpolant is then exact for every state."""
    rng = np.random.default_rng(2)
    Phi = orthonormal(N, 10)
    snaps = hr.flux_divergence(rng.standard_normal((N, 80)), H)
    nl, info = hr.build(method, Phi, H, nonlinear_snapshots=snaps, points=N)
    assert info["points"] == N - 1 and len(np.unique(nl.points)) == N - 1
    for _ in range(3):
        a = rng.standard_normal(10)
        exact = Phi.T @ hr.flux_divergence(Phi @ a, H)
        np.testing.assert_allclose(nl(a), exact, rtol=0, atol=1e-11 * np.abs(exact).max())
    A = rng.standard_normal((10, 4))                                     # batched columns
    np.testing.assert_allclose(nl(A), Phi.T @ hr.flux_divergence(Phi @ A, H), atol=1e-9)


def test_jacobian_matches_finite_differences():
    rng = np.random.default_rng(3)
    Phi = orthonormal(N, 6)
    nl, _ = hr.build("qdeim", Phi, H, nonlinear_snapshots=hr.flux_divergence(
        rng.standard_normal((N, 40)), H), points=12)
    a, e = rng.standard_normal(6), 1e-6
    fd = np.column_stack([(nl(a + e * v) - nl(a - e * v)) / (2 * e) for v in np.eye(6)])
    np.testing.assert_allclose(nl.jacobian(a), fd, rtol=1e-6, atol=1e-6 * np.abs(fd).max())


def test_sparse_nnls_is_exact_nnls_without_early_stop():
    rng = np.random.default_rng(4)
    G, b = rng.standard_normal((40, 25)), rng.standard_normal(40)
    w, res = hr.sparse_nnls(G, b, tol=0.0)
    w_ref, r_ref = nnls(G, b)
    assert np.all(w >= 0)
    assert res * np.linalg.norm(b) == pytest.approx(r_ref, rel=1e-9)
    np.testing.assert_allclose(w, w_ref, atol=1e-9)


def test_ecsw_weights_are_positive_and_integrate_the_training_snapshots():
    """r = 3: the reduced term is quadratic, so the snapshots' contributions span at most
    r * r(r+1)/2 = 18 dimensions and a sparse exact cubature exists on 64 points."""
    rng = np.random.default_rng(5)
    n, h = 64, 1.0 / 64
    Phi = orthonormal(n, 3)
    states = Phi @ rng.standard_normal((3, 30))
    tol = 1e-6
    nl, info = hr.build("ecsw", Phi, h, states=states, points=n, tol=tol)
    assert info["weights_min"] > 0 and info["points"] <= 18
    assert info["nnls_relative_residual"] <= tol
    G, b = hr.ecsw_system(Phi, states, h)
    exact = Phi.T @ hr.flux_divergence(states, h)
    np.testing.assert_allclose(b, exact.T.ravel(), atol=1e-10)           # G 1 = b
    approx = nl(Phi.T @ states)
    assert np.linalg.norm(approx - exact) <= tol * np.linalg.norm(exact) * (1 + 1e-9)
    # the stated cost: three stencil entries per sampled point at most
    assert nl.sampled_entries <= 3 * info["points"]


def test_bad_hyper_reduction_requests_are_errors():
    Phi = orthonormal(N, 3)
    with pytest.raises(ValueError, match="unknown hyper-reduction"):
        hr.build("gappy", Phi, H, points=3)
    with pytest.raises(ValueError, match="positive number of sampled points"):
        hr.build("deim", Phi, H, points=0)
