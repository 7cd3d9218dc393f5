"""The Well HDF5 files <-> rom datasets.

The Well (Ohana et al., 2024) stores one HDF5 file per set of trajectories:

* root attributes ``dataset_name``, ``grid_type`` (``cartesian``),
  ``n_spatial_dims``, ``n_trajectories``, ``simulation_parameters`` (names,
  each also a root attribute);
* ``dimensions``: ``@spatial_dims`` and one coordinate dataset per spatial
  dimension plus ``time`` (``T``), each with ``@sample_varying``;
* ``boundary_conditions/<name>``: ``@bc_type`` (``periodic``/``wall``/``open``),
  ``@associated_dims``, ``mask``, ``values``;
* ``scalars``: ``@field_names``; datasets with ``@sample_varying``/``@time_varying``;
* ``t0_fields``/``t1_fields``/``t2_fields``: scalar, vector (``..., D``) and
  tensor (``..., D, D``) fields ``(B, T, *spatial, ...)`` with the flags
  ``@time_varying``, ``@sample_varying`` and ``@dim_varying`` (one per axis):
  a flag that is false means the axis is not stored and the field is constant
  along it.

Import: time-varying fields become outputs ``(N, T, *spatial[, C])`` (tensor
components flattened to ``C = D`` or ``D*D`` channels), time-constant fields
inputs ``(N, *spatial[, C])``; sample- and time-constant scalars become
parameters; a dimension is periodic when a ``periodic`` boundary condition is
associated with it. Missing storage axes are broadcast. Export writes this
layout (float32 by default, as published) plus ``rom_*`` attributes that keep
``rom -> The Well -> rom`` lossless.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Sequence

import h5py
import numpy as np

from solvers.problems import Grid

from .common import (
    DEFAULT_CHUNK_BYTES,
    FieldSource,
    ImportPlan,
    decode,
    export_file,
    export_source,
    iter_blocks,
    open_hdf5,
    override,
    provenance,
    read_coordinates,
    require,
    require_attr,
    samples_per_chunk,
    str_list,
    write_coordinates,
)

FIELD_GROUPS = ("t0_fields", "t1_fields", "t2_fields")
AXIS_NAMES = ("x", "y", "z")


# --------------------------------------------------------------------------- import
def read_the_well(path: str | os.PathLike, *, inputs: Sequence[str] | None = None,
                  outputs: Sequence[str] | None = None, problem: str | None = None,
                  periodic: bool | None = None) -> ImportPlan:
    """Describe a The Well file, or a directory of them, as an :class:`ImportPlan`.

    ``inputs``/``outputs`` name fields whose role overrides the default
    (time-varying -> output, time-constant -> input). A directory (a split such
    as ``shear_flow/data/train``) is read as the trajectories of its ``*.hdf5``
    / ``*.h5`` files in name order; they must share grid, times and fields.
    """
    path = Path(path)
    files = well_files(path) if path.is_dir() else [path]
    plans: list[ImportPlan] = []
    try:
        for file in files:
            f = open_hdf5(file)
            try:
                plans.append(_plan(f, file, list(inputs or ()), list(outputs or ())))
            except BaseException:
                f.close()
                raise
            plans[-1].handles.append(f)
        plan = plans[0] if len(plans) == 1 else _concatenate(plans, path)
    except BaseException:
        for p in plans:
            p.close()
        raise
    return override(plan, periodic=periodic, problem=problem)


def well_files(directory: Path) -> list[Path]:
    """The HDF5 files of a The Well split directory, in name order (ValueError if none)."""
    files = sorted(p for p in directory.iterdir() if p.suffix in (".hdf5", ".h5") and p.is_file())
    if not files:
        raise ValueError(f"{directory}: no .hdf5/.h5 files in this directory")
    return files


def _concatenate(plans: list[ImportPlan], path: Path) -> ImportPlan:
    """One plan over the trajectories of several files (same grid, times, fields, parameters)."""
    first = plans[0]
    layout = [(f.name, f.role, f.sample_shape) for f in first.fields]
    for p in plans[1:]:
        where = p.source.get("file")
        if p.grid != first.grid or not _same_times(p.times, first.times):
            raise ValueError(f"{where}: grid or times differ from {first.source.get('file')}")
        if [(f.name, f.role, f.sample_shape) for f in p.fields] != layout:
            raise ValueError(f"{where}: fields differ from {first.source.get('file')}")
        if p.parameter_names != first.parameter_names:
            raise ValueError(f"{where}: parameters {list(p.parameter_names)} differ from "
                             f"{list(first.parameter_names)}")
    offsets = np.cumsum([0] + [p.n_samples for p in plans])
    fields = [FieldSource(f.name, f.role, f.sample_shape, f.dtype,
                          _concatenated_reader([p.fields[j].read for p in plans], offsets),
                          source=f.source) for j, f in enumerate(first.fields)]
    params = np.vstack([p.parameter_matrix() for p in plans])
    source = {**first.source, "file": str(path.resolve()),
              "files": [p.source.get("file") for p in plans]}
    return ImportPlan(first.problem, int(offsets[-1]), first.grid, first.times, fields, params,
                      first.parameter_names, source,
                      handles=[h for p in plans for h in p.handles])


def _same_times(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None
                                         and a.shape == b.shape and np.allclose(a, b))


def _concatenated_reader(reads: list[Callable[[int, int], np.ndarray]], offsets: np.ndarray
                         ) -> Callable[[int, int], np.ndarray]:
    """Samples ``lo:hi`` of the concatenation: the pieces of each file's reader, stacked."""
    def read(lo: int, hi: int) -> np.ndarray:
        parts = []
        for k, r in enumerate(reads):
            a, b = max(lo, offsets[k]), min(hi, offsets[k + 1])
            if a < b:
                parts.append(r(int(a - offsets[k]), int(b - offsets[k])))
        return np.concatenate(parts)
    return read


