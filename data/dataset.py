"""The HDF5 dataset format (``format = "rom-dataset"``, ``format_version = 2``).

A dataset holds ``n`` samples of a parametrised PDE: the parameters
``mu_i`` (``(n, p)``), named input fields (coefficients, initial conditions)
and output fields (solutions), each of shape ``(n, [T,] *grid.shape[, C])``,
the grid (its axes; the mesh points and cells of an export are derived from
them), the output times of
trajectories, and per-sample solver statistics. The full layout is specified
in ``docs/format.md``; this module is its only reader and writer. Version 1
files, which also store the grid's ``points``/``cells`` explicitly (58 of 84 MB
of a 1024^2 darcy file of 4 samples), are read as well.

* :class:`Dataset` -- a read-only view; small arrays (parameters, stats, grid)
  are read eagerly, fields lazily (``field(name)`` is an ``h5py.Dataset``).
* :func:`write_dataset` -- writes a whole file atomically (:mod:`data.atomic`),
  so a reader never sees a partly written file.
* :func:`describe` -- the summary record of a file (sizes, grid, fields,
  parameters, progress, solver totals) that ``rom info`` prints.

A file that is not a rom dataset raises :class:`NotARomDataset`; telling which
foreign format it is belongs to the importers (:mod:`data.formats`), which
build on this module and are not imported by it.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

import h5py
import numpy as np

from data.atomic import atomic_path
from data.model_dir import jsonable, rom_version
from solvers.problems import Grid, ParameterSpace, Problem, problem_from_config

FORMAT = "rom-dataset"
FORMAT_VERSION = 2
#: versions this module reads: 1 also stores ``/grid/points`` and ``/grid/cells``
READ_VERSIONS = (1, 2)

#: HDF5 filter of every field: gzip level 1 after byte-shuffle. benchmarks/generate.py
#: measures it against lzf on Darcy fields: smaller files (39% of raw vs 51%), ~1.5x
#: slower to write -- but generation compresses each sample once, in the journal, so
#: the standard filter every HDF5 reader decodes (lzf is h5py-only) wins.
COMPRESSION: dict[str, Any] = {"compression": "gzip", "compression_opts": 1, "shuffle": True}

#: per-sample statistics arrays and their dtypes (``/stats/<name>``): totals over the
#: sample's linear solves of iterations/matvecs/solve_seconds, the max true relative
#: residual, the sample's wall time ``seconds`` (assembly + solves), all-converged flag,
#: the number of linear solves and the position of the sample in the solve order.
STAT_DTYPES: dict[str, type] = {
    "iterations": np.int64, "matvecs": np.int64, "residual": np.float64,
    "seconds": np.float64, "solve_seconds": np.float64, "converged": np.bool_, "n_solves": np.int64,
    "order_position": np.int64,
}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def to_json(obj: Any) -> str:
    """JSON text of configs/info records (numpy scalars and arrays allowed)."""
    return json.dumps(obj, sort_keys=True, default=jsonable)


def field_array(values: Any) -> np.ndarray:
    """A field as stored: float64, or complex128 for complex-valued fields."""
    a = np.asarray(values)
    return a.astype(np.complex128 if np.iscomplexobj(a) else np.float64, copy=False)


# --------------------------------------------------------------------------- writing
def write_grid(f: h5py.File, grid: Grid) -> None:
    """``/grid``: ``axis_k`` coordinates and attrs ``ndim``/``periodic`` (plus ``cell_type``
    for 1-3 D); the tensor-product points and cells follow from the axes (``Grid.points()``,
    ``Grid.cells()``) and are not stored."""
    g = f.create_group("grid")
    g.attrs["ndim"] = grid.ndim
    g.attrs["periodic"] = np.asarray(grid.periodic, dtype=bool)
    for k, axis in enumerate(grid.axes):
        g.create_dataset(f"axis_{k}", data=np.asarray(axis, dtype=np.float64))
    if 1 <= grid.ndim <= 3:
        g.attrs["cell_type"] = grid.cells()[0]


def create_field(group: h5py.Group, name: str, shape: tuple[int, ...],
                 dtype: Any = np.float64, fill: float = np.nan) -> h5py.Dataset:
    """A chunked, compressed field ``(n, ...)`` with one sample per chunk."""
    chunks = (1, *shape[1:]) if shape[0] > 0 and all(shape[1:]) else None
    dtype = np.dtype(dtype)
    fillvalue = dtype.type(complex(fill, fill) if dtype.kind == "c" else fill)
    return group.create_dataset(name, shape=shape, dtype=dtype, chunks=chunks,
                                fillvalue=fillvalue, **(COMPRESSION if chunks else {}))


def write_stats(f: h5py.File, stats: Mapping[str, Any] | None, n: int,
                solver: str, solver_settings: Mapping[str, Any]) -> None:
    """``/stats``: per-sample arrays (see ``STAT_DTYPES``), ``info`` JSON strings, attrs."""
    g = f.create_group("stats")
    g.attrs["solver"] = solver or ""
    g.attrs["solver_settings"] = to_json(dict(solver_settings or {}))
    stats = dict(stats or {})
    for name, dtype in STAT_DTYPES.items():
        if name in stats:
            arr = np.asarray(stats[name]).astype(dtype)
            if arr.shape != (n,):
                raise ValueError(f"stats[{name!r}] has shape {arr.shape}, expected ({n},)")
            g.create_dataset(name, data=arr)
    if "info" in stats:
        info = [s if isinstance(s, str) else to_json(s) for s in stats["info"]]
        if len(info) != n:
            raise ValueError(f"stats['info'] has {len(info)} entries, expected {n}")
        g.create_dataset("info", data=np.array(info, dtype=object),
                         dtype=h5py.string_dtype())


def write_parameters(f: h5py.File, parameters: np.ndarray, space: ParameterSpace,
                     sampler: str) -> None:
    """``/parameters/values`` ``(n, p)`` with attrs ``names``, ``kinds``, ``ranges`` (JSON), ``sampler``."""
    g = f.create_group("parameters")
    g.create_dataset("values", data=parameters)
    g.attrs["names"] = json.dumps(list(space.names))
    g.attrs["kinds"] = json.dumps(list(space.kinds))
    g.attrs["ranges"] = json.dumps([[float(a), float(b)] for a, b in space.ranges])
    g.attrs["sampler"] = sampler


def init_file(f: h5py.File, *, problem: str | Problem, config: Mapping[str, Any], grid: Grid,
              times: np.ndarray | None, parameters: np.ndarray,
              parameter_space: ParameterSpace, sampler: str, seed: int | None,
              complete: bool, extra_attrs: Mapping[str, Any] | None = None) -> None:
    """Root attributes, ``/grid``, ``/time``, ``/parameters`` and empty ``/inputs``, ``/outputs``."""
    name = problem.name if isinstance(problem, Problem) else str(problem)
    attrs = {"format": FORMAT, "format_version": FORMAT_VERSION, "problem": name,
             "created": _now(), "rom_version": rom_version(), "config": to_json(dict(config)),
             "seed": -1 if seed is None else int(seed), "n_samples": int(parameters.shape[0]),
             "complete": bool(complete)}
    for key, value in {**attrs, **dict(extra_attrs or {})}.items():
        f.attrs[key] = value
    write_grid(f, grid)
    if times is not None:
        f.create_dataset("time", data=np.asarray(times, dtype=np.float64))
    write_parameters(f, parameters, parameter_space, sampler)
    f.create_group("inputs")
    f.create_group("outputs")


def write_dataset(path: str | os.PathLike, *, problem: str | Problem, config: Mapping[str, Any],
                  grid: Grid, times: np.ndarray | None, parameters: np.ndarray,
                  parameter_space: ParameterSpace, sampler: str,
                  inputs: Mapping[str, Any], outputs: Mapping[str, Any],
                  stats: Mapping[str, Any] | None, seed: int | None, complete: bool = True,
                  extra_attrs: Mapping[str, Any] | None = None,
                  done: np.ndarray | None = None) -> Path:
    """Write a whole dataset file atomically and return its path.

    ``inputs``/``outputs`` map field names to arrays ``(n, [T,] *grid.shape[, C])``;
    ``parameters`` is ``(n, p)``; ``stats`` maps names of ``STAT_DTYPES`` (and
    ``info``: dicts or JSON strings) to per-sample arrays. The solver name and
    settings are read from ``config["solver"]`` / ``config["solver_settings"]``.
    ``done`` (bool ``(n,)``) marks the solved samples of an incomplete file.
    """
    path = Path(path)
    params = np.asarray(parameters, dtype=np.float64)
    if params.ndim == 1:
        params = params[:, None]
    n = params.shape[0]
    if params.shape[1] != parameter_space.dim:
        raise ValueError(f"parameters have {params.shape[1]} columns, parameter space has "
                         f"{parameter_space.dim}")
    fields = {"inputs": dict(inputs), "outputs": dict(outputs)}
    both = set(fields["inputs"]) & set(fields["outputs"])
    if both:
        raise ValueError(f"field name(s) {sorted(both)} used for both inputs and outputs")
    for kind, group in fields.items():
        for name, arr in group.items():
            shape = np.shape(arr)
            if not shape or shape[0] != n:
                raise ValueError(f"{kind}/{name} has shape {shape}; expected {n} samples first")
    config = dict(config)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        init_file(f, problem=problem, config=config, grid=grid, times=times,
                  parameters=params, parameter_space=parameter_space, sampler=sampler,
                  seed=seed, complete=complete, extra_attrs=extra_attrs)
        for kind, group in fields.items():
            for fname, arr in group.items():
                arr = field_array(arr)
                create_field(f[kind], fname, arr.shape, arr.dtype)[...] = arr
        if done is not None:
            f.create_dataset("done", data=np.asarray(done, dtype=bool))
        write_stats(f, stats, n, config.get("solver", ""), config.get("solver_settings", {}))
    return path


# --------------------------------------------------------------------------- reading
class NotARomDataset(ValueError):
    """``path`` exists but is not a rom dataset (not HDF5, or HDF5 without ``format``)."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = Path(path), reason

    def __reduce__(self) -> tuple[type, tuple[Path, str]]:  # picklable (Dask sends errors)
        return type(self), (self.path, self.reason)


