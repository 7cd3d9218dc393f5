"""The truth (full-order) solve that every reduced model is judged against.

``u(mu) = A(mu)^{-1} b(mu)`` by a sparse direct solve: the ``direct``
sequence solver of :mod:`solvers.linear` (SuperLU), so an error bound is
checked against the exact discrete solution, not against a dataset solver's
iteration tolerance. The seconds reported are the solver's own (factorisation
and triangular solves; the residual check is not counted), which makes them
the direct-solve reference of a reduced model's speedup.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from solvers.linear import make_solver
from solvers.linear.system import LinearSystem


def truth_solve(A: Any, b: np.ndarray) -> tuple[np.ndarray, float]:
    """``(u, seconds)`` with ``A u = b`` solved by sparse LU (``solvers.linear`` ``direct``)."""
    system = LinearSystem(sp.csr_matrix(A), np.asarray(b, dtype=float))
    u, stats = make_solver("direct").solve(system)
    return u, float(stats.seconds)
