"""Non-intrusive EIM of assembled matrices (Casenave, Ern, Lelièvre 2016).

Only assembled snapshots ``A(mu_1), ..., A(mu_K)`` are needed. On the union
``P`` of their sparsity patterns each matrix is the vector ``a(mu) in R^{nnz}``
of its entries; EIM (:func:`rom.eim.eim`, sup norm over entries) selects
``M`` *magic entries* ``(i_m, j_m)`` and basis matrices ``Q_m`` (unit at their
own entry, zero at the earlier ones). Then

    A(mu) ~ sum_m beta_m(mu) Q_m,    beta(mu) = B^{-1} [A(mu)_{i_m j_m}]_m,

with ``B`` unit lower triangular, which is an affine decomposition usable by
the reduced basis. Online only the ``M`` magic entries of ``A(mu)`` are needed
(``entries(mu, rows, cols)``); each ``Q_m`` is a combination of the selected
snapshots, so equivalently ``A(mu) ~ sum_m gamma_m(mu) A(mu_{k_m})`` with
``gamma = (S[p])^{-1} a(mu)[p]`` (:meth:`MatrixEIM.snapshot_coefficients`).
If the family is affine with ``Q`` terms, ``M = Q`` terms reproduce it to
round-off. Right-hand sides are vectors and use the same machinery
(:class:`VectorEIM`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import scipy.sparse as sp

from solvers.problems.base import AffineDecomposition

from .eim import Interpolant, eim

EntryFn = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def union_pattern(mats: Sequence[Any]) -> sp.csr_matrix:
    """The union of the sparsity patterns (explicit zeros included) as a CSR 0/1 matrix."""
    shape = mats[0].shape
    rows, cols = [], []
    for A in mats:
        if A.shape != shape:
            raise ValueError(f"matrices of different shapes {shape} and {A.shape}")
        C = sp.coo_matrix(A)
        rows.append(C.row)
        cols.append(C.col)
    P = sp.coo_matrix((np.ones(sum(len(r) for r in rows)), (np.concatenate(rows),
                       np.concatenate(cols))), shape=shape).tocsr()
    P.sum_duplicates()
    P.data[:] = 1.0
    P.sort_indices()
    return P


def values_on_pattern(A: Any, pattern: sp.csr_matrix) -> np.ndarray:
    """Entries of ``A`` at the pattern's positions (row-major order); outside entries must be absent."""
    C = sp.coo_matrix(A)
    C.sum_duplicates()
    keys = _keys(pattern)
    k = C.row.astype(np.int64) * pattern.shape[1] + C.col
    pos = np.searchsorted(keys, k)
    ok = (pos < keys.size) & (keys[np.minimum(pos, keys.size - 1)] == k)
    if not np.all(ok | (C.data == 0)):
        raise ValueError("matrix has entries outside the training sparsity pattern")
    v = np.zeros(keys.size)
    v[pos[ok]] = C.data[ok]
    return v


def _keys(pattern: sp.csr_matrix) -> np.ndarray:
    rows = np.repeat(np.arange(pattern.shape[0], dtype=np.int64), np.diff(pattern.indptr))
    return rows * pattern.shape[1] + pattern.indices


