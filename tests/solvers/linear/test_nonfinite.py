"""An operator or a preconditioner that returns NaN/inf: every method stops with
``converged=False`` and status ``nan`` (issue 15, item 3), never an exception."""

import numpy as np
import pytest
import scipy.sparse.linalg as spla

from solvers.linear import make_solver
from solvers.linear.deflated_cg import deflated_cg
from solvers.linear.gcrodr import RecycleSpace, gcrodr
from solvers.linear.krylov import cg, gmres
from solvers.linear.precond import register_precond_loader
from solvers.linear.system import LinearSystem
from tests.helpers.matrices import convection_diffusion, laplacian, rhs


class TurnsBad:
    """``v -> f(v)`` for the first ``good`` calls, then ``bad`` (NaN or inf) everywhere."""

    def __init__(self, f, good, bad):
        self.f, self.good, self.bad, self.calls = f, good, bad, 0

    def __call__(self, v):
        self.calls += 1
        out = np.asarray(self.f(v), dtype=float)
        return out if self.calls <= self.good else np.full_like(out, self.bad)

    def apply(self, v):
        return self(v)


def operator(A, good):
    return spla.LinearOperator(A.shape, matvec=TurnsBad(lambda v: A @ v, good, np.nan),
                               matmat=TurnsBad(lambda v: A @ v, good, np.nan), dtype=A.dtype)


METHODS = {
    "cg": lambda A, b, M: cg(A, b, M=M, maxiter=500),
    "gmres": lambda A, b, M: gmres(A, b, M=M, restart=20, maxiter=500),
    "gcrodr": lambda A, b, M: gcrodr(A, b, M=M, m=20, k=5, maxiter=500),
    "def-cg": lambda A, b, M: deflated_cg(A, b, M=M, k=5, maxiter=500),
}


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("good", [0, 7])
def test_operator_returning_nan(method, good):
    A = laplacian(12)
    b = rhs(A.shape[0])
    x, st = METHODS[method](operator(A, good), b, None)
    assert not st.converged and st.status == "nan", st


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("good", [0, 7])
def test_preconditioner_returning_inf(method, good):
    A = laplacian(12)
    b = rhs(A.shape[0])
    x, st = METHODS[method](A, b, TurnsBad(lambda v: v / A.diagonal()[:, None]
                                           if v.ndim == 2 else v / A.diagonal(), good, np.inf))
    assert not st.converged and st.status == "nan", st


def test_gcrodr_keeps_its_recycle_space_through_a_nan_solve():
    A = convection_diffusion(12)
    b = rhs(A.shape[0])
    space = RecycleSpace()
    _, st = gcrodr(A, b, m=20, k=5, recycle=space)
    assert st.converged and space.dim == 5
    U = space.U.copy()
    _, st = gcrodr(operator(A, 3), b, m=20, k=5, recycle=space)
    assert st.status == "nan" and np.array_equal(space.U, U)


@pytest.mark.parametrize("name", ["cg", "amg-cg", "def-cg", "gmres", "gcrodr"])
def test_sequence_solvers_with_a_preconditioner_returning_inf(name):
    register_precond_loader("test-inf", lambda arg, A: TurnsBad(lambda v: v, int(arg), np.inf))
    A = laplacian(12)
    solver = make_solver(name, precond="test-inf:5")
    _, st = solver.solve(LinearSystem(A, rhs(A.shape[0]), True, True))
    assert not st.converged and st.status == "nan", st
