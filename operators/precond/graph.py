"""Sparse SPD matrix -> graph tensors for the preconditioner network.

Scaling. Every matrix is first made scale-free by symmetric Jacobi scaling
``Â = D^{-1/2} A D^{-1/2}`` (``D = diag(A)``, so ``diag(Â) = 1``); one network
then serves every coefficient contrast, and a preconditioner ``M̂ ≈ Â^{-1}``
maps back as ``M = D^{-1/2} M̂ D^{-1/2}``.

Graph. Nodes are the unknowns, edges the off-diagonal nonzeros of ``Â``
(both directions, message ``j -> i`` along ``(i, j)``). Node features depend on
``A`` only (the solver hook builds a preconditioner from the matrix alone):
``[1, s_i, log d_i - mean(log d), deg_i / max deg]`` with the scaled row sum
``s_i = Σ_j Â_ij`` (0 in the interior of a pure diffusion operator, positive
next to a Dirichlet boundary). Edge features: ``[Â_ij, log|Â_ij|]``.

Output pattern. The network predicts one number per entry ``(i, j), i ≥ j`` of
``tril(Â^k)`` (``k = pattern_power``; ``k = 0`` the diagonal only, ``k = 1`` the lower triangle of
``A``, diagonal included); the pattern feature is ``(Â^k)_ij`` normalised by
its diagonal. Pair features: ``[Â_ij, (Â^k)_ij / sqrt((Â^k)_ii (Â^k)_jj), [i = j]]``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

NODE_FEATURES = 4
EDGE_FEATURES = 2
PAIR_FEATURES = 3


def scale_matrix(A: sp.spmatrix) -> tuple[sp.csr_matrix, np.ndarray]:
    """``(Â, d^{-1/2})`` with ``Â = D^{-1/2} A D^{-1/2}``; a non-positive diagonal is an error."""
    A = sp.csr_matrix(A, dtype=np.float64)
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"matrix must be square, got shape {A.shape}")
    d = A.diagonal()
    if np.any(~np.isfinite(d)) or np.any(d <= 0):
        raise ValueError("learned preconditioner needs a positive diagonal (is the matrix SPD?)")
    s = 1.0 / np.sqrt(d)
    if not A.has_canonical_format:  # sorted column indices, no repeated entries
        A = A.copy()
        A.sum_duplicates()
    scale = np.repeat(s, np.diff(A.indptr))
    scale *= s[A.indices]
    scale *= A.data
    As = sp.csr_matrix((scale, A.indices, A.indptr), shape=A.shape)  # shares A's structure
    As.has_canonical_format = True
    return As, s


def csr_rows(A: sp.csr_matrix) -> np.ndarray:
    """Row index of every stored entry of a CSR matrix."""
    return np.repeat(np.arange(A.shape[0], dtype=np.int64), np.diff(A.indptr))


def _lower_coo(P: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(rows, cols, values)`` of ``tril(P)`` in row-major order (``P`` CSR, sorted)."""
    r, c = csr_rows(P), P.indices.astype(np.int64)
    keep = c <= r
    return r[keep], c[keep], P.data[keep]


def lower_pattern(As: sp.csr_matrix, power: int) -> sp.csr_matrix:
    """``tril(Â^k)`` as CSR with sorted indices (``k = power ≥ 0``; ``Â^0 = I``)."""
    _check_power(power)
    if power == 0:
        return sp.identity(As.shape[0], format="csr")
    P = _matrix_power(As, power)
    r, c, v = _lower_coo(P)
    return sp.csr_matrix((v, (r, c)), shape=P.shape)


def _check_power(power: int) -> None:
    if power < 0:
        raise ValueError(f"pattern power must be >= 0, got {power}")


def _matrix_power(As: sp.csr_matrix, power: int) -> sp.csr_matrix:
    """``Â^k`` (``k ≥ 1``) as CSR with sorted indices."""
    P = As
    for _ in range(power - 1):
        P = P @ As
    P = sp.csr_matrix(P)
    P.sort_indices()
    return P


