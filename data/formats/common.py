"""Shared pieces of the importers: a lazy description of a foreign file and a chunked writer.

Every reader (PDEBench, The Well, FNO ``.mat``, ``.npz``) turns a foreign file
into an :class:`ImportPlan`: the grid, output times, per-sample parameters and
a list of :class:`FieldSource` objects. A field source knows its per-sample
shape in *our* layout ``([T,] *grid.shape[, C])`` and reads a block of samples
``lo:hi`` on demand, so :func:`write_plan` copies a file of any size in chunks
of about ``chunk_bytes`` (the whole source is never in memory).

The rom file is written through :func:`data.dataset.write_dataset` (root
attributes, grid, parameters, stats) and its ``create_field`` (one chunk per
sample, compressed), under a temporary name that is renamed when the last
sample is copied (:mod:`data.atomic`): an interrupted import leaves no
half-written ``OUT.h5``. Exports to foreign layouts open their target with
:func:`export_file` (atomic in the same way) after :func:`export_source`.
"""

from __future__ import annotations

import json
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import h5py
import numpy as np

from data.atomic import atomic_path
from data.dataset import Dataset, create_field, field_array, write_dataset
from data.errors import OptionError
from solvers.problems import Grid, ParameterSpace

#: HDF5 >= 1.8 file format for exports: dense attribute storage, so long attributes
#: (names of hundreds of parameters) fit
LIBVER = ("v108", "latest")
#: default memory budget of one copied block of samples (bytes)
DEFAULT_CHUNK_BYTES = 64 * 2**20