def _read_index(ds: h5py.Dataset, idx: Any) -> np.ndarray:
    """``ds[idx]`` for an int, slice or any integer/boolean index array (h5py wants sorted)."""
    if isinstance(idx, (int, np.integer, slice)):
        return ds[idx]
    idx = np.asarray(idx)
    if idx.dtype == bool:
        idx = np.flatnonzero(idx)
    idx = idx.astype(np.int64)
    n = ds.shape[0]
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise IndexError(f"sample index out of range for {n} samples")
    idx = np.where(idx < 0, idx + n, idx)
    uniq, inverse = np.unique(idx, return_inverse=True)
    if uniq.size == 0:
        return np.empty((0, *ds.shape[1:]), dtype=ds.dtype)
    return ds[uniq][inverse]


class Dataset:
    """Read-only view of a rom dataset file (see module docstring and docs/format.md)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"{self.path}: no such file")
        if self.path.is_dir():
            raise ValueError(f"{self.path}: is a directory, not a dataset file")
        if not h5py.is_hdf5(self.path):
            raise NotARomDataset(self.path, "not an HDF5 file")
        try:
            self._f = h5py.File(self.path, "r")
        except OSError as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ValueError(f"{self.path}: cannot read HDF5 file (truncated or corrupt: "
                             f"{reason})") from None
        try:
            self._load()
        except BaseException:
            self._f.close()
            raise

    # -- loading ---------------------------------------------------------------
    def _load(self) -> None:
        f, p = self._f, self.path
        if _attr_str(f.attrs.get("format")) != FORMAT:
            raise NotARomDataset(p, f"not a rom dataset (no format='{FORMAT}' attribute)")
        version = f.attrs.get("format_version")
        if version not in READ_VERSIONS:
            raise ValueError(f"{p}: dataset format_version {version} is not supported "
                             f"(this rom reads versions {', '.join(map(str, READ_VERSIONS))})")
        for group in ("grid", "parameters", "inputs", "outputs"):
            if group not in f:
                raise ValueError(f"{p}: corrupt dataset: missing group /{group}")
        try:
            self._load_attrs()
        except (KeyError, json.JSONDecodeError, TypeError) as exc:
            raise ValueError(f"{p}: corrupt dataset metadata ({exc})") from None

    def _load_attrs(self) -> None:
        f = self._f
        self.problem: str = _attr_str(f.attrs["problem"])
        self.config: dict[str, Any] = json.loads(_attr_str(f.attrs.get("config", "{}")))
        seed = int(f.attrs.get("seed", -1))
        self.seed: int | None = None if seed < 0 else seed
        self.n_samples: int = int(f.attrs["n_samples"])
        self.complete: bool = bool(f.attrs.get("complete", False))
        g = f["grid"]
        ndim = int(g.attrs["ndim"])
        self.grid = Grid(tuple(g[f"axis_{k}"][()] for k in range(ndim)),
                         tuple(bool(b) for b in np.atleast_1d(g.attrs["periodic"])))
        self.times: np.ndarray | None = f["time"][()] if "time" in f else None
        pg = f["parameters"]
        self.parameters: np.ndarray = pg["values"][()]
        self.parameter_names: list[str] = json.loads(_attr_str(pg.attrs["names"]))
        self.parameter_space = ParameterSpace(
            tuple(self.parameter_names), tuple(json.loads(_attr_str(pg.attrs["kinds"]))),
            tuple(tuple(r) for r in json.loads(_attr_str(pg.attrs["ranges"]))))
        self.sampler: str = _attr_str(pg.attrs.get("sampler", ""))
        self.input_names: list[str] = list(f["inputs"].keys())
        self.output_names: list[str] = list(f["outputs"].keys())
        sg = f["stats"] if "stats" in f else None
        self.stats: dict[str, np.ndarray] = {
            k: sg[k][()] for k in (sg.keys() if sg is not None else ()) if k != "info"}
        self.solver: str = _attr_str(sg.attrs.get("solver", "")) if sg is not None else ""
        self.solver_settings: dict[str, Any] = (
            json.loads(_attr_str(sg.attrs.get("solver_settings", "{}"))) if sg is not None else {})
        self.done: np.ndarray = (f["done"][()].astype(bool) if "done" in f
                                 else np.full(self.n_samples, self.complete))

    @property
    def converged(self) -> np.ndarray:
        """Per-sample flag (``(n,)`` bool): the sample's solver reached its tolerance
        (``/stats/converged``; true for every solved sample when the file does not record
        it).
        Unsolved samples are false (see :mod:`data.convergence`)."""
        conv = self.stats.get("converged")
        if conv is None or np.shape(conv) != (self.n_samples,):
            return self.done.copy()
        return np.asarray(conv, dtype=bool) & self.done

    # -- fields ------------------------------------------------------------------
    def field(self, name: str) -> h5py.Dataset:
        """The lazy ``h5py.Dataset`` of field ``name`` (inputs searched first, then outputs)."""
        for group in ("inputs", "outputs"):
            if name in self._f[group]:
                return self._f[group][name]
        raise KeyError(f"{self.path}: no field {name!r}; fields: "
                       f"{', '.join(self.input_names + self.output_names) or 'none'}")

    def inputs(self, idx: Any = slice(None)) -> dict[str, np.ndarray]:
        """Input fields of samples ``idx`` (int, slice, or index/boolean array), read now."""
        return {k: _read_index(self._f["inputs"][k], idx) for k in self.input_names}

    def outputs(self, idx: Any = slice(None)) -> dict[str, np.ndarray]:
        """Output fields of samples ``idx`` (int, slice, or index/boolean array), read now."""
        return {k: _read_index(self._f["outputs"][k], idx) for k in self.output_names}

    @property
    def fields(self) -> dict[str, tuple[int, ...]]:
        """Field name -> shape, inputs then outputs."""
        return {k: tuple(self.field(k).shape) for k in self.input_names + self.output_names}

    @property
    def info(self) -> list[dict[str, Any]]:
        """Per-sample solver info records (``/stats/info``, e.g. the SOR omega chosen)."""
        if "stats" not in self._f or "info" not in self._f["stats"]:
            return [{} for _ in range(self.n_samples)]
        return [json.loads(_attr_str(s)) if s else {} for s in self._f["stats/info"][()]]

    @property
    def attrs(self) -> dict[str, Any]:
        """All root attributes (including any ``extra_attrs`` a writer added)."""
        return {k: _attr_str(v) if isinstance(v, bytes) else v for k, v in self._f.attrs.items()}

    # -- problem / timing -------------------------------------------------------
    def make_problem(self) -> Problem:
        """Rebuild the generating problem from the stored config."""
        if "resolution" not in self.config or "problem" not in self.config:
            raise ValueError(f"{self.path}: dataset config does not describe a rom problem "
                             "(imported data cannot be re-solved)")
        return problem_from_config(self.config)

    def solver_seconds_per_sample(self) -> float:
        """Mean wall time of the solver per solved sample (``nan`` when not recorded)."""
        seconds = self.stats.get("seconds")
        if seconds is None or not self.done.any():
            return float("nan")
        return float(np.mean(np.asarray(seconds, dtype=float)[self.done]))

    # -- lifetime ----------------------------------------------------------------
    def close(self) -> None:
        if getattr(self, "_f", None) is not None and self._f.id.valid:
            self._f.close()

    def __enter__(self) -> Dataset:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"Dataset({str(self.path)!r}, problem={self.problem!r}, "
                f"n_samples={self.n_samples}, complete={self.complete})")


def _attr_str(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


# --------------------------------------------------------------------------- summary
def describe(path: str | os.PathLike) -> dict[str, Any]:
    """The summary record of a dataset file (``rom info``; strict JSON: no NaN).

    Sizes and progress (``n_samples``, ``n_done``, ``complete``, ``size_bytes``),
    the grid (shape, periodicity, bounds), ``n_times``, field shapes, the
    parameter space, sampler, seed, solver settings, and ``solver_stats``: totals
    over the solved samples of iterations, matvecs, solve and wall seconds, the
    largest finite true relative residual and the number of unconverged samples
    (``None`` where the file does not record the statistic).
    """
    path = Path(path)
    with Dataset(path) as ds:
        st, done = ds.stats, ds.done

        def total(key: str, cast: type) -> Any:
            return cast(np.sum(st[key][done])) if key in st else None

        solve_key = "solve_seconds" if "solve_seconds" in st else "seconds"
        res = st.get("residual")
        space = ds.parameter_space
        return {
            "kind": "dataset", "path": str(path), "problem": ds.problem,
            "format_version": int(ds.attrs.get("format_version", 0)),
            "created": ds.attrs.get("created"), "rom_version": ds.attrs.get("rom_version"),
            "n_samples": ds.n_samples, "n_done": int(done.sum()), "complete": ds.complete,
            "resolution": ds.config.get("resolution"), "options": ds.config.get("options"),
            "grid": {"shape": list(ds.grid.shape), "periodic": list(ds.grid.periodic),
                     "bounds": [[float(a[0]), float(a[-1])] for a in ds.grid.axes]},
            "n_times": None if ds.times is None else int(len(ds.times)),
            "fields": {k: list(v) for k, v in ds.fields.items()},
            "inputs": ds.input_names, "outputs": ds.output_names,
            "parameters": {n: {"kind": k, "range": list(r)}
                           for n, k, r in zip(space.names, space.kinds, space.ranges)},
            "sampler": ds.sampler, "seed": ds.seed,
            "solver": ds.solver, "solver_settings": ds.solver_settings,
            "solver_stats": {
                "iterations": total("iterations", int), "matvecs": total("matvecs", int),
                "solve_seconds": total(solve_key, float), "wall_seconds": total("seconds", float),
                "max_residual": _finite_max(res[done]) if res is not None else None,
                "not_converged": (int(np.sum(~st["converged"][done].astype(bool)))
                                  if "converged" in st else None)},
            "size_bytes": path.stat().st_size,
        }


def _finite_max(values: Any) -> float | None:
    """Largest finite value, ``None`` when there is none."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return float(v.max()) if v.size else None
