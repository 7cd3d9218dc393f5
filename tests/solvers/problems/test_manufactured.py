"""One manufactured-solution check per problem, through the public API only.

Each test picks a smooth exact solution that is non-trivial on the boundary,
derives its source (and boundary, initial data) by hand, prescribes them with
``Problem.prescribe``, solves on three grids (or time steps) with
``Problem.solve`` and asserts the observed order of the scheme the module's
docstring states. The tables of ``docs/problems.md`` come from these tests.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from solvers.problems import make_problem, problem_from_config

PI = math.pi


def observed_orders(errors, sizes) -> np.ndarray:
    """``log(e_i / e_{i+1}) / log(h_i / h_{i+1})`` with ``h ∝ 1/(size - 1)``."""
    e, h = np.asarray(errors), 1.0 / (np.asarray(sizes, dtype=float) - 1.0)
    return np.log(e[:-1] / e[1:]) / np.log(h[:-1] / h[1:])


def assert_order(errors, sizes, order: float, tol: float = 0.2) -> None:
    orders = observed_orders(errors, sizes)
    assert np.all(np.abs(orders - order) < tol), (errors, orders)


# w = e^x sin(πy + 1): smooth, non-zero on the boundary, Δw = (1 - π²) w
def w(x, y):
    return np.exp(x) * np.sin(PI * y + 1.0)


def w_grad(x, y):
    return w(x, y), PI * np.exp(x) * np.cos(PI * y + 1.0)


def w_lap(x, y):
    return (1.0 - PI ** 2) * w(x, y)


def max_error(u, exact) -> float:
    return float(np.abs(np.asarray(u) - exact).max())


def darcy_errors(scheme: str, sizes=(17, 33, 65)) -> list[float]:
    """Lognormal coefficient (exact gradient from the KL series); conservative and
    non-conservative: u = w, f = -div(a grad w); skr (-Δ(a u) = f): a u = w."""
    errors = []
    for n in sizes:
        p = make_problem("darcy", n, coefficient="lognormal", scheme=scheme, n_modes=3)
        mu = np.linspace(-1.0, 1.0, p.parameter_space.dim)
        X, Y = p.grid.mesh()
        a = p.coefficient(mu)
        if scheme == "skr":
            exact, f = w(X, Y) / a, -w_lap(X, Y)
        else:
            gx, gy = (a * p.field.evaluate(mu, p.grid, derivative=d) for d in (0, 1))
            wx, wy = w_grad(X, Y)
            exact, f = w(X, Y), -(a * w_lap(X, Y) + gx * wx + gy * wy)
        u = p.prescribe(source=f, dirichlet=exact).solve(mu).outputs["u"]
        errors.append(max_error(u, exact))
    return errors


@pytest.mark.parametrize("scheme", ["conservative", "nonconservative", "skr"])
def test_darcy_manufactured_with_dirichlet_data(scheme):
    assert_order(darcy_errors(scheme), (17, 33, 65), 2.0)


def thermal_block_errors(sizes=(17, 33, 65)) -> list[float]:
    """Layered conductivity μ(x) (0.2 | 1): u = (1 + sin(2πx)/μ(x)) (1 + y) is continuous
    with continuous flux, u = 1 + y on x = 0, 1; -div(μ grad u) = 4π² sin(2πx)(1 + y)."""
    mu = np.array([0.2, 1.0, 0.2, 1.0])
    errors = []
    for n in sizes:
        p = make_problem("thermal_block", n)
        X, Y = p.grid.mesh()
        layer = np.where(X < 0.5, 0.2, 1.0)
        exact = (1 + np.sin(2 * PI * X) / layer) * (1 + Y)
        f = 4 * PI ** 2 * np.sin(2 * PI * X) * (1 + Y)
        u = p.prescribe(source=f, dirichlet=exact).solve(mu).outputs["u"]
        errors.append(max_error(u, exact))
    return errors


def test_thermal_block_manufactured_with_dirichlet_data():
    assert_order(thermal_block_errors(), (17, 33, 65), 2.0)


def test_thermal_block_lifted_affine_decomposition_equals_assembly():
    p = make_problem("thermal_block", 13, blocks_x=3).prescribe(
        source=lambda x, y: x * y, dirichlet=lambda x, y: 1 + x - y ** 2)
    ad = p.affine_decomposition()
    assert len(ad.f_terms) == 1 + 6
    for mu in p.parameter_space.from_unit(np.random.default_rng(0).random((3, 6))):
        A, f = ad.assemble(mu)
        s = p.assemble(mu)
        assert abs(A - s.A).max() <= 1e-13 * abs(s.A).max()
        np.testing.assert_allclose(f, s.b, rtol=1e-12, atol=1e-12 * abs(s.b).max())


def steady_errors(name: str, sizes, mu, source) -> list[float]:
    """Max-norm errors of ``name`` with ``u = w``: ``source(p, X, Y)`` and ``dirichlet=w``."""
    errors = []
    for n in sizes:
        p = make_problem(name, n)
        X, Y = p.grid.mesh()
        u = p.prescribe(source=source(p, X, Y), dirichlet=w).solve(mu).outputs["u"]
        errors.append(max_error(u, w(X, Y)))
    return errors


def helmholtz_errors(sizes=(33, 65, 129)) -> list[float]:
    """Dirichlet: u = w, f = -Δw - k² w in the heterogeneous medium (k h < 0.4)."""
    mu = np.array([12.0, 0.3, 0.4, 0.6])
    return steady_errors("helmholtz", sizes, mu,
                         lambda p, X, Y: -w_lap(X, Y) - p.wavenumber(mu) ** 2 * w(X, Y))


def test_helmholtz_manufactured_with_dirichlet_data():
    assert_order(helmholtz_errors(), (33, 65, 129), 2.0)


def advection_diffusion_errors(sizes=(17, 33, 65)) -> list[float]:
    """u = w, f = -ε Δw + b·∇w, ε = 0.05, |b| = 0.8 at angle 0.6."""
    b = 0.8 * np.array([math.cos(0.6), math.sin(0.6)])

    def source(p, X, Y):
        wx, wy = w_grad(X, Y)
        return -0.05 * w_lap(X, Y) + b[0] * wx + b[1] * wy

    return steady_errors("advection_diffusion", sizes, np.array([0.05, 0.8, 0.6]), source)


def test_advection_diffusion_manufactured_with_dirichlet_data():
    assert_order(advection_diffusion_errors(), (17, 33, 65), 2.0)


def heat_errors(sizes=(9, 17, 33)) -> list[float]:
    """Crank–Nicolson, Δt ∝ h: u = e^{-t} w, κ = exp(g) from mu (exact ∇κ),
    f = u_t - div(κ grad u), g(t) = u(t) on the boundary, u0 = w."""
    errors = []
    for n in sizes:
        h = 1.0 / (n - 1)
        p = make_problem("heat", n, scheme="cn", t_final=0.1, n_out=2, dt=0.4 * h,
                         kappa_modes=2)
        mu = np.linspace(-1.0, 1.0, p.parameter_space.dim)
        X, Y = p.grid.mesh()
        xi = mu[:p.kappa_field.n_params]
        kappa = np.exp(p.kappa_field.evaluate(xi, p.grid))
        kx, ky = (kappa * p.kappa_field.evaluate(xi, p.grid, derivative=d) for d in (0, 1))
        wx, wy = w_grad(X, Y)
        shape = -w(X, Y) - (kappa * w_lap(X, Y) + kx * wx + ky * wy)   # f / e^{-t}
        q = p.prescribe(source=lambda x, y, t, shape=shape: math.exp(-t) * shape,
                        dirichlet=lambda x, y, t: math.exp(-t) * w(x, y), initial=w)
        sol = q.solve(mu)
        np.testing.assert_allclose(sol.inputs["kappa"], kappa, rtol=1e-12)
        errors.append(max_error(sol.outputs["u"][-1], math.exp(-0.1) * w(X, Y)))
    return errors


def test_heat_crank_nicolson_manufactured_second_order():
    assert_order(heat_errors(), (9, 17, 33), 2.0)


def heat_backward_euler_errors(steps=(10, 20, 40)) -> list[float]:
    """Backward Euler in time alone: u = e^{-t}(1 + x + 2y + xy + x²), κ = 1 (mu = 0); the
    five-point operator is exact on quadratics, so only the time error remains."""
    errors = []
    for m in steps:
        p = make_problem("heat", 9, scheme="be", t_final=0.2, n_out=2, dt=0.2 / m)
        mu = np.zeros(p.parameter_space.dim)

        def q(x, y):
            return 1 + x + 2 * y + x * y + x ** 2

        X, Y = p.grid.mesh()
        s = p.prescribe(source=lambda x, y, t: math.exp(-t) * (-q(x, y) - 2.0),
                        dirichlet=lambda x, y, t: math.exp(-t) * q(x, y), initial=q)
        errors.append(max_error(s.solve(mu).outputs["u"][-1], math.exp(-0.2) * q(X, Y)))
    return errors


def test_heat_backward_euler_manufactured_first_order_in_time():
    errors = heat_backward_euler_errors()
    np.testing.assert_array_less(np.abs(np.log2(np.divide(errors[:-1], errors[1:])) - 1.0), 0.1)


def wave_errors(sizes=(17, 33, 65)) -> list[float]:
    """Leapfrog, Δt ∝ h (cfl 0.5): u = sin(t + 1/2) w, c = c0 exp(g) from mu,
    f = u_tt - c² Δu, u0 = sin(1/2) w, v0 = cos(1/2) w, g(t) = u(t) on the boundary."""
    errors = []
    for n in sizes:
        p = make_problem("wave", n, t_final=0.5, n_out=2, cfl=0.5)
        mu = p.parameter_space.from_unit(np.full(p.parameter_space.dim, 0.3))[0]
        X, Y = p.grid.mesh()
        c = p.input_fields(mu)["c"]
        shape = -w(X, Y) - c ** 2 * w_lap(X, Y)                        # f / sin(t + 1/2)
        q = p.prescribe(source=lambda x, y, t, shape=shape: math.sin(t + 0.5) * shape,
                        dirichlet=lambda x, y, t: math.sin(t + 0.5) * w(x, y),
                        initial=lambda x, y: math.sin(0.5) * w(x, y),
                        velocity=lambda x, y: math.cos(0.5) * w(x, y))
        errors.append(max_error(q.solve(mu).outputs["u"][-1], math.sin(1.0) * w(X, Y)))
    return errors


def test_wave_manufactured_second_order():
    assert_order(wave_errors(), (17, 33, 65), 2.0)


NU_CH, A_CH = 0.05, 1.5


def cole_hopf(x, t: float = 0.0):
    """u = -2ν φ_x/φ with φ = a + e^{-4π²νt} cos 2πx, an exact periodic Burgers solution."""
    e = math.exp(-4 * PI ** 2 * NU_CH * t)
    return 4 * PI * NU_CH * e * np.sin(2 * PI * x) / (A_CH + e * np.cos(2 * PI * x))


def burgers_errors(sizes=(32, 64, 128)) -> list[float]:
    """The Cole–Hopf solution from its prescribed initial state (RK4 in time: the error is
    the second-order spatial one)."""
    errors = []
    for n in sizes:
        p = make_problem("burgers", n, nu=NU_CH, t_final=0.2, n_out=2, n_modes=4)
        sol = p.prescribe(initial=cole_hopf).solve(np.zeros(p.parameter_space.dim))
        np.testing.assert_array_equal(sol.inputs["u0"], cole_hopf(p.grid.axes[0]))
        errors.append(max_error(sol.outputs["u"][-1], cole_hopf(p.grid.axes[0], 0.2)))
    return errors


def test_burgers_manufactured_second_order():
    sizes = (32, 64, 128)
    errors = burgers_errors(sizes)
    orders = np.log2(np.divide(errors[:-1], errors[1:]))   # h = 1/N on the periodic grid
    assert np.all(np.abs(orders - 2.0) < 0.2), (errors, orders)


def navier_stokes_errors(scheme: str, steps=(20, 40, 80)) -> list[float]:
    """w = a(t)(sin 2πx + cos 4πy), a = 2 cos t: u·∇w = 1.5 a² cos 2πx sin 4πy,
    f = w_t + u·∇w - νΔw (time dependent); the Fourier modes are resolved exactly,
    so the error is the scheme's time error."""
    nu, T = 1e-2, 0.5
    errors = []
    for m in steps:
        p = make_problem("navier_stokes", 16, nu=nu, dt=T / m, t_final=T, n_out=1,
                         scheme=scheme, n_modes=2)

        def forcing(x, y, t):
            a, da = 2 * math.cos(t), -2 * math.sin(t)
            phi = np.sin(2 * PI * x) + np.cos(4 * PI * y)
            lap = -4 * PI ** 2 * np.sin(2 * PI * x) - 16 * PI ** 2 * np.cos(4 * PI * y)
            return da * phi + 1.5 * a * a * np.cos(2 * PI * x) * np.sin(4 * PI * y) - nu * a * lap

        def w_exact(x, y, t=0.0):
            return 2 * math.cos(t) * (np.sin(2 * PI * x) + np.cos(4 * PI * y))

        sol = p.prescribe(source=forcing, initial=w_exact).solve(np.zeros(p.parameter_space.dim))
        X, Y = p.grid.mesh()
        errors.append(max_error(sol.outputs["w"][-1], w_exact(X, Y, T)))
    return errors


