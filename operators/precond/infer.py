"""Fast inference of the node-layer network straight from a scaled CSR matrix.

Same function as :meth:`operators.precond.gnn.PrecondGNN.forward` on
:func:`operators.precond.graph.build_graph` (tested to float32 round-off), but
built for one matrix at a time on the CPU, where the graph tensors, the
``n × 3h`` concatenations and the ``Q × h`` pair tensors of the reference path
cost more than the arithmetic.

Algebra. A layer ``h ← h + φ([h, S h, |S| h])`` with ``S = Â - diag Â`` and the
first linear map ``W = [W_a W_b W_c]`` of ``φ`` is rewritten with
``S = S⁺ + S⁻`` (positive / negative entries, ``|S| = S⁺ - S⁻``) as::

    W_a h + W_b S h + W_c |S| h = W_a h + S⁺ (h (W_b + W_c)ᵀ) + S⁻ (h (W_b - W_c)ᵀ)

(rows of ``h`` are node states): one sparse product over the nonzeros of
``S`` instead of two, and only ``S⁻`` when ``A`` is an M-matrix (every
off-diagonal entry ≤ 0, e.g. any diffusion stencil). The pair head
``ψ([h_i, h_j, p_ij])`` is ``relu(H_i[i] + H_j[j] + W_p p_ij + b)`` with
``H_i = h W_iᵀ`` and ``H_j = h W_jᵀ`` per node; on the diagonal entries
(``i = j``, one per row) it needs no gather.

Memory. Rows are processed in blocks of ``block`` nodes, so the temporaries
(``block × h`` and the pattern entries of those rows) stay in the L2 cache and
no large tensor is allocated and page-faulted per call. A layer updates ``h``
in place block by block, which is exact: a block's new state reads only its
own old rows and ``h (W_b ± W_c)ᵀ``, computed for all nodes before the loop
(the previous loop writes it block by block). The head runs inside the last
layer's loop: the pattern is lower triangular (``j ≤ i``), so ``H_j`` of every
column of a block's rows belongs to that block or an earlier, finished one.

Output: the raw head values on the diagonal and the strictly lower entries of
``tril(Â^k)`` (a :class:`operators.precond.pattern.SplitPattern`);
``SplitPattern.assemble`` puts them in the CSR order of ``build_graph``'s
``pair_index``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from .gnn import PrecondGNN
from .graph import csr_rows
from .pattern import SplitPattern

BLOCK = 4096


def node_features(As: sp.csr_matrix, d_inv_sqrt: np.ndarray) -> np.ndarray:
    """``(n, 4)`` float32 ``[1, Σ_j Â_ij, log d_i - mean log d, deg_i / max deg]``.

    ``As`` canonical CSR with a stored positive diagonal, so every row holds
    its diagonal once and ``deg_i`` = stored entries - 1.
    """
    n = As.shape[0]
    deg = np.diff(As.indptr) - 1.0
    logd = -2.0 * np.log(d_inv_sqrt)
    x = np.empty((n, 4), dtype=np.float32)
    x[:, 0] = 1.0
    x[:, 1] = np.add.reduceat(As.data, As.indptr[:-1]) if n else 0.0
    x[:, 2] = logd - logd.mean()
    x[:, 3] = deg / max(deg.max(initial=0.0), 1.0)
    return x


def _relu(a: np.ndarray) -> np.ndarray:
    """In-place ``max(a, 0)`` (torch's kernel on the same memory: numpy's ``maximum`` is 5x slower)."""
    torch.from_numpy(a).relu_()
    return a


def signed_blocks(As: sp.csr_matrix, rows: np.ndarray, block: int
                  ) -> tuple[list[int], list[list[tuple[sp.csr_matrix, int]]]]:
    """Row-block starts and, per block, ``[(S^±_block, sign)]`` of ``S = Â - diag Â``.

    ``sign`` 0 is ``S⁺`` (entries > 0), 1 is ``S⁻`` (entries < 0); a part with no
    nonzero is left out. Both are float32 CSR matrices ``(rows in block) × n``
    on the structure of ``Â`` itself (its diagonal stored as 0), which saves
    compressing the structure and costs ``n`` zero products.
    """
    n = As.shape[0]
    neg = np.minimum(As.data, 0.0, out=np.empty(As.nnz, dtype=np.float32), casting="same_kind")
    parts = [(neg, 1)]
    if np.count_nonzero(As.data > 0) > n:  # positive off-diagonal entries (the diagonal is > 0)
        pos = np.where((As.indices != rows) & (As.data > 0), As.data, 0.0).astype(np.float32)
        parts.insert(0, (pos, 0))
    starts = list(range(0, n, block))
    ptr = As.indptr
    out = []
    for r0 in starts:
        r1 = min(r0 + block, n)
        a, b = ptr[r0], ptr[r1]
        out.append([(sp.csr_matrix((p[a:b], As.indices[a:b], ptr[r0:r1 + 1] - a),
                                   shape=(r1 - r0, n)), k) for p, k in parts])
    return starts, out


class FastNet:
    """Folded weights of a node-layer :class:`PrecondGNN` for :meth:`raw_values` (float32, CPU)."""

    def __init__(self, net: PrecondGNN, block: int = BLOCK):
        if net.edge_states:
            raise ValueError("the fast inference path supports node layers only (edge_states=False)")
        if block < 1:
            raise ValueError(f"block must be >= 1, got {block}")
        hd = net.hidden
        f = lambda t: np.ascontiguousarray(t.detach().cpu().numpy(), dtype=np.float32)  # noqa: E731
        self.block, self.hidden = int(block), hd
        self.w_in, self.b_in = f(net.node_in.weight.T), f(net.node_in.bias)
        self.layers = []
        for phi in net.node_mlps:
            w = phi[0].weight
            wa, wb, wc = w[:, :hd], w[:, hd:2 * hd], w[:, 2 * hd:]
            self.layers.append((f(wa.T), f(phi[0].bias), (f((wb + wc).T), f((wb - wc).T)),
                                f(phi[2].weight.T), f(phi[2].bias)))
        w = net.head[0].weight
        self.w_i, self.w_j = f(w[:, :hd].T), f(w[:, hd:2 * hd].T)
        self.w_p, self.b_p = f(w[:, 2 * hd:].T), f(net.head[0].bias)
        self.w_out, self.b_out = f(net.head[2].weight[0]), float(net.head[2].bias.detach()[0])

    def raw_values(self, As: sp.csr_matrix, d_inv_sqrt: np.ndarray, pattern: SplitPattern,
                   rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Raw head outputs (float32) on the diagonal ``(n,)`` and the strictly lower entries
        ``(Q_off,)`` of ``pattern``; ``As`` as from :func:`operators.precond.graph.scale_matrix`."""
        n = As.shape[0]
        rows = csr_rows(As) if rows is None else rows
        starts, blocks = signed_blocks(As, rows, self.block)
        h = node_features(As, d_inv_sqrt) @ self.w_in
        h += self.b_in
        signs = sorted({k for mats in blocks for _, k in mats})
        u = {k: h @ self.layers[0][2][k] for k in signs} if self.layers else {}
        spare = [np.empty_like(h) for _ in signs] if len(self.layers) > 1 else []
        t_buf = np.empty((min(self.block, n), self.hidden), dtype=np.float32)
        head = None
        for depth, (w_a, b_1, _, w_2, b_2) in enumerate(self.layers):
            last = depth == len(self.layers) - 1
            if last:  # H_j can take the place of a u no longer read
                head = _Head(self, pattern, n, spare[0] if spare else None)
            u_next = {} if last else dict(zip(signs, spare))
            for r0, mats in zip(starts, blocks):
                r1 = min(r0 + self.block, n)
                hb, t = h[r0:r1], t_buf[:r1 - r0]
                np.matmul(hb, w_a, out=t)
                t += b_1
                for S, k in mats:
                    t += S @ u[k]
                hb += _relu(t) @ w_2
                hb += b_2
                if last:
                    head.block(h, r0, r1)
                else:
                    for k in signs:
                        np.matmul(hb, self.layers[depth + 1][2][k], out=u_next[k][r0:r1])
            spare, u = list(u.values()), u_next
        if head is None:  # no message-passing layer
            head = _Head(self, pattern, n)
            for r0 in starts:
                head.block(h, r0, min(r0 + self.block, n))
        return head.finish()