@dataclass
class MatrixGraph:
    """Graph tensors of one (or several collated) scaled matrices.

    ``edge_index`` (2, E): ``(row i, col j)`` of off-diagonal entries of ``Â``;
    ``pair_index`` (2, Q): ``(i, j)``, ``i ≥ j``, the output pattern, in CSR
    order of :func:`lower_pattern` per matrix; ``a_index``/``a_value``: all
    entries of ``Â`` (for the losses); ``sizes``: unknowns per matrix.
    """

    x: torch.Tensor
    edge_index: torch.Tensor
    edge_attr: torch.Tensor
    pair_index: torch.Tensor
    pair_attr: torch.Tensor
    a_index: torch.Tensor
    a_value: torch.Tensor
    sizes: list[int]
    pair_counts: list[int]

    @property
    def n(self) -> int:
        return int(sum(self.sizes))

    def adjacency(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(Â_off, |Â_off|)`` as torch CSR tensors (rows sorted: edges are in CSR order)."""
        n, i = self.n, self.edge_index[0]
        crow = torch.zeros(n + 1, dtype=torch.int64, device=i.device)
        crow[1:] = torch.cumsum(torch.bincount(i, minlength=n), 0)
        col, val = self.edge_index[1], self.edge_attr[:, 0]
        with warnings.catch_warnings():  # "CSR support is in beta state"
            warnings.simplefilter("ignore", UserWarning)
            return (torch.sparse_csr_tensor(crow, col, val, size=(n, n)),
                    torch.sparse_csr_tensor(crow, col, val.abs(), size=(n, n)))

    def node_graph(self) -> torch.Tensor:
        """Graph id of every node ``(n,)`` (for per-matrix norms in a collated batch)."""
        sizes = torch.as_tensor(self.sizes, device=self.x.device)
        return torch.repeat_interleave(torch.arange(len(self.sizes), device=self.x.device), sizes)

    def to(self, device: str | torch.device) -> MatrixGraph:
        t = {k: getattr(self, k).to(device) for k in
             ("x", "edge_index", "edge_attr", "pair_index", "pair_attr", "a_index", "a_value")}
        return MatrixGraph(**t, sizes=list(self.sizes), pair_counts=list(self.pair_counts))


def pattern_entries(As: sp.csr_matrix, power: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(rows, cols, Â_ij, (Â^k)_ij / sqrt((Â^k)_ii (Â^k)_jj))`` on ``tril(Â^k)``, CSR order.

    ``As`` is CSR with sorted indices; ``Â_ij`` is 0 where ``Â`` has no entry.
    For ``k = 1`` the normalised pattern value is ``Â_ij`` itself (``diag Â = 1``),
    for ``k = 0`` (the diagonal) both features are 1.
    """
    n = As.shape[0]
    _check_power(power)
    if power == 0:
        pr = np.arange(n, dtype=np.int64)
        return pr, pr.copy(), np.ones(n), np.ones(n)
    if power == 1:
        pr, pc, pv = _lower_coo(As)
        return pr, pc, pv, pv
    P = _matrix_power(As, power)
    pr, pc, pv = _lower_coo(P)
    lr, lc, lv = _lower_coo(As)
    a_at = np.zeros(pr.size)
    a_at[np.searchsorted(pr * n + pc, lr * n + lc)] = lv
    pdiag = P.diagonal()
    return pr, pc, a_at, pv / np.sqrt(pdiag[pr] * pdiag[pc])


def build_graph(As: sp.csr_matrix, d_inv_sqrt: np.ndarray, power: int = 1,
                dtype: torch.dtype = torch.float32) -> MatrixGraph:
    """Graph tensors of the scaled matrix ``Â`` (see the module docstring)."""
    n = As.shape[0]
    row, col, val = csr_rows(As), As.indices.astype(np.int64), As.data
    off = row != col
    deg = np.bincount(row[off], minlength=n).astype(np.float64)
    logd = -2.0 * np.log(d_inv_sqrt)
    x = np.stack([np.ones(n), np.bincount(row, weights=val, minlength=n), logd - logd.mean(),
                  deg / max(deg.max(), 1.0)], axis=1)
    ev = val[off]
    edge_attr = np.stack([ev, np.log(np.abs(ev) + 1e-12)], axis=1)
    pr, pc, a_at, pnorm = pattern_entries(As, power)
    pair_attr = np.stack([a_at, pnorm, (pr == pc).astype(float)], axis=1)
    f = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=dtype)  # noqa: E731
    i = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.int64)  # noqa: E731
    return MatrixGraph(x=f(x), edge_index=i(np.stack([row[off], col[off]])), edge_attr=f(edge_attr),
                       pair_index=i(np.stack([pr, pc])), pair_attr=f(pair_attr),
                       a_index=i(np.stack([row, col])), a_value=f(val), sizes=[n],
                       pair_counts=[int(pr.size)])


def collate(graphs: list[MatrixGraph]) -> MatrixGraph:
    """One block-diagonal graph of several matrices (node indices offset per matrix)."""
    if len(graphs) == 1:
        return graphs[0]
    offs = np.cumsum([0] + [g.n for g in graphs[:-1]])
    cat = lambda k: torch.cat([getattr(g, k) for g in graphs])  # noqa: E731
    shift = lambda k: torch.cat([getattr(g, k) + int(o) for g, o in zip(graphs, offs)], dim=1)  # noqa: E731
    return MatrixGraph(x=cat("x"), edge_index=shift("edge_index"), edge_attr=cat("edge_attr"),
                       pair_index=shift("pair_index"), pair_attr=cat("pair_attr"),
                       a_index=shift("a_index"), a_value=cat("a_value"),
                       sizes=[s for g in graphs for s in g.sizes],
                       pair_counts=[c for g in graphs for c in g.pair_counts])


def spmv(index: torch.Tensor, value: torch.Tensor, z: torch.Tensor, n: int,
         transpose: bool = False) -> torch.Tensor:
    """``y = B z`` (or ``B^T z``) for ``B`` given by COO ``(index, value)``; ``z`` is ``(n, k)``.

    A scatter-add (``index_add``), differentiable in ``value`` and ``z``.
    """
    i, j = (index[1], index[0]) if transpose else (index[0], index[1])
    y = torch.zeros((n,) + tuple(z.shape[1:]), dtype=z.dtype, device=z.device)
    return y.index_add_(0, i, value.unsqueeze(-1) * z[j] if z.ndim == 2 else value * z[j])
