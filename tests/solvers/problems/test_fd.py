"""Finite-difference operators: exactness, symmetry and observed second-order convergence."""

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from solvers.problems import fd
from solvers.problems.grid import Grid


def _order(errors, sizes):
    """Observed orders log(e_i/e_{i+1}) / log(h_i/h_{i+1})."""
    e, h = np.asarray(errors), 1.0 / (np.asarray(sizes) - 1.0)
    return np.log(e[:-1] / e[1:]) / np.log(h[:-1] / h[1:])


def test_1d_dirichlet_is_the_tridiagonal_matrix():
    g = Grid.uniform(6, ndim=1)
    A = fd.diffusion_operator(g).toarray()
    T = (np.diag(2 * np.ones(4)) - np.diag(np.ones(3), 1) - np.diag(np.ones(3), -1)) * 25
    np.testing.assert_allclose(A, T)
    np.testing.assert_allclose(fd.laplacian(g).toarray(), -T)


@pytest.mark.parametrize("ndim", [2, 3])
def test_constant_coefficient_is_kronecker_sum(ndim):
    n = 6
    T = fd.diffusion_operator(Grid.uniform(n, ndim=1))
    I = sp.identity(n - 2)
    if ndim == 2:
        K = sp.kron(T, I) + sp.kron(I, T)
    else:
        K = sp.kron(sp.kron(T, I), I) + sp.kron(sp.kron(I, T), I) + sp.kron(sp.kron(I, I), T)
    A = fd.diffusion_operator(Grid.uniform(n, ndim=ndim), 1.0)
    assert abs(A - K).max() < 1e-9


@pytest.mark.parametrize("face", ["arithmetic", "harmonic"])
def test_variable_coefficient_manufactured_second_order(face):
    """-div(a grad u) = f with u = sin(pi x) sin(2 pi y) x, a = 1 + x^2 + y/2: order 2 in max norm."""
    def u_ex(x, y):
        return np.sin(np.pi * x) * np.sin(2 * np.pi * y) * (1 + x)

    def f_ex(x, y):
        a, ax, ay = 1 + x ** 2 + 0.5 * y, 2 * x, 0.5
        s, c = np.sin(np.pi * x), np.cos(np.pi * x)
        s2, c2 = np.sin(2 * np.pi * y), np.cos(2 * np.pi * y)
        ux = (np.pi * c * (1 + x) + s) * s2
        uy = 2 * np.pi * s * (1 + x) * c2
        uxx = (-np.pi ** 2 * s * (1 + x) + 2 * np.pi * c) * s2
        uyy = -4 * np.pi ** 2 * s * (1 + x) * s2
        return -(a * (uxx + uyy) + ax * ux + ay * uy)

    errs, sizes = [], [17, 33, 65]
    for n in sizes:
        g = Grid.uniform(n, 2)
        X, Y = g.mesh()
        A = fd.diffusion_operator(g, 1 + X ** 2 + 0.5 * Y, face=face)
        u = spla.spsolve(A.tocsc(), fd.full_to_interior(g, f_ex(X, Y)))
        errs.append(np.abs(u - fd.full_to_interior(g, u_ex(X, Y))).max())
    assert np.all((_order(errs, sizes) > 1.8) & (_order(errs, sizes) < 2.2)), errs


def test_3d_poisson_second_order():
    errs, sizes = [], [9, 17, 33]
    for n in sizes:
        g = Grid.uniform(n, 3)
        X, Y, Z = g.mesh()
        ue = np.sin(np.pi * X) * np.sin(np.pi * Y) * np.sin(np.pi * Z)
        A = fd.diffusion_operator(g)
        u, info = spla.cg(A, fd.full_to_interior(g, 3 * np.pi ** 2 * ue), rtol=1e-12, maxiter=2000)
        assert info == 0
        errs.append(np.abs(u - fd.full_to_interior(g, ue)).max())
    assert np.all((_order(errs, sizes) > 1.8) & (_order(errs, sizes) < 2.2)), errs


def test_periodic_operator_annihilates_constants_and_converges():
    errs, sizes = [], [16, 32, 64]
    for n in sizes:
        g = Grid.uniform(n, 2, periodic=True)
        X, Y = g.mesh()
        A = fd.diffusion_operator(g, bc="periodic")
        assert A.shape == (n * n, n * n)
        assert abs(A @ np.ones(n * n)).max() < 1e-9
        ue = np.sin(2 * np.pi * X) * np.cos(4 * np.pi * Y)
        errs.append(np.abs(A @ ue.ravel() - 20 * np.pi ** 2 * ue.ravel()).max() / (20 * np.pi ** 2))
    orders = np.log(np.array(errs[:-1]) / errs[1:]) / np.log(2)
    assert np.all((orders > 1.8) & (orders < 2.2)), errs


def test_neumann_is_weighted_ghost_point_scheme_and_symmetric():
    g = Grid.uniform(5, 2)
    K = fd.diffusion_operator(g, bc="neumann")
    assert abs(K - K.T).max() < 1e-12
    assert abs(K @ np.ones(25)).max() < 1e-9
    W = fd.node_weights(g, "neumann")
    G = sp.diags(1 / W) @ K  # the ghost-point equations
    # row of the corner node 0: (2u0 - 2u_x1)/h^2 + (2u0 - 2u_y1)/h^2
    h2 = 0.25 ** 2
    row = G.toarray()[0]
    assert row[0] == pytest.approx(4 / h2) and row[5] == pytest.approx(-2 / h2)
    assert row[1] == pytest.approx(-2 / h2)


