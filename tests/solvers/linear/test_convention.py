"""The shared prologue/epilogue of the single-system functions (solvers.linear.convention)."""

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from solvers.linear.convention import MAX_REPLACEMENTS, setup
from tests.helpers.matrices import laplacian, rhs


def test_setup_target_dtype_and_defaults():
    A = laplacian(6)
    b = rhs(A.shape[0])
    run = setup(A, b, None, rtol=1e-6, atol=0.0, maxiter=None)
    assert run.tol == pytest.approx(1e-6 * np.linalg.norm(b)) and run.maxiter == 10 * 36
    assert run.prec is None and not np.any(run.x) and not run.zero_rhs
    run = setup(A, b, None, rtol=1e-6, atol=1.0, maxiter=7)
    assert run.tol == 1.0 and run.maxiter == 7  # the larger of the two targets
    run = setup(A, b.astype(complex), np.ones(36), rtol=1e-8, atol=0.0, maxiter=None)
    assert run.dtype == np.complex128 and run.x.dtype == np.complex128
    r0, matvecs = run.initial_residual()
    assert matvecs == 1 and np.allclose(r0, b - A @ np.ones(36))
    op = spla.aslinearoperator(A)
    run = setup(op, b, None, rtol=1e-8, atol=0.0, maxiter=None, M=sp.identity(36))
    assert np.allclose(run.right_preconditioned()(b), A @ b)
    with pytest.raises(ValueError, match="x0 has shape"):
        setup(A, b, np.ones(3), rtol=1e-8, atol=0.0, maxiter=None)
    with pytest.raises(ValueError, match="vector"):
        setup(A, np.ones((36, 2)), None, rtol=1e-8, atol=0.0, maxiter=None)


def test_result_judges_the_true_residual():
    A = laplacian(6)
    b = rhs(A.shape[0])
    run = setup(A, b, None, rtol=1e-8, atol=0.0, maxiter=None)
    x, st = run.result("probe", iterations=3, matvecs=4, status="converged")
    # x = 0 does not solve A x = b, whatever the iteration claimed
    assert not st.converged and st.status == "inaccurate" and st.residual == pytest.approx(1.0)
    assert st.matvecs == 5  # the true residual costs one
    run.x[:] = spla.spsolve(A.tocsc(), b)
    _, st = run.result("probe", iterations=3, matvecs=4, status="maxiter")
    assert st.converged and st.status == "converged" and st.residual <= 1e-12
    zero = setup(A, 0 * b, np.ones(36), rtol=1e-8, atol=0.0, maxiter=None)
    x, st = zero.solved_by_zero("probe")
    assert zero.zero_rhs and st.converged and st.iterations == 0 and not np.any(x)


def test_residual_replacement_stops_after_its_limit():
    A = laplacian(6)
    b = rhs(A.shape[0])
    run = setup(A, b, None, rtol=1e-8, atol=0.0, maxiter=None)
    for _ in range(MAX_REPLACEMENTS):
        r, done = run.replace_residual()
        assert not done and np.allclose(r, b)
    _, done = run.replace_residual()
    assert done and run.replacements == MAX_REPLACEMENTS
    run.x[:] = spla.spsolve(A.tocsc(), b)
    fresh = setup(A, b, run.x, rtol=1e-8, atol=0.0, maxiter=None)
    assert fresh.replace_residual()[1]
