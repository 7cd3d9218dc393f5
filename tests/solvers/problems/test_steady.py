"""Steady problems of the zoo: manufactured solutions (observed order 2), structure flags,
affine decomposition, agreement with scipy's sparse direct solver."""

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from solvers.problems import make_problem
from solvers.problems.grid import Grid

SIZES = (17, 33, 65)
PI = np.pi


def _orders(errors, sizes=SIZES):
    e, h = np.asarray(errors), 1.0 / (np.asarray(sizes) - 1.0)
    return np.log(e[:-1] / e[1:]) / np.log(h[:-1] / h[1:])


def _assert_second_order(errors, sizes=SIZES):
    orders = _orders(errors, sizes)
    assert np.all((orders > 1.8) & (orders < 2.2)), (errors, orders)


def _solve(system):
    return spla.spsolve(sp.csc_matrix(system.A), system.b)


def _mid(problem):
    space = problem.parameter_space
    return space.from_unit(np.full((1, space.dim), 0.37))[0]


# a smooth function vanishing on the boundary of the unit square and its derivatives
def _u(x, y):
    return np.sin(PI * x) * np.sin(2 * PI * y) * (1 + x)


def _u_derivatives(x, y):
    s, c = np.sin(PI * x), np.cos(PI * x)
    s2, c2 = np.sin(2 * PI * y), np.cos(2 * PI * y)
    ux = (PI * c * (1 + x) + s) * s2
    uy = 2 * PI * s * (1 + x) * c2
    uxx = (-PI ** 2 * s * (1 + x) + 2 * PI * c) * s2
    uyy = -4 * PI ** 2 * s * (1 + x) * s2
    return ux, uy, uxx, uyy


# -- Darcy ---------------------------------------------------------------------------

@pytest.mark.parametrize("scheme", ["conservative", "nonconservative"])
def test_darcy_manufactured_second_order(scheme):
    """Lognormal coefficient a = exp(g) (exact gradient from the KL series), f = -div(a grad u)."""
    errs = []
    for n in SIZES:
        p = make_problem("darcy", n, coefficient="lognormal", scheme=scheme, n_modes=3)
        mu = np.linspace(-1.0, 1.0, p.parameter_space.dim)
        g = Grid.uniform(n, 2)
        X, Y = g.mesh()
        a = np.exp(p.field.evaluate(mu, g))
        ax = a * p.field.evaluate(mu, g, derivative=0)
        ay = a * p.field.evaluate(mu, g, derivative=1)
        ux, uy, uxx, uyy = _u_derivatives(X, Y)
        f = -(a * (uxx + uyy) + ax * ux + ay * uy)
        u = _solve(p.prescribe(source=f).assemble(mu))
        errs.append(np.abs(p.to_fields(mu, u)["u"] - _u(X, Y)).max())
    _assert_second_order(errs)


def test_darcy_skr_scheme_is_the_laplacian_of_a_times_u_second_order():
    """SKR's generator matrix discretises -Δ(a u) = f: with w = a u = sin(πx)sin(2πy)(1+x)
    and f = -Δw, the computed u converges to w / a at second order."""
    errs = []
    for n in SIZES:
        p = make_problem("darcy", n, coefficient="lognormal", scheme="skr", n_modes=3)
        mu = np.linspace(-1.0, 1.0, p.parameter_space.dim)
        X, Y = Grid.uniform(n, 2).mesh()
        a = p.coefficient(mu)
        _, _, wxx, wyy = _u_derivatives(X, Y)
        system = p.prescribe(source=-(wxx + wyy)).assemble(mu)
        v = np.random.default_rng(n).standard_normal(system.b.shape)
        L = make_problem("darcy", n, coefficient="lognormal", scheme="conservative",
                         n_modes=3).operator(np.ones_like(a))
        np.testing.assert_allclose(system.A @ v, L @ (a[1:-1, 1:-1].ravel() * v), rtol=1e-12)
        u = _solve(system)
        errs.append(np.abs(p.to_fields(mu, u)["u"] - _u(X, Y) / a).max())
    _assert_second_order(errs)


