"""Training losses of the learned preconditioners (per matrix, averaged over probes).

All act on scaled systems ``Â = D^{-1/2} A D^{-1/2}`` and a block of probe
vectors ``c`` ``(n, k)``: Gaussian probes (unsupervised, stochastic estimate of
a Frobenius-type norm), dataset solutions ``x̂`` (supervised), optionally with
their coarse component removed (:func:`operators.precond.coarse.project_probes`),
so the network learns what the coarse correction cannot do.

* factor  ``L``:  ``‖(L L^T - Â) c‖² / ‖Â c‖²``   (``c = x̂``: ``‖L L^T x̂ - b̂‖²/‖b̂‖²``)
* inverse ``G``:  ``‖(G G^T + εI) Â c - c‖² / ‖c‖²``  (``c = x̂``: ``‖G G^T b̂ - x̂‖²/‖x̂‖²`` for ε = 0)

In a collated batch the ratio is formed per matrix (sums over its nodes) and
then averaged over matrices and probes, so large and small systems weigh the same.
"""

from __future__ import annotations

import torch

from .graph import MatrixGraph, spmv


def per_graph_ratio(num: torch.Tensor, den: torch.Tensor, g: MatrixGraph) -> torch.Tensor:
    """Mean over matrices and probes of ``Σ_nodes num / Σ_nodes den`` (each ``(n, k)``)."""
    gid = g.node_graph()
    m = len(g.sizes)
    sn = torch.zeros((m,) + tuple(num.shape[1:]), dtype=num.dtype, device=num.device)
    sd = torch.zeros_like(sn)
    sn.index_add_(0, gid, num)
    sd.index_add_(0, gid, den)
    return (sn / sd.clamp_min(1e-30)).mean()


def factor_loss(vals: torch.Tensor, g: MatrixGraph, c: torch.Tensor) -> torch.Tensor:
    """``‖(L L^T - Â) c‖² / ‖Â c‖²`` with ``L`` given by ``vals`` on ``g.pair_index``."""
    n = g.n
    llt = spmv(g.pair_index, vals, spmv(g.pair_index, vals, c, n, transpose=True), n)
    ac = spmv(g.a_index, g.a_value, c, n)
    return per_graph_ratio((llt - ac) ** 2, ac ** 2, g)


def inverse_loss(vals: torch.Tensor, g: MatrixGraph, c: torch.Tensor, eps: float) -> torch.Tensor:
    """``‖(G G^T + εI) Â c - c‖² / ‖c‖²`` with ``G`` given by ``vals`` on ``g.pair_index``."""
    n = g.n
    ac = spmv(g.a_index, g.a_value, c, n)
    mac = spmv(g.pair_index, vals, spmv(g.pair_index, vals, ac, n, transpose=True), n)
    mac = mac + eps * ac
    return per_graph_ratio((mac - c) ** 2, c ** 2, g)