def test_neumann_manufactured_second_order():
    """-u'' + u = f, u'(0)=u'(1)=0 with u = cos(pi x) (1 + 0 x): order 2."""
    errs, sizes = [], [17, 33, 65]
    for n in sizes:
        g = Grid.uniform(n, 1)
        x = g.axes[0]
        W = fd.node_weights(g, "neumann")
        A = fd.diffusion_operator(g, bc="neumann") + sp.diags(W)
        ue = np.cos(np.pi * x) + np.cos(2 * np.pi * x)
        f = (np.pi ** 2 + 1) * np.cos(np.pi * x) + (4 * np.pi ** 2 + 1) * np.cos(2 * np.pi * x)
        u = spla.spsolve(A.tocsc(), W * f)
        errs.append(np.abs(u - ue).max())
    assert np.all((_order(errs, sizes) > 1.8) & (_order(errs, sizes) < 2.2)), errs


def test_gradient_and_convection_second_order_and_skew():
    errs, sizes = [], [17, 33, 65]
    for n in sizes:
        g = Grid.uniform(n, 2)
        X, Y = g.mesh()
        ue = np.sin(np.pi * X) * np.sin(np.pi * Y) * np.exp(X)
        b = (1.0 + Y, -0.5)
        C = fd.convection_operator(g, b)
        exact = (b[0] * np.pi * np.cos(np.pi * X) * np.sin(np.pi * Y) * np.exp(X) + b[0] * ue
                 + b[1] * np.pi * np.sin(np.pi * X) * np.cos(np.pi * Y) * np.exp(X))
        errs.append(np.abs(C @ fd.full_to_interior(g, ue) - fd.full_to_interior(g, exact)).max())
    assert np.all((_order(errs, sizes) > 1.8) & (_order(errs, sizes) < 2.2)), errs
    D = fd.gradient_operator(Grid.uniform(9, 2), 1)
    assert abs(D + D.T).max() < 1e-12


def test_restrict_handles_nonzero_dirichlet_data_exactly_for_quadratics():
    """u = x^2 + 2y^2 (Δu = 6): the 5-point scheme is exact for quadratics."""
    g = Grid.uniform(9, 2)
    X, Y = g.mesh()
    ue = X ** 2 + 2 * Y ** 2
    A_ii, A_ib = fd.restrict(g)
    mask = fd.interior_mask(g).ravel()
    gb = np.where(mask, 0.0, ue.ravel())
    u = spla.spsolve(A_ii.tocsc(), -6.0 * np.ones(A_ii.shape[0]) - A_ib @ gb)
    np.testing.assert_allclose(u, ue.ravel()[mask], atol=1e-11)


def test_interior_full_round_trip_and_channels():
    g = Grid.uniform(6, 2)
    x = np.arange(16.0)
    full = fd.interior_to_full(g, x, boundary_value=-1.0)
    assert full.shape == (6, 6) and full[0, 0] == -1 and full[1, 1] == 0
    np.testing.assert_array_equal(fd.full_to_interior(g, full), x)
    two = fd.interior_to_full(g, np.stack([x, 2 * x], axis=1))
    assert two.shape == (6, 6, 2)


def test_face_operator_matches_nodal_arithmetic():
    g = Grid.uniform(7, 2)
    a = np.random.default_rng(0).uniform(1, 2, g.shape)
    faces = fd.nodal_face_coefficients(g, a)
    assert abs(fd.diffusion_operator_faces(g, faces) - fd.diffusion_operator(g, a)).max() < 1e-9
    assert faces[0].shape == fd.face_shape(g, 0) == fd.face_centres(g, 0)[0].shape


def test_vectorised_assembly_at_257():
    """Structure of a large operator (its speed is measured in benchmarks/steady_problems.py)."""
    g = Grid.uniform(257, 2)
    a = np.random.default_rng(1).uniform(1, 2, g.shape)
    A = fd.diffusion_operator(g, a)
    assert A.shape == (255 ** 2, 255 ** 2) and A.nnz == 5 * 255 ** 2 - 4 * 255


@pytest.mark.parametrize("bad, msg", [
    (dict(bc="robin"), "unknown boundary condition"),
    (dict(bc="periodic"), "does not match the grid"),
    (dict(face="geometric"), "unknown face average"),
    (dict(coeff=np.ones((3, 3))), "coeff has shape"),
])
def test_bad_input_clear_errors(bad, msg):
    with pytest.raises(ValueError, match=msg):
        fd.diffusion_operator(Grid.uniform(5, 2), **bad)


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_banded_assembly_equals_the_coo_graph_laplacian(ndim):
    """The diagonal-by-diagonal build agrees with the edge-list (COO) build for every
    combination of boundary conditions, on non-square grids with random face values."""
    import itertools

    rng = np.random.default_rng(ndim)
    for kinds in itertools.product(["dirichlet", "periodic", "neumann"], repeat=ndim):
        axes = tuple(np.linspace(0, 1, 4 + d, endpoint=k != "periodic") for d, k in enumerate(kinds))
        g = Grid(axes, tuple(k == "periodic" for k in kinds))
        faces = [rng.random(fd.face_shape(g, d, kinds)) for d in range(ndim)]
        A = fd.diffusion_operator_faces(g, faces, kinds)
        B = fd._to_unknowns(g, kinds, *fd._diffusion_triples(g, faces, kinds))
        assert A.shape == B.shape and abs(A - B).max() < 1e-10, kinds
