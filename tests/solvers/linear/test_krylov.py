"""CG / GMRES / deflated CG / preconditioners against direct solves and exactness properties."""

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from solvers.linear.deflated_cg import DeflationSpace, deflated_cg
from solvers.linear.krylov import cg, gmres
from solvers.linear.precond import (
    IC0,
    PrecondReuse,
    ic0_factor,
    ic0_sequential,
    make_precond,
    register_precond_loader,
)
from tests.helpers.matrices import convection_diffusion, laplacian, rhs


def check_solution(A, b, x, st, rtol=1e-8):
    assert st.converged and st.status == "converged"
    r = np.linalg.norm(b - A @ x) / np.linalg.norm(b)
    assert r <= rtol and abs(r - st.residual) <= 1e-12 + 1e-6 * r
    xd = spla.spsolve(A.tocsc(), b)
    assert np.linalg.norm(x - xd) <= 1e-4 * np.linalg.norm(xd)


@pytest.mark.parametrize("precond", ["none", "jacobi", "ssor", "ic0", "amg"])
def test_cg_spd_matches_direct(precond):
    A = laplacian(20)
    b = rhs(A.shape[0])
    x, st = cg(A, b, M=make_precond(precond, A))
    check_solution(A, b, x, st)


@pytest.mark.parametrize("precond", ["none", "jacobi", "ilu"])
def test_gmres_nonsymmetric_matches_direct(precond):
    A = convection_diffusion(20)
    b = rhs(A.shape[0])
    x, st = gmres(A, b, restart=30, M=make_precond(precond, A))
    check_solution(A, b, x, st)


def test_gmres_indefinite_and_complex_symmetric():
    A = laplacian(16, shift=-300.0)  # indefinite
    b = rhs(A.shape[0])
    x, st = gmres(A, b, M=make_precond("ilu", A))
    check_solution(A, b, x, st)
    H = (laplacian(16) - 400.0 * sp.identity(256) + 40j * sp.identity(256)).tocsr()
    assert abs(H - H.T).max() == 0  # complex symmetric, not Hermitian
    bc = rhs(256, dtype=complex)
    x, st = gmres(H, bc, restart=60)
    check_solution(H, bc, x, st)
    assert np.iscomplexobj(x)


def test_cg_complex_hermitian():
    A = laplacian(12).astype(complex)
    A = (A + 1j * (sp.triu(A, 1) * 0.1) - 1j * (sp.tril(A, -1) * 0.1)).tocsr()
    assert abs(A - A.conj().T).max() < 1e-12
    b = rhs(144, dtype=complex)
    x, st = cg(A, b)
    check_solution(A, b, x, st)


def test_unconverged_never_reported_converged():
    A = laplacian(20)
    b = rhs(A.shape[0])
    for fn in (cg, gmres):
        x, st = fn(A, b, maxiter=5)
        assert not st.converged and st.status in ("maxiter", "stagnation")
        assert st.residual > 1e-8
    S = sp.csr_matrix(np.diag([1.0, 1.0, 0.0]))  # singular, inconsistent right-hand side
    x, st = gmres(S, np.ones(3))
    assert not st.converged
    x, st = cg(S + sp.csr_matrix(np.diag([0, 0, -1.0])), np.ones(3))  # indefinite: CG breaks down
    assert not st.converged


def test_bad_input_raises_clear_errors():
    A = laplacian(4)
    with pytest.raises(ValueError, match="square"):
        cg(sp.csr_matrix(np.ones((3, 4))), np.ones(3))
    with pytest.raises(ValueError, match="rows"):
        gmres(A, np.ones(5))
    bad = A.copy()
    bad.data[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        cg(bad, np.ones(16))
    with pytest.raises(ValueError, match="NaN"):
        gmres(A, np.full(16, np.inf))


def test_zero_rhs_gives_zero():
    A = laplacian(4)
    x, st = gmres(A, np.zeros(16))
    assert st.converged and np.all(x == 0)


def test_ic0_matches_matrix_on_its_pattern_and_is_exact_without_fill():
    A = laplacian(10, shift=3.0)
    L = ic0_factor(A)
    P = (L @ L.T).tocsr()
    mask = sp.tril(A) != 0
    assert abs((P - A).multiply(mask)).max() <= 1e-8 * abs(A).max()
    assert sp.tril(L, -1).nnz + L.shape[0] == sp.tril(A).nnz  # no fill
    # tridiagonal: no fill, so IC(0) is the exact Cholesky factor and PCG takes one step
    T = sp.diags([-1.0, 2.5, -1.0], [-1, 0, 1], shape=(50, 50)).tocsr()
    x, st = cg(T, rhs(50), M=IC0(T))
    assert st.converged and st.iterations == 1


def anisotropic(n, eps):
    T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n))
    return (eps * sp.kron(T, sp.identity(n)) + sp.kron(sp.identity(n), T)).tocsr()


@pytest.mark.parametrize("eps", [1e-3, 1e-6])
def test_ic0_is_the_exact_factor_on_an_anisotropic_matrix(eps):
    """The fixed-point sweeps converge one grid line per sweep here (issue 15, item 5):
    30 of them left ``(L L^T - A)`` at 1.5e-3 on the pattern; the factor is now exact."""
    A = anisotropic(64, eps)
    L = ic0_factor(A)
    mask = sp.tril(A) != 0
    assert abs((L @ L.T - A).multiply(mask)).max() <= 1e-12 * abs(A).max()
    M = IC0(A)
    assert M.info == {"sweeps": 30, "method": "sequential"}
    assert abs(M.L - L).max() == 0
    # where the sweeps converge they are used, and agree with the sequential factor
    B = laplacian(10, shift=3.0)
    assert IC0(B).info["method"] == "sweeps"
    assert abs(ic0_factor(B) - ic0_sequential(B)).max() <= 1e-9 * abs(B).max()