def _plan(f: h5py.File, path: Path, inputs: list[str], outputs: list[str]) -> ImportPlan:
    name = str(require_attr(f, "dataset_name", path))
    d = int(require_attr(f, "n_spatial_dims", path))
    n = int(require_attr(f, "n_trajectories", path))
    grid_type = str(require_attr(f, "grid_type", path))
    if grid_type.lower() != "cartesian":
        raise ValueError(f"{path}: grid_type {grid_type!r} is not supported (only cartesian)")
    dims = require(f, "dimensions", path, "group")
    spatial_dims = str_list(require_attr(dims, "spatial_dims", path))
    if len(spatial_dims) != d:
        raise ValueError(f"{path}: dimensions@spatial_dims lists {len(spatial_dims)} names but "
                         f"n_spatial_dims is {d}")
    bcs = _boundary_conditions(f)
    grid = _grid(dims, path, spatial_dims, bcs)
    times = _times(dims, path, n)
    steady = bool(decode(f.attrs.get("rom_steady", False)))
    fields = []
    for order, gname in enumerate(FIELD_GROUPS):
        if gname not in f:
            continue
        group = f[gname]
        for fname in str_list(group.attrs.get("field_names", list(group.keys()))):
            ds = require(group, fname, path)
            fields.append(_field(ds, fname, order, grid, len(times), n, d, path, steady,
                                 inputs, outputs))
    if not any(g in f for g in FIELD_GROUPS):
        raise ValueError(f"{path}: malformed file: missing group 't0_fields'")
    for wanted in inputs + outputs:
        if wanted not in [fs.name for fs in fields]:
            raise ValueError(f"{path}: no field {wanted!r}; fields: "
                             f"{', '.join(fs.name for fs in fields) or 'none'}")
    values, pnames, skipped = _parameters(f, path, n)
    problem = str(decode(f.attrs.get("rom_problem", f"the-well:{name}")))
    return ImportPlan(problem, n, grid, None if steady else times, fields, values, pnames,
                      provenance("the-well", path, dataset_name=name, boundary_conditions=bcs,
                                 time_varying_scalars=skipped))


def _boundary_conditions(f: h5py.File) -> dict[str, dict[str, Any]]:
    """Boundary name -> ``{"bc_type", "associated_dims"}`` (empty when the group is absent)."""
    out: dict[str, dict[str, Any]] = {}
    for key, bc in (f["boundary_conditions"].items() if "boundary_conditions" in f else ()):
        out[key] = {"bc_type": str(decode(bc.attrs.get("bc_type", ""))).upper(),
                    "associated_dims": str_list(bc.attrs.get("associated_dims", []))}
    return out


