"""POD: projection error equals the singular-value tail; small singular values stay accurate."""

import numpy as np
import pytest
import scipy.sparse as sp

from rom.gram_schmidt import GramSchmidt
from rom.pod import pod, truncation_rank


def graded_snapshots(n=200, m=30, decay=0.5, seed=0):
    """S = U diag(s) W^T with prescribed singular values s_i = decay^i (down to ~1e-9)."""
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((n, m)))
    W, _ = np.linalg.qr(rng.standard_normal((m, m)))
    s = decay ** np.arange(m)
    return U @ np.diag(s) @ W.T, s


def spd_matrix(n, seed=1):
    rng = np.random.default_rng(seed)
    L = sp.diags([-np.ones(n - 1), 2.5 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1])
    return sp.csr_matrix(L + sp.diags(rng.random(n)))


@pytest.mark.parametrize("use_x", [False, True])
def test_projection_error_is_singular_value_tail(use_x):
    S, _ = graded_snapshots()
    X = spd_matrix(S.shape[0]) if use_x else None
    full = pod(S, X=X)
    for N in (1, 5, 12, 20):
        V = full.modes[:, :N]
        XS = S if X is None else X @ S
        E = S - V @ (V.T @ XS)
        err2 = np.sum(E * (E if X is None else X @ E))
        assert np.isclose(np.sqrt(err2), full.tail(N), rtol=1e-6, atol=1e-13)


def test_modes_are_x_orthonormal():
    S, _ = graded_snapshots(n=120, m=15)
    X = spd_matrix(120)
    res = pod(S, X=X)
    G = res.modes.T @ (X @ res.modes)
    assert np.abs(G - np.eye(res.n_modes)).max() < 1e-12


def test_small_singular_values_accurate_below_sqrt_eps():
    """The QR+SVD route resolves sigma ~ 1e-12 where the correlation matrix cannot."""
    S, s = graded_snapshots(m=40, decay=0.5)  # s down to 2^-39 ~ 1.8e-12
    res = pod(S)
    rel = np.abs(res.singular_values[:40] - s) / s
    assert rel[:35].max() < 1e-3
    # the method of snapshots (eigenvalues of S^T S) is wrong there: a sanity check
    lam = np.sort(np.abs(np.linalg.eigvalsh(S.T @ S)))[::-1]
    assert np.abs(np.sqrt(lam[35]) - s[35]) / s[35] > 1e-2


def test_truncation_criteria():
    s = 10.0 ** -np.arange(8.0)
    assert truncation_rank(s, tol=2e-3) == 3  # relative tails: N=2 -> 1e-2, N=3 -> 1e-3
    assert truncation_rank(s, max_modes=2) == 2
    assert truncation_rank(s, energy=0.999) == 2
    with pytest.raises(ValueError):
        truncation_rank(s, energy=1.5)


def test_tolerance_meets_tail():
    S, _ = graded_snapshots()
    for tol in (1e-2, 1e-5, 1e-8):
        res = pod(S, tol=tol)
        total = np.sqrt(np.sum(res.singular_values ** 2))
        assert res.tail() <= tol * total
        assert res.tail(res.n_modes - 1) > tol * total


def test_gram_schmidt_dependent_columns():
    rng = np.random.default_rng(3)
    A = rng.standard_normal((50, 4))
    W = np.column_stack([A, A[:, 0] + 2 * A[:, 1]])
    gs = GramSchmidt()
    R = gs.extend(W)
    assert gs.size == 4
    assert np.allclose(gs.Q @ R, W, atol=1e-12)


def test_bad_input():
    with pytest.raises(ValueError, match="non-empty"):
        pod(np.zeros((5, 0)))
    with pytest.raises(ValueError, match="NaN"):
        pod(np.full((3, 2), np.nan))


def test_extended_product_avoids_stencil_cancellation():
    """X v for smooth v: compare with exact rational arithmetic on the stored doubles."""
    from fractions import Fraction

    from rom.gram_schmidt import ExtendedProduct

    n = 4000
    X = sp.csr_matrix(sp.diags([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1])
                      * float(n + 1) ** 2)
    v = (np.arange(1, n + 1) / (n + 1)) ** 2          # X v = -2 in the interior
    rows = np.arange(100, n - 100, 97)
    c = Fraction(float(n + 1) ** 2)
    exact = np.array([float(c * (2 * Fraction(v[i]) - Fraction(v[i - 1]) - Fraction(v[i + 1])))
                      for i in rows])
    err_double = np.abs((X @ v)[rows] - exact).max() / np.abs(exact).max()
    err_ext = np.abs((ExtendedProduct(X) @ v)[rows] - exact).max() / np.abs(exact).max()
    assert err_double > 1e-10          # ~ eps ||X|| ||v|| / ||X v||: the cancellation
    assert err_ext < 1e-11 and err_ext < 1e-3 * err_double