def test_darcy_skr_scheme_right_jacobi_gives_one_operator_for_all_samples():
    p = make_problem("darcy", 14, coefficient="lognormal", scheme="skr", alpha=2.5, tau=7.0,
                     basis="fourier")
    mus = p.parameter_space.from_unit(np.random.default_rng(3).random((2, p.parameter_space.dim)))
    A0, A1 = (p.assemble(mu).A for mu in mus)
    assert abs(A0 - A1).max() > 1e-2 * abs(A0).max()  # different matrices ...
    P0, P1 = (A @ sp.diags(1.0 / A.diagonal()) for A in (A0, A1))
    assert abs(P0 - P1).max() < 1e-12  # ... one right-Jacobi-preconditioned operator
    assert not p.assemble(mus[0]).symmetric


@pytest.mark.parametrize("scheme", ["conservative", "nonconservative", "skr"])
@pytest.mark.parametrize("coefficient,face", [("lognormal", "arithmetic"),
                                              ("lognormal", "harmonic"),
                                              ("piecewise", "arithmetic")])
def test_darcy_single_entries_equal_the_assembled_matrix(scheme, coefficient, face):
    p = make_problem("darcy", 11, scheme=scheme, coefficient=coefficient, face=face, n_modes=4)
    mu = p.parameter_space.from_unit(np.random.default_rng(2).random((1, p.parameter_space.dim)))[0]
    s = p.assemble(mu)
    A = sp.csr_matrix(s.A)
    C = A.tocoo()
    rng = np.random.default_rng(0)
    rows = np.concatenate([C.row, rng.integers(0, A.shape[0], 50)])  # the pattern and
    cols = np.concatenate([C.col, rng.integers(0, A.shape[0], 50)])  # (mostly) zeros
    np.testing.assert_allclose(p.matrix_entries(mu, rows, cols), np.asarray(A[rows, cols]).ravel(),
                               rtol=0, atol=1e-13 * abs(A).max())
    idx = np.array([0, 7, A.shape[0] - 1])
    np.testing.assert_array_equal(p.rhs_entries(mu, idx), np.asarray(s.b)[idx])


def test_darcy_fourier_basis_gives_a_periodic_field():
    p = make_problem("darcy", 17, coefficient="lognormal", basis="fourier", n_modes=5)
    mu = p.parameter_space.from_unit(np.random.default_rng(4).random((1, p.parameter_space.dim)))[0]
    a = p.coefficient(mu)
    np.testing.assert_allclose(a[0], a[-1], rtol=1e-12)
    np.testing.assert_allclose(a[:, 0], a[:, -1], rtol=1e-12)
    with pytest.raises(ValueError, match="basis"):
        make_problem("darcy", 17, basis="legendre")


def test_darcy_conservative_is_spd_and_nonconservative_is_not_symmetric():
    p = make_problem("darcy", 12, n_modes=4)
    mu = p.parameter_space.from_unit(np.random.default_rng(0).random((1, 15)))[0]
    s = p.assemble(mu)
    assert s.symmetric and s.spd
    assert abs(s.A - s.A.T).max() == 0
    np.linalg.cholesky(s.A.toarray())  # raises if not positive definite
    q = make_problem("darcy", 12, n_modes=4, scheme="nonconservative").assemble(mu)
    assert not q.symmetric and not q.spd
    assert abs(q.A - q.A.T).max() > 1e-3 * abs(q.A).max()


def test_darcy_piecewise_is_the_fno_distribution_and_solves():
    p = make_problem("darcy", 29)
    mu = p.parameter_space.from_unit(np.random.default_rng(1).random((1, p.parameter_space.dim)))[0]
    assert p.parameter_space.dim == 16 * 16 - 1
    a = p.input_fields(mu)["a"]
    assert set(np.unique(a)) <= {3.0, 12.0} and len(np.unique(a)) == 2
    sol = p.solve(mu)
    u = sol.outputs["u"]
    assert u.shape == (29, 29) and np.all(u[0] == 0) and np.all(u[:, -1] == 0)
    assert np.all(u[1:-1, 1:-1] > 0)  # M-matrix, f = 1 > 0: discrete maximum principle
    np.testing.assert_allclose(u[1:-1, 1:-1].ravel(), _solve(p.assemble(mu)), rtol=1e-10)
    # the coefficient is the same function at a finer resolution
    fine = make_problem("darcy", 57).input_fields(mu)["a"]
    np.testing.assert_array_equal(fine[::2, ::2], a)