def _grid(dims: h5py.Group, path: Path, spatial_dims: list[str],
          bcs: dict[str, dict[str, Any]]) -> Grid:
    periodic = {a for bc in bcs.values() if bc["bc_type"] == "PERIODIC"
                for a in bc["associated_dims"]}
    axes = []
    for a in spatial_dims:
        ds = require(dims, a, path)
        if decode(ds.attrs.get("sample_varying", False)) or \
                decode(ds.attrs.get("time_varying", False)):
            raise ValueError(f"{path}: coordinates '{a}' vary between trajectories or in time; "
                             "only fixed tensor-product grids are supported")
        axes.append(read_coordinates(ds).ravel())
    return Grid(tuple(axes), tuple(a in periodic for a in spatial_dims))


def _times(dims: h5py.Group, path: Path, n: int) -> np.ndarray:
    ds = require(dims, "time", path)
    t = read_coordinates(ds)
    if decode(ds.attrs.get("sample_varying", False)) and t.ndim == 2:
        if not np.allclose(t, t[:1]):
            raise ValueError(f"{path}: the time grid differs between trajectories")
        t = t[0]
    return t.ravel()


def _field(ds: h5py.Dataset, name: str, order: int, grid: Grid, nt: int, n: int, d: int,
           path: Path, steady: bool, inputs: list[str], outputs: list[str]) -> FieldSource:
    """A The Well field as a rom field: broadcast missing axes, flatten tensor components."""
    tv = bool(decode(ds.attrs.get("time_varying", True)))
    sv = bool(decode(ds.attrs.get("sample_varying", True)))
    dv = [bool(b) for b in np.atleast_1d(decode(ds.attrs.get("dim_varying", [True] * d)))]
    if len(dv) != d:
        raise ValueError(f"{path}: '{ds.name.lstrip('/')}' has {len(dv)} dim_varying flags for "
                         f"{d} dimensions")
    stored_spatial = tuple(s for s, v in zip(grid.shape, dv) if v)
    expected = ((n,) if sv else ()) + ((nt,) if tv else ()) + stored_spatial + (d,) * order
    if tuple(ds.shape) != expected:
        raise ValueError(f"{path}: '{ds.name.lstrip('/')}' has shape {ds.shape}, expected {expected} "
                         "from its flags and the dimensions")
    role = str(decode(ds.attrs.get("rom_role", "output" if tv else "input")))
    role = "input" if name in inputs else "output" if name in outputs else role
    squeeze_time = steady and tv
    if squeeze_time and nt != 1:
        raise ValueError(f"{path}: steady data '{ds.name.lstrip('/')}' must have one time step, has {nt}")
    channels = () if order == 0 else (d ** order,)
    shape = ((nt,) if tv and not squeeze_time else ()) + grid.shape + channels
    return FieldSource(str(decode(ds.attrs.get("rom_name", name))), role, shape, ds.dtype,
                       _reader(ds, sv, tv, dv, grid.shape, order, d, squeeze_time),
                       source=ds.name.lstrip("/"))


def _reader(ds: h5py.Dataset, sv: bool, tv: bool, dv: list[bool], spatial: tuple[int, ...],
            order: int, d: int, squeeze_time: bool) -> Callable[[int, int], np.ndarray]:
    def read(lo: int, hi: int) -> np.ndarray:
        block = ds[lo:hi] if sv else np.repeat(ds[()][None], hi - lo, axis=0)
        if not tv:  # fields constant in time carry no time axis in rom either
            lead = 1
        else:
            lead = 2
        # insert the axes that are not stored, then broadcast along them
        for k, varying in enumerate(dv):
            if not varying:
                block = np.expand_dims(block, lead + k)
        target = block.shape[:lead] + spatial + block.shape[lead + len(dv):]
        block = np.broadcast_to(block, target)
        if order:
            block = block.reshape(block.shape[:lead + len(dv)] + (d ** order,))
        if squeeze_time:
            block = block[:, 0]
        return np.ascontiguousarray(block)
    return read


