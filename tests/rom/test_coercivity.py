"""Extreme generalized eigenvalues for coercivity bounds: the sparse path agrees with dense
``eigh`` on semidefinite terms (eigenvalue 0), indefinite terms and when ARPACK fails
(issue 15, item 13: ``ARPACK error -1: No convergence`` in SCM)."""

import numpy as np
import pytest
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from rom import coercivity
from rom.coercivity import SCM, generalized_eig_extreme, generalized_eig_range
from rom.reduced_basis import batch_thetas
from tests.helpers.reduced_basis import thermal_block_terms


@pytest.fixture(scope="module")
def terms():
    aff = thermal_block_terms(n=16, b=2)        # 256 unknowns, four SPSD block terms
    X = sp.csr_matrix(sum(aff.A_terms))          # X = A(1, 1, 1, 1)
    return aff, X


def dense_extremes(A, X):
    w = sla.eigh(0.5 * (A + A.T).toarray(), X.toarray(), eigvals_only=True)
    return w[0], w[-1]


@pytest.fixture
def sparse_path(monkeypatch):
    monkeypatch.setattr(coercivity, "DENSE_LIMIT", 0)


@pytest.mark.parametrize("n", [16, 24])
def test_semidefinite_terms_have_the_eigenvalue_zero(n, sparse_path):
    """A block term vanishes on functions supported outside the block: lambda_min = 0.
    The former sparse path (shift-invert about 0, then unshifted Lanczos) raised ``ARPACK
    error -1: No convergence`` on the 3 x 3 blocks at n = 16 and returned 0.367 for the
    middle block at n = 24."""
    aff = thermal_block_terms(n=n, b=3)
    X = sp.csr_matrix(sum(aff.A_terms))
    for A in aff.A_terms:
        lo, hi = dense_extremes(A, X)
        lam, v = generalized_eig_extreme(A, X, "min")
        assert abs(lo) < 1e-10 and abs(lam - lo) <= 1e-8 * hi
        assert abs(v @ (A @ v)) <= 1e-8 * hi * (v @ (X @ v))
        assert generalized_eig_range(A, X) == pytest.approx((lo, hi), abs=1e-8 * hi)


def test_indefinite_term_gets_its_most_negative_eigenvalue(terms, sparse_path):
    """Shift-invert about 0 would return the eigenvalue nearest 0, not the minimum."""
    aff, X = terms
    A = aff.A_terms[0] - 0.7 * aff.A_terms[3] + sp.random(256, 256, 0.01, random_state=0)
    lo, hi = dense_extremes(A, X)
    assert lo < -0.5
    assert generalized_eig_extreme(A, X, "min")[0] == pytest.approx(lo, abs=1e-8 * abs(lo))
    assert generalized_eig_extreme(A, X, "max")[0] == pytest.approx(hi, abs=1e-8 * abs(hi))


def test_lobpcg_takes_over_when_arpack_does_not_converge(terms, sparse_path, monkeypatch):
    aff, X = terms

    def no_convergence(*args, **kwargs):
        raise spla.ArpackNoConvergence("ARPACK error -1: No convergence", np.zeros(0),
                                       np.zeros((256, 0)))
    monkeypatch.setattr(spla, "eigsh", no_convergence)
    A = sp.csr_matrix(aff.assemble(np.array([0.2, 1.0, 0.5, 3.0]))[0])
    lo, hi = dense_extremes(A, X)
    assert generalized_eig_extreme(A, X, "min")[0] == pytest.approx(lo, rel=1e-6)
    assert generalized_eig_extreme(A, X, "max")[0] == pytest.approx(hi, rel=1e-6)


def test_scm_reports_progress_and_bounds_below(terms, sparse_path):
    aff, X = terms
    lines: list[str] = []
    scm = SCM(aff.A_terms, X, n_neighbors=8, progress=lines.append)
    rng = np.random.default_rng(0)
    train = 0.1 + 0.9 * rng.random((20, 4))
    scm.fit(train, batch_thetas(aff.theta_A, train), max_points=6)
    assert any("eigenvalue ranges of 4/4 terms" in s for s in lines)
    assert any("constraint points" in s for s in lines)
    test = 0.1 + 0.9 * rng.random((5, 4))
    lb = scm.lower_bound(test, test)
    for mu, b in zip(test, lb):
        alpha = dense_extremes(sp.csr_matrix(aff.assemble(mu)[0]), X)[0]
        assert b <= alpha * (1 + 1e-8)