def test_darcy_257_assembles_and_rejects_bad_options():
    p = make_problem("darcy", 257)
    mu = np.zeros(p.parameter_space.dim)
    mu[1] = 1.0
    s = p.assemble(mu)
    assert s.A.shape == (255 ** 2, 255 ** 2)
    with pytest.raises(ValueError, match="unknown coefficient"):
        make_problem("darcy", 9, coefficient="binary")
    with pytest.raises(ValueError, match="unknown option"):
        make_problem("darcy", 9, kappa=1)


# -- advection-diffusion: affine decomposition ----------------------------------------------

@pytest.mark.parametrize("lifted", [False, True])
def test_advection_diffusion_affine_decomposition_equals_assembly(lifted):
    p = make_problem("advection_diffusion", 11, eps_min=1e-3)
    if lifted:
        X, Y = p.grid.mesh()
        p = p.prescribe(dirichlet=np.sin(3 * X) + Y ** 2)
    ad = p.affine_decomposition()
    mus = p.parameter_space.from_unit(np.random.default_rng(0).random((4, 3)))
    for mu in mus:
        A, f = ad.assemble(mu)
        s = p.assemble(mu)
        assert abs(A - s.A).max() <= 1e-13 * abs(s.A).max()
        np.testing.assert_allclose(f, s.b, rtol=1e-13, atol=1e-13 * np.abs(s.b).max())
    assert ad.theta_A(mus).shape == (4, 4) and ad.theta_f(mus).shape == (4, 4 if lifted else 1)


def test_advection_diffusion_min_theta_bound_is_the_coercivity_constant():
    """alpha(mu) = inf x^T A x / x^T X x with X = A(mu_ref) = eps_max L: min-theta gives
    eps / eps_max, which is exact (the skew terms vanish in x^T A x)."""
    from rom.coercivity import MinTheta

    p = make_problem("advection_diffusion", 8, eps_min=1e-2)
    ad = p.affine_decomposition()
    ref = ad.min_theta_ref
    X = ad.assemble(ref)[0].toarray()
    assert np.allclose(X, X.T)                                   # X = eps_max L, symmetric
    bound = MinTheta(ad.theta_A(ref), 1.0)
    for mu in p.parameter_space.from_unit(np.random.default_rng(1).random((5, 3))):
        A = ad.assemble(mu)[0].toarray()
        sym = 0.5 * (A + A.T)
        alpha = float(np.min(np.real(np.linalg.eigvals(np.linalg.solve(X, sym)))))
        lb = float(bound(ad.theta_A(mu)[None])[0])
        assert 0 < lb <= alpha * (1 + 1e-10) and lb == pytest.approx(mu[0] / ref[0], rel=1e-12)
    with pytest.raises(ValueError, match="eps > 0"):
        ad.theta_A(np.array([0.0, 0.5, 1.0]))


# -- thermal block -----------------------------------------------------------------------

def test_thermal_block_affine_decomposition_equals_assembly():
    p = make_problem("thermal_block", 13, blocks_x=3, blocks_y=2)
    ad = p.affine_decomposition()
    assert len(ad.A_terms) == 6 and ad.min_theta_ref is not None
    assert np.allclose(ad.min_theta_ref, np.sqrt(0.1))
    rng = np.random.default_rng(0)
    for mu in p.parameter_space.from_unit(rng.random((3, 6))):
        A, f = ad.assemble(mu)
        s = p.assemble(mu)
        assert abs(A - s.A).max() <= 1e-13 * abs(s.A).max()
        np.testing.assert_allclose(f, s.b, rtol=1e-15)
    # the blocks partition the domain: sum of A_q is the Poisson operator
    poisson = make_problem("thermal_block", 13, blocks_x=1, blocks_y=1).assemble([1.0]).A
    assert abs(sum(ad.A_terms) - poisson).max() < 1e-9
    for Aq in ad.A_terms:  # each term symmetric positive semi-definite
        assert abs(Aq - Aq.T).max() == 0
        assert np.linalg.eigvalsh(Aq.toarray()).min() > -1e-9


