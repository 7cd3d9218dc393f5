"""The small interfaces every PDE problem implements.

A *problem* is a parametrised PDE discretised on a structured grid. Its
parameters ``mu`` live in a :class:`ParameterSpace` (a box of uniform
parameters and/or standard-normal coefficients of a random field); a sampler
draws points of the unit cube and the space maps them to ``mu`` (inverse CDF),
so uniform, Latin-hypercube and Sobol designs work for every problem.

Steady linear problems expose ``assemble(mu) -> LinearSystem`` so that a
sequence of related systems can be handed to a sequence solver (recycling,
preconditioner reuse, ...). Time-dependent problems integrate a trajectory in
``solve(mu, solver)`` and return the fields on the output time grid.

Prescribed data, the same way for every problem: ``problem.prescribe(source=f,
dirichlet=g, initial=u0, velocity=v0, impedance=g)`` returns a copy of the
problem whose ``assemble``/``solve``/``to_fields``/``input_fields`` use the
given data in place of the default (constant or random) ones; the names a
problem accepts are its ``prescribable``. A datum is a number, an array of the
grid's shape (boundary nodes included), a callable of the node coordinates
``f(*grid.mesh())`` (with the time as last argument, ``f(x, y, t)``, for the
source and boundary data of a time-dependent problem), or a file
``"PATH[:NAME]"`` (.npz/.npy/HDF5), see :mod:`solvers.problems.prescribed`.
Dirichlet data are lifted: the unknowns stay the interior nodes, ``b`` becomes
``f_I - A_IB g_B`` (:mod:`solvers.problems.lifting`) and ``to_fields`` puts
``g`` on the boundary. ``config()`` records each datum (a file by path and
sha256) so that ``problem_from_config`` rebuilds the problem; with nothing
prescribed every result is bit-identical to the unprescribed problem.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import numpy as np
import scipy.sparse as sp
from scipy.special import ndtri

from solvers.linear.options import as_number
from solvers.linear.system import LinearSystem

from .grid import Grid
from .prescribed import Data, on_grid, read

__all__ = ["AffineDecomposition", "LinearSystem", "ParameterSpace", "Problem", "Solution"]


@dataclass(frozen=True)
class ParameterSpace:
    """Names and distributions of the parameters of a problem.

    ``kinds[i]`` is ``"uniform"`` (``ranges[i] = (lo, hi)``), ``"loguniform"``
    (``lo, hi > 0``, uniform in ``log``) or ``"normal"`` (standard normal; the
    range is the 0.1%/99.9% quantiles, for display only).
    """

    names: tuple[str, ...]
    kinds: tuple[str, ...]
    ranges: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        if not (len(self.names) == len(self.kinds) == len(self.ranges)):
            raise ValueError("names, kinds and ranges must have the same length")
        bad = set(self.kinds) - {"uniform", "loguniform", "normal"}
        if bad:
            raise ValueError(f"unknown parameter kind(s) {sorted(bad)}")

    @property
    def dim(self) -> int:
        return len(self.names)

    def from_unit(self, u: np.ndarray) -> np.ndarray:
        """Map points ``u`` of the open unit cube ``(n, dim)`` to parameters ``(n, dim)``."""
        u = np.atleast_2d(np.asarray(u, dtype=float))
        if u.shape[1] != self.dim:
            raise ValueError(f"expected {self.dim} columns, got {u.shape[1]}")
        mu = np.empty_like(u)
        for j, (kind, (lo, hi)) in enumerate(zip(self.kinds, self.ranges)):
            if kind == "uniform":
                mu[:, j] = lo + (hi - lo) * u[:, j]
            elif kind == "loguniform":
                mu[:, j] = np.exp(np.log(lo) + (np.log(hi) - np.log(lo)) * u[:, j])
            else:
                mu[:, j] = ndtri(np.clip(u[:, j], 1e-12, 1 - 1e-12))
        return mu

    def contains(self, mu: np.ndarray, rtol: float = 1e-12) -> np.ndarray:
        """Boolean mask of the rows of ``mu`` inside the box (normal coordinates always are)."""
        mu = np.atleast_2d(mu)
        inside = np.ones(mu.shape[0], dtype=bool)
        for j, (kind, (lo, hi)) in enumerate(zip(self.kinds, self.ranges)):
            if kind != "normal":
                tol = rtol * max(abs(lo), abs(hi), 1.0)
                inside &= (mu[:, j] >= lo - tol) & (mu[:, j] <= hi + tol)
        return inside

    def to_json(self) -> dict[str, Any]:
        return {"names": list(self.names), "kinds": list(self.kinds),
                "ranges": [list(r) for r in self.ranges]}


@dataclass(frozen=True)
class AffineDecomposition:
    """``A(mu) = sum_q theta_A(mu)[q] A_q`` and ``f(mu) = sum_q theta_f(mu)[q] f_q``.

    ``A_terms`` act on the interior unknowns (the same ones ``assemble`` uses);
    ``theta_A`` / ``theta_f`` map one parameter vector to the coefficient arrays.
    ``min_theta_ref`` is the reference parameter of the min-theta coercivity
    lower bound when every ``theta_A[q] > 0`` and every ``A_q`` is SPSD
    (``alpha_LB(mu) = alpha(mu_ref) * min_q theta_q(mu)/theta_q(mu_ref)``), else ``None``.
    """

    A_terms: tuple[sp.csr_matrix, ...]
    f_terms: tuple[np.ndarray, ...]
    theta_A: Callable[[np.ndarray], np.ndarray]
    theta_f: Callable[[np.ndarray], np.ndarray]
    min_theta_ref: np.ndarray | None = None

    def assemble(self, mu: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
        ta, tf = self.theta_A(mu), self.theta_f(mu)
        A = sum(t * Aq for t, Aq in zip(ta, self.A_terms))
        f = sum(t * fq for t, fq in zip(tf, self.f_terms))
        return sp.csr_matrix(A), np.asarray(f, dtype=float)


@dataclass(frozen=True)
class Solution:
    """What one sample produces: named input and output fields plus solver statistics.

    Field arrays have shape ``([n_times,] *grid.shape[, channels])``.
    ``stats`` is a list of per-linear-solve records (dicts with at least
    ``iterations, matvecs, residual, seconds, converged``), which the dataset
    writer totals per sample.
    """

    inputs: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray]
    stats: list[dict[str, Any]] = field(default_factory=list)


class Problem:
    """Base class of the problem zoo.

    Subclasses set ``name``, ``time_dependent``, ``input_names``,
    ``output_names`` and implement ``parameter_space``, ``grid``, and either
    ``assemble`` + ``to_fields`` (steady, linear) or ``solve`` (time-dependent).
    Options come from ``rom generate --param KEY=VALUE`` and are stored in the
    dataset's config so that ``problem_from_config`` rebuilds the same problem.
    Subclasses list the data they take in ``prescribable`` and read them with
    :meth:`data` / :meth:`boundary_values` (see the module docstring);
    ``prescribed`` holds them and is not changed in place (``prescribe`` copies).
    """

    name: ClassVar[str] = ""
    time_dependent: ClassVar[bool] = False
    input_names: ClassVar[tuple[str, ...]] = ()
    output_names: ClassVar[tuple[str, ...]] = ("u",)
    #: option name -> default value; unknown options are rejected.
    defaults: ClassVar[dict[str, Any]] = {}
    min_resolution: ClassVar[int] = 4
    #: ``affine_decomposition()`` is implemented (certified RB reduces the problem directly).
    has_affine_decomposition: ClassVar[bool] = False
    #: ``matrix_entries`` / ``rhs_entries`` are implemented: single entries of ``A(mu)`` and
    #: ``b(mu)`` at a cost independent of the grid (the matrix EIM's online stage uses them).
    has_local_entries: ClassVar[bool] = False
    #: the data :meth:`prescribe` accepts (names from ``prescribed.DATA_NAMES``)
    prescribable: ClassVar[tuple[str, ...]] = ()

    def __init__(self, resolution: int, **options: Any) -> None:
        if int(resolution) < self.min_resolution:
            raise ValueError(
                f"resolution {resolution} is too small for {self.name} "
                f"(at least {self.min_resolution})")
        unknown = set(options) - set(self.defaults)
        if unknown:
            raise ValueError(
                f"unknown option(s) {sorted(unknown)} for problem {self.name}; "
                f"valid: {sorted(self.defaults) or 'none'}")
        self.resolution = int(resolution)
        self.options = {**self.defaults, **{k: _coerce(self.name, k, self.defaults[k], v)
                                            for k, v in options.items()}}
        #: output times of a trajectory; time-dependent problems set them in ``__init__``
        self._times: np.ndarray | None = None
        #: prescribed data by name (files already read) and their config records
        self.prescribed: dict[str, Any] = {}
        self._records: dict[str, dict[str, Any]] = {}

    # -- description -------------------------------------------------------
    @property
    def parameter_space(self) -> ParameterSpace:
        raise NotImplementedError

    @property
    def grid(self) -> Grid:
        raise NotImplementedError

    @property
    def times(self) -> np.ndarray | None:
        """Output times of a trajectory, or ``None`` for steady problems."""
        return self._times

    def flat_parameters(self, mu: np.ndarray) -> np.ndarray:
        """``mu`` as a flat float vector of ``parameter_space.dim`` entries (else a ``ValueError``)."""
        flat = np.asarray(mu, dtype=float).ravel()
        if flat.shape != (self.parameter_space.dim,):
            raise ValueError(f"{self.name} expects {self.parameter_space.dim} parameters, "
                             f"got shape {np.shape(mu)}")
        return flat

    def config(self) -> dict[str, Any]:
        out: dict[str, Any] = {"problem": self.name, "resolution": self.resolution,
                               "options": dict(self.options)}
        if self._records:
            out["prescribed"] = {k: dict(v) for k, v in self._records.items()}
        return out

    # -- prescribed data ---------------------------------------------------
    def prescribe(self, **data: Data) -> Problem:
        """A copy of the problem that uses the given data (see the module docstring).

        ``None`` removes a datum prescribed before. Arrays (and files) must have
        the grid's shape; a name the problem does not take is a ``ValueError``.
        """
        unknown = set(data) - set(self.prescribable)
        if unknown:
            raise ValueError(f"{self.name} takes no prescribed {', '.join(sorted(unknown))}; "
                             f"valid: {', '.join(self.prescribable) or 'none'}")
        new = copy.copy(self)
        new.prescribed, new._records = dict(self.prescribed), dict(self._records)
        for key, value in data.items():
            if value is None:
                new.prescribed.pop(key, None)
                new._records.pop(key, None)
                continue
            new.prescribed[key], new._records[key] = read(value, key, self.grid.shape)
        return new

    def data(self, key: str, *time: float, default: Any = None) -> np.ndarray | None:
        """The prescribed datum ``key`` on the full grid (at ``time``); else ``default``
        on the grid (``None`` stays ``None``)."""
        value = self.prescribed.get(key, default)
        if value is None:
            return None
        return on_grid(self.grid, value, f"prescribed {key}", *time)

    def boundary_values(self, *time: float) -> float | np.ndarray:
        """The Dirichlet data on the full grid (only its boundary entries are used), else 0."""
        return self.data("dirichlet", *time) if "dirichlet" in self.prescribed else 0.0

    # -- steady linear problems --------------------------------------------
    def input_fields(self, mu: np.ndarray) -> dict[str, np.ndarray]:
        """Input fields (coefficients, sources) of parameter ``mu`` on the grid."""
        return {}

    def assemble(self, mu: np.ndarray) -> LinearSystem:
        raise NotImplementedError(f"{self.name} has no single linear system")

    def affine_decomposition(self) -> AffineDecomposition:
        """The parameter-separable form of ``assemble`` (reduced basis needs it)."""
        raise NotImplementedError(f"{self.name} has no affine decomposition")

    def matrix_entries(self, mu: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """``assemble(mu).A[rows, cols]`` without assembling (see ``has_local_entries``)."""
        raise NotImplementedError(f"{self.name} has no local matrix-entry access")

    def rhs_entries(self, mu: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """``assemble(mu).b[idx]`` without assembling (see ``has_local_entries``)."""
        raise NotImplementedError(f"{self.name} has no local right-hand-side access")

    def to_fields(self, mu: np.ndarray, x: np.ndarray) -> dict[str, np.ndarray]:
        """Output fields on the grid (boundary values included) from the unknowns ``x``."""
        raise NotImplementedError

    # -- any problem -------------------------------------------------------
    def solve(self, mu: np.ndarray, solver: Any = None) -> Solution:
        """Solve one sample. Steady problems: assemble, solve, map to fields.

        ``solver`` is a sequence solver from :mod:`solvers.linear` (default:
        sparse direct).
        """
        from solvers.linear import make_solver

        solver = solver if solver is not None else make_solver("direct")
        system = self.assemble(mu)
        x, stats = solver.solve(system)
        return Solution(self.input_fields(mu), self.to_fields(mu, x), [stats.as_dict()])


def _coerce(problem: str, option: str, default: Any, value: Any) -> Any:
    """``value`` of ``option`` read as the type of its declared default (text from
    ``--param``), checked: integers integral, numbers finite, flags boolean.

    Non-text values keep their type once checked; an option whose default is text
    or ``None`` takes any value. Errors name the option and the problem.
    """
    if isinstance(default, str) or default is None:
        return value

    def fail(wanted: str) -> ValueError:
        return ValueError(f"option {option!r} of problem {problem!r} must be {wanted}, "
                          f"got {value!r}")

    if isinstance(default, bool):
        if isinstance(value, (bool, np.bool_, int, np.integer)) and value in (0, 1):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
            return value.strip().lower() in _TRUE
        raise fail("true or false")
    if isinstance(default, int):
        number = as_number(value)
        if number is None or not np.isfinite(number) or not float(number).is_integer():
            raise fail("an integer")
        return int(number) if isinstance(value, str) else value
    if isinstance(default, float):
        number = as_number(value)
        if number is None or not np.isfinite(number):
            raise fail("a finite number")
        return float(number) if isinstance(value, str) else value
    if isinstance(default, (list, tuple)):
        parts = value.split(",") if isinstance(value, str) else value
        numbers = [as_number(v) for v in parts] if isinstance(parts, (list, tuple)) else [None]
        if not numbers or any(v is None or not np.isfinite(v) for v in numbers):
            raise fail("a comma-separated list of finite numbers")
        return type(default)(float(v) for v in numbers) if isinstance(value, str) else value
    return value


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
