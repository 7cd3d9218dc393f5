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
from .estimators import bound_statistics

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


# -- `rom train eim --target operator`: matrix EIM + certified RB from assembled systems -----

def train_operator_eim(data_path: Any, out_dir: Any, *, tol: float = 1e-10,
                       max_terms: int | None = 100, train_size: int = 60,
                       max_basis: int = 40, rb_tol: float = 1e-6, sampler: str = "lhs",
                       seed: int = 0, scm_points: int = 30) -> dict[str, Any]:
    """Matrix/vector EIM of ``problem.assemble(mu)`` on a training design, then RB with SCM.

    Only assembled systems are used (non-intrusive). The greedy runs on the
    SCM training set, where the converged SCM certifies every point.
    """
    import time

    from data.dataset import Dataset
    from solvers.problems.sampling import sample_unit

    from .api import _box, _dataset_record
    from .coercivity import SCM
    from .io import save_model
    from .reduced_basis import ReducedBasis, batch_thetas

    with Dataset(data_path) as ds:
        problem, space, record = ds.make_problem(), ds.parameter_space, _dataset_record(ds)
    if problem.time_dependent:
        raise ValueError(f"problem {ds.problem!r} is time-dependent: operator EIM needs a steady "
                         "linear problem; use `rom train eim --target field` or `rom train pod`")
    t0 = time.perf_counter()
    train = space.from_unit(sample_unit(train_size, space.dim, sampler, seed))
    mat, vec = operator_eim([problem.assemble(m) for m in train], tol=tol, max_terms=max_terms)
    entries = entry_access(problem)
    aff = operator_affine_decomposition(mat, vec, entries)
    mu_ref = space.from_unit(np.full((1, space.dim), 0.5))[0]
    A_ref = problem.assemble(mu_ref).A
    X = sp.csr_matrix(0.5 * (A_ref + A_ref.T))
    tA = batch_thetas(aff.theta_A, train)
    scm = SCM(aff.A_terms, X, n_neighbors=scm_points)
    scm.fit(train, tA, tol=0.75, max_points=scm_points)
    rb = ReducedBasis(aff, mu_ref, _box(space), coercivity=scm, X=X)
    rb.greedy(train, tol=rb_tol, max_basis=max_basis)
    on = rb.online()
    rows, cols = mat.magic_entries
    tensors = {"basis": rb.basis, "A_N": on.A_N, "f_N": on.f_N, "est_data": on.est_data,
               "mu_ref": mu_ref, "mat_B": mat.interp.B, "mat_rows": rows, "mat_cols": cols,
               "vec_B": vec.interp.B, "vec_idx": vec.interp.indices}
    for k, v in scm.online_data().items():
        if isinstance(v, np.ndarray):
            tensors[f"coercivity/{k}"] = v
    meta = {"dataset": record, "target": "operator", "M": mat.M, "M_rhs": vec.interp.M,
            "entries": entries.kind,
            "eim_train_error_rel_sup": mat.interp.history_rel[-1], "N": rb.N,
            "estimator": "stable", "coercivity": {"kind": "scm", "n_neighbors": scm.n_neighbors},
            "box": [b.tolist() for b in _box(space)],
            "greedy": [{"N": h.N, "max_rel_bound": h.max_rel_bound} for h in rb.history],
            "train": {"tol": tol, "max_terms": max_terms, "train_size": train_size,
                      "sampler": sampler, "seed": seed, "rb_tol": rb_tol,
                      "offline_seconds": time.perf_counter() - t0}}
    save_model(out_dir, "eim", tensors, **meta)
    return meta


