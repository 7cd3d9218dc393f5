"""Certified local RB: the bound selector is minimal and certified, one cluster is the global RB,
the dictionary survives a save/load round trip."""

from dataclasses import replace

import h5py
import numpy as np
import pytest
import scipy.sparse as sp

from rom.gram_schmidt import ExtendedProduct
from rom.local_rb import LocalRB
from rom.reduced_basis import ReducedBasis, energy_product
from rom.truth import AffineTruth
from solvers.problems import make_problem
from solvers.problems.sampling import sample_unit


def split_labels(mu, K):
    """Clusters from a 1-D split of the box along mu_0 (any partition will do)."""
    edges = np.quantile(mu[:, 0], np.linspace(0, 1, K + 1)[1:-1])
    return np.searchsorted(edges, mu[:, 0]).astype(np.int64)


@pytest.fixture(scope="module")
def problem():
    return make_problem("thermal_block", 9, mu_min=0.05, mu_max=1.0)   # 2x2 blocks, 49 unknowns


@pytest.fixture(scope="module")
def train(problem):
    s = problem.parameter_space
    return s.from_unit(sample_unit(40, s.dim, "lhs", 0))


@pytest.fixture(scope="module")
def test_mu(problem):
    s = problem.parameter_space
    return s.from_unit(sample_unit(15, s.dim, "random", 7))


@pytest.fixture(scope="module")
def lrb(problem, train):
    return LocalRB.build(problem, train, split_labels(train, 3), tol=1e-4, max_basis=6)


def x_errors(problem, lrb, mus, U):
    """True errors ``||u(mu) - U||_X`` against the refined truth (energy product at mu_ref)."""
    affine = problem.affine_decomposition()
    X = ExtendedProduct(energy_product(affine.assemble(lrb.mu_ref)[0]))
    truth = AffineTruth(affine)
    return np.array([np.sqrt((e := truth(mu).u - u) @ (X @ e)) for mu, u in zip(mus, U)])


def test_bound_selector_is_the_smallest_candidate(lrb, test_mu):
    coeffs, cand = lrb.candidate_bounds(test_mu)
    assert cand.shape == (len(test_mu), 3) and np.all(np.isfinite(cand))
    labels, bounds = lrb.select(test_mu)
    assert np.all(bounds[:, None] <= cand)                    # never larger than another one
    assert np.array_equal(bounds, cand[np.arange(len(labels)), labels])
    _, b_call, l_call = lrb(test_mu)
    assert np.array_equal(l_call, labels) and np.array_equal(b_call, bounds)
    for i, mu in enumerate(test_mu[:4]):                      # unbatched LAPACK path
        _, b1, l1 = lrb(mu[None])
        assert l1[0] == labels[i] and b1[0] == pytest.approx(bounds[i], rel=1e-10)


def test_chosen_bound_is_above_the_true_error(problem, lrb, test_mu):
    for selector in ("bound", "nearest"):
        U, bound, _ = lrb(test_mu, selector=selector)
        err = x_errors(problem, lrb, test_mu, U)
        assert np.all(bound >= err) and np.all(err > 0)
    cmp = lrb.compare_selectors(test_mu)
    assert cmp["max_ratio"] >= 1.0 and 0.0 <= cmp["fraction_larger"] <= 1 - cmp["agreement"]
    assert cmp["max_bound_nearest_selector"] >= cmp["max_bound_bound_selector"]


def test_accepting_selector_and_single_paths(problem, lrb, test_mu):
    _, best = lrb.select(test_mu)
    for accept in (None, 1e-3, 1e9):
        for selector in ("bound", "nearest"):
            if selector == "nearest" and accept is not None:
                continue
            coeffs, bound, labels = lrb.reduced(test_mu, selector=selector, accept=accept)
            rel = bound / np.array([np.linalg.norm(c) for c in coeffs])
            # accepted below the threshold, or the smallest of all candidates
            if selector == "bound":
                assert np.all((rel <= (accept or 0)) | (bound == best))
            for i, mu in enumerate(test_mu[:5]):             # unbatched path agrees
                c1, b1, l1 = lrb.reduced(mu[None], selector=selector, accept=accept)
                assert l1[0] == labels[i] and b1[0] == pytest.approx(bound[i], rel=1e-10)
                np.testing.assert_allclose(c1[0], coeffs[i], rtol=1e-9, atol=1e-12)
    _, bound, labels = lrb.reduced(test_mu, accept=1e9)       # accepts the first candidate
    assert np.array_equal(labels, lrb.order(test_mu)[:, 0])
    assert np.array_equal(lrb.order(test_mu)[:, 0], lrb.nearest(test_mu))
    assert np.all(np.sort(lrb.order(test_mu), axis=1) == np.arange(3))


class _Convective(type(make_problem("thermal_block", 5))):
    """Thermal block plus a skew term theta * C (C = central x-difference): non-symmetric
    reduced matrices, x^T C x = 0, so min-theta still certifies (theta = 1 > 0)."""

    def affine_decomposition(self):
        aff = super().affine_decomposition()
        n = int(round(np.sqrt(aff.A_terms[0].shape[0])))
        d = np.diag(np.ones(n - 1), 1) - np.diag(np.ones(n - 1), -1)
        C = sp.csr_matrix(np.kron(np.eye(n), 5.0 * d))
        return replace(aff, A_terms=aff.A_terms + (C,),
                       theta_A=lambda mu: np.concatenate([np.ravel(mu), [1.0]]))