def entries_from_assembly(assemble: Callable[[np.ndarray], Any]) -> EntryFn:
    """Fallback ``entries`` function: assemble the whole matrix and read the entries."""
    def entries(mu: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        A = sp.csr_matrix(assemble(mu))
        return np.asarray(A[rows, cols]).ravel()
    return entries


@dataclass
class MatrixEIM:
    """EIM of a sparse matrix family on a fixed pattern; see the module docstring."""

    pattern: sp.csr_matrix
    interp: Interpolant
    selected: np.ndarray          # training snapshots chosen by the greedy (k_m)
    S_magic: np.ndarray           # a(mu_{k_m}) at the magic entries, (M, M)

    @classmethod
    def fit(cls, matrices: Sequence[Any], *, tol: float = 1e-10,
            max_terms: int | None = None) -> MatrixEIM:
        """EIM greedy on assembled training matrices (relative sup norm over entries)."""
        if len(matrices) == 0:
            raise ValueError("matrix EIM needs at least one training matrix")
        P = union_pattern(matrices)
        S = np.column_stack([values_on_pattern(A, P) for A in matrices])
        I = eim(S, tol=tol, max_terms=max_terms)
        selected = np.asarray(I.sources, dtype=np.int64)
        return cls(P, I, selected, S[I.indices][:, selected])

    @property
    def M(self) -> int:
        return self.interp.M

    @property
    def magic_entries(self) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, cols)`` of the magic entries."""
        keys = _keys(self.pattern)[self.interp.indices]
        return keys // self.pattern.shape[1], keys % self.pattern.shape[1]

    def terms(self, M: int | None = None) -> tuple[sp.csr_matrix, ...]:
        """The basis matrices ``Q_m`` on the pattern."""
        M = self.M if M is None else M
        out = []
        for m in range(M):
            Qm = self.pattern.copy()
            Qm.data = self.interp.Q[:, m].copy()
            out.append(Qm)
        return tuple(out)

    def coefficients(self, magic_values: np.ndarray, M: int | None = None) -> np.ndarray:
        """``beta = B^{-1} values`` (forward substitution); rows of a batch allowed."""
        return self.interp.coefficients(magic_values, M)

    def snapshot_coefficients(self, magic_values: np.ndarray) -> np.ndarray:
        """``gamma`` with ``A(mu) ~ sum_m gamma_m A(mu_{k_m})`` (selected training matrices)."""
        return np.linalg.solve(self.S_magic, np.asarray(magic_values, float).T).T

    def approximate(self, magic_values: np.ndarray) -> sp.csr_matrix:
        A = self.pattern.copy()
        A.data = self.interp.Q @ self.coefficients(magic_values)
        return A

    def theta(self, entries: EntryFn) -> Callable[[np.ndarray], np.ndarray]:
        """Coefficient function ``mu -> beta(mu)`` that evaluates only the magic entries."""
        rows, cols = self.magic_entries

        def theta(mu: np.ndarray) -> np.ndarray:
            return self.coefficients(entries(np.asarray(mu, float), rows, cols))
        return theta


@dataclass
class VectorEIM:
    """EIM of a parametrised vector family (right-hand sides): ``f(mu) ~ sum_m beta_m q_m``."""

    interp: Interpolant

    @classmethod
    def fit(cls, vectors: Sequence[np.ndarray], *, tol: float = 1e-10,
            max_terms: int | None = None) -> VectorEIM:
        return cls(eim(np.column_stack([np.asarray(v, float) for v in vectors]), tol=tol,
                       max_terms=max_terms))

    def terms(self) -> tuple[np.ndarray, ...]:
        return tuple(self.interp.Q[:, m].copy() for m in range(self.interp.M))

    def theta(self, entries: Callable[[np.ndarray, np.ndarray], np.ndarray]
              ) -> Callable[[np.ndarray], np.ndarray]:
        idx = self.interp.indices

        def theta(mu: np.ndarray) -> np.ndarray:
            return self.interp.coefficients(entries(np.asarray(mu, float), idx))
        return theta


def eim_affine_decomposition(mat: MatrixEIM, matrix_entries: EntryFn,
                             f_terms: tuple[np.ndarray, ...],
                             theta_f: Callable[[np.ndarray], np.ndarray]) -> AffineDecomposition:
    """The affine decomposition ``A(mu) ~ sum beta_m(mu) Q_m`` for the reduced basis.

    No min-theta reference (the ``Q_m`` are not semidefinite): certify with SCM.
    """
    return AffineDecomposition(mat.terms(), tuple(f_terms), mat.theta(matrix_entries), theta_f,
                               None)


class AssembledEntries:
    """Non-intrusive entry access: assemble ``problem.assemble(mu)`` once per parameter.

    ``matrix(mu, rows, cols)`` and ``vector(mu, idx)`` share a one-element
    cache, so the matrix and right-hand-side coefficients of one parameter cost
    one assembly. Problems that evaluate single entries use
    :class:`LocalEntries` instead (:func:`entry_access`).
    """

    kind = "assembled"

    def __init__(self, assemble: Callable[[np.ndarray], Any]):
        self.assemble = assemble
        self._key: bytes | None = None
        self._sys: Any = None

    def _system(self, mu: np.ndarray) -> Any:
        key = np.asarray(mu, float).tobytes()
        if key != self._key:
            self._key, self._sys = key, self.assemble(mu)
        return self._sys

    def matrix(self, mu: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return np.asarray(sp.csr_matrix(self._system(mu).A)[rows, cols]).ravel()

    def vector(self, mu: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return np.asarray(self._system(mu).b, dtype=float)[idx]


class LocalEntries:
    """Entry access through the problem's own ``matrix_entries(mu, rows, cols)`` and
    ``rhs_entries(mu, idx)`` (e.g. :class:`~solvers.problems.darcy.Darcy`): the
    online cost of the EIM coefficients no longer depends on the truth size."""

    kind = "local"

    def __init__(self, problem: Any):
        self.problem = problem

    def matrix(self, mu: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return np.asarray(self.problem.matrix_entries(mu, rows, cols), dtype=float)

    def vector(self, mu: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return np.asarray(self.problem.rhs_entries(mu, idx), dtype=float)


def entry_access(problem: Any) -> LocalEntries | AssembledEntries:
    """:class:`LocalEntries` when the problem evaluates single entries, else
    :class:`AssembledEntries` (one assembly per parameter)."""
    if problem.has_local_entries:
        return LocalEntries(problem)
    return AssembledEntries(problem.assemble)


def operator_eim(systems: Sequence[Any], *, tol: float = 1e-10, max_terms: int | None = None
                 ) -> tuple[MatrixEIM, VectorEIM]:
    """Matrix EIM of ``A(mu_k)`` and vector EIM of ``b(mu_k)`` from assembled systems."""
    mat = MatrixEIM.fit([s.A for s in systems], tol=tol, max_terms=max_terms)
    vec = VectorEIM.fit([np.asarray(s.b, float) for s in systems], tol=tol,
                        max_terms=max_terms)
    return mat, vec


def operator_affine_decomposition(mat: MatrixEIM, vec: VectorEIM,
                                  entries: LocalEntries | AssembledEntries) -> AffineDecomposition:
    """``A(mu) ~ sum beta_m Q_m``, ``b(mu) ~ sum gamma_m q_m`` with coefficients from magic entries."""
    return AffineDecomposition(mat.terms(), vec.terms(), mat.theta(entries.matrix),
                               vec.theta(entries.vector), None)
