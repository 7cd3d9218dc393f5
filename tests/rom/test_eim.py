"""EIM / DEIM / Q-DEIM: exact at magic points, unit lower triangular B, convergence."""

import numpy as np
import pytest

from rom.eim import check_generalisation, deim, eim, qdeim, sup_errors
from rom.pod import pod


def gaussian_bumps(mu, x):
    """g(x; mu) = exp(-(x - mu)^2 / 0.02) on [0, 1] (columns: parameters)."""
    return np.exp(-(x[:, None] - mu[None, :]) ** 2 / 0.02)


X1 = np.linspace(0, 1, 201)


@pytest.fixture(scope="module")
def fitted():
    G = gaussian_bumps(np.linspace(0.2, 0.8, 120), X1)
    return G, eim(G, tol=1e-9, max_terms=60)


def test_interpolates_exactly_at_magic_points(fitted):
    G, I = fitted
    test = gaussian_bumps(np.random.default_rng(0).uniform(0.2, 0.8, 30), X1)
    for M in (1, 5, I.M):
        approx = I(test, M)
        assert np.allclose(approx[I.indices[:M]], test[I.indices[:M]], rtol=0, atol=1e-13)


def test_interpolation_matrix_is_unit_lower_triangular(fitted):
    _, I = fitted
    B = I.B
    assert np.allclose(np.diag(B), 1.0, atol=1e-15)
    assert np.abs(np.triu(B, 1)).max() <= 1e-14
    assert len(set(I.indices.tolist())) == I.M
    assert np.abs(np.tril(B, -1)).max() <= 1.0 + 1e-12   # |r(x)| <= |r(x_M)| by the argmax


def test_training_error_history_and_reproduction(fitted):
    G, I = fitted
    assert I.history_rel[-1] <= 1e-9
    assert I.history_rel[0] == pytest.approx(1.0)   # nothing interpolated yet: error = ||g||
    assert len(I.history_rel) == I.M + 1
    assert sup_errors(G, I(G)).max() <= 1e-9 * 1.0001


def test_eim_reproduces_its_span_exactly():
    """Snapshots in a 3-D space: three terms interpolate every member exactly."""
    rng = np.random.default_rng(1)
    basis = np.column_stack([np.sin(np.pi * X1), X1 ** 2, np.exp(X1)])
    G = basis @ rng.standard_normal((3, 40))
    I = eim(G, tol=1e-14)
    assert I.M == 3
    new = basis @ rng.standard_normal((3, 5))
    assert np.abs(I(new) - new).max() <= 1e-12 * np.abs(new).max()


def test_generalises_on_test_set(fitted):
    _, I = fitted
    test = gaussian_bumps(np.random.default_rng(2).uniform(0.2, 0.8, 100), X1)
    err = sup_errors(test, I(test)).max()
    assert err < 1e-6
    assert check_generalisation(I.history_rel[-1], err, factor=1e4)


def test_coarse_training_set_warns():
    G = gaussian_bumps(np.linspace(0.2, 0.8, 4), X1)
    I = eim(G, tol=1e-12)
    test = gaussian_bumps(np.random.default_rng(3).uniform(0.2, 0.8, 50), X1)
    with pytest.warns(RuntimeWarning, match="exceeds the training error"):
        check_generalisation(I.history_rel[-1], sup_errors(test, I(test)).max())


@pytest.mark.parametrize("select", [deim, qdeim])
def test_deim_and_qdeim_exact_on_basis(select):
    G = gaussian_bumps(np.linspace(0.2, 0.8, 80), X1)
    U = pod(G, max_modes=15).modes
    I = select(U)
    assert I.M == 15 and len(set(I.indices.tolist())) == 15
    coeffs = np.random.default_rng(4).standard_normal((15, 3))
    v = U @ coeffs
    assert np.allclose(I(v), v, atol=1e-11)
    # error within the classical bound ||(P^T U)^{-1}|| times the projection error
    g = gaussian_bumps(np.array([0.43]), X1)
    proj = U @ (U.T @ g)
    bound = np.linalg.norm(np.linalg.inv(I.B), 2) * np.linalg.norm(g - proj)
    assert np.linalg.norm(g - I(g)) <= bound * (1 + 1e-8)


def test_bad_snapshots():
    with pytest.raises(ValueError, match="non-empty"):
        eim(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="NaN"):
        eim(np.array([[np.nan, 1.0]]))
