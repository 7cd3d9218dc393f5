"""Message-passing network on the matrix graph that outputs one value per pattern entry.

Two layer types (``edge_states``):

* with edge states ``e_ij`` (edge ``(i, j)`` of ``Â``; as in Li et al. 2023), a
  layer updates (residual form, sums vectorised as scatter-adds)::

      e_ij <- e_ij + φ_e([e_ij, h_i, h_j])
      h_i  <- h_i  + φ_h([h_i, Σ_j e_ij])

* without (default, the fast one), messages are weighted by the matrix entries::

      h_i <- h_i + φ_h([h_i, Σ_j Â_ij h_j, Σ_j |Â_ij| h_j])

  i.e. two sparse-dense products per layer (torch CSR kernels at inference,
  differentiable scatter-adds in training) and no ``E × hidden`` tensors.

with two-layer MLPs ``φ`` (ReLU). After ``layers`` rounds a pair head reads each
output-pattern entry ``(i, j), i ≥ j``::

    raw_ij = ψ([h_i, h_j, pair features_ij])

The receptive field is ``layers`` hops, so the network is local and applies to
any grid size. The last linear layer of ``ψ`` starts at zero, so an untrained
network gives ``raw = 0`` (the identity-like start of each variant).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .graph import EDGE_FEATURES, NODE_FEATURES, PAIR_FEATURES, MatrixGraph, spmv


def mlp(n_in: int, hidden: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, n_out))


class PrecondGNN(nn.Module):
    """Graph network ``Â -> raw values on tril(Â^k)`` (see the module docstring)."""

    def __init__(self, hidden: int = 16, layers: int = 2, edge_states: bool = False):
        super().__init__()
        if hidden < 1 or layers < 0:
            raise ValueError(f"need hidden >= 1 and layers >= 0, got {hidden}, {layers}")
        self.hidden, self.layers, self.edge_states = int(hidden), int(layers), bool(edge_states)
        self.node_in = nn.Linear(NODE_FEATURES, hidden)
        if self.edge_states:
            self.edge_in = nn.Linear(EDGE_FEATURES, hidden)
            self.edge_mlps = nn.ModuleList(mlp(3 * hidden, hidden, hidden) for _ in range(layers))
        width = 2 * hidden if self.edge_states else 3 * hidden
        self.node_mlps = nn.ModuleList(mlp(width, hidden, hidden) for _ in range(layers))
        self.head = mlp(2 * hidden + PAIR_FEATURES, hidden, 1)
        nn.init.zeros_(self.head[2].weight)
        nn.init.zeros_(self.head[2].bias)

    def forward(self, g: MatrixGraph) -> torch.Tensor:
        """Raw outputs ``(Q,)`` on ``g.pair_index``.

        The first linear map of each MLP acting on a concatenation
        ``[e_ij, h_i, h_j]`` is split as ``W_e e_ij + W_i h_i + W_j h_j``: the node
        terms are computed once per node and gathered, so no ``E × 3h`` tensor
        is formed (same function, a fraction of the cost).
        """
        hd = self.hidden
        h = self.node_in(g.x)
        if self.edge_states:
            h = self._edge_layers(g, h)
        else:
            h = self._node_layers(g, h)
        lin, out = self.head[0], self.head[2]
        w = lin.weight
        pi, pj = g.pair_index[0], g.pair_index[1]
        hi = h @ w[:, :hd].T
        hj = h @ w[:, hd:2 * hd].T
        pre = torch.addmm(lin.bias, g.pair_attr, w[:, 2 * hd:].T).add_(hi.index_select(0, pi)).add_(
            hj.index_select(0, pj))
        return out(torch.relu_(pre)).squeeze(-1)

    def _edge_layers(self, g: MatrixGraph, h: torch.Tensor) -> torch.Tensor:
        hd = self.hidden
        e = self.edge_in(g.edge_attr)
        i, j = g.edge_index[0], g.edge_index[1]
        for phi_e, phi_h in zip(self.edge_mlps, self.node_mlps):
            lin, out = phi_e[0], phi_e[2]
            w = lin.weight
            hi = h @ w[:, hd:2 * hd].T
            hj = torch.addmm(lin.bias, h, w[:, 2 * hd:].T)
            pre = torch.addmm(hi.index_select(0, i), e, w[:, :hd].T).add_(hj.index_select(0, j))
            e = e + out(torch.relu_(pre))
            agg = torch.zeros_like(h).index_add_(0, i, e)
            h = h + phi_h(torch.cat([h, agg], dim=1))
        return h

    def _node_layers(self, g: MatrixGraph, h: torch.Tensor) -> torch.Tensor:
        if not self.node_mlps:
            return h
        if torch.is_grad_enabled():
            idx, val = g.edge_index, g.edge_attr[:, 0]
            n = g.n
            prop = lambda v: (spmv(idx, val, v, n), spmv(idx, val.abs(), v, n))  # noqa: E731
        else:
            S, Sa = g.adjacency()
            prop = lambda v: (S @ v, Sa @ v)  # noqa: E731
        for phi_h in self.node_mlps:
            h = h + phi_h(torch.cat([h, *prop(h)], dim=1))
        return h

    def config(self) -> dict[str, Any]:
        return {"hidden": self.hidden, "layers": self.layers, "edge_states": self.edge_states}
