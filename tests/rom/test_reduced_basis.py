"""Reduced basis: exact reproduction, certified bounds down to 1e-11, offline/online agreement."""

import numpy as np
import pytest
import scipy.sparse.linalg as spla

from rom.coercivity import SCM, MinTheta, generalized_eig_extreme
from rom.estimators import residual_coefficients
from rom.reduced_basis import ReducedBasis, batch_thetas
from tests.helpers.reduced_basis import thermal_block_terms

BOX = (np.full(4, 0.1), np.ones(4))


def uniform(n, seed):
    return 0.1 + 0.9 * np.random.default_rng(seed).random((n, 4))


@pytest.fixture(scope="module")
def small():
    return thermal_block_terms(n=8, b=2)   # 64 unknowns: the basis can nearly span it


def x_error(rb, mu, coef):
    e = rb.truth_solve(mu) - rb.basis[:, : coef.size] @ coef
    return float(np.sqrt(e @ (rb.X @ e)))


def test_reproduces_training_snapshot(small):
    rb = ReducedBasis(small, np.ones(4), BOX)
    mus = uniform(3, 0)
    for mu in mus:
        rb.add(rb.truth_solve(mu))
    uN, delta = rb.online()(mus)
    for mu, c, d in zip(mus, uN, delta):
        u = rb.truth_solve(mu)
        assert np.linalg.norm(u - rb.basis @ c) <= 1e-11 * np.linalg.norm(u)
        assert d <= 1e-9 * np.sqrt(u @ (rb.X @ u))


def test_online_matches_truth_galerkin(small):
    """Online einsum assembly + batched solve = Galerkin projection of the assembled matrix."""
    rb = ReducedBasis(small, np.ones(4), BOX)
    rb.greedy(uniform(50, 1), tol=1e-3, max_basis=6)
    mu = uniform(1, 2)[0]
    A, f = small.assemble(mu)
    V = rb.basis
    ref = np.linalg.solve(V.T @ (A @ V), V.T @ f)
    uN, _ = rb.online()(mu[None])
    assert np.allclose(uN[0], ref, rtol=1e-12, atol=1e-14)


def test_estimators_match_direct_residual_norm(small):
    rb = ReducedBasis(small, np.ones(4), BOX, estimator_kind="stable")
    rb.greedy(uniform(50, 3), tol=1e-2, max_basis=5)
    mus = uniform(5, 4)
    uN, delta = rb.online()(mus)
    alpha = MinTheta(np.ones(4))(mus)
    for mu, c, d, a in zip(mus, uN, delta, alpha):
        A, f = small.assemble(mu)
        r = f - A @ (rb.basis @ c)
        dual = np.sqrt(r @ spla.spsolve(rb.X.tocsc(), r))
        assert np.isclose(d * a, dual, rtol=1e-10)


@pytest.fixture(scope="module")
def deep():
    """400 unknowns, mu in [0.5, 1]^4: the greedy error decays smoothly to ~1e-11."""
    aff = thermal_block_terms(n=20, b=2, graded_rhs=True)
    mus = 0.5 + 0.5 * np.random.default_rng(6).random((25, 4))
    A0 = aff.assemble(np.ones(4))[0]
    truths = [spla.spsolve(aff.assemble(mu)[0].tocsc(), aff.assemble(mu)[1]) for mu in mus]
    norms = [np.sqrt(u @ (A0 @ u)) for u in truths]
    return aff, mus, truths, norms


@pytest.mark.parametrize("kind", ["stable", "standard"])
def test_bound_is_certified(deep, kind):
    """Delta(mu) >= ||u - u_N||_X at every test mu and N (standard: only above its floor)."""
    aff, mus, truths, norms = deep
    box = (np.full(4, 0.5), np.ones(4))
    rb = ReducedBasis(aff, np.ones(4), box, estimator_kind=kind)
    with pytest.warns(RuntimeWarning):
        rb.greedy(0.5 + 0.5 * np.random.default_rng(5).random((200, 4)), tol=1e-14,
                  max_basis=60)
    assert rb.N >= (40 if kind == "stable" else 20)  # standard stalls at its sqrt(eps) floor
    online = rb.online()
    checked = []
    for N in range(2, rb.N):   # N = rb.N spans the solution manifold: error is round-off
        uN, delta = online(mus, N)
        for u, nu, c, d in zip(truths, norms, uN, delta):
            e = u - rb.basis[:, :N] @ c
            err = np.sqrt(e @ (rb.X @ e))
            if kind == "stable" or err > 1e-6 * nu:
                assert d >= err, (N, err / nu, d / err)
                checked.append(err / nu)
    if kind == "stable":
        assert min(checked) < 1e-10   # certified all the way down


def test_standard_estimator_loses_accuracy_where_stable_does_not(small):
    """Near the truth the quadratic form is round-off; the stable norm is not."""
    rbs = {}
    for kind in ("stable", "standard"):
        rb = ReducedBasis(small, np.ones(4), BOX, estimator_kind=kind)
        for mu in uniform(60, 7):
            rb.add(rb.truth_solve(mu))
        rbs[kind] = rb
    mus = uniform(20, 8)
    ratios = []
    for rb in rbs.values():
        uN, delta = rb.online()(mus)
        errs = np.array([x_error(rb, mu, c) for mu, c in zip(mus, uN)])
        ratios.append(np.median(delta / errs))
    stable, standard = ratios
    assert 1.0 <= stable < 20.0
    assert standard > 100 * stable   # floor ~sqrt(eps)||f|| swamps the tiny residual


