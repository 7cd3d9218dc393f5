"""Operator inference (rom.opinf): exact operators from exact data."""

import numpy as np
import pytest
import scipy.linalg as sla

from rom import opinf


def linear_system(r=4, seed=0):
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((r, r))
    return -(M @ M.T) / r - np.eye(r) + (M - M.T) / 2          # stable


def test_linear_operator_recovered_from_noise_free_data():
    A = linear_system()
    times = np.linspace(0.0, 1.0, 21)
    rng = np.random.default_rng(1)
    trajs = [np.stack([sla.expm(t * A) @ x0 for t in times]) for x0 in rng.standard_normal((3, 4))]
    ders = [t @ A.T for t in trajs]
    model = opinf.fit(trajs, [0.1] * 3, times, operators="A", reg=0.0, derivatives=ders)
    np.testing.assert_allclose(model.A, A, atol=1e-8)
    assert np.all(model.H == 0) and np.all(model.c == 0)


def test_finite_difference_derivatives_are_second_order():
    A = linear_system()
    x0 = np.ones(4)
    errs = []
    for m in (41, 81):
        times = np.linspace(0.0, 1.0, m)
        traj = np.stack([sla.expm(t * A) @ x0 for t in times])
        errs.append(np.abs(opinf.time_derivative(traj, times) - traj @ A.T).max())
    assert 3.5 < errs[0] / errs[1] < 4.5


def test_quadratic_operator_of_a_manufactured_ode():
    """da/dt = c + A a + ν A_ν a + H q(a): exact derivatives at sampled states give every operator."""
    r = 3
    rng = np.random.default_rng(2)
    c, A, A_nu = rng.standard_normal(r), linear_system(r, 3), -np.eye(r)
    H = 0.1 * rng.standard_normal((r, r * (r + 1) // 2))
    true = opinf.OpInfModel(c, A, A_nu, H, np.linspace(0.0, 0.5, 11))
    nus = [0.5, 1.0, 2.0]
    trajs = [0.3 * rng.standard_normal((12, r)) for _ in nus]          # any states will do
    ders = [true.rhs(t.T, nu).T for t, nu in zip(trajs, nus)]
    model = opinf.fit(trajs, nus, true.times, operators="cAH", reg=0.0, derivatives=ders)
    for got, want in [(model.c, c), (model.A, A), (model.A_nu, A_nu), (model.H, H)]:
        np.testing.assert_allclose(got, want, atol=1e-8)
    # and the fitted model integrates like the true one
    a0 = 0.3 * np.ones(r)
    np.testing.assert_allclose(model.integrate_reduced(a0, 1.0), true.integrate_reduced(a0, 1.0),
                               atol=1e-8)


def test_regularisation_is_chosen_on_held_out_trajectories():
    A = linear_system()
    times = np.linspace(0.0, 1.0, 41)
    rng = np.random.default_rng(4)
    trajs = [np.stack([sla.expm(t * A) @ x0 for t in times]) for x0 in rng.standard_normal((4, 4))]
    (l1, l2), table = opinf.select_regularisation(trajs, [0.1] * 4, times, operators="cA")
    assert len(table) == len(opinf.REG_GRID) and l1 in opinf.REG_GRID
    assert min(e for *_, e in table) == pytest.approx(dict(((a, b), e) for a, b, e in table)[(l1, l2)])
    assert min(e for *_, e in table) < 1e-2


def test_bad_operator_letters_are_errors():
    with pytest.raises(ValueError, match="letters of 'cAH'"):
        opinf.fit([np.zeros((3, 2))], [1.0], np.arange(3.0), operators="AQ")


def test_jacobian_radius_matches_finite_differences():
    r = 3
    rng = np.random.default_rng(6)
    model = opinf.OpInfModel(rng.standard_normal(r), rng.standard_normal((r, r)),
                             rng.standard_normal((r, r)),
                             rng.standard_normal((r, r * (r + 1) // 2)), np.linspace(0, 1, 3))
    a, nu, e = rng.standard_normal(r), 0.7, 1e-6
    J = np.column_stack([(model.rhs(a + e * v, nu) - model.rhs(a - e * v, nu)) / (2 * e)
                         for v in np.eye(r)])
    assert model.jacobian_radius(a, nu) == pytest.approx(np.abs(np.linalg.eigvals(J)).max(),
                                                         rel=1e-6)


def test_lawson_integration_is_exact_for_a_linear_model_and_batches_agree():
    A, r = linear_system(), 4
    times = np.linspace(0.0, 2.0, 5)
    model = opinf.OpInfModel(np.zeros(r), A, -np.eye(r), np.zeros((r, r * (r + 1) // 2)), times)
    x0 = np.arange(1.0, r + 1)
    exact = np.stack([sla.expm(t * (A - 0.5 * np.eye(r))) @ x0 for t in times])
    np.testing.assert_allclose(model.integrate_reduced(x0, 0.5), exact, atol=1e-12)
    B = model.integrate_reduced(np.column_stack([x0, 2 * x0]), np.array([0.5, 0.5]))
    np.testing.assert_allclose(B[:, :, 1], 2 * exact, atol=1e-11)


@pytest.mark.parametrize("scale", [0.3, 3.0])        # one step per interval / substeps
def test_fast_single_path_matches_the_generic_integrator(scale):
    r = 4
    rng = np.random.default_rng(5)
    H = 0.5 * rng.standard_normal((r, r * (r + 1) // 2))
    model = opinf.OpInfModel(rng.standard_normal(r), linear_system(r, 6), -np.eye(r), H,
                             np.linspace(0.0, 0.5, 11))
    a0 = scale * rng.standard_normal(r) / np.sqrt(r)
    fast = model.integrate_reduced(a0, 1.0)
    fast_steps = model.last_steps
    ref = model.integrate_reference(a0[:, None], np.array([1.0]))[:, :, 0]
    assert model.last_steps == fast_steps
    assert np.abs(fast - ref).max() <= 1e-12 * np.abs(ref).max()
