"""The output pattern ``tril(Â^k)`` of the preconditioner network, split for fast inference.

A learned factor (``L``) or factorised inverse (``G``) lives on the lower
triangle of ``Â^k`` (:func:`operators.precond.graph.pattern_entries`), stored
in CSR order. :class:`SplitPattern` also keeps the diagonal entries (the last
of each row, since columns are sorted and ``j ≤ i``) apart from the strictly
lower ones with their pair features, which is the form
:class:`operators.precond.infer.FastNet` evaluates:

* diagonal ``(i, i)``: features ``[Â_ii, 1, 1]`` (``[Â_ii, Â_ii, 1]`` for ``k = 1``);
* strictly lower ``(i, j)``: ``[Â_ij, (Â^k)_ij / sqrt((Â^k)_ii (Â^k)_jj)]``
  (the third feature, ``[i = j]``, is 0).

For ``k = 1`` everything comes from one pass over the nonzeros of ``Â``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .graph import pattern_entries


@dataclass
class Pattern:
    """CSR structure (``indptr``, sorted ``indices``) of a square sparse pattern."""

    indptr: np.ndarray
    indices: np.ndarray

    @property
    def n(self) -> int:
        return self.indptr.size - 1

    @property
    def nnz(self) -> int:
        return int(self.indptr[-1])

    def csr(self, values: np.ndarray) -> sp.csr_matrix:
        """The matrix with ``values`` (CSR order) on this pattern; no sorting needed."""
        M = sp.csr_matrix((np.asarray(values, dtype=np.float64), self.indices, self.indptr),
                          shape=(self.n, self.n))
        M.has_sorted_indices = True
        return M

    @classmethod
    def from_rows(cls, n: int, rows: np.ndarray, cols: np.ndarray) -> Pattern:
        """From entries in CSR order (``rows`` non-decreasing, columns sorted in a row)."""
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
        return cls(indptr, np.asarray(cols))


@dataclass
class SplitPattern(Pattern):
    """:class:`Pattern` with every row ending in its diagonal, split into diagonal / strictly lower.

    ``off_ptr``: CSR pointer of the strictly lower entries; ``off_rows``,
    ``off_cols`` and ``off_attr`` ``(Q_off, 2)`` float32 their rows,
    columns and pair features; ``diag_attr`` ``(n, 3)`` float32. Entry ``k``
    of the strictly lower list sits at position ``k + off_rows[k]`` of the full
    CSR order, the diagonal of row ``i`` at ``indptr[i + 1] - 1``.
    """

    off_ptr: np.ndarray = None
    off_rows: np.ndarray = None
    off_cols: np.ndarray = None
    off_attr: np.ndarray = None
    diag_attr: np.ndarray = None

    def assemble(self, diag: np.ndarray, off: np.ndarray) -> np.ndarray:
        """Values (float64) in the full CSR order from the diagonal ``(n,)`` and strictly lower
        ``(Q_off,)`` parts."""
        out = np.empty(self.nnz, dtype=np.float64)
        out[self.indptr[1:] - 1] = diag
        out[np.arange(off.size) + self.off_rows] = off
        return out

    def attr(self) -> np.ndarray:
        """All pair features ``(Q, 3)`` in CSR order (``build_graph``'s ``pair_attr``)."""
        out = np.zeros((self.nnz, 3), dtype=np.float32)
        out[self.indptr[1:] - 1] = self.diag_attr
        out[np.arange(self.off_rows.size) + self.off_rows, :2] = self.off_attr
        return out


def split_pattern(As: sp.csr_matrix, power: int, rows: np.ndarray) -> SplitPattern | None:
    """:class:`SplitPattern` of ``tril(Â^k)`` (``As`` canonical CSR, unit diagonal, ``rows``
    its row indices), or ``None`` if some row of the pattern lacks its diagonal."""
    n = As.shape[0]
    if power == 1:
        lower = As.indices < rows
        orows, ocols = rows[lower], As.indices[lower]
        a = As.data[lower].astype(np.float32)
        off_attr = np.stack([a, a], axis=1)
        d = As.diagonal().astype(np.float32)
        diag_attr = np.stack([d, d, np.ones(n, dtype=np.float32)], axis=1)
    else:
        pr, pc, a_at, pnorm = pattern_entries(As, power)
        dmask = pr == pc
        if not np.array_equal(pr[dmask], np.arange(n)):
            return None
        lower = ~dmask
        orows, ocols = pr[lower], pc[lower]
        off_attr = np.stack([a_at[lower], pnorm[lower]], axis=1).astype(np.float32)
        diag_attr = np.stack([a_at[dmask], pnorm[dmask], np.ones(n)], axis=1).astype(np.float32)
    off_ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(orows, minlength=n), out=off_ptr[1:])
    indptr = off_ptr + np.arange(n + 1)
    indices = np.empty(indptr[-1], dtype=As.indices.dtype)
    indices[indptr[1:] - 1] = np.arange(n)
    indices[np.arange(orows.size) + orows] = ocols
    return SplitPattern(indptr, indices, off_ptr=off_ptr, off_rows=orows, off_cols=ocols,
                        off_attr=off_attr, diag_attr=diag_attr)