def _parameters(f: h5py.File, path: Path, n: int
                ) -> tuple[np.ndarray, tuple[str, ...], list[str]]:
    """Time-constant scalars and root ``simulation_parameters`` as ``(n, p)`` parameters."""
    names: list[str] = []
    cols: list[np.ndarray] = []
    skipped: list[str] = []
    if "scalars" in f:
        g = f["scalars"]
        for s in str_list(g.attrs.get("field_names", list(g.keys()))):
            ds = require(g, s, path)
            if decode(ds.attrs.get("time_varying", False)):
                skipped.append(s)
                continue
            v = np.asarray(ds[()], dtype=float).ravel()
            if decode(ds.attrs.get("sample_varying", False)):
                if v.size != n:
                    raise ValueError(f"{path}: scalar '{s}' has {v.size} values for {n} "
                                     "trajectories")
                cols.append(v)
            else:
                cols.append(np.full(n, v[0] if v.size else np.nan))
            names.append(s)
    for p in str_list(f.attrs.get("simulation_parameters", [])):
        if p in names or p not in f.attrs:
            continue
        v = np.asarray(decode(f.attrs[p]))
        if v.size == 1 and v.dtype.kind in "iuf":
            names.append(p)
            cols.append(np.full(n, float(v.ravel()[0])))
    values = np.stack(cols, axis=1) if cols else np.zeros((n, 0))
    return values, tuple(names), skipped


# --------------------------------------------------------------------------- export
def export_the_well(data_path: str | os.PathLike, out: str | os.PathLike, *,
                    dtype: str | None = "float32", chunk_bytes: int = DEFAULT_CHUNK_BYTES,
                    overwrite: bool = True, fields: Sequence[str] | None = None,
                    **_: Any) -> Path:
    """Write a rom dataset in The Well's layout and return the path.

    ``fields`` (``rom export --field``) restricts the export to those fields.

    Outputs are time-varying fields ``(N, T, *spatial[, ...])`` (steady data:
    ``T = 1`` at ``time = [0]``), inputs time-constant fields. A field with
    ``C = D`` channels is a vector (``t1_fields``), ``C = D*D`` a rank-2
    tensor (``t2_fields``, ``(..., D, D)``); other channel counts are refused.
    Every parameter is a scalar (``sample_varying`` unless constant); constant
    parameters are also root attributes listed in ``simulation_parameters``.
    Non-periodic axes are written as ``WALL`` boundaries.
    """
    out = Path(out)
    with export_source(data_path, out, overwrite) as ds:
        steady = ds.times is None
        names = ds.input_names + ds.output_names
        for k in fields or ():
            ds.field(k)  # KeyError naming the fields if k is not one
        layout = {k: _tensor_order(ds, k, steady) for k in names if not fields or k in fields}
        with export_file(out) as f:
            axis_names = list(AXIS_NAMES[:ds.grid.ndim])
            _write_root(f, ds, steady)
            _write_dimensions(f, ds, axis_names, steady, dtype)
            _write_boundaries(f, ds, axis_names)
            _write_scalars(f, ds, dtype)
            groups = {g: f.create_group(g) for g in FIELD_GROUPS}
            for g in FIELD_GROUPS:
                names = [k for k, (o, _) in layout.items() if FIELD_GROUPS[o] == g]
                groups[g].attrs["field_names"] = np.array(names, dtype=h5py.string_dtype())
            for k, (order, time_axis) in layout.items():
                _copy_field(ds, k, groups[FIELD_GROUPS[order]], order, time_axis, steady,
                            dtype, chunk_bytes)
    return out


def _tensor_order(ds: Any, name: str, steady: bool) -> tuple[int, bool]:
    """(tensor order 0/1/2, whether the rom field has a time axis) of a rom field."""
    shape = tuple(ds.field(name).shape[1:])
    d, gs = ds.grid.ndim, ds.grid.shape
    time_axis = not steady and len(shape) > d and shape[0] == len(ds.times) and \
        shape[1:1 + d] == gs
    spatial_at = 1 if time_axis else 0
    if shape[spatial_at:spatial_at + d] != gs:
        raise ValueError(f"{ds.path}: field {name!r} of shape {shape} is not on the grid {gs}")
    rest = shape[spatial_at + d:]
    if rest == ():
        return 0, time_axis
    if rest == (d,):
        return 1, time_axis
    if rest == (d * d,):
        return 2, time_axis
    raise ValueError(f"{ds.path}: The Well stores scalar, vector ({d}) or tensor ({d}x{d}) "
                     f"fields; {name!r} has {int(np.prod(rest))} channels")


