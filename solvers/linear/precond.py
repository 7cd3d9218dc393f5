"""Preconditioners ``M ~ A^{-1}`` and their reuse across a sequence of systems.

Every preconditioner has ``apply(r)`` for a vector ``(n,)`` or a block
``(n, k)`` and a ``name``. Built by :func:`make_precond`:

* ``jacobi``: ``M = D^{-1}``.
* ``ssor``: ``M = omega (2 - omega) (D + omega U)^{-1} D (D + omega L)^{-1}``
  applied as one symmetric SOR sweep from a zero initial guess (compiled
  sweeps of pyamg).
* ``ic0``: incomplete Cholesky with the sparsity of ``tril(A)``,
  ``(L L^T)_{ij} = a_{ij}`` on that pattern, computed by the fine-grained
  fixed-point sweeps of Chow & Patel (2015) with sparse matrix products, or
  by the exact sequential factorisation when the sweeps do not converge,
  applied by two sparse triangular solves.
* ``ilu``: SuperLU's threshold ILU (``scipy.sparse.linalg.spilu``).
* ``amg``: one V-cycle of pyamg's smoothed-aggregation hierarchy.
* ``twolevel``: Jacobi smoother + smoothed-aggregation coarse space with a
  direct (SuperLU) coarse solve, symmetric multiplicative or additive
  (:class:`~solvers.linear.twolevel.TwoLevelJacobi`; SPD matrices).
* ``multilevel``: the same with the coarse solve replaced recursively by a
  V-cycle until the coarse matrix is small
  (:class:`~solvers.linear.twolevel.MultilevelJacobi`; SPD matrices).
* ``learned:PATH`` (or any ``PREFIX:ARG``): resolved through a loader
  registered with :func:`register_precond_loader` (learned preconditioners
  live in another package; this module only provides the hook).

:class:`PrecondReuse` keeps one preconditioner across a sequence and rebuilds
it when the iteration count grows by ``rebuild_factor`` over the count seen
right after the last build.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

PRECONDS = ("none", "jacobi", "ssor", "ic0", "ilu", "amg", "twolevel", "multilevel")

#: prefix -> loader(argument, A) -> object with ``apply`` (or a LinearOperator)
_LOADERS: dict[str, Callable[[str, sp.csr_matrix], Any]] = {}
#: prefixes whose loader lives in a package that registers it when imported (the one
#: documented hook from solvers into operators: learned preconditioners).
_PLUGINS: dict[str, str] = {"learned": "operators.precond"}


def register_precond_loader(prefix: str, loader: Callable[[str, sp.csr_matrix], Any]) -> None:
    """Make ``precond="PREFIX:ARG"`` call ``loader(ARG, A)``.

    The loader returns an object with ``apply(r)`` (vectors and ``(n, k)``
    blocks) or a ``scipy.sparse.linalg.LinearOperator``; it is used for learned
    preconditioners (``learned:PATH``) without this package importing them.
    """
    if not prefix or ":" in prefix:
        raise ValueError(f"invalid preconditioner prefix {prefix!r}")
    _LOADERS[prefix] = loader


def same_matrix(A: sp.csr_matrix | None, B: sp.csr_matrix | None) -> bool:
    """Exact equality of two CSR matrices (pattern and values)."""
    if A is None or B is None:
        return False
    if A is B:
        return True
    return (A.shape == B.shape and A.nnz == B.nnz and np.array_equal(A.indptr, B.indptr)
            and np.array_equal(A.indices, B.indices) and np.array_equal(A.data, B.data))


def relative_change(A: sp.csr_matrix, B: sp.csr_matrix) -> float:
    """``||B - A||_F / ||A||_F`` (``inf`` for different shapes)."""
    if A.shape != B.shape:
        return float("inf")
    return float(spla.norm(B - A) / max(spla.norm(A), 1e-300))


class Jacobi:
    """``M = D^{-1}`` (zero diagonal entries are rejected)."""

    name = "jacobi"

    def __init__(self, A: sp.csr_matrix):
        d = A.diagonal()
        if np.any(d == 0):
            raise ValueError("Jacobi preconditioner: matrix has zero diagonal entries")
        self.dinv = 1.0 / d

    def apply(self, r: np.ndarray) -> np.ndarray:
        return r * (self.dinv if r.ndim == 1 else self.dinv[:, None])


class SSOR:
    """Symmetric SOR: one forward and one backward sweep from ``x = 0``.

    For ``A = L + D + U`` this applies ``M^{-1} = omega (2 - omega)
    (D + omega U)^{-1} D (D + omega L)^{-1}``, symmetric positive definite for
    SPD ``A`` and ``0 < omega < 2``.
    """

    name = "ssor"

    def __init__(self, A: sp.csr_matrix, omega: float = 1.0):
        if not 0 < omega < 2:
            raise ValueError(f"SSOR needs 0 < omega < 2, got {omega}")
        if np.any(A.diagonal() == 0):
            raise ValueError("SSOR preconditioner: matrix has zero diagonal entries")
        self.A, self.omega = sp.csr_matrix(A), float(omega)

    def apply(self, r: np.ndarray) -> np.ndarray:
        from pyamg.relaxation.relaxation import sor

        dtype = np.result_type(self.A.dtype, r.dtype)
        if r.ndim == 2:
            return np.stack([self.apply(r[:, j]) for j in range(r.shape[1])], axis=1)
        x = np.zeros(r.shape[0], dtype=dtype)
        rr = np.asarray(r, dtype=dtype)
        # pyamg's sweep="symmetric" drops omega (it calls plain Gauss-Seidel), so the
        # forward and backward SOR sweeps are called one after the other.
        sor(self.A, x, rr, self.omega, iterations=1, sweep="forward")
        sor(self.A, x, rr, self.omega, iterations=1, sweep="backward")
        return x


def _pattern_values(P: sp.csr_matrix, keys: np.ndarray, n: int) -> np.ndarray:
    """Values of ``P`` at the sorted linear positions ``keys = row * n + col`` (0 where absent)."""
    P = P.tocoo()
    pk = P.row.astype(np.int64) * n + P.col
    pos = np.searchsorted(keys, pk)
    pos = np.minimum(pos, keys.size - 1)
    hit = keys[pos] == pk
    out = np.zeros(keys.size, dtype=P.dtype)
    np.add.at(out, pos[hit], P.data[hit])
    return out


def ic0_sweeps(A: sp.csr_matrix, sweeps: int = 30, tol: float = 1e-10
               ) -> tuple[sp.csr_matrix, int, bool]:
    """Fixed-point (Jacobi) sweeps of Chow & Patel (2015) towards IC(0).

    The defining equations ``l_ij = (a_ij - sum_{k<j} l_ik l_jk) / l_jj`` and
    ``l_jj = sqrt(a_jj - sum_{k<j} l_jk^2)`` on the pattern of ``tril(A)`` are
    iterated with the sums read from the sparse product ``L L^T`` restricted to
    the pattern, from ``tril(A) D^{-1/2}``. Returns ``(L, sweeps done, converged)``,
    converged when the largest change is below ``tol`` relative to the largest
    entry. A non-positive pivot raises ``ValueError``.
    """
    A = sp.csr_matrix(A)
    n = A.shape[0]
    Lp = sp.tril(A, format="csr")
    Lp.sort_indices()
    coo = Lp.tocoo()
    rows, cols = coo.row.astype(np.int64), coo.col.astype(np.int64)
    keys = rows * n + cols
    a = coo.data.astype(np.result_type(A.dtype, np.float64))
    diag = rows == cols
    d = A.diagonal()
    if np.any(d.real <= 0):
        raise ValueError("IC(0) needs a positive diagonal (is the matrix SPD?)")
    sqd = np.sqrt(d)
    vals = a / sqd[cols]
    done, converged = 0, False
    while done < max(1, sweeps) and not converged:
        L = sp.csr_matrix((vals, (rows, cols)), shape=(n, n))
        s = _pattern_values(L @ (L.conj().T if np.iscomplexobj(vals) else L.T), keys, n)
        ldiag = np.zeros(n, dtype=vals.dtype)
        ldiag[rows[diag]] = vals[diag]
        new = np.empty_like(vals)
        piv = a[diag] - (s[diag] - vals[diag] * np.conj(vals[diag]))
        if np.any(~np.isfinite(piv)) or np.any(piv.real <= 0):
            raise ValueError("IC(0) broke down: non-positive pivot (matrix not SPD?)")
        new[diag] = np.sqrt(piv)
        off = ~diag
        new[off] = (a[off] - (s[off] - vals[off] * np.conj(ldiag[cols[off]]))) / np.conj(
            ldiag[cols[off]])
        change = float(np.max(np.abs(new - vals)))
        vals = new
        done += 1
        converged = change <= tol * float(np.max(np.abs(vals)))
    return sp.csr_matrix((vals, (rows, cols)), shape=(n, n)), done, converged


def ic0_sequential(A: sp.csr_matrix) -> sp.csr_matrix:
    """IC(0) by the exact row-by-row (left-looking) factorisation.

    Row ``i`` in order: ``l_ij = (a_ij - sum_k l_ik conj(l_jk)) / conj(l_jj)`` for
    the pattern entries ``j < i`` in increasing order, the sum over ``k < j`` in
    the patterns of both rows, then ``l_ii = sqrt(a_ii - sum_{k<i} |l_ik|^2)``. A
    Python loop over rows, ``O(nnz * row length)`` operations: the fall-back of
    :func:`ic0` when the sweeps converge slowly (anisotropic coefficients, where
    information travels one grid line per sweep). A non-positive pivot raises
    ``ValueError``.
    """
    Lp = sp.tril(sp.csr_matrix(A), format="csr")
    Lp.sort_indices()
    n, indptr, indices = Lp.shape[0], Lp.indptr, Lp.indices.tolist()
    a = Lp.data.astype(np.result_type(Lp.dtype, np.float64))
    conj = (lambda v: v.conjugate()) if np.iscomplexobj(a) else (lambda v: v)
    data = a.tolist()
    rows: list[dict[int, Any]] = []  # the strictly lower entries of each finished row
    diag: list[Any] = []
    out = [0.0] * len(data)
    for i in range(n):
        row: dict[int, Any] = {}
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            if j < i:
                rj = rows[j]
                small, large = (row, rj) if len(row) < len(rj) else (rj, row)
                s = sum(row[k] * conj(rj[k]) for k in small if k in large)
                row[j] = out[p] = (data[p] - s) / conj(diag[j])
            else:
                piv = data[p] - sum(abs(v) ** 2 for v in row.values())
                if not (np.isfinite(piv) and piv.real > 0):
                    raise ValueError("IC(0) broke down: non-positive pivot (matrix not SPD?)")
                out[p] = piv ** 0.5
                diag.append(out[p])
        rows.append(row)
    return sp.csr_matrix((np.array(out, dtype=a.dtype), Lp.indices, indptr), shape=(n, n))


def ic0(A: sp.csr_matrix, sweeps: int = 30, tol: float = 1e-10
        ) -> tuple[sp.csr_matrix, dict[str, Any]]:
    """Incomplete Cholesky IC(0): lower ``L`` on the pattern of ``tril(A)`` with
    ``(L L^*)_{ij} = a_{ij}`` for every ``(i, j)`` in that pattern.

    Up to ``sweeps`` fixed-point sweeps (:func:`ic0_sweeps`, sparse products);
    when they have not converged, the exact sequential factorisation
    (:func:`ic0_sequential`), so the factor is always the exact IC(0) factor.
    Returns ``(L, info)`` with ``info = {"sweeps": ..., "method": "sweeps" |
    "sequential"}``.
    """
    L, done, converged = ic0_sweeps(A, sweeps, tol)
    if converged:
        return L, {"sweeps": done, "method": "sweeps"}
    return ic0_sequential(A), {"sweeps": done, "method": "sequential"}


def ic0_factor(A: sp.csr_matrix, sweeps: int = 30, tol: float = 1e-10) -> sp.csr_matrix:
    """The exact IC(0) factor ``L`` of :func:`ic0`."""
    return ic0(A, sweeps, tol)[0]


class IC0:
    """IC(0) preconditioner ``M = (L L^*)^{-1}``; ``info`` says how ``L`` was computed.

    The two triangular solves run in SuperLU: ``L`` itself is "factorised" with
    the natural ordering and no pivoting (``L = (L D^{-1}) D``, no fill), so
    ``solve`` and ``solve(trans="H")`` apply ``L^{-1}`` and ``L^{-*}``.
    """

    name = "ic0"

    def __init__(self, A: sp.csr_matrix, sweeps: int = 30):
        self.L, self.info = ic0(A, sweeps=sweeps)
        self.lu = spla.splu(sp.csc_matrix(self.L), permc_spec="NATURAL", diag_pivot_thresh=0.0,
                            options={"SymmetricMode": True})
        self.trans = "H" if np.iscomplexobj(self.L.data) else "T"

    def apply(self, r: np.ndarray) -> np.ndarray:
        return self.lu.solve(self.lu.solve(r), trans=self.trans)


class ILU:
    """Threshold incomplete LU of SuperLU (``spilu``): ``M = (L U)^{-1}`` with its permutations."""

    name = "ilu"

    def __init__(self, A: sp.csr_matrix, drop_tol: float = 1e-4, fill_factor: float = 10.0):
        try:
            self.lu = spla.spilu(sp.csc_matrix(A), drop_tol=drop_tol, fill_factor=fill_factor)
        except RuntimeError as exc:
            raise ValueError(f"ILU factorisation failed: {exc}") from None

    def apply(self, r: np.ndarray) -> np.ndarray:
        return self.lu.solve(r)


class AMG:
    """One V-cycle of a pyamg smoothed-aggregation hierarchy (setup once, reuse)."""

    name = "amg"

    def __init__(self, A: sp.csr_matrix, **options: Any):
        import pyamg

        symmetry = "hermitian" if options.pop("symmetric", True) else "nonsymmetric"
        self.ml = pyamg.smoothed_aggregation_solver(sp.csr_matrix(A), symmetry=symmetry,
                                                    **options)
        self.op = self.ml.aspreconditioner(cycle="V")

    def apply(self, r: np.ndarray) -> np.ndarray:
        if r.ndim == 1:
            return self.op.matvec(r)
        return np.stack([self.op.matvec(r[:, j]) for j in range(r.shape[1])], axis=1)


class _Wrapped:
    def __init__(self, name: str, obj: Any):
        self.name = name
        self.apply = obj.apply if hasattr(obj, "apply") else (
            lambda r: obj.matvec(r) if r.ndim == 1 else obj.matmat(r))


def check_precond_name(name: str | None) -> None:
    """Refuse a preconditioner name :func:`make_precond` would not know (before any work)."""
    if name is None or name == "none":
        return
    if ":" in name:
        prefix = name.split(":", 1)[0]
        if prefix not in _LOADERS and prefix in _PLUGINS:
            importlib.import_module(_PLUGINS[prefix])  # registers its loader on import
        if prefix not in _LOADERS:
            raise ValueError(f"no preconditioner loader registered for {prefix!r} "
                             f"(known: {', '.join(sorted(_LOADERS)) or 'none'})")
    elif name not in PRECONDS:
        raise ValueError(f"unknown preconditioner {name!r}; valid: {', '.join(PRECONDS)}, "
                         "or PREFIX:ARG of a registered loader")


def make_precond(name: str | None, A: sp.csr_matrix, **options: Any) -> Any:
    """Build the preconditioner ``name`` for ``A`` (``None``/``"none"`` -> ``None``)."""
    if name is None or name == "none":
        return None
    A = sp.csr_matrix(A)
    if ":" in name:
        prefix, arg = name.split(":", 1)
        if prefix not in _LOADERS and prefix in _PLUGINS:
            importlib.import_module(_PLUGINS[prefix])  # registers its loader on import
        if prefix not in _LOADERS:
            raise ValueError(f"no preconditioner loader registered for {prefix!r} "
                             f"(known: {', '.join(sorted(_LOADERS)) or 'none'})")
        return _Wrapped(name, _LOADERS[prefix](arg, A))
    from .twolevel import MultilevelJacobi, TwoLevelJacobi

    builders = {"jacobi": Jacobi, "ssor": SSOR, "ic0": IC0, "ilu": ILU, "amg": AMG,
                "twolevel": TwoLevelJacobi, "multilevel": MultilevelJacobi}
    if name not in builders:
        raise ValueError(f"unknown preconditioner {name!r}; valid: {', '.join(PRECONDS)}, "
                         "or PREFIX:ARG of a registered loader")
    return builders[name](A, **options)


class PrecondReuse:
    """One preconditioner carried along a sequence of matrices.

    ``get(A)`` returns the current preconditioner, building it when there is
    none, when ``reuse`` is off and the matrix changed, or when a rebuild is
    pending and the matrix differs from the one it was built for, or (with
    ``rebuild_change``) when ``||A - A_built||_F / ||A_built||_F`` exceeds it
    (a preconditioner of a very different matrix is not worth a failed solve). ``record(iterations)`` compares the iteration count with the one
    observed right after the last build and schedules a rebuild when it grew by
    more than ``rebuild_factor``.
    """

    def __init__(self, name: str | None, *, reuse: bool = True, rebuild_factor: float = 2.0,
                 rebuild_change: float | None = None, **options: Any):
        self.name = name or "none"
        self.reuse, self.rebuild_factor, self.options = reuse, float(rebuild_factor), options
        self.rebuild_change = rebuild_change
        self.M: Any = None
        self.A: sp.csr_matrix | None = None
        self.base_iterations: int | None = None
        self.pending = False
        self.builds = 0
        self.seconds = 0.0

    def reset(self) -> None:
        self.M, self.A, self.base_iterations, self.pending, self.builds = None, None, None, False, 0

    def get(self, A: sp.csr_matrix) -> Any:
        import time

        if self.name == "none":
            return None
        same = same_matrix(A, self.A)
        if same:
            self.pending = False  # a rebuild cannot help on the matrix it was built for
        fresh = self.A is None or self.pending or (not self.reuse and not same)
        if not fresh and not same and self.rebuild_change is not None:
            fresh = relative_change(self.A, A) > self.rebuild_change
        if fresh:
            t0 = time.perf_counter()
            self.M = make_precond(self.name, A, **self.options)
            self.seconds += time.perf_counter() - t0
            self.A, self.pending, self.base_iterations = A, False, None
            self.builds += 1
        return self.M

    def record(self, iterations: int) -> None:
        if self.base_iterations is None:
            self.base_iterations = max(int(iterations), 1)
        elif iterations > self.rebuild_factor * self.base_iterations:
            self.pending = True
