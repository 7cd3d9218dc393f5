"""POD-Galerkin reduced Burgers (rom.galerkin): the full basis is the full model."""

import numpy as np
import pytest

from rom import hyper_reduction as hr
from rom.galerkin import (
    BurgersGalerkin,
    ReducedBlowUp,
    advection_frequency,
    diffusion_eigenbasis,
    second_difference,
)
from solvers.problems import make_problem

N = 32


def burgers_trajectory(nu=0.05, n_out=5):
    p = make_problem("burgers", N, nu=nu, n_modes=6, n_out=n_out, t_final=0.3)
    mu = np.random.default_rng(0).standard_normal(len(p.parameter_space.names))
    sol = p.solve(mu)
    return p, sol.inputs["u0"], sol.outputs["u"]


def test_eigenbasis_diagonalises_the_reduced_laplacian():
    Phi0 = np.linalg.qr(np.random.default_rng(1).standard_normal((N, 8)))[0]
    Phi, kappa = diffusion_eigenbasis(Phi0, 1.0 / N)
    np.testing.assert_allclose(Phi.T @ Phi, np.eye(8), atol=1e-12)
    K = Phi.T @ second_difference(Phi, 1.0 / N)
    np.testing.assert_allclose(K, np.diag(kappa), atol=1e-9 * np.abs(kappa).max())
    assert np.all(kappa <= 1e-9)
    full, _ = diffusion_eigenbasis(np.eye(N), 1.0 / N)
    assert advection_frequency(full, 1.0 / N) == pytest.approx(N, rel=1e-12)   # 1/h


@pytest.mark.parametrize("basis", ["identity", "random"])
def test_full_basis_reproduces_the_full_trajectory_to_round_off(basis):
    """Same scheme (Lawson-RK4), same step rule, same steps: only round-off differs."""
    p, u0, U = burgers_trajectory()
    Q = np.eye(N) if basis == "identity" else np.linalg.qr(
        np.random.default_rng(2).standard_normal((N, N)))[0]
    Phi, kappa = diffusion_eigenbasis(Q, 1.0 / N)
    nl, _ = hr.build("none", Phi, 1.0 / N)
    model = BurgersGalerkin(Phi, kappa, nl, p.times, 1.0 / N, step_rule="solver")
    stepper = model.stepper(0.05)
    from rom.time_stepping import TimeStepper

    assert isinstance(stepper, TimeStepper)                  # the shared stepper contract
    assert np.array_equal(stepper.times, p.times)
    R = stepper.integrate(u0)
    assert R.shape == U.shape
    assert np.abs(R - U).max() <= 1e-12 * np.abs(U).max()


def test_galerkin_energy_does_not_grow_and_batches_agree():
    p, u0, U = burgers_trajectory(nu=0.01)
    S = U.T
    Phi, kappa = diffusion_eigenbasis(np.linalg.svd(S, full_matrices=False)[0][:, :4], 1.0 / N)
    nl, _ = hr.build("none", Phi, 1.0 / N)
    model = BurgersGalerkin(Phi, kappa, nl, p.times, 1.0 / N)
    a0 = Phi.T @ u0
    A = model.integrate_reduced(a0, 0.01)
    energy = np.sum(A ** 2, axis=1)
    assert np.all(np.diff(energy) <= 1e-12 * energy[0])                 # skew flux + viscosity
    B = model.integrate_reduced(np.column_stack([a0, a0]), np.array([0.01, 0.01]))
    np.testing.assert_allclose(B[:, :, 1], A, rtol=1e-12, atol=1e-12)


def test_blow_up_names_the_step_and_time():
    p, u0, _ = burgers_trajectory()
    Phi, kappa = diffusion_eigenbasis(np.eye(N)[:, :6], 1.0 / N)
    nl, _ = hr.build("none", Phi, 1.0 / N)
    # anti-diffusion (-kappa) makes the reduced energy grow without bound
    model = BurgersGalerkin(Phi, -kappa + 50.0, nl, p.times, 1.0 / N)
    with pytest.raises(ReducedBlowUp, match=r"blew up at step \d+ \(t=[0-9.e-]+\)"):
        model.integrate_reduced(Phi.T @ u0 + 1.0, 1.0)


def sampled_model(method, r=6, points=12, step_rule="reduced", full=False):
    p, u0, U = burgers_trajectory()
    S = U.T
    Q = np.eye(N) if full else np.linalg.svd(S, full_matrices=False)[0][:, :r]
    Phi, kappa = diffusion_eigenbasis(Q, 1.0 / N)
    X = np.random.default_rng(3).standard_normal((N, 3 * N)) if full else S   # full rank
    kw = ({"states": S} if method == "ecsw"
          else {"nonlinear_snapshots": hr.flux_divergence(X, 1.0 / N)})
    nl, _ = hr.build(method, Phi, 1.0 / N, points=N if full else points, **kw)
    return p, u0, U, Phi, BurgersGalerkin(Phi, kappa, nl, p.times, 1.0 / N, step_rule=step_rule)


@pytest.mark.parametrize("method", ["deim", "qdeim", "ecsw"])
@pytest.mark.parametrize("step_rule", ["solver", "reduced"])
def test_fast_single_path_matches_the_generic_integrator(method, step_rule):
    """The fused one-trajectory loop is the generic Lawson-RK4 path up to round-off."""
    _, u0, _, Phi, model = sampled_model(method, step_rule=step_rule)
    a0 = Phi.T @ u0
    fast = model.integrate_reduced(a0, 0.05)
    fast_steps = model.last_steps
    ref = model.integrate_reference(a0[:, None], np.array([0.05]))[:, :, 0]
    assert model.last_steps == fast_steps
    assert np.abs(fast - ref).max() <= 1e-12 * np.abs(ref).max()
    col = model.integrate_reduced(a0[:, None], np.array([0.05]))       # (r, 1): the same path
    np.testing.assert_array_equal(col[:, :, 0], fast)


def test_fast_path_with_all_points_reproduces_the_full_trajectory():
    """Full basis + DEIM at every point (exact nonlinearity) through the fused loop."""
    p, u0, U, Phi, model = sampled_model("deim", step_rule="solver", full=True)
    # N(u) sums to zero (conservative flux): its range has dimension N - 1, all of it sampled
    assert model.nonlinear.full_basis is None and len(model.nonlinear.points) == N - 1
    R = model.stepper(0.05).integrate(u0)
    assert np.abs(R - U).max() <= 1e-10 * np.abs(U).max()


def test_fast_path_blow_up_names_the_step_and_time():
    p, u0, _, Phi, model = sampled_model("deim")
    model.kappa = -model.kappa + 50.0                  # anti-diffusion: the energy grows
    with pytest.raises(ReducedBlowUp, match=r"blew up at step \d+ \(t=[0-9.e-]+\)"):
        model.integrate_reduced(Phi.T @ u0 + 1.0, 1.0)
