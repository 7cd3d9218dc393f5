"""Learned preconditioners for conjugate gradients (graph network -> sparse factor / inverse).

* :mod:`.graph`   matrix -> graph tensors (Jacobi-scaled), collation, scatter-add matvecs
* :mod:`.gnn`     the message-passing network
* :mod:`.infer`   fast CPU inference from the CSR matrix; :mod:`.pattern` the output pattern
* :mod:`.factor`  ``M = (L L^T)^{-1}``, ``L`` lower triangular, positive diagonal
* :mod:`.inverse` ``M = G G^T + εI`` (matvecs only)
* :mod:`.coarse`  aggregation coarse space, two-level wrapper (fused CSR or DIA apply)
* :mod:`.losses`  training losses; :mod:`.train` the training loop
* :mod:`.model`   build / save / load, and the solver hook

Importing this package registers ``learned:MODEL`` with
:func:`solvers.linear.precond.register_precond_loader`.
"""

from __future__ import annotations

from .model import LearnedPreconditioner, load, solver_loader


def register() -> None:
    """Make ``--precond learned:MODEL`` resolve through :func:`solver_loader`."""
    from solvers.linear.precond import register_precond_loader

    register_precond_loader("learned", solver_loader)


register()

__all__ = ["LearnedPreconditioner", "load", "register", "solver_loader"]