@pytest.mark.parametrize("scheme,order", [("fno", 1.0), ("cnab2", 2.0)])
def test_navier_stokes_manufactured_temporal_order(scheme, order):
    errors = navier_stokes_errors(scheme)
    orders = np.log2(np.divide(errors[:-1], errors[1:]))
    assert np.all(np.abs(orders - order) < 0.2), (errors, orders)


# -- the prescription interface --------------------------------------------------------

@pytest.mark.parametrize("name", ["darcy", "thermal_block", "helmholtz", "advection_diffusion",
                                  "heat", "burgers", "navier_stokes", "wave"])
def test_nothing_prescribed_is_bit_identical_and_prescribe_copies(name):
    p = make_problem(name, 17)
    mu = p.parameter_space.from_unit(np.full((1, p.parameter_space.dim), 0.4))[0]
    a, b = p.solve(mu), p.prescribe().solve(mu)
    for key in a.outputs:
        np.testing.assert_array_equal(a.outputs[key], b.outputs[key])
    assert p.prescribe().config() == p.config() and "prescribed" not in p.config()
    key = p.prescribable[0]
    q = p.prescribe(**{key: 0.5})
    assert p.prescribed == {} and q.prescribed == {key: 0.5}
    assert q.config()["prescribed"] == {key: {"value": 0.5}}
    assert problem_from_config(q.config()).prescribed == {key: 0.5}
    assert q.prescribe(**{key: None}).config() == p.config()


