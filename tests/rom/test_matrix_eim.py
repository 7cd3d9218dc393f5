"""Non-intrusive matrix EIM: exact on affine families, accurate on a non-affine one."""

import numpy as np
import pytest
import scipy.sparse as sp

from rom.coercivity import SCM
from rom.matrix_eim import (
    MatrixEIM,
    VectorEIM,
    eim_affine_decomposition,
    entries_from_assembly,
    union_pattern,
    values_on_pattern,
)
from rom.reduced_basis import ReducedBasis
from tests.helpers.reduced_basis import edge_operators, stiffness, thermal_block_terms


def uniform(n, seed, lo=0.1):
    return lo + (1 - lo) * np.random.default_rng(seed).random((n, 4))


@pytest.fixture(scope="module")
def affine():
    return thermal_block_terms(n=10, b=2)


def test_recovers_affine_family_exactly_with_q_terms(affine):
    train = [affine.assemble(mu)[0] for mu in uniform(20, 0)]
    me = MatrixEIM.fit(train, tol=1e-13)
    assert me.M == 4
    entries = entries_from_assembly(lambda mu: affine.assemble(mu)[0])
    theta = me.theta(entries)
    for mu in uniform(10, 1):
        A = affine.assemble(mu)[0]
        approx = me.approximate(entries(mu, *me.magic_entries))
        assert abs(A - approx).max() <= 1e-12 * abs(A).max()
        terms = sum(b * Q for b, Q in zip(theta(mu), me.terms()))
        assert abs(A - terms).max() <= 1e-12 * abs(A).max()


def test_snapshot_coefficients_combine_training_matrices(affine):
    mus = uniform(12, 2)
    train = [affine.assemble(mu)[0] for mu in mus]
    me = MatrixEIM.fit(train, tol=1e-13)
    mu = uniform(1, 3)[0]
    A = affine.assemble(mu)[0]
    gamma = me.snapshot_coefficients(np.asarray(A[me.magic_entries]).ravel())
    combo = sum(g * train[k] for g, k in zip(gamma, me.selected))
    assert abs(A - combo).max() <= 1e-11 * abs(A).max()


def test_interpolation_exact_at_magic_entries(affine):
    me = MatrixEIM.fit([affine.assemble(mu)[0] for mu in uniform(8, 4)], tol=1e-13)
    B = me.interp.B
    assert np.allclose(np.diag(B), 1) and np.abs(np.triu(B, 1)).max() < 1e-14


def test_pattern_union_and_outside_entries():
    A = sp.csr_matrix(np.array([[1.0, 0], [0, 2.0]]))
    B = sp.csr_matrix(np.array([[0, 3.0], [0, 2.0]]))
    P = union_pattern([A, B])
    assert P.nnz == 3
    assert np.allclose(values_on_pattern(A, P), [1.0, 0.0, 2.0])
    C = sp.csr_matrix(np.array([[0, 0], [5.0, 0]]))
    with pytest.raises(ValueError, match="outside"):
        values_on_pattern(C, P)


def bump_problem(n=14, width=0.15):
    """-div((1 + 4 exp(-|x - mu|^2 / w^2)) grad u) = 1: coefficient not affine in mu."""
    _, mid, _, _ = edge_operators(n)

    def kappa(mu):
        return 1.0 + 4.0 * np.exp(-np.sum((mid - mu) ** 2, axis=1) / width**2)
    return lambda mu: stiffness(n, kappa(mu)), np.ones(n * n)


def test_rb_on_matrix_eim_of_non_affine_problem():
    """EIM-affine RB certified by SCM w.r.t. the EIM model, close to the true solution."""
    assemble, f = bump_problem(n=10, width=0.4)
    rng = np.random.default_rng(5)
    train_mu = rng.uniform(0.2, 0.8, (100, 2))
    me = MatrixEIM.fit([assemble(mu) for mu in train_mu], tol=1e-5, max_terms=10)
    assert me.M == 10 and me.interp.history_rel[-1] < 0.1
    aff = eim_affine_decomposition(me, entries_from_assembly(assemble), (f,),
                                   lambda mu: np.ones(1))
    ref = np.full(2, 0.5)
    X = assemble(ref)
    gmus = train_mu[:15]
    tA = np.array([aff.theta_A(mu) for mu in gmus])
    scm = SCM(aff.A_terms, X, n_neighbors=15)
    assert scm.fit(gmus, tA, tol=0.75, max_points=15)[-1] <= 0.75
    scm.n_neighbors = 8   # online LPs: the 8 nearest constraint points
    rb = ReducedBasis(aff, ref, (np.full(2, 0.2), np.full(2, 0.8)), coercivity=scm, X=X)
    rb.greedy(gmus, tol=1e-8, max_basis=8)
    test = np.vstack([gmus[:4], rng.uniform(0.2, 0.8, (4, 2))])
    uN, delta = rb.online()(test)
    assert np.all(np.isfinite(delta[:4]))   # SCM certifies its own training points
    for mu, c, d in zip(test, uN, delta):
        u_true = np.linalg.solve(assemble(mu).toarray(), f)
        u_rb = rb.basis @ c
        e = rb.truth_solve(mu) - u_rb
        assert d >= np.sqrt(e @ (X @ e)) - 1e-12 * np.linalg.norm(u_rb)  # w.r.t. the EIM model
        assert np.linalg.norm(u_true - u_rb) <= 2e-2 * np.linalg.norm(u_true)


def test_vector_eim_of_affine_rhs():
    x = np.linspace(0, 1, 50)
    fam = lambda mu: mu[0] * np.sin(x) + mu[1] * x**3   # noqa: E731
    ve = VectorEIM.fit([fam(m) for m in uniform(10, 6)[:, :2]], tol=1e-14)
    assert ve.interp.M == 2
    theta = ve.theta(lambda mu, idx: fam(mu)[idx])
    mu = np.array([0.3, -2.0])
    assert np.allclose(sum(t * q for t, q in zip(theta(mu), ve.terms())), fam(mu), atol=1e-13)


def test_local_entries_give_the_same_eim_coefficients_as_assembly():
    """Darcy evaluates the magic entries itself: same theta as reading them from A(mu)."""
    from rom.matrix_eim import AssembledEntries, LocalEntries, entry_access, operator_eim
    from solvers.problems import make_problem

    p = make_problem("darcy", 13, coefficient="lognormal", n_modes=2)  # 3 parameters
    space = p.parameter_space
    train = space.from_unit(np.random.default_rng(0).random((12, space.dim)))
    mat, vec = operator_eim([p.assemble(m) for m in train], tol=1e-12, max_terms=8)
    local, assembled = entry_access(p), AssembledEntries(p.assemble)
    assert isinstance(local, LocalEntries)
    rows, cols = mat.magic_entries
    for mu in space.from_unit(np.random.default_rng(1).random((3, space.dim))):
        np.testing.assert_allclose(mat.theta(local.matrix)(mu), mat.theta(assembled.matrix)(mu),
                                   rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(vec.theta(local.vector)(mu), vec.theta(assembled.vector)(mu))
    ad = make_problem("advection_diffusion", 9)
    assert isinstance(entry_access(ad), AssembledEntries)  # no single-entry method: fallback
