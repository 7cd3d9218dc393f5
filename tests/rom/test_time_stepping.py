"""The shared theta stepper against the heat integrator, with full and reduced (dense) matrices."""

import numpy as np
import pytest
import scipy.sparse as sp

from rom.time_stepping import ThetaStepper, TimeStepper, step_schedule, theta_of
from solvers.problems.fd import diffusion_operator
from solvers.problems.grid import Grid
from solvers.problems.heat import integrate_heat


@pytest.fixture(scope="module")
def system():
    g = Grid.uniform(10, 2)
    X, Y = g.mesh()
    A = diffusion_operator(g, 1.0 + X + Y ** 2, "dirichlet")
    u0 = np.random.default_rng(0).standard_normal(A.shape[0])
    return A, u0


@pytest.mark.parametrize("scheme", ["be", "cn"])
def test_full_stepper_is_the_heat_integrator(system, scheme):
    A, u0 = system
    times = np.linspace(0.0, 0.3, 7)
    U, _ = integrate_heat(A, u0, 0.3, 7, 0.013, scheme, None, 2.0)
    st = ThetaStepper(A, times, 0.013, scheme, 2.0)
    assert isinstance(st, TimeStepper)
    np.testing.assert_allclose(st.integrate(u0), U, rtol=0, atol=1e-13 * np.abs(U).max())


@pytest.mark.parametrize("scheme", ["be", "cn"])
def test_reduced_stepper_with_full_basis_reproduces_trajectory(system, scheme):
    """N = n: the Galerkin system in any orthonormal basis is the full one, step for step."""
    A, u0 = system
    n = A.shape[0]
    times = np.linspace(0.0, 0.3, 7)
    f = np.linspace(0.0, 1.0, n)
    U = ThetaStepper(A, times, 0.013, scheme, f).integrate(u0)
    V = np.linalg.qr(np.random.default_rng(1).standard_normal((n, n)))[0]
    red = ThetaStepper(V.T @ A.toarray() @ V, times, 0.013, scheme, V.T @ f)
    np.testing.assert_allclose(red.integrate(V.T @ u0) @ V.T, U, rtol=0,
                               atol=1e-13 * np.abs(U).max())
    # a non-identity (reduced) mass matrix: V is then M-orthogonal only up to the Galerkin form
    W = np.linalg.qr(np.random.default_rng(2).standard_normal((n, n)))[0] * 2.0
    red = ThetaStepper(W.T @ A.toarray() @ W, times, 0.013, scheme, W.T @ f, W.T @ W)
    np.testing.assert_allclose(red.integrate(np.linalg.solve(W, u0)) @ W.T, U, rtol=0,
                               atol=1e-12 * np.abs(U).max())


def test_time_dependent_source_and_every_step(system):
    A, u0 = system
    times = np.linspace(0.0, 0.2, 3)
    src = lambda t: np.full(A.shape[0], np.sin(3 * t))  # noqa: E731
    U, _ = integrate_heat(A, u0, 0.2, 3, 0.05, "cn", None, src)
    st = ThetaStepper(A.toarray(), times, 0.05, "cn", src)
    all_steps = st.integrate(u0, every_step=True)
    assert all_steps.shape == (st.n_steps + 1, A.shape[0]) and st.m == 2
    np.testing.assert_allclose(all_steps[::st.m], U, atol=1e-12)


def test_bad_input():
    with pytest.raises(ValueError, match="unknown time scheme"):
        theta_of("rk4")
    with pytest.raises(ValueError, match="theta must lie"):
        theta_of(0.2)
    with pytest.raises(ValueError, match="equispaced"):
        step_schedule(np.array([0.0, 0.1, 0.5]), 0.1)
    with pytest.raises(ValueError, match="initial state"):
        ThetaStepper(sp.identity(3, format="csr"), np.linspace(0, 1, 3), 0.5).integrate(np.ones(2))