def test_non_symmetric_reduced_systems(train, test_mu):
    p = _Convective(9, mu_min=0.05, mu_max=1.0)
    lrb = LocalRB.build(p, train, split_labels(train, 2), tol=1e-4, max_basis=6)
    assert not lrb._symmetric(0)
    coeffs, bound, labels = lrb.reduced(test_mu)
    for selector, accept in (("bound", None), ("bound", 1e-2), ("nearest", None)):
        cb, bb, lb = lrb.reduced(test_mu, selector=selector, accept=accept)
        for i, mu in enumerate(test_mu[:4]):
            c1, b1, l1 = lrb.reduced(mu[None], selector=selector, accept=accept)
            assert l1[0] == lb[i] and b1[0] == pytest.approx(bb[i], rel=1e-9)
        U = np.array([lrb.bases[k][:, :len(c)] @ c for c, k in zip(cb, lb)])
        assert np.all(bb >= x_errors(p, lrb, test_mu, U))


def test_fields_are_the_lifted_solutions_on_the_grid(problem, lrb, test_mu):
    F, bound, labels = lrb.fields(test_mu[:3])
    U, b2, _ = lrb(test_mu[:3])
    assert F.shape == (3, 9, 9) and np.array_equal(bound, b2)
    np.testing.assert_array_equal(F[:, 1:-1, 1:-1].reshape(3, -1), U)   # interior nodes
    assert np.all(F[:, 0] == 0) and np.all(F[:, :, -1] == 0)           # u = 0 on the boundary


def test_truncated_local_models_stay_certified(problem, lrb, test_mu):
    U, bound, _ = lrb(test_mu, N=2)
    assert np.all(bound >= x_errors(problem, lrb, test_mu, U))
    assert np.max(bound) > np.max(lrb.select(test_mu)[1])     # fewer vectors, larger bounds


def test_one_cluster_is_the_global_rb(problem, train, test_mu):
    one = LocalRB.build(problem, train, np.zeros(len(train), dtype=np.int64), tol=1e-4,
                        max_basis=6)
    affine = problem.affine_decomposition()
    rb = ReducedBasis(affine, affine.min_theta_ref, (np.full(4, 0.05), np.ones(4)))
    rb.greedy(train, tol=1e-4, max_basis=6)
    assert one.dims() == [rb.N]
    np.testing.assert_allclose(one.bases[0], rb.basis, rtol=0, atol=1e-13)
    uN, delta = rb.online()(test_mu)
    U, bound, labels = one(test_mu)
    assert np.all(labels == 0)
    np.testing.assert_allclose(bound, delta, rtol=1e-10)
    np.testing.assert_allclose(U, uN @ rb.basis.T, rtol=0, atol=1e-12 * np.abs(U).max())


def test_save_load_round_trip(tmp_path, lrb, test_mu):
    with h5py.File(tmp_path / "t.h5", "w") as f:
        meta = lrb.save(f.create_group("rb"))
    assert meta["K"] == 3 and meta["dims"] == lrb.dims()
    with h5py.File(tmp_path / "t.h5", "r") as f:
        back = LocalRB.load(f["rb"], meta)
    store: dict = {}
    lrb.save(store)
    back2 = LocalRB.load(store)                               # meta read from the arrays
    want = lrb(test_mu)
    for other in (back, back2):
        got = other(test_mu)
        for a, b in zip(want, got):
            assert np.array_equal(a, b)
        assert np.array_equal(other.nearest(test_mu), lrb.nearest(test_mu))


def test_scm_coercivity_is_shared_and_certified(problem, train, test_mu):
    orig = problem.affine_decomposition()
    no_ref = replace(orig, min_theta_ref=None)

    class NoMinTheta(type(problem)):
        def affine_decomposition(self):
            return no_ref
    p = NoMinTheta(9, mu_min=0.05, mu_max=1.0)
    lrb = LocalRB.build(p, train[:24], split_labels(train[:24], 2), tol=1e-3, max_basis=4)
    assert lrb.coercivity.kind == "scm"
    inside = test_mu[:5]
    U, bound, _ = lrb(inside)
    assert np.all(bound >= x_errors(p, lrb, inside, U))
    store: dict = {}
    lrb.save(store)
    back = LocalRB.load(store, problem=p)
    for a, b in zip(lrb(inside), back(inside)):
        assert np.array_equal(a, b)


def test_bad_input_is_one_line_error(problem, train):
    with pytest.raises(ValueError, match="no training parameters"):
        LocalRB.build(problem, train, np.where(split_labels(train, 2) == 1, 2, 0))
    with pytest.raises(ValueError, match="cluster labels for"):
        LocalRB.build(problem, train, np.zeros(3, dtype=int))
    with pytest.raises(ValueError, match="no affine decomposition"):
        LocalRB.build(make_problem("darcy", 9), train, np.zeros(len(train), dtype=int))
    with pytest.raises(ValueError, match="missing array"):
        LocalRB.load({})


def test_unit_coordinates_invert_from_unit():
    from rom.local_rb import unit_coordinates
    p = make_problem("advection_diffusion", 5)                # eps log-uniform, two uniform
    u = sample_unit(20, 3, "random", 3)
    np.testing.assert_allclose(unit_coordinates(p, p.parameter_space.from_unit(u)), u,
                               rtol=0, atol=1e-13)