def test_thermal_block_is_spd():
    p = make_problem("thermal_block", 17)
    s = p.assemble(np.array([0.1, 1.0, 0.5, 0.2]))
    assert s.symmetric and s.spd and abs(s.A - s.A.T).max() == 0
    np.linalg.cholesky(s.A.toarray())


@pytest.mark.parametrize("direction", [0, 1])
def test_thermal_block_layered_manufactured_second_order(direction):
    """mu depends on x (or y) only: u = sin(2 pi x) sin(pi y) / mu(x) has continuous flux,
    and -div(mu grad u) = 5 pi^2 sin(2 pi x) sin(pi y) in every block."""
    mu = np.array([0.2, 1.0, 0.2, 1.0]) if direction == 0 else np.array([0.2, 0.2, 1.0, 1.0])
    errs = []
    for n in SIZES:
        p = make_problem("thermal_block", n)
        X, Y = p.grid.mesh()
        s_, t_ = (X, Y) if direction == 0 else (Y, X)
        ue = np.sin(2 * PI * s_) * np.sin(PI * t_) / np.where(s_ < 0.5, 0.2, 1.0)
        f = 5 * PI ** 2 * np.sin(2 * PI * s_) * np.sin(PI * t_)
        u = _solve(p.prescribe(source=f).assemble(mu))
        errs.append(np.abs(p.to_fields(mu, u)["u"] - ue).max())
    _assert_second_order(errs)


def test_thermal_block_conductivity_field_and_solve():
    p = make_problem("thermal_block", 9)
    mu = np.array([0.3, 0.7, 0.2, 0.9])
    m = p.input_fields(mu)["mu_field"]
    assert m[1, 1] == 0.3 and m[7, 1] == 0.7 and m[1, 7] == 0.2 and m[7, 7] == 0.9
    assert m[4, 4] == pytest.approx(np.mean(mu))
    sol = p.solve(mu)
    np.testing.assert_allclose(sol.outputs["u"][1:-1, 1:-1].ravel(), _solve(p.assemble(mu)),
                               rtol=1e-10)


# -- Helmholtz ---------------------------------------------------------------------------

def test_helmholtz_dirichlet_manufactured_second_order_and_indefinite():
    mu = np.array([12.0, 0.3, 0.4, 0.6])
    errs = []
    for n in (33, 65, 129):  # k h < 0.4: past the pre-asymptotic (pollution) range
        p = make_problem("helmholtz", n)
        X, Y = p.grid.mesh()
        _, _, uxx, uyy = _u_derivatives(X, Y)
        f = -(uxx + uyy) - p.wavenumber(mu) ** 2 * _u(X, Y)
        u = _solve(p.prescribe(source=f).assemble(mu))
        errs.append(np.abs(p.to_fields(mu, u)["u"] - _u(X, Y)).max())
    _assert_second_order(errs, (33, 65, 129))
    s = make_problem("helmholtz", 17).assemble(mu)
    assert s.symmetric and not s.spd and abs(s.A - s.A.T).max() == 0
    ev = np.linalg.eigvalsh(s.A.toarray())
    assert ev.min() < 0 < ev.max()


def test_helmholtz_impedance_manufactured_second_order():
    """Plane wave u = exp(i(p x + q y)) in the heterogeneous medium with impedance data
    g = du/dn - i k u on each side; f = (p^2 + q^2 - k^2) u."""
    mu = np.array([12.0, 0.3, 0.4, 0.6])
    P, Q = 7.0, -9.0
    errs = []
    for n in (33, 65, 129):
        p = make_problem("helmholtz", n, bc="impedance")
        X, Y = p.grid.mesh()
        k = p.wavenumber(mu)
        ue = np.exp(1j * (P * X + Q * Y))

        def k_at(x, y):
            w = 0.15  # the default medium_width
            return mu[0] * np.sqrt(1 + mu[1] * np.exp(-((x - .5) ** 2 + (y - .5) ** 2) / (2 * w * w)))

        def g(x, y, nx, ny):
            u = np.exp(1j * (P * x + Q * y))
            return 1j * (P * nx + Q * ny) * u - 1j * k_at(x, y) * u

        q = p.prescribe(source=(P * P + Q * Q - k ** 2) * ue, impedance=g)
        s = q.assemble_complex(mu)
        z = _solve(s)
        U = p.to_fields(mu, z)["u"]
        errs.append(np.abs(U[..., 0] + 1j * U[..., 1] - ue).max())
        # the real block form has the same solution
        r = q.assemble(mu)
        np.testing.assert_allclose(p.to_fields(mu, _solve(r))["u"], U, atol=1e-10)
    _assert_second_order(errs, (33, 65, 129))