def test_warns_outside_training_box(small):
    rb = ReducedBasis(small, np.ones(4), BOX)
    rb.add(rb.truth_solve(np.ones(4)))
    with pytest.warns(RuntimeWarning, match="outside"):
        rb.online()(np.array([[2.0, 0.5, 0.5, 0.5]]))


def test_greedy_error_decreases(small):
    rb = ReducedBasis(small, np.ones(4), BOX)
    hist = rb.greedy(uniform(100, 9), tol=1e-4, max_basis=30)
    b = np.array([h.max_rel_bound for h in hist])
    assert b[-1] <= 1e-4 or rb.N == 30
    assert b[-1] < 1e-2 * b[0]


def test_batch_thetas_vectorised_and_loop():
    mus = uniform(5, 10)
    assert np.allclose(batch_thetas(lambda m: np.asarray(m), mus), mus)
    scalar_only = lambda m: np.array([1.0, float(m[0]) ** 2])  # noqa: E731
    out = batch_thetas(scalar_only, mus)
    assert out.shape == (5, 2) and np.allclose(out[:, 1], mus[:, 0] ** 2)
    flat = lambda m: np.asarray(m, float).ravel()  # noqa: E731  (thermal block's theta_A)
    assert np.array_equal(batch_thetas(flat, mus), mus)
    assert np.array_equal(batch_thetas(lambda m: np.ones(1), mus), np.ones((5, 1)))
    first_only = lambda m: np.atleast_2d(m)[0, :2]  # noqa: E731  (ignores the batch: loop)
    assert np.array_equal(batch_thetas(first_only, mus), mus[:, :2])


def test_residual_coefficients_layout():
    tA, tf, uN = np.array([[2.0, 3.0]]), np.array([[5.0]]), np.array([[7.0, 11.0]])
    k = residual_coefficients(tA, tf, uN)
    assert np.allclose(k, [[5.0, -14.0, -21.0, -22.0, -33.0]])


def test_min_theta_is_a_lower_bound(small):
    X = small.assemble(np.ones(4))[0]
    mt = MinTheta(np.ones(4))
    for mu in uniform(4, 11):
        A, _ = small.assemble(mu)
        alpha, _ = generalized_eig_extreme(A, X, "min")
        assert mt(mu[None])[0] <= alpha * (1 + 1e-10)


def test_scm_bounds_bracket_alpha(small):
    X = small.assemble(np.ones(4))[0]
    train = uniform(60, 12)
    scm = SCM(small.A_terms, X, n_neighbors=8)
    hist = scm.fit(train, train, tol=0.5, max_points=15)
    assert hist[-1] <= 0.5 or len(scm.C_alpha) == 15
    test = uniform(6, 13)
    lb, ub = scm.lower_bound(test, test), scm.upper_bound(test)
    for mu, l, u in zip(test, lb, ub):
        alpha, _ = generalized_eig_extreme(small.assemble(mu)[0], X, "min")
        assert l <= alpha * (1 + 1e-9) and alpha <= u * (1 + 1e-9)


def test_rb_with_scm_is_certified(small):
    X = small.assemble(np.full(4, 0.55))[0]
    train = uniform(40, 14)
    scm = SCM(small.A_terms, X, n_neighbors=8)
    scm.fit(train, train, tol=0.5, max_points=10)
    rb = ReducedBasis(small, np.full(4, 0.55), BOX, coercivity=scm, X=X)
    rb.greedy(train, tol=1e-3, max_basis=8)
    mus = uniform(5, 15)
    uN, delta = rb.online()(mus)
    for mu, c, d in zip(mus, uN, delta):
        assert d >= x_error(rb, mu, c)


def test_empty_basis_bounds_are_inf_without_floating_point_warnings(small):
    """u_N = 0 before the first greedy step: the relative bound is inf by definition, not by
    an overflowing division (the demo printed raw ``overflow encountered in divide`` lines)."""
    rb = ReducedBasis(small, np.ones(4), BOX)
    with np.errstate(all="raise"):
        rel = rb.relative_bounds(uniform(5, 7))
        rb.greedy(uniform(20, 8), tol=1e-2, max_basis=3)
    assert np.all(np.isinf(rel)) and rb.N == 3


def test_sliced_stable_estimator_drops_only_zero_rows(small):
    """Truncating T to the rows the first N basis vectors reach: the same bounds as the
    untruncated factor, batched and one parameter at a time (pyMOR comparison, issue 17)."""
    from rom.estimators import online_residual_norm
    rb = ReducedBasis(small, np.ones(4), BOX)
    rb.greedy(uniform(60, 7), tol=1e-10, max_basis=14)
    on = rb.online()
    mus = uniform(9, 8)
    for N in (2, 6, on.N):
        T = on._sliced(N)[2]
        m = on.f_N.shape[0] + N * on.A_N.shape[0]
        assert T.shape[1] == m and np.all(on.est_data[T.shape[0]:, :m] == 0)
        if N < on.N:
            assert T.shape[0] < on.est_data.shape[0]
        uN, delta = on(mus, N)
        tA, tf = on.thetas(mus)
        full = online_residual_norm("stable", on.est_data, tA, tf, uN) / on.alpha(tA, mus)
        np.testing.assert_allclose(delta, full, rtol=1e-13)
        _, d1 = on(mus[:1], N)
        np.testing.assert_allclose(d1, full[:1], rtol=1e-13)