def evaluate_operator_eim(meta: dict, t: dict, ds: Any, out_dir: Any, resolution: Any,
                          batch_size: Any) -> dict[str, Any]:
    """Solutions of the EIM-RB model versus the dataset; bound versus the true discrete solution."""
    import time

    import scipy.sparse.linalg as spla

    from data.metrics import evaluation_record, relative_l2
    from solvers.problems import problem_from_config

    from .api import (
        _check_same_problem,
        _done_index,
        _semilogy,
        _single_and_batched,
        _write_outputs,
    )
    from .coercivity import SCM
    from .estimators import STABLE_FLOOR
    from .reduced_basis import OnlineRB

    _check_same_problem(meta, ds, resolution)
    problem = problem_from_config(meta["dataset"]["config"])
    entries = entry_access(problem)
    rows, cols, vidx = t["mat_rows"], t["mat_cols"], t["vec_idx"]
    # only the interpolation matrices B = Q[p] are needed online: Q := B, p := 0..M-1
    mat_I = Interpolant(t["mat_B"], np.arange(len(rows)), unit_lower=True)
    vec_I = Interpolant(t["vec_B"], np.arange(len(vidx)), unit_lower=True)

    def theta_A(mu: np.ndarray) -> np.ndarray:
        return mat_I.coefficients(entries.matrix(mu, rows, cols))

    def theta_f(mu: np.ndarray) -> np.ndarray:
        return vec_I.coefficients(entries.vector(mu, vidx))

    scm = SCM.from_online_data({"n_neighbors": meta["coercivity"]["n_neighbors"],
                                **{k.split("/", 1)[1]: v for k, v in t.items()
                                   if k.startswith("coercivity/")}})
    box = (np.array(meta["box"][0]), np.array(meta["box"][1]))
    online = OnlineRB(t["A_N"], t["f_N"], "stable", t["est_data"], scm, theta_A, theta_f, box,
                      STABLE_FLOOR)
    idx = _done_index(ds)
    mus = ds.parameters[idx]
    field = problem.output_names[0]
    truth = ds.outputs(idx)[field]
    uN, delta = online(mus)
    single, batched = _single_and_batched(lambda m: online(m), mus, batch_size)
    V = t["basis"]
    A_ref = problem.assemble(t["mu_ref"]).A
    X = sp.csr_matrix(0.5 * (A_ref + A_ref.T))
    preds, err_x, direct = [], np.empty(len(mus)), 0.0
    for i, (mu, c) in enumerate(zip(mus, uN)):
        s = problem.assemble(mu)
        t1 = time.perf_counter()
        u = spla.splu(sp.csc_matrix(s.A)).solve(np.asarray(s.b, float))
        direct += time.perf_counter() - t1
        e = u - V @ c
        err_x[i] = np.sqrt(e @ (X @ e))
        preds.append(problem.to_fields(mu, V @ c)[field])
    preds = np.array(preds)
    rel = relative_l2(preds, truth)
    solver_s = ds.solver_seconds_per_sample()
    record = evaluation_record(
        "eim", rel, single, solver_s if np.isfinite(solver_s) else direct / len(mus),
        target="operator", M=int(meta["M"]), N=int(online.N),
        bound={**bound_statistics(delta, err_x), "norm": "energy norm at mu_ref",
               "reference": "true discrete solution (the bound certifies the EIM operator)",
               "eim_train_error_rel_sup": meta["eim_train_error_rel_sup"],
               "estimator": "stable", "estimator_floor": STABLE_FLOOR},
        direct_solve_s=direct / len(mus), online={"single_s": single, "batched_s": batched},
        entries=entries.kind,
        note=("online time includes one full assembly per parameter (non-intrusive entries)"
              if entries.kind == "assembled" else
              "online time: the problem evaluates the magic entries directly (grid-independent)"))
    greedy = meta.get("greedy", [])
    figs = {"greedy": _semilogy([g["N"] for g in greedy],
                                {"max rel. bound (train)": [g["max_rel_bound"] for g in greedy]},
                                "N", "weak greedy (EIM operator)")}
    _write_outputs(out_dir, record, {field: preds, "parameters": mus, "bound": delta,
                                     "error_x": err_x, "rel_l2": rel}, figs)
    return record