def test_prescribe_rejects_unknown_data_and_wrong_shapes():
    with pytest.raises(ValueError, match="burgers takes no prescribed source"):
        make_problem("burgers", 16).prescribe(source=1.0)
    with pytest.raises(ValueError, match="takes no prescribed dirichlet"):
        make_problem("wave", 16, bc="periodic").prescribe(dirichlet=1.0)
    with pytest.raises(ValueError, match="takes no prescribed impedance"):
        make_problem("helmholtz", 16).prescribe(impedance=1.0)
    with pytest.raises(ValueError, match=r"source has shape \(5, 5\), expected the grid shape \(9, 9\)"):
        make_problem("darcy", 9).prescribe(source=np.ones((5, 5)))
    p = make_problem("darcy", 9).prescribe(source=lambda x, y: np.ones(3))
    with pytest.raises(ValueError, match="prescribed source has shape"):
        p.assemble(np.zeros(p.parameter_space.dim))


def test_prescribed_arrays_from_files_are_recorded_by_path_and_hash(tmp_path):
    import h5py

    p = make_problem("darcy", 9, n_modes=2)
    X, Y = p.grid.mesh()
    np.savez(tmp_path / "f.npz", f=X * Y, g=1 + X)
    with h5py.File(tmp_path / "g.h5", "w") as f:
        f["data/g"] = 1 + X
    q = p.prescribe(source=f"{tmp_path / 'f.npz'}:f", dirichlet=f"{tmp_path / 'g.h5'}:data/g")
    mu = np.zeros(p.parameter_space.dim)
    u = q.solve(mu).outputs["u"]
    np.testing.assert_array_equal(u[0], 1 + X[0])
    rec = q.config()["prescribed"]
    assert rec["source"]["path"] == str(tmp_path / "f.npz") and rec["source"]["name"] == "f"
    assert len(rec["dirichlet"]["sha256"]) == 64
    np.testing.assert_array_equal(problem_from_config(q.config()).solve(mu).outputs["u"], u)
    with pytest.raises(ValueError, match="holds 2 arrays"):
        p.prescribe(source=str(tmp_path / "f.npz"))
    np.savez(tmp_path / "f.npz", f=2 * X * Y)          # the recorded file changed
    with pytest.raises(ValueError, match="has changed since it was recorded"):
        problem_from_config(q.config())
    with pytest.raises(ValueError, match="no array 'h'"):
        p.prescribe(source=f"{tmp_path / 'f.npz'}:h")
    with pytest.raises(OSError, match="not found"):
        p.prescribe(source=str(tmp_path / "missing.npz"))
    with pytest.raises(ValueError, match="given in Python"):
        problem_from_config(p.prescribe(source=X).config())