def _write_root(f: h5py.File, ds: Any, steady: bool) -> None:
    f.attrs["dataset_name"] = ds.problem
    f.attrs["grid_type"] = "cartesian"
    f.attrs["n_spatial_dims"] = ds.grid.ndim
    f.attrs["n_trajectories"] = ds.n_samples
    params = np.asarray(ds.parameters, dtype=float).reshape(ds.n_samples, -1)
    constant = [j for j in range(params.shape[1])
                if np.all(params[:, j] == params[0, j]) and ds.parameter_names[j].isidentifier()]
    f.attrs["simulation_parameters"] = np.array([ds.parameter_names[j] for j in constant],
                                                dtype=h5py.string_dtype())
    for j in constant:
        f.attrs[ds.parameter_names[j]] = float(params[0, j])
    f.attrs["rom_problem"] = ds.problem
    f.attrs["rom_steady"] = bool(steady)


def _flags(obj: h5py.HLObject, sample: bool, time: bool) -> None:
    obj.attrs["sample_varying"] = bool(sample)
    obj.attrs["time_varying"] = bool(time)


def _write_dimensions(f: h5py.File, ds: Any, axis_names: list[str], steady: bool,
                      dtype: str | None) -> None:
    ftype = np.dtype(dtype) if dtype else np.float64
    g = f.create_group("dimensions")
    g.attrs["spatial_dims"] = np.array(axis_names, dtype=h5py.string_dtype())
    t = write_coordinates(g, "time", np.zeros(1) if steady else ds.times, ftype)
    t.attrs["sample_varying"] = False
    for a, axis in zip(axis_names, ds.grid.axes):
        _flags(write_coordinates(g, a, axis, ftype), False, False)


def _write_boundaries(f: h5py.File, ds: Any, axis_names: list[str]) -> None:
    g = f.create_group("boundary_conditions")
    for a, n, periodic in zip(axis_names, ds.grid.shape, ds.grid.periodic):
        bc = g.create_group(f"{a}_{'periodic' if periodic else 'wall'}")
        bc.attrs["associated_dims"] = np.array([a], dtype=h5py.string_dtype())
        bc.attrs["associated_fields"] = np.array([], dtype=h5py.string_dtype())
        bc.attrs["bc_type"] = "PERIODIC" if periodic else "WALL"
        _flags(bc, False, False)
        mask = np.zeros(n, dtype=bool)
        mask[[0, -1]] = True
        bc.create_dataset("mask", data=mask)
        bc.create_dataset("values", data=np.zeros(int(mask.sum()), dtype=np.float32))


def _write_scalars(f: h5py.File, ds: Any, dtype: str | None) -> None:
    g = f.create_group("scalars")
    names = [p for p in ds.parameter_names]
    g.attrs["field_names"] = np.array(names, dtype=h5py.string_dtype())
    params = np.asarray(ds.parameters, dtype=float).reshape(ds.n_samples, -1)
    for j, p in enumerate(names):
        col = params[:, j]
        varying = not np.all(col == col[0])
        # parameters are not rounded to float32: they are identifiers of the samples;
        # a constant is a 0-d dataset (WellDataset stacks scalars as 0-d per sample)
        s = g.create_dataset(p, data=col if varying else col[0])
        _flags(s, varying, False)


def _copy_field(ds: Any, name: str, group: h5py.Group, order: int, time_axis: bool,
                steady: bool, dtype: str | None, chunk_bytes: int) -> None:
    """Copy a rom field into The Well's layout in blocks of samples."""
    src = ds.field(name)
    d = ds.grid.ndim
    output = name in ds.output_names
    add_time = steady and output
    tv = time_axis or add_time
    lead = (1,) if add_time else ()
    shape = (src.shape[0], *lead, *src.shape[1:-1 if order else None]) + (d,) * order
    ftype = np.dtype(dtype) if dtype and src.dtype.kind == "f" else src.dtype
    dst = group.create_dataset(name, shape=shape, dtype=ftype)
    dst.attrs["dim_varying"] = np.ones(d, dtype=bool)
    _flags(dst, True, tv)
    if order == 2:
        dst.attrs["symmetric"] = False
        dst.attrs["antisymmetric"] = False
    dst.attrs["rom_role"] = "output" if output else "input"
    per = int(np.prod(src.shape[1:], dtype=np.int64)) * src.dtype.itemsize
    for lo, hi in iter_blocks(src.shape[0], samples_per_chunk(per, chunk_bytes)):
        block = src[lo:hi].astype(ftype, copy=False).reshape((hi - lo, *shape[1:]))
        dst[lo:hi] = block