@dataclass
class FieldSource:
    """One field of a foreign file, read lazily in blocks of samples.

    ``read(lo, hi)`` returns samples ``lo:hi`` as an array of shape
    ``(hi - lo, *sample_shape)`` in rom's layout ``([T,] *spatial[, C])``.
    ``role`` is ``"input"`` or ``"output"``; ``source`` names the foreign
    dataset (for messages and the provenance record).
    """

    name: str
    role: str
    sample_shape: tuple[int, ...]
    dtype: np.dtype
    read: Callable[[int, int], np.ndarray]
    source: str = ""

    @property
    def sample_nbytes(self) -> int:
        return int(np.prod(self.sample_shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize


@dataclass
class ImportPlan:
    """Everything needed to write a rom dataset from a foreign file."""

    problem: str
    n_samples: int
    grid: Grid
    times: np.ndarray | None
    fields: list[FieldSource]
    parameters: np.ndarray | None = None
    parameter_names: tuple[str, ...] = ()
    source: dict[str, Any] = field(default_factory=dict)
    #: open files the field readers use; closed by :meth:`close`
    handles: list[Any] = field(default_factory=list)

    def close(self) -> None:
        for h in self.handles:
            h.close()
        self.handles.clear()

    def __enter__(self) -> ImportPlan:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def parameter_matrix(self) -> np.ndarray:
        if self.parameters is None or len(self.parameter_names) == 0:
            return np.zeros((self.n_samples, 0))
        return np.asarray(self.parameters, dtype=np.float64).reshape(self.n_samples, -1)

    @property
    def inputs(self) -> list[FieldSource]:
        return [f for f in self.fields if f.role == "input"]

    @property
    def outputs(self) -> list[FieldSource]:
        return [f for f in self.fields if f.role == "output"]


# --------------------------------------------------------------------------- small helpers
def override(plan: ImportPlan, *, periodic: bool | None = None, problem: str | None = None
             ) -> ImportPlan:
    """Apply the user's ``--periodic`` and ``--problem`` choices to a format's plan."""
    if periodic is not None:
        plan.grid = Grid(plan.grid.axes, (bool(periodic),) * plan.grid.ndim)
    if problem:
        plan.problem = problem
    return plan


def decode(value: Any) -> Any:
    """HDF5/MATLAB attribute value as plain Python: bytes -> str, string arrays -> list[str]."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "SUO":
            return [decode(v) for v in value.ravel().tolist()]
        return value.item() if value.size == 1 and value.ndim == 0 else value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def str_list(value: Any) -> list[str]:
    """An attribute holding one name or a list of names, as ``list[str]``."""
    value = decode(value)
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(decode(v)) for v in value]


def open_hdf5(path: Path | str) -> h5py.File:
    """Open an HDF5 file read-only; a truncated or corrupt file is a one-line ValueError."""
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f"{path}: cannot read HDF5 file (truncated or corrupt: {reason})") \
            from None


def require(group: h5py.Group, key: str, path: Path | str, what: str = "dataset") -> Any:
    """``group[key]``, or a one-line ValueError naming the missing dataset/group."""
    if key not in group:
        where = group.name.strip("/")
        raise ValueError(f"{path}: malformed file: missing {what} "
                         f"'{where + '/' if where else ''}{key}'")
    return group[key]


def require_attr(obj: h5py.HLObject, key: str, path: Path | str) -> Any:
    """``obj.attrs[key]`` decoded, or a one-line ValueError naming the missing attribute."""
    if key not in obj.attrs:
        where = obj.name if obj.name != "/" else "root"
        raise ValueError(f"{path}: malformed file: missing attribute '{key}' on {where}")
    return decode(obj.attrs[key])


def numeric_attrs(obj: h5py.HLObject, skip: Sequence[str] = ()) -> dict[str, float]:
    """Real scalar numeric attributes of an HDF5 object (per-PDE constants like ``beta``)."""
    out: dict[str, float] = {}
    for key, value in obj.attrs.items():
        if key in skip or key.startswith("rom_"):
            continue
        v = np.asarray(value)
        if v.size == 1 and v.dtype.kind in "iuf" and v.dtype != bool:
            out[key] = float(v.ravel()[0])
    return out


_PARAM_TOKEN = re.compile(r"^([A-Za-z]+)([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)$")


def filename_parameters(path: Path | str) -> dict[str, float]:
    """Parameters encoded in a file name, e.g. ``1D_Burgers_Sols_Nu0.001`` -> ``{"Nu": 0.001}``.

    Tokens separated by ``_`` that are letters followed by a number are read
    as ``name=value`` (PDEBench's naming convention).
    """
    out: dict[str, float] = {}
    for token in Path(path).stem.split("_"):
        m = _PARAM_TOKEN.match(token)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


def parameter_space_of(names: Sequence[str], values: np.ndarray) -> ParameterSpace:
    """A uniform box spanning the observed parameter values (imported data has no sampler)."""
    values = np.asarray(values, dtype=float).reshape(len(values), len(names))
    ranges = tuple((float(values[:, j].min()), float(values[:, j].max())) if len(values)
                   else (0.0, 0.0) for j in range(len(names)))
    return ParameterSpace(tuple(names), ("uniform",) * len(names), ranges)


def samples_per_chunk(sample_nbytes: int, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> int:
    """How many samples of ``sample_nbytes`` fit in a block of ``chunk_bytes`` (at least 1)."""
    return max(1, int(chunk_bytes) // max(1, int(sample_nbytes)))


def iter_blocks(n: int, k: int) -> Iterator[tuple[int, int]]:
    """``(lo, hi)`` blocks of at most ``k`` samples covering ``range(n)``."""
    for lo in range(0, n, max(1, k)):
        yield lo, min(n, lo + k)


def uniform_axes(shape: Sequence[int], periodic: Sequence[bool] | bool) -> Grid:
    """Grid on the unit cube when a format stores no coordinates (``[0, 1)`` when periodic)."""
    flags = (periodic,) * len(shape) if isinstance(periodic, bool) else tuple(periodic)
    axes = tuple(np.linspace(0.0, 1.0, n, endpoint=not p) for n, p in zip(shape, flags))
    return Grid(axes, flags)


def check_times(times: np.ndarray | None, n_steps: int, path: Path | str, name: str) -> np.ndarray:
    """Output times of ``n_steps`` snapshots from a stored time axis of length ``n_steps``
    or ``n_steps + 1`` (PDEBench's 1-D files store one time more than snapshots)."""
    if times is None:
        raise ValueError(f"{path}: malformed file: missing dataset '{name}'")
    t = np.asarray(times, dtype=float).ravel()
    if t.size == n_steps or t.size == n_steps + 1:
        return t[:n_steps]
    raise ValueError(f"{path}: '{name}' has {t.size} entries but the data has {n_steps} "
                     "time steps")


# --------------------------------------------------------------------------- coordinates
#: coordinate arrays up to this length keep their float64 values in ``@rom_exact``
EXACT_LIMIT = 4096


def write_coordinates(group: h5py.Group, name: str, values: np.ndarray,
                      dtype: Any = np.float32) -> h5py.Dataset:
    """Coordinates (axis or times) in the format's ``dtype``; when rounding changed them,
    their float64 values also go to the attribute ``rom_exact`` (so that a round trip
    gives back the same grid; foreign readers ignore it)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    ds = group.create_dataset(name, data=v.astype(dtype or np.float64))
    if v.size <= EXACT_LIMIT and not np.array_equal(ds[()].astype(np.float64), v):
        ds.attrs["rom_exact"] = v
    return ds


def read_coordinates(ds: h5py.Dataset) -> np.ndarray:
    """Coordinates as float64: ``@rom_exact`` when present and consistent, else the values."""
    v = np.asarray(ds[()], dtype=np.float64)
    exact = ds.attrs.get("rom_exact")
    if exact is not None:
        exact = np.asarray(exact, dtype=np.float64)
        scale = max(float(np.max(np.abs(v))) if v.size else 0.0, 1e-300)
        if exact.size == v.size and np.allclose(exact, v.ravel(), rtol=1e-6, atol=1e-7 * scale):
            return exact.reshape(v.shape)
    return v


# --------------------------------------------------------------------------- writing
def write_plan(plan: ImportPlan, out: str | os.PathLike, *, chunk_bytes: int = DEFAULT_CHUNK_BYTES,
               overwrite: bool = False, progress: Callable[[int], None] | None = None) -> Path:
    """Write ``plan`` as a rom dataset at ``out``, copying fields in blocks of samples.

    The skeleton (root attributes, grid, time, parameters, empty stats) is
    written by :func:`data.dataset.write_dataset`; each field is then created
    with one chunk per sample and filled block by block (at most
    ``chunk_bytes`` of source data in memory). ``progress(k)`` is called after
    each block with ``k`` = samples copied so far, summed over the fields (the
    total is ``n_samples * len(fields)``).
    """
    out = Path(out)
    if out.exists() and not overwrite:
        raise OptionError(f"{out}: file exists (use {{option}} to replace it)", "overwrite")
    if out.parent and not out.parent.exists():
        raise FileNotFoundError(f"{out.parent}: no such directory")
    _check_plan(plan)
    names = list(plan.parameter_names)
    params = plan.parameter_matrix()
    space = parameter_space_of(names, params)
    config = {"problem": plan.problem, "imported": True, "source": plan.source}
    with atomic_path(out) as tmp:
        write_dataset(tmp, problem=plan.problem, config=config, grid=plan.grid,
                      times=plan.times, parameters=params, parameter_space=space,
                      sampler="imported", inputs={}, outputs={}, stats=None, seed=None,
                      complete=False,
                      extra_attrs={"imported_from": str(plan.source.get("format", ""))})
        with h5py.File(tmp, "r+") as f:
            for j, src in enumerate(plan.fields):
                group = f["inputs" if src.role == "input" else "outputs"]
                probe = field_array(np.zeros((0,), dtype=src.dtype))
                dst = create_field(group, src.name, (plan.n_samples, *src.sample_shape),
                                   probe.dtype)
                done = j * plan.n_samples
                copy_blocks(src, dst, plan.n_samples, chunk_bytes,
                            None if progress is None else lambda k, d=done: progress(d + k))
                dst.attrs["source"] = src.source
            f.attrs["complete"] = True
    return out


def copy_blocks(src: FieldSource, dst: h5py.Dataset, n: int, chunk_bytes: int,
                progress: Callable[[int], None] | None = None) -> None:
    """Copy samples ``0..n-1`` of ``src`` into ``dst`` in blocks of about ``chunk_bytes``."""
    k = samples_per_chunk(src.sample_nbytes, chunk_bytes)
    for lo, hi in iter_blocks(n, k):
        block = np.asarray(src.read(lo, hi))
        expected = (hi - lo, *src.sample_shape)
        if block.shape != expected:
            raise ValueError(f"field {src.name!r} ({src.source}): read a block of shape "
                             f"{block.shape}, expected {expected}")
        dst[lo:hi] = block
        if progress is not None:
            progress(hi)


def _check_plan(plan: ImportPlan) -> None:
    """Every field has the grid's shape (after the time axis for trajectories)."""
    where = plan.source.get("file", "source")
    if plan.n_samples < 1:
        raise ValueError(f"{where}: no samples to import")
    if not plan.outputs:
        raise ValueError(f"{where}: no output field to import")
    seen: set[str] = set()
    d, nt = plan.grid.ndim, None if plan.times is None else len(plan.times)
    for f in plan.fields:
        if f.name in seen:
            raise ValueError(f"{where}: field name {f.name!r} used twice")
        seen.add(f.name)
        shape = tuple(f.sample_shape)
        on_grid = shape[:d] == plan.grid.shape
        trajectory = nt is not None and len(shape) > d and shape[0] == nt \
            and shape[1:1 + d] == plan.grid.shape
        if not (on_grid or trajectory):
            raise ValueError(f"{where}: field {f.name!r} has per-sample shape {shape}, which "
                             f"does not match the grid {plan.grid.shape}"
                             + (f" with {nt} time steps" if nt is not None else ""))


def pick_names(available: Sequence[str], wanted: Sequence[str] | None,
               conventional: Sequence[str], path: Path | str, kind: str) -> list[str]:
    """Names chosen by ``--input``/``--output`` (checked), else the first conventional one present."""
    if wanted:
        missing = [w for w in wanted if w not in available]
        if missing:
            raise ValueError(f"{path}: no {kind} array {missing[0]!r}; arrays: "
                             f"{', '.join(available) or 'none'}")
        return list(wanted)
    for name in conventional:
        if name in available:
            return [name]
    return []


def provenance(fmt: str, path: Path | str, **extra: Any) -> dict[str, Any]:
    """The ``source`` record stored in the imported file's config."""
    return {"format": fmt, "file": str(Path(path).resolve()), **extra}


def json_attr(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def load_json_attr(obj: h5py.HLObject, key: str, default: Any = None) -> Any:
    if key not in obj.attrs:
        return default
    try:
        return json.loads(decode(obj.attrs[key]))
    except (TypeError, json.JSONDecodeError):
        return default


def export_source(data_path: str | os.PathLike, out: Path, overwrite: bool) -> Dataset:
    """Open the rom dataset to export to ``out``; refuse an existing ``out`` unless
    ``overwrite``."""
    if out.exists() and not overwrite:
        raise ValueError(f"{out}: file exists (pass overwrite=True to replace it)")
    return Dataset(data_path)


@contextmanager
def export_file(out: Path) -> Iterator[h5py.File]:
    """A new HDF5 file (format ``LIBVER``) that becomes ``out`` only when the block succeeds."""
    with atomic_path(out) as tmp, h5py.File(tmp, "w", libver=LIBVER) as f:
        yield f
