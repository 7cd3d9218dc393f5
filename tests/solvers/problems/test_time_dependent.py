"""Time-dependent problems: observed orders, exact solutions, invariants, reproducibility."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.sparse.linalg import expm_multiply, spsolve

from solvers.linear import SolveStats
from solvers.linear.base import SequenceSolver
from solvers.problems import make_problem
from solvers.problems.burgers import BurgersSolver
from solvers.problems.fd import diffusion_operator, full_to_interior, laplacian
from solvers.problems.heat import integrate_heat
from solvers.problems.navier_stokes import VorticitySolver
from solvers.problems.time_stepping import (
    PeriodicGRF,
    SineSeriesGRF,
    output_times,
    substeps,
)
from solvers.problems.wave import leapfrog


def orders(errors: list[float], ratio: float = 2.0) -> np.ndarray:
    """Observed orders ``log(e_i / e_{i+1}) / log(ratio)`` of a refinement sequence."""
    e = np.asarray(errors)
    return np.log(e[:-1] / e[1:]) / math.log(ratio)


# -- helpers ---------------------------------------------------------------------------

def test_substeps_hit_interval_and_bound_dt():
    m, h = substeps(0.1, 0.03)
    assert m == 4 and h == pytest.approx(0.025) and h <= 0.03
    assert substeps(0.1, 0.1) == (1, 0.1)
    np.testing.assert_allclose(output_times(2.0, 5), [0, 0.5, 1, 1.5, 2])
    np.testing.assert_allclose(output_times(2.0, 4, include_initial=False), [0.5, 1, 1.5, 2])
    with pytest.raises(ValueError, match="dt must be positive"):
        substeps(1.0, 0.0)


def test_periodic_grf_is_resolution_independent_and_has_its_variance():
    f1 = PeriodicGRF(1, 8, 25.0, 5.0, 2.0)
    xi = np.random.default_rng(1).standard_normal(f1.dim)
    coarse = f1.evaluate(xi, (np.arange(16) / 16,))
    fine = f1.evaluate(xi, (np.arange(64) / 64,))
    np.testing.assert_allclose(fine[::4], coarse, atol=1e-13)
    f2 = PeriodicGRF(2, 3, 1.0, 2.0, 1.5)
    xi = np.random.default_rng(2).standard_normal((4000, f2.dim))
    x = (np.array([0.0, 0.3]), np.array([0.1]))
    samples = np.array([f2.evaluate(z, x) for z in xi])
    var = 2 * f2.eigenvalues().sum()   # Σ_k 2λ_k (cos² + sin²) at every point
    np.testing.assert_allclose(samples.var(axis=0), var, rtol=0.08)
    assert abs(samples.mean()) < 4 * math.sqrt(var / 4000)


def test_sine_series_grf_vanishes_on_boundary_and_matches_across_resolutions():
    f = SineSeriesGRF(2, 4, 10.0, 3.0, 2.0)
    xi = np.random.default_rng(3).standard_normal(f.dim)
    a = f.evaluate(xi, (np.linspace(0, 1, 9),) * 2)
    b = f.evaluate(xi, (np.linspace(0, 1, 17),) * 2)
    np.testing.assert_allclose(b[::2, ::2], a, atol=1e-13)
    assert np.abs(a[[0, -1], :]).max() < 1e-13 and np.abs(a[:, [0, -1]]).max() < 1e-13


# -- heat ------------------------------------------------------------------------------

def _heat_setup(n: int = 13):
    p = make_problem("heat", n)
    X, Y = p.grid.mesh()
    kappa = 1.0 + 0.5 * X * Y
    A = diffusion_operator(p.grid, kappa, "dirichlet")
    u0 = full_to_interior(p.grid, np.sin(np.pi * X) * np.sin(2 * np.pi * Y) + 4 * X * Y * (1 - X))
    return A, u0


@pytest.mark.parametrize("scheme,order", [("be", 1.0), ("cn", 2.0)])
def test_heat_temporal_order(scheme, order):
    """Against the exact semi-discrete solution u(T) = A⁻¹f + e^{-TA}(u0 - A⁻¹f)."""
    A, u0 = _heat_setup()
    f, T = 1.0, 0.1
    steady = spsolve(A.tocsc(), np.full(u0.size, f))
    exact = steady + expm_multiply(-T * A, u0 - steady)
    errs = [np.abs(integrate_heat(A, u0, T, 2, T / m, scheme, source=f)[0][-1] - exact).max()
            for m in (10, 20, 40)]
    assert np.all(np.abs(orders(errs) - order) < 0.2), errs


def test_heat_spatial_order_manufactured():
    """u = e^{-t} sin(πx) sin(πy), κ = 1 + xy/2, f = u_t - ∇·(κ∇u); CN with a small step."""
    errs = []
    for n in (9, 17, 33):
        p = make_problem("heat", n, t_final=0.1, n_out=2, dt=2e-3, scheme="cn")
        X, Y = p.grid.mesh()
        kappa = 1 + 0.5 * X * Y
        s = np.sin(np.pi * X) * np.sin(np.pi * Y)
        g = 0.5 * np.pi * (Y * np.cos(np.pi * X) * np.sin(np.pi * Y)
                           + X * np.sin(np.pi * X) * np.cos(np.pi * Y))
        shape = (2 * np.pi ** 2 * kappa - 1) * s - g          # f / e^{-t}
        f_int = full_to_interior(p.grid, shape)
        u, stats = p.trajectory(kappa, s, source=lambda t, f_int=f_int: math.exp(-t) * f_int)
        errs.append(np.abs(u[-1] - math.exp(-0.1) * s).max())
        assert len(stats) == 50 and all(st["converged"] for st in stats)
    assert np.all(np.abs(orders(errs) - 2.0) < 0.2), errs


class RecordingSolver(SequenceSolver):
    """A sequence solver that checks what the heat problem hands to it (CG-free: exact solve)."""

    name = "recording"

    def __init__(self):
        super().__init__()
        self.calls = []

    def solve(self, system, x0=None):
        self.calls.append((system, None if x0 is None else x0.copy()))
        x = spsolve(system.A.tocsc(), system.b)
        return x, SolveStats(self.name, iterations=1, residual=0.0, converged=True)


def test_heat_passes_every_step_through_the_sequence_solver_with_warm_start():
    p = make_problem("heat", 9, t_final=0.1, n_out=3, dt=0.02, kappa_modes=2, u0_modes=2)
    mu = np.random.default_rng(4).standard_normal(p.parameter_space.dim)
    rec = RecordingSolver()
    sol = p.solve(mu, rec)
    assert len(rec.calls) == len(sol.stats) == 6
    A0 = rec.calls[0][0].A
    for system, x0 in rec.calls:
        assert system.symmetric and system.spd
        assert (system.A != A0).nnz == 0
        assert x0 is not None and x0.shape == (49,)
    # warm start: the initial guess of step k is the solution of step k-1
    xs = [spsolve(s.A.tocsc(), s.b) for s, _ in rec.calls]
    for k in range(1, 6):
        np.testing.assert_allclose(rec.calls[k][1], xs[k - 1], atol=1e-14)
    np.testing.assert_allclose(rec.calls[0][1], full_to_interior(p.grid, sol.inputs["u0"]))
    direct = p.solve(mu)
    assert [s["info"]["factor_reused"] for s in direct.stats] == [False] + [True] * 5
    np.testing.assert_allclose(direct.outputs["u"], sol.outputs["u"], atol=1e-12)


# -- Burgers ---------------------------------------------------------------------------

NU_CH, A_CH = 0.05, 1.5


def cole_hopf(x: np.ndarray, t: float) -> np.ndarray:
    """u = -2ν φ_x/φ with φ = a + e^{-4π²νt} cos 2πx, an exact periodic Burgers solution."""
    e = math.exp(-4 * math.pi ** 2 * NU_CH * t)
    return 4 * math.pi * NU_CH * e * np.sin(2 * math.pi * x) / (A_CH + e * np.cos(2 * math.pi * x))


def test_burgers_cole_hopf_second_order_in_space_and_conservation():
    T, errs = 0.2, []
    for n in (32, 64, 128):
        x = np.arange(n) / n
        u = BurgersSolver(n, NU_CH).integrate(cole_hopf(x, 0), np.array([0.0, 0.1, T]))
        errs.append(np.abs(u[-1] - cole_hopf(x, T)).max())
        np.testing.assert_allclose(u.mean(axis=1), 0.0, atol=1e-15)   # exact mean is 0
        energy = (u ** 2).sum(axis=1)
        assert np.all(np.diff(energy) < 0)
    assert errs[-1] < 2e-4
    assert np.all(np.abs(orders(errs) - 2.0) < 0.2), errs


def test_burgers_integrator_is_fourth_order_in_time():
    n, T = 64, 0.2
    x = np.arange(n) / n
    solver = BurgersSolver(n, NU_CH, cfl=2.5)
    u0 = cole_hopf(x, 0)
    ref = solver.integrate(u0, np.array([0.0, T]), dt=T / 640)[-1]
    errs = [np.abs(solver.integrate(u0, np.array([0.0, T]), dt=T / m)[-1] - ref).max()
            for m in (20, 40, 80)]
    assert np.all(np.abs(orders(errs) - 4.0) < 0.2), errs


def test_burgers_problem_conserves_mean_of_random_data():
    p = make_problem("burgers", 64, n_modes=8, n_out=3, t_final=0.5)
    mu = np.random.default_rng(5).standard_normal(p.parameter_space.dim)
    sol = p.solve(mu)
    u = sol.outputs["u"]
    assert u.shape == (3, 64) and sol.stats == []
    np.testing.assert_array_equal(u[0], sol.inputs["u0"])
    np.testing.assert_allclose(u.mean(axis=1), u[0].mean(), atol=1e-14)


# -- Navier–Stokes ---------------------------------------------------------------------

@pytest.mark.parametrize("scheme", ["fno", "cnab2"])
def test_navier_stokes_taylor_green_decays_at_the_exact_rate(scheme):
    n, nu, k = 32, 1e-2, 2
    X, Y = np.meshgrid(np.arange(n) / n, np.arange(n) / n, indexing="ij")
    w0 = 3 * np.sin(2 * np.pi * k * X) * np.sin(2 * np.pi * k * Y)
    solver = VorticitySolver(n, nu, scheme)
    assert np.abs(solver.advection_hat(np.fft.rfft2(w0))).max() < 1e-10   # u·∇w = 0
    times = np.array([0.25, 0.5])
    w = solver.integrate(w0, 0.0, times, dt=2.5e-4)
    for t, wt in zip(times, w):
        exact = w0 * math.exp(-2 * nu * (2 * np.pi * k) ** 2 * t)
        assert np.abs(wt - exact).max() / np.abs(exact).max() < 2e-7


def test_navier_stokes_advection_term_against_the_analytic_product():
    """w = sin 2πx + cos 4πy: ψ = sin 2πx/(4π²) + cos 4πy/(16π²), u·∇w = (3/2) cos 2πx sin 4πy."""
    n = 16
    X, Y = np.meshgrid(np.arange(n) / n, np.arange(n) / n, indexing="ij")
    w = np.sin(2 * np.pi * X) + np.cos(4 * np.pi * Y)
    adv = np.fft.irfft2(VorticitySolver(n, 1e-3).advection_hat(np.fft.rfft2(w)), s=(n, n))
    np.testing.assert_allclose(adv, 1.5 * np.cos(2 * np.pi * X) * np.sin(4 * np.pi * Y),
                               atol=1e-12)


@pytest.mark.parametrize("scheme", ["fno", "cnab2"])
def test_navier_stokes_forced_mode_approaches_its_steady_state(scheme):
    """From w0 = 0 the FNO forcing (one wave vector, no advection) gives
    w = f (1 - e^{-8π²νt}) / (8π²ν) exactly."""
    p = make_problem("navier_stokes", 16, n_modes=2, nu=1e-2, dt=1e-3, t_final=2.0, n_out=2,
                     scheme=scheme)
    f = p.forcing_field()
    w = VorticitySolver(16, 1e-2, scheme).integrate(np.zeros_like(f), f, p.times, 1e-3)
    lam = 8 * np.pi ** 2 * 1e-2
    for t, wt in zip(p.times, w):
        exact = f * (1 - math.exp(-lam * t)) / lam
        assert np.abs(wt - exact).max() / np.abs(exact).max() < 1e-6


@pytest.mark.parametrize("scheme,order", [("fno", 1.0), ("cnab2", 2.0)])
def test_navier_stokes_temporal_order(scheme, order):
    p = make_problem("navier_stokes", 16, n_modes=3, nu=1e-2, forcing=0.5)
    mu = np.random.default_rng(6).standard_normal(p.parameter_space.dim)
    inp = p.input_fields(mu)
    w0 = 10 * inp["w0"]                       # make the nonlinearity matter
    solver = VorticitySolver(16, 1e-2, scheme)
    T = np.array([0.2])
    ref = solver.integrate(w0, inp["f"], T, dt=0.2 / 2560)[-1]
    errs = [np.abs(solver.integrate(w0, inp["f"], T, dt=0.2 / m)[-1] - ref).max()
            for m in (20, 40, 80)]
    assert np.all(np.abs(orders(errs) - order) < 0.2), errs


def test_navier_stokes_problem_shapes_and_forcing():
    p = make_problem("navier_stokes", 16, n_modes=4, dt=1e-2, t_final=0.2, n_out=4)
    mu = np.random.default_rng(7).standard_normal(p.parameter_space.dim)
    sol = p.solve(mu)
    assert sol.outputs["w"].shape == (4, 16, 16) and sol.stats == []
    np.testing.assert_allclose(p.times, [0.05, 0.1, 0.15, 0.2])
    X, Y = p.grid.mesh()
    np.testing.assert_allclose(sol.inputs["f"], 0.1 * (np.sin(2 * np.pi * (X + Y))
                                                       + np.cos(2 * np.pi * (X + Y))))
    # the mean vorticity is invariant (zero-mean forcing and initial data)
    np.testing.assert_allclose(sol.outputs["w"].mean(axis=(1, 2)), 0.0, atol=1e-13)


def test_navier_stokes_blow_up_is_a_clear_error():
    p = make_problem("navier_stokes", 32, n_modes=4, nu=1e-5, dt=0.5, t_final=50.0, n_out=1,
                     w0_sigma=1e4)
    with pytest.raises(ValueError, match="blew up"):
        p.solve(np.ones(p.parameter_space.dim))


# -- wave ------------------------------------------------------------------------------

def test_wave_leapfrog_conserves_discrete_energy():
    p = make_problem("wave", 33, t_final=1.0, n_out=3, cfl=0.9)
    mu = p.parameter_space.from_unit(np.full(p.parameter_space.dim, 0.3))[0]
    inp = p.input_fields(mu)
    assert np.ptp(inp["c"]) > 0.1                 # a genuinely variable speed
    _, E = p.trajectory(inp["c"], inp["u0"], energy=True)
    assert len(E) > 50 and E.min() > 0
    assert np.ptp(E) / E[0] < 1e-12


def test_wave_standing_wave_second_order_in_space_and_time():
    om = math.sqrt(2) * math.pi
    errs = []
    for n in (9, 17, 33):                          # dt ∝ h: error O(h² + dt²)
        p = make_problem("wave", n, t_final=0.5, n_out=2, cfl=0.5)
        X, Y = p.grid.mesh()
        u0 = np.sin(np.pi * X) * np.sin(np.pi * Y)
        u, _ = p.trajectory(np.ones_like(X), u0)
        errs.append(np.abs(u[-1] - u0 * math.cos(om * 0.5)).max())
    assert np.all(np.abs(orders(errs) - 2.0) < 0.2), errs
    # time alone: against the semi-discrete eigenmode u0 cos(ω_h t) on a fixed grid
    p = make_problem("wave", 17)
    X, Y = p.grid.mesh()
    h = p.grid.spacing[0]
    om_h = math.sqrt(2 * 4 / h ** 2 * math.sin(math.pi * h / 2) ** 2)
    K = -laplacian(p.grid, "dirichlet")
    u0 = full_to_interior(p.grid, np.sin(np.pi * X) * np.sin(np.pi * Y))
    c2 = np.ones_like(u0)
    errs = [np.abs(leapfrog(K, c2, u0, 0.5, 2, 0.5 / m)[0][-1] - u0 * math.cos(om_h * 0.5)).max()
            for m in (20, 40, 80)]
    assert np.all(np.abs(orders(errs) - 2.0) < 0.2), errs


def test_wave_periodic_and_cfl_check():
    p = make_problem("wave", 16, bc="periodic", initial="grf", u0_modes=3, n_out=3)
    mu = np.random.default_rng(8).standard_normal(p.parameter_space.dim)
    sol = p.solve(mu)
    assert sol.outputs["u"].shape == (3, 16, 16)
    _, E = p.trajectory(sol.inputs["c"], sol.inputs["u0"], energy=True)
    assert np.ptp(E) / E[0] < 1e-12
    bad = make_problem("wave", 16, dt=0.1)
    with pytest.raises(ValueError, match="CFL"):
        bad.solve(bad.parameter_space.from_unit(np.full(bad.parameter_space.dim, 0.5))[0])


# -- all problems ----------------------------------------------------------------------

SMALL = {
    "heat": (9, {"kappa_modes": 2, "u0_modes": 3, "n_out": 3, "t_final": 0.1}),
    "burgers": (32, {"n_modes": 6, "n_out": 3, "t_final": 0.2}),
    "navier_stokes": (16, {"n_modes": 4, "dt": 1e-2, "t_final": 0.1, "n_out": 2}),
    "wave": (9, {"n_out": 3, "t_final": 0.2}),
}
FINER = {"heat": 17, "burgers": 64, "navier_stokes": 32, "wave": 17}


@pytest.mark.parametrize("name", sorted(SMALL))
def test_reproducible_and_resolution_independent_initial_data(name):
    n, opts = SMALL[name]
    p = make_problem(name, n, **opts)
    assert p.time_dependent and p.parameter_space.dim > 0
    u = np.random.default_rng(9).random(p.parameter_space.dim)
    mu = p.parameter_space.from_unit(u)[0]
    a, b = p.solve(mu), p.solve(mu.copy())
    for key in a.outputs:
        np.testing.assert_array_equal(a.outputs[key], b.outputs[key])
        assert a.outputs[key].shape == (len(p.times),) + p.grid.shape
        assert np.all(np.isfinite(a.outputs[key]))
    assert set(a.inputs) == set(p.input_names) and set(a.outputs) == set(p.output_names)
    fine = make_problem(name, FINER[name], **opts)
    assert fine.parameter_space.dim == p.parameter_space.dim
    fi, ci = fine.input_fields(mu), p.input_fields(mu)
    step = 2
    for key in ci:
        sl = (slice(None, None, step),) * p.grid.ndim
        np.testing.assert_allclose(fi[key][sl], ci[key], atol=1e-12, err_msg=key)


def test_burgers_unstable_cfl_is_a_clear_error():
    x = np.arange(64) / 64
    with pytest.raises(ValueError, match="blew up"):
        BurgersSolver(64, 1e-4, cfl=50.0).integrate(5 * np.sin(2 * np.pi * x), np.array([0.0, 2.0]))


def test_burgers_viscosity_as_a_loguniform_parameter():
    p = make_problem("burgers", 32, n_modes=4, n_out=2, t_final=0.2, nu=0.01, nu_max=0.1)
    space = p.parameter_space
    assert space.names[-1] == "nu" and space.kinds[-1] == "loguniform"
    u = np.full(space.dim, 0.5)
    mu = space.from_unit(u)[0]
    assert mu[-1] == pytest.approx(math.sqrt(0.01 * 0.1))
    sol = p.solve(mu)
    direct = BurgersSolver(32, mu[-1]).integrate(sol.inputs["u0"], p.times)
    np.testing.assert_array_equal(sol.outputs["u"], direct)
    with pytest.raises(ValueError, match="nu_max must exceed"):
        make_problem("burgers", 32, nu=0.1, nu_max=0.05)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_generated_dataset_round_trip(name, tmp_path):
    """The dataset writer stores the trajectory, the static inputs and the times as solved."""
    from data.check import check_dataset
    from data.dataset import Dataset
    from data.generate import generate

    n, opts = SMALL[name]
    p = make_problem(name, n, **opts)
    out = generate(p, 2, tmp_path / f"{name}.h5", seed=3, progress=False)
    problems, _ = check_dataset(out)
    assert problems == []
    with Dataset(out) as ds:
        np.testing.assert_allclose(ds.times, p.times)
        mu = ds.parameters[1]
        sol = p.solve(mu)
        for key, arr in sol.outputs.items():
            np.testing.assert_array_equal(ds.field(key)[1], arr)
        for key, arr in sol.inputs.items():
            np.testing.assert_array_equal(ds.field(key)[1], arr)