def test_helmholtz_impedance_is_complex_symmetric_and_solves():
    p = make_problem("helmholtz", 21, bc="impedance")
    mu = _mid(p)
    s = p.assemble_complex(mu)
    assert s.symmetric and not s.spd and np.iscomplexobj(s.A.data)
    assert abs(s.A - s.A.T).max() == 0 and abs(s.A.imag).max() > 0
    sol = p.solve(mu)  # through the default (real) direct sequence solver
    u = sol.outputs["u"]
    assert u.shape == (21, 21, 2) and np.abs(u[..., 1]).max() > 0
    z = _solve(s)
    np.testing.assert_allclose(u[..., 0] + 1j * u[..., 1], z.reshape(21, 21), atol=1e-10)
    assert set(sol.inputs) == {"k", "f"}


# -- advection-diffusion -----------------------------------------------------------------

def test_advection_diffusion_structure_and_peclet():
    p = make_problem("advection_diffusion", 17)
    s = p.assemble(np.array([0.02, 1.0, 0.3]))
    assert not s.symmetric and not s.spd and abs(s.A - s.A.T).max() > 0
    sym = (s.A + s.A.T) / 2  # positive real: the symmetric part is eps * (-Δ_h), SPD
    np.linalg.cholesky(sym.toarray())
    assert s.meta["cell_peclet"] == pytest.approx(np.cos(0.3) / 16 / 0.04)
    # Pe_h > 1 here: a positive off-diagonal entry (not an M-matrix) ...
    off = s.A - sp.diags(s.A.diagonal())
    assert s.meta["cell_peclet"] > 1 and off.max() > 0
    # ... and Pe_h <= 1: an M-matrix
    t = p.assemble(np.array([0.5, 1.0, 0.3]))
    assert t.meta["cell_peclet"] <= 1 and (t.A - sp.diags(t.A.diagonal())).max() <= 0
    # no wind: symmetric positive definite, flagged
    z = p.assemble(np.array([0.5, 0.0, 0.3]))
    assert z.symmetric and z.spd and abs(z.A - z.A.T).max() == 0


@pytest.mark.parametrize("name", ["darcy", "thermal_block", "helmholtz", "advection_diffusion"])
def test_solve_matches_spsolve_and_fields_have_grid_shape(name):
    p = make_problem(name, 15)
    mu = _mid(p)
    sol = p.solve(mu)
    assert set(sol.inputs) == set(p.input_names) and set(sol.outputs) == set(p.output_names)
    for f in (*sol.inputs.values(), *sol.outputs.values()):
        assert f.shape[:2] == p.grid.shape
    x = _solve(p.assemble(mu))
    np.testing.assert_allclose(sol.outputs["u"], p.to_fields(mu, x)["u"], rtol=1e-9, atol=1e-14)
    assert sol.stats[0]["residual"] < 1e-10
    rebuilt = make_problem(**{"name": p.config()["problem"], "resolution": p.config()["resolution"]},
                           **p.config()["options"])
    np.testing.assert_array_equal(rebuilt.assemble(mu).b, p.assemble(mu).b)


def test_bad_parameter_vectors_are_rejected():
    with pytest.raises(ValueError, match="expected 4 conductivities"):
        make_problem("thermal_block", 9).assemble(np.ones(3))
    with pytest.raises(ValueError, match="expected 4 parameters"):
        make_problem("helmholtz", 9).assemble(np.ones(2))
    with pytest.raises(ValueError, match="eps must be positive"):
        make_problem("advection_diffusion", 9).assemble(np.array([0.0, 1.0, 0.0]))
    with pytest.raises(ValueError, match="KL coefficients"):
        make_problem("darcy", 9, n_modes=2).assemble(np.ones(5))
