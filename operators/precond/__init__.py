"""Learned preconditioners for conjugate gradients (graph network -> sparse factor / inverse).

A learned preconditioner is two things at once:

* a **model kind** (``precond``, :mod:`.kind`): trained on a dataset's SPD
  systems with ``rom train precond``, evaluated against the classical
  preconditioners with ``rom evaluate`` (:mod:`.evaluation`), like the neural
  operators beside it (same torch stack, same model directories);
* a **preconditioner of the linear solvers**:
  ``solvers.linear.precond.make_precond("learned:MODEL", A)``.

The solvers never import the model packages. Their one sanctioned upward
reference is the *string* ``"operators.precond"`` in
``solvers.linear.precond._PLUGINS``: the first ``learned:`` request imports
this package, and importing it registers :func:`learned_preconditioner` with
:func:`solvers.linear.precond.register_precond_loader`. (torch is imported
only when a model is loaded.)

Modules:

* :mod:`.graph`   matrix -> graph tensors (Jacobi-scaled), collation, scatter-add matvecs
* :mod:`.gnn`     the message-passing network
* :mod:`.infer`   fast CPU inference from the CSR matrix; :mod:`.pattern` the output pattern
* :mod:`.factor`  ``M = (L L^T)^{-1}``, ``L`` lower triangular, positive diagonal
* :mod:`.inverse` ``M = G G^T + εI`` (matvecs only)
* :mod:`.coarse`  aggregation coarse space, two-level wrapper (fused CSR or DIA apply)
* :mod:`.losses`  training losses; :mod:`.train` the training loop and the dataset's systems
* :mod:`.model`   :class:`~.model.LearnedPreconditioner`: build, save, load
* :mod:`.ceiling` the best smoothers of a class computed exactly per matrix (SPAI on
  ``A``'s pattern, optimal diagonal, Chebyshev, damping scan): what a network can gain at most
* :mod:`.damping` a learned per-row damping of the multilevel V-cycle's smoother (SPD for
  any network output, Jacobi's apply cost)
* :mod:`.evaluation` learned PCG against none / Jacobi / IC(0) / AMG
* :mod:`.kind`    the ``precond`` model kind (:class:`data.model_kinds.ModelKind`)
"""

from __future__ import annotations

from typing import Any

import scipy.sparse as sp

from solvers.linear.precond import register_precond_loader


def learned_preconditioner(model_dir: str, A: sp.csr_matrix) -> Any:
    """The ``learned:MODEL`` loader: the preconditioner of ``A`` built by the model in
    ``model_dir`` (loaded once per directory and weights file)."""
    from .model import cached_load

    if not model_dir:
        raise ValueError("learned preconditioner needs a model directory: learned:MODEL")
    return cached_load(model_dir).build(A)


register_precond_loader("learned", learned_preconditioner)
