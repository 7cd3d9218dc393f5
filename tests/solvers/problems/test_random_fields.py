"""Gaussian random fields: covariance, resolution independence, exact derivatives."""

import numpy as np
import pytest

from solvers.problems.grid import Grid
from solvers.problems.random_fields import GaussianRandomField


@pytest.mark.parametrize("ndim, basis", [(1, "cosine"), (2, "cosine"), (3, "cosine"),
                                         (1, "fourier"), (2, "fourier")])
def test_same_function_at_every_resolution(ndim, basis):
    grf = GaussianRandomField(ndim=ndim, n_modes=5, basis=basis)
    xi = grf.sample(np.random.default_rng(3))[0]
    periodic = basis == "fourier"
    coarse = grf.evaluate(xi, Grid.uniform(8 if periodic else 9, ndim, periodic=periodic))
    fine = grf.evaluate(xi, Grid.uniform(16 if periodic else 17, ndim, periodic=periodic))
    np.testing.assert_allclose(coarse, fine[(slice(None, None, 2),) * ndim], atol=1e-12)


def test_eigenvalues_follow_the_matern_spectrum():
    grf = GaussianRandomField(ndim=2, n_modes=4, alpha=2.0, tau=3.0)
    lam = dict(zip(grf.param_names(), grf.eigenvalues(), strict=True))
    assert lam["xi_0_0"] == pytest.approx(9.0 * 9.0 ** -2)
    assert lam["xi_1_2"] == pytest.approx(9.0 * (5 * np.pi ** 2 + 9.0) ** -2)
    assert np.all(np.diff(grf.eigenvalues()[:4]) < 0)


def test_sample_covariance_matches_the_exact_pointwise_variance():
    grf = GaussianRandomField(ndim=2, n_modes=6)
    g = Grid.uniform(9, 2)
    xi = grf.sample(np.random.default_rng(0), 4000)
    fields = np.stack([grf.evaluate(x, g) for x in xi])
    var = grf.variance(g)
    n = len(xi)
    # sample variance of a Gaussian: relative standard error sqrt(2/n) ~ 2.2%; allow 5 sigma
    assert np.all(np.abs(fields.var(axis=0) / var - 1) < 5 * np.sqrt(2 / n))
    assert np.all(np.abs(fields.mean(axis=0)) < 5 * np.sqrt(var / n))


def test_mean_variance_over_the_domain_is_the_trace():
    """∫ Var g dx = Σ λ_k by L2-orthonormality of the basis (trapezoid rule is exact here)."""
    grf = GaussianRandomField(ndim=2, n_modes=5)
    g = Grid.uniform(41, 2)
    w = np.ones(41)
    w[[0, -1]] = 0.5
    w /= 40
    integral = np.einsum("i,j,ij->", w, w, grf.variance(g))
    assert integral == pytest.approx(grf.eigenvalues().sum(), rel=1e-12)


def test_zero_mean_drops_the_constant_mode():
    grf = GaussianRandomField(ndim=2, n_modes=4, zero_mean=True)
    assert grf.n_params == 15 and "xi_0_0" not in grf.param_names()
    g = Grid.uniform(33, 2)
    f = grf.evaluate(grf.sample(np.random.default_rng(1))[0], g)
    w = np.ones(33)
    w[[0, -1]] = 0.5
    assert abs(np.einsum("i,j,ij->", w, w, f)) < 1e-10 * np.abs(f).sum()


def test_exact_derivative_agrees_with_finite_differences():
    grf = GaussianRandomField(ndim=2, n_modes=4)
    xi = grf.sample(np.random.default_rng(2))[0]
    errs = []
    for n in (65, 129):
        g = Grid.uniform(n, 2, lo=0.0, hi=2.0)  # non-unit box: derivative scales by 1/length
        f = grf.evaluate(xi, g)
        dx = grf.evaluate(xi, g, derivative=0)
        fd = (f[2:] - f[:-2]) / (2 * g.spacing[0])
        errs.append(np.abs(fd - dx[1:-1]).max())
    assert 3.5 < errs[0] / errs[1] < 4.5  # central differences converge at order 2


def test_bad_coefficients_are_rejected():
    grf = GaussianRandomField(ndim=2, n_modes=3)
    with pytest.raises(ValueError, match="expected 9 KL coefficients"):
        grf.evaluate(np.zeros(4), Grid.uniform(5, 2))
    with pytest.raises(ValueError, match="unknown basis"):
        GaussianRandomField(basis="wavelet")


@pytest.mark.parametrize("ndim,basis", [(1, "cosine"), (2, "fourier"), (3, "cosine")])
def test_evaluate_nodes_equals_the_grid_evaluation(ndim, basis):
    f = GaussianRandomField(ndim=ndim, n_modes=5, basis=basis, zero_mean=True)
    g = Grid.uniform(9, ndim)
    xi = np.random.default_rng(0).standard_normal(f.n_params)
    idx = tuple(np.random.default_rng(d).integers(0, 9, 11) for d in range(ndim))
    np.testing.assert_allclose(f.evaluate_nodes(xi, g, idx), f.evaluate(xi, g)[idx],
                               rtol=0, atol=1e-14)