class _Head:
    """Block-wise pair head of :class:`FastNet` (diagonal entries without gathers)."""

    def __init__(self, net: FastNet, p: SplitPattern, n: int, hj: np.ndarray | None = None):
        self.net, self.p = net, p
        hd = net.hidden
        self.hj = np.empty((n, hd), dtype=np.float32) if hj is None else hj
        self.raw_diag = np.empty(n, dtype=np.float32)
        self.raw_off = np.empty(p.off_rows.size, dtype=np.float32)
        starts = np.arange(0, n, net.block)
        ends = np.minimum(starts + net.block, n)
        widest = int(np.max(p.off_ptr[ends] - p.off_ptr[starts], initial=0))
        self.pre = np.empty((widest, hd), dtype=np.float32)
        self.tmp = np.empty((widest, hd), dtype=np.float32)
        self.hi = np.empty((min(net.block, n), hd), dtype=np.float32)

    def block(self, h: np.ndarray, r0: int, r1: int) -> None:
        """Head values of the entries in rows ``r0:r1`` (``H_j`` of rows ``< r1`` final)."""
        f, p = self.net, self.p
        hb, hi = h[r0:r1], self.hi[:r1 - r0]
        hj = np.matmul(hb, f.w_j, out=self.hj[r0:r1])
        np.matmul(hb, f.w_i, out=hi)
        hi += f.b_p
        pre = hi + hj
        pre += p.diag_attr[r0:r1] @ f.w_p
        np.matmul(_relu(pre), f.w_out, out=self.raw_diag[r0:r1])
        a, b = int(p.off_ptr[r0]), int(p.off_ptr[r1])
        if b > a:
            pre, tmp = self.pre[:b - a], self.tmp[:b - a]
            np.take(self.hj, p.off_cols[a:b], axis=0, out=pre)
            pre += np.take(hi, p.off_rows[a:b] - r0, axis=0, out=tmp)
            pre += np.matmul(p.off_attr[a:b], f.w_p[:2], out=tmp)
            np.matmul(_relu(pre), f.w_out, out=self.raw_off[a:b])

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        self.raw_diag += self.net.b_out
        self.raw_off += self.net.b_out
        return self.raw_diag, self.raw_off