def test_ic0_complex_hermitian_sequential_matches_sweeps():
    A = laplacian(8).astype(complex)
    A = (A + 1j * (sp.triu(A, 1) * 0.1) - 1j * (sp.tril(A, -1) * 0.1)).tocsr()
    L = ic0_sequential(A)
    mask = sp.tril(A) != 0
    assert abs((L @ L.conj().T - A).multiply(mask)).max() <= 1e-12 * abs(A).max()


def test_ic0_rejects_non_spd():
    with pytest.raises(ValueError, match="IC\\(0\\)"):
        ic0_factor(laplacian(6, shift=-1e6))
    A = laplacian(6, shift=-200.0)  # positive diagonal, indefinite
    with pytest.raises(ValueError, match="IC\\(0\\)"):
        ic0_sequential(A)


def test_precond_names_and_learned_hook():
    A = laplacian(6)
    with pytest.raises(ValueError, match="unknown preconditioner"):
        make_precond("bogus", A)
    with pytest.raises(ValueError, match="no preconditioner loader"):
        make_precond("nothere:x", A)
    seen = {}

    def loader(path, mat):
        seen["path"] = path
        return make_precond("jacobi", mat)

    register_precond_loader("testlearned", loader)
    M = make_precond("testlearned:/some/model", A)
    b = rhs(36)
    assert seen["path"] == "/some/model"
    assert np.allclose(M.apply(b), b / A.diagonal())
    x, st = cg(A, b, M=M)
    assert st.converged


def test_block_application_matches_columns():
    A = laplacian(8)
    B = np.random.default_rng(1).standard_normal((64, 3))
    for name in ("jacobi", "ssor", "ic0", "ilu", "amg"):
        M = make_precond(name, A)
        blk = M.apply(B)
        cols = np.stack([M.apply(B[:, j]) for j in range(3)], axis=1)
        assert np.allclose(blk, cols), name


def test_precond_reuse_rebuilds_when_iterations_grow():
    A1, A2 = laplacian(8), laplacian(8, shift=5.0)
    pr = PrecondReuse("jacobi", rebuild_factor=2.0)
    M1 = pr.get(A1)
    pr.record(10)
    assert pr.get(A2) is M1  # reused on a new matrix
    pr.record(15)
    assert pr.get(A2) is M1
    pr.record(25)  # grew by more than 2x: rebuild next time
    assert pr.get(A2) is not M1 and pr.builds == 2


def test_deflated_cg_matches_direct_and_reduces_iterations():
    base = laplacian(24)
    space = DeflationSpace()
    its_def, its_cg = [], []
    for i in range(5):
        A = (base + (1.0 + 0.05 * i) * sp.identity(base.shape[0])).tocsr()
        b = rhs(A.shape[0], seed=i)
        x, st = deflated_cg(A, b, k=8, space=space)
        check_solution(A, b, x, st)
        its_def.append(st.iterations)
        its_cg.append(cg(A, b)[1].iterations)
    assert space.dim == 8
    assert its_def[0] == its_cg[0]  # empty space: plain CG
    assert sum(its_def[2:]) < 0.8 * sum(its_cg[2:])


def test_deflated_cg_complex_hermitian_sequence():
    """Hermitian (not real-symmetric) systems: the deflation uses E^{-T} correctly."""
    n = 20
    base = laplacian(n).astype(complex)
    rng = np.random.default_rng(5)
    skew = sp.random(n * n, n * n, density=2.0 / (n * n), random_state=6) * 0.3j
    herm = (skew + skew.conj().T).tocsr()  # Hermitian, purely imaginary entries
    space = DeflationSpace()
    its_def, its_cg = [], []
    for i in range(4):
        A = (base + herm + (1.0 + 0.05 * i) * sp.identity(n * n)).tocsr()
        b = rng.standard_normal(n * n) + 1j * rng.standard_normal(n * n)
        x, st = deflated_cg(A, b, k=6, space=space)
        check_solution(A, b, x, st)
        its_def.append(st.iterations)
        its_cg.append(cg(A, b)[1].iterations)
    assert space.dim == 6 and np.iscomplexobj(space.W)
    assert sum(its_def[1:]) < 0.9 * sum(its_cg[1:])
    # with any (here random complex) deflation basis W every residual stays
    # orthogonal to W (Saad et al. 2000), which needs the projection E^{-T} exactly
    W = rng.standard_normal((4, n * n)) + 1j * rng.standard_normal((4, n * n))
    b = rng.standard_normal(n * n) + 1j * rng.standard_normal(n * n)
    seen = []
    x, st = deflated_cg(A, b, k=4, space=DeflationSpace(W=W),
                        callback=lambda xk: seen.append(np.abs(W.conj() @ (b - A @ xk)).max()))
    check_solution(A, b, x, st)
    assert len(seen) > 10 and max(seen) < 1e-9 * np.linalg.norm(b)


def test_precond_reuse_rebuilds_on_large_matrix_change():
    A = laplacian(8)
    pr = PrecondReuse("jacobi", rebuild_change=0.05)
    M = pr.get(A)
    assert pr.get((A * 1.01).tocsr()) is M  # 1% change: kept
    assert pr.get((A * 2.0).tocsr()) is not M and pr.builds == 2  # 100% change: rebuilt
