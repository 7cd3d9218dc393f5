"""GCRO-DR: reduction to GMRES(m), agreement with direct solves, recycling savings."""

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from solvers.linear.gcrodr import RecycleSpace, gcrodr
from solvers.linear.krylov import gmres
from solvers.linear.precond import make_precond
from tests.helpers.matrices import convection_diffusion, laplacian, rhs


def test_k0_reproduces_gmres():
    A = convection_diffusion(20)
    b = rhs(A.shape[0])
    xg, sg = gmres(A, b, restart=25)
    xr, sr = gcrodr(A, b, m=25, k=0)
    assert sr.converged and sg.converged
    assert sr.iterations == sg.iterations
    assert np.linalg.norm(xr - xg) <= 1e-6 * np.linalg.norm(xg)
    # same iterates cycle by cycle: compare after two cycles exactly
    xg2, _ = gmres(A, b, restart=25, maxiter=50)
    xr2, _ = gcrodr(A, b, m=25, k=0, maxiter=50)
    assert np.linalg.norm(xr2 - xg2) <= 1e-8 * np.linalg.norm(xg2)


def test_gcrodr_matches_direct_on_three_kinds():
    cases = [laplacian(16), convection_diffusion(16), laplacian(16, shift=-200.0)]
    for A in cases:
        b = rhs(A.shape[0])
        x, st = gcrodr(A, b, m=30, k=10)
        assert st.converged and st.residual <= 1e-8
        xd = spla.spsolve(A.tocsc(), b)
        assert np.linalg.norm(x - xd) <= 1e-5 * np.linalg.norm(xd)


def test_complex_symmetric_helmholtz_with_recycling():
    n = 16
    H = (laplacian(n) - 100.0 * sp.identity(n * n) + 10j * sp.identity(n * n)).tocsr()
    rec = RecycleSpace()
    its = []
    for i in range(3):
        b = rhs(n * n, seed=i, dtype=complex)
        x, st = gcrodr(H, b, m=30, k=10, recycle=rec, same_operator=i > 0)
        assert st.converged and st.residual <= 1e-8
        assert np.linalg.norm(H @ x - b) <= 1e-8 * np.linalg.norm(b)
        its.append(st.iterations)
    assert rec.dim == 10 and np.iscomplexobj(rec.U)
    assert its[2] < its[0]


def test_recycling_reduces_total_matvecs_over_a_sequence():
    n = 32 * 32
    rec = RecycleSpace()
    mv_rec = mv_ind = 0
    for i in range(8):
        A = convection_diffusion(32, wind=2.0 + 0.5 * i)
        b = rhs(n, seed=i)
        x, st = gcrodr(A, b, m=40, k=20, recycle=rec)
        assert st.converged and st.info["recycle_dim"] == 20
        mv_rec += st.matvecs
        _, sg = gmres(A, b, restart=40)
        assert sg.converged
        mv_ind += sg.matvecs
    assert mv_rec < 0.65 * mv_ind


def test_preconditioned_recycling_and_same_operator():
    A = convection_diffusion(20)
    M = make_precond("ilu", A, drop_tol=1e-2, fill_factor=2)
    rec = RecycleSpace()
    its = []
    for i in range(4):
        b = rhs(A.shape[0], seed=i)
        x, st = gcrodr(A, b, M=M, m=20, k=5, recycle=rec, same_operator=i > 0)
        assert st.converged and np.linalg.norm(A @ x - b) <= 1e-8 * np.linalg.norm(b)
        its.append(st.iterations)
    assert rec.dim == 5
    assert max(its[1:]) <= its[0]


def test_gcrodr_unconverged_is_not_converged():
    A = laplacian(20)
    b = rhs(A.shape[0])
    x, st = gcrodr(A, b, m=10, k=4, maxiter=15)
    assert not st.converged and st.residual > 1e-8 and st.status != "converged"
