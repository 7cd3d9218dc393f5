"""PDEBench HDF5 files <-> rom datasets.

PDEBench (Takamoto et al., 2022) publishes three HDF5 layouts:

* **single file, scalar** -- ``tensor`` ``(N, T, nx[, ny[, nz]])`` with
  ``x-coordinate`` (``y-``, ``z-coordinate``) and ``t-coordinate`` (``T`` or
  ``T + 1`` entries); 2-D Darcy flow stores ``tensor`` ``(N, 1, nx, ny)`` (the
  steady pressure) and its input ``nu`` ``(N, nx, ny)`` (the permeability).
  Per-PDE constants (``beta``, ``Nu``, ...) are root attributes and/or tokens
  of the file name (``1D_Burgers_Sols_Nu0.001.hdf5``).
* **single file, compressible CFD** -- ``density``, ``pressure``, ``Vx``
  (``Vy``, ``Vz``) each ``(N, T, *spatial)`` with the same coordinates.
* **per-seed groups** -- ``"{seed}/data"`` ``(T, *spatial, C)`` and
  ``"{seed}/grid/x|y|z|t"`` (2-D reaction-diffusion, shallow water, ...).

Import maps them to rom's layout ``(N, [T,] *spatial[, C])``: the trajectory
is the output ``u`` (CFD: one output per variable), its first snapshot the
input ``u0`` (``density0``, ...), Darcy's ``nu`` an input of a steady dataset.
Export writes the single-file scalar layout (float32 by default, as
published) plus ``rom_*`` attributes and a ``rom_parameters`` dataset that
PDEBench's readers ignore and that make ``rom -> PDEBench -> rom`` lossless.
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
    check_times,
    decode,
    export_file,
    export_source,
    filename_parameters,
    iter_blocks,
    json_attr,
    load_json_attr,
    numeric_attrs,
    open_hdf5,
    override,
    pick_names,
    provenance,
    read_coordinates,
    require,
    samples_per_chunk,
    write_coordinates,
)

#: per-seed groups carry parameters as attributes too when there are at most this many
MAX_PARAMETER_ATTRS = 64
COORDS = ("x-coordinate", "y-coordinate", "z-coordinate")
TIME = "t-coordinate"
CFD_VARIABLES = ("density", "pressure", "Vx", "Vy", "Vz")
#: datasets of the single-file layouts that are not fields
RESERVED = (*COORDS, TIME, "rom_parameters")


# --------------------------------------------------------------------------- detection
def pdebench_layout(f: h5py.File) -> str | None:
    """``"tensor"``, ``"cfd"``, ``"seeds"`` or ``None`` from the structure of an open file."""
    if "tensor" in f and isinstance(f["tensor"], h5py.Dataset) and f["tensor"].ndim >= 3:
        return "tensor"
    if "x-coordinate" in f and any(v in f for v in CFD_VARIABLES[:3]):
        return "cfd"
    if _seed_names(f):
        return "seeds"
    return None


def _seed_names(f: h5py.File) -> list[str]:
    """Groups named by a seed number (``"0000"``, ``"seed=000001"``, ...) holding ``data``."""
    names = [k for k in f.keys() if isinstance(f.get(k, getlink=True), h5py.HardLink)
             and k.split("=")[-1].isdigit() and isinstance(f[k], h5py.Group) and "data" in f[k]]
    return sorted(names, key=lambda k: int(k.split("=")[-1]))


# --------------------------------------------------------------------------- import
def read_pdebench(path: str | os.PathLike, *, inputs: Sequence[str] | None = None,
                  outputs: Sequence[str] | None = None, problem: str | None = None,
                  periodic: bool | None = None) -> ImportPlan:
    """Describe a PDEBench file as an :class:`ImportPlan` (fields are read lazily).

    ``inputs``/``outputs`` name source datasets to use instead of the
    conventions above; ``periodic`` overrides the grid's periodicity (PDEBench
    stores none; default: non-periodic unless written by rom).
    """
    path = Path(path)
    f = open_hdf5(path)
    try:
        layout = pdebench_layout(f)
        if layout is None:
            raise ValueError(_not_pdebench(f, path))
        builder = {"tensor": _plan_tensor, "cfd": _plan_cfd, "seeds": _plan_seeds}[layout]
        plan = builder(f, path, inputs, outputs)
        plan.handles.append(f)
    except BaseException:
        f.close()
        raise
    return override(plan, periodic=periodic, problem=problem)


def _not_pdebench(f: h5py.File, path: Path) -> str:
    if "tensor" in f or any(v in f for v in CFD_VARIABLES):
        return f"{path}: malformed PDEBench file: missing dataset 'x-coordinate'"
    return (f"{path}: not a PDEBench file (no 'tensor', 'density' or per-seed "
            f"'<seed>/data' dataset)")


def problem_name(path: Path, f: h5py.File | h5py.Group) -> str:
    """``rom_problem`` if rom wrote the file, else ``pdebench:<dim>_<PDE>`` from the file name."""
    if "rom_problem" in f.attrs:
        return str(decode(f.attrs["rom_problem"]))
    tokens = path.stem.split("_")
    if len(tokens) >= 2 and tokens[0][:1].isdigit() and tokens[0][1:].upper() == "D":
        return f"pdebench:{tokens[0]}_{tokens[1]}"
    return f"pdebench:{path.stem}"


def _grid(f: h5py.File | h5py.Group, path: Path, spatial: tuple[int, ...],
          names: Sequence[str] = COORDS) -> Grid:
    """The tensor grid of the coordinate datasets, checked against the data's spatial shape."""
    axes = []
    for k, n in enumerate(spatial):
        ax = read_coordinates(require(f, names[k], path)).ravel()
        if ax.size != n:
            raise ValueError(f"{path}: '{names[k]}' has {ax.size} entries but the data has "
                             f"{n} points along axis {k}")
        axes.append(ax)
    flags = load_json_attr(f.file, "rom_periodic", [False] * len(spatial))
    return Grid(tuple(axes), tuple(bool(b) for b in flags))


def _parameters(f: h5py.File, path: Path, n: int) -> tuple[np.ndarray, tuple[str, ...]]:
    """Per-sample parameters: ``rom_parameters`` if present, else the file's constants
    (numeric root attributes, then ``name<value>`` tokens of the file name)."""
    if "rom_parameters" in f:
        ds = f["rom_parameters"]
        names = tuple(load_json_attr(ds, "names", []))
        values = np.asarray(ds[()], dtype=float).reshape(n, len(names))
        return values, names
    from_name = {} if "rom_problem" in f.attrs else filename_parameters(path)
    consts = {**from_name, **numeric_attrs(f)}
    names = tuple(consts)
    return np.tile(np.array([consts[k] for k in names], dtype=float), (n, 1)), names


def _rename(f: h5py.File, source: str, default: str) -> str:
    return dict(load_json_attr(f, "rom_names", {})).get(source, default)


def _plan_tensor(f: h5py.File, path: Path, inputs: Sequence[str] | None,
                 outputs: Sequence[str] | None) -> ImportPlan:
    arrays = _sample_arrays(f)
    roles = load_json_attr(f, "rom_roles", {}) if not (inputs or outputs) else {}
    if roles:  # written by rom: the roles are recorded, "tensor" first
        out_names = sorted((k for k, r in roles.items() if r == "output" and k in f),
                           key=lambda k: k != "tensor")
        in_names = [k for k, r in roles.items() if r == "input" and k in f]
    else:
        out_names = pick_names(list(arrays), outputs, ["tensor"], path, "output")
    main = require(f, out_names[0], path)
    if main.ndim < 3:
        raise ValueError(f"{path}: '{out_names[0]}' has shape {main.shape}; expected "
                         "(N, T, nx[, ny[, nz]])")
    n, nt, spatial = main.shape[0], main.shape[1], tuple(main.shape[2:])
    grid = _grid(f, path, spatial)
    if "rom_steady" in f.attrs:
        steady = bool(decode(f.attrs["rom_steady"]))
    else:  # Darcy: one "time" and the coefficient nu
        steady = nt == 1 and ("nu" in f or TIME not in f)
    times = None if steady else check_times(read_coordinates(f[TIME]) if TIME in f else None,
                                            nt, path, TIME)
    if not roles:
        in_names = pick_names(list(arrays), inputs, [], path, "input") if inputs else \
            [k for k in arrays if k not in out_names and arrays[k][1:] == spatial]
    fields = []
    for name in out_names:
        ds = require(f, name, path)
        fields.append(_trajectory_field(ds, _rename(f, name, "u" if name == "tensor" else name),
                                        "output", steady, path))
    for name in in_names:
        ds = f[name]
        fields.append(FieldSource(_rename(f, name, name), "input", tuple(ds.shape[1:]), ds.dtype,
                                  _h5_block(ds), source=name))
    if not steady and not inputs and not roles:
        fields += [_initial_condition(src, _first_step(f[src.source]))
                   for src in list(fields) if src.role == "output"]
    values, pnames = _parameters(f, path, n)
    return ImportPlan(problem_name(path, f), n, grid, times, fields, values, pnames,
                      provenance("pdebench", path, layout="tensor", steady=steady,
                                 attrs=_attrs_record(f)))


def _plan_cfd(f: h5py.File, path: Path, inputs: Sequence[str] | None,
              outputs: Sequence[str] | None) -> ImportPlan:
    arrays = _sample_arrays(f)
    out_names = list(outputs) if outputs else [v for v in CFD_VARIABLES if v in f]
    pick_names(list(arrays), out_names, [], path, "output")
    first = f[out_names[0]]
    n, nt, spatial = first.shape[0], first.shape[1], tuple(first.shape[2:])
    grid = _grid(f, path, spatial)
    times = check_times(read_coordinates(f[TIME]) if TIME in f else None, nt, path, TIME)
    fields = [_trajectory_field(f[v], v, "output", False, path) for v in out_names]
    if inputs:
        pick_names(list(arrays), inputs, [], path, "input")
        fields += [FieldSource(v, "input", tuple(f[v].shape[1:]), f[v].dtype, _h5_block(f[v]),
                               source=v) for v in inputs]
    else:
        fields += [_initial_condition(src, _first_step(f[src.source])) for src in list(fields)]
    values, pnames = _parameters(f, path, n)
    return ImportPlan(problem_name(path, f), n, grid, times, fields, values, pnames,
                      provenance("pdebench", path, layout="cfd", attrs=_attrs_record(f)))


def _plan_seeds(f: h5py.File, path: Path, inputs: Sequence[str] | None,
                outputs: Sequence[str] | None) -> ImportPlan:
    seeds = _seed_names(f)
    first = f[seeds[0]]
    data = first["data"]
    if data.ndim < 2:
        raise ValueError(f"{path}: '{seeds[0]}/data' has shape {data.shape}; expected "
                         "(T, *spatial, C)")
    for s in seeds:
        if f[s]["data"].shape != data.shape:
            raise ValueError(f"{path}: '{s}/data' has shape {f[s]['data'].shape}, "
                             f"'{seeds[0]}/data' has {data.shape}; all seeds must agree")
    grid_group = require(first, "grid", path, "group")
    axis_names = [a for a in ("x", "y", "z") if a in grid_group]
    if not axis_names:
        raise ValueError(f"{path}: malformed file: missing dataset '{seeds[0]}/grid/x'")
    d = len(axis_names)
    nt, spatial = data.shape[0], tuple(data.shape[1:1 + d])
    channels = tuple(data.shape[1 + d:])
    grid = _grid(grid_group, path, spatial, names=axis_names)
    t = read_coordinates(grid_group["t"]) if "t" in grid_group else None
    times = check_times(t, nt, path, f"{seeds[0]}/grid/t")
    squeeze = channels == (1,) and not decode(f.attrs.get("rom_channel", False))
    shape = (nt, *spatial) + (() if squeeze else channels)
    out = FieldSource(_rename(f, "data", "u"), "output", shape, data.dtype,
                      _seed_reader(f, seeds, "data", squeeze), source="<seed>/data")
    roles = load_json_attr(f, "rom_roles", {})
    extra = first["rom_fields"] if "rom_fields" in first else {}
    fields = [out] + [FieldSource(k, roles.get(k, "input"), tuple(extra[k].shape),
                                  extra[k].dtype, _seed_reader(f, seeds, f"rom_fields/{k}"),
                                  source=f"<seed>/rom_fields/{k}") for k in extra]
    if not roles:
        fields.append(_initial_condition(out, _seed_reader(f, seeds, "data", squeeze, step=0)))
    values, pnames = _seed_parameters(f, path, seeds)
    return ImportPlan(problem_name(path, f), len(seeds), grid, times, fields, values, pnames,
                      provenance("pdebench", path, layout="seeds", seeds=len(seeds),
                                 attrs=_attrs_record(f)))


def _seed_reader(f: h5py.File, seeds: list[str], key: str, squeeze: bool = False,
                 step: int | None = None) -> Callable[[int, int], np.ndarray]:
    """Samples ``lo:hi`` of the per-seed dataset ``key`` (only time ``step`` if given),
    stacked (one seed per sample)."""
    index = () if step is None else (step,)

    def read(lo: int, hi: int) -> np.ndarray:
        block = np.stack([f[s][key][index] for s in seeds[lo:hi]])
        return block[..., 0] if squeeze else block
    return read


def _seed_parameters(f: h5py.File, path: Path, seeds: list[str]
                     ) -> tuple[np.ndarray, tuple[str, ...]]:
    """File constants plus numeric attributes of each seed group (when every seed has them)."""
    if "rom_parameter_names" in f.attrs:  # written by rom: "<seed>/rom_parameters" (p,)
        names = tuple(load_json_attr(f, "rom_parameter_names", []))
        values = np.array([f[s]["rom_parameters"][()] for s in seeds], dtype=float)
        return values.reshape(len(seeds), len(names)), names
    values, names = _parameters(f, path, len(seeds))
    per_seed = [numeric_attrs(f[s]) for s in seeds]
    common = [k for k in per_seed[0] if all(k in p for p in per_seed) and k not in names]
    if common:
        extra = np.array([[p[k] for k in common] for p in per_seed], dtype=float)
        values, names = np.hstack([values, extra]), names + tuple(common)
    return values, names


def _sample_arrays(f: h5py.File) -> dict[str, tuple[int, ...]]:
    """Root datasets that hold one entry per sample (name -> shape), coordinates excluded."""
    return {k: tuple(v.shape) for k, v in f.items()
            if isinstance(v, h5py.Dataset) and k not in RESERVED and v.ndim >= 2}


def _h5_block(ds: h5py.Dataset, transform: Callable[[np.ndarray], np.ndarray] | None = None
              ) -> Callable[[int, int], np.ndarray]:
    def read(lo: int, hi: int) -> np.ndarray:
        block = ds[lo:hi]
        return transform(block) if transform else block
    return read


def _trajectory_field(ds: h5py.Dataset, name: str, role: str, steady: bool,
                      path: Path) -> FieldSource:
    """``(N, T, *spatial)`` as a trajectory field, or ``(N, 1, *spatial)`` as a steady one."""
    if steady:
        if ds.shape[1] != 1:
            raise ValueError(f"{path}: steady data '{ds.name.lstrip('/')}' must have one time step, "
                             f"has {ds.shape[1]}")
        return FieldSource(name, role, tuple(ds.shape[2:]), ds.dtype,
                           _h5_block(ds, lambda b: b[:, 0]), source=ds.name.lstrip("/"))
    return FieldSource(name, role, tuple(ds.shape[1:]), ds.dtype, _h5_block(ds),
                       source=ds.name.lstrip("/"))


def _initial_condition(src: FieldSource, first: Callable[[int, int], np.ndarray]
                       ) -> FieldSource:
    """The first snapshot of a trajectory field, as the input ``<name>0``; ``first(lo, hi)``
    reads only that snapshot (blocks are sized by it, so never read whole trajectories)."""
    return FieldSource(f"{src.name}0", "input", tuple(src.sample_shape[1:]), src.dtype,
                       first, source=f"{src.source}[:, 0]")


def _first_step(ds: h5py.Dataset) -> Callable[[int, int], np.ndarray]:
    return lambda lo, hi: ds[lo:hi, 0]


def _attrs_record(f: h5py.File) -> dict[str, Any]:
    out = {}
    for k, v in f.attrs.items():
        if k.startswith("rom_"):
            continue
        v = decode(v)
        if isinstance(v, (str, int, float, bool)) or (isinstance(v, list) and len(v) < 64):
            out[k] = v
    return out


# --------------------------------------------------------------------------- export
def export_pdebench(data_path: str | os.PathLike, out: str | os.PathLike, *,
                    field: str | None = None, dtype: str | None = "float32",
                    chunk_bytes: int = DEFAULT_CHUNK_BYTES, overwrite: bool = True,
                    layout: str = "auto", fields: Sequence[str] | None = None,
                    **_: Any) -> Path:
    """Write a rom dataset in a PDEBench layout and return the path.

    ``fields`` (``rom export --field``) may name the output to export instead of ``field``.

    ``layout="auto"`` picks PDEBench's own choice: the per-seed layout for 2-D
    and 3-D trajectories (what ``FNODatasetMult`` reads: ``"{i:04d}/data"``
    ``(T, *spatial, C)`` and ``"{i:04d}/grid/x|y|z|t"``; the other fields go to
    ``"{i:04d}/rom_fields/<name>"``, the parameters to ``"{i:04d}/rom_parameters"``
    and, when there are at most 64, to the seed's attributes),
    the single-file layout (``FNODatasetSingle``) otherwise. In that layout
    ``tensor`` is the output ``field`` (default: the first output), shaped
    ``(N, T, *spatial)`` (steady data: ``(N, 1, *spatial)``); the coordinates
    are ``x-/y-/z-coordinate`` and ``t-coordinate`` (``[0]`` when steady). A
    steady dataset's first input becomes ``nu`` (Darcy's convention); every
    other field keeps its name. Parameters that are the same for every sample
    become root attributes (PDEBench's per-PDE constants); all of them are also
    stored in ``rom_parameters`` ``(N, p)``. ``dtype=None`` keeps float64.
    """
    out = Path(out)
    with export_source(data_path, out, overwrite) as ds:
        field = field or (list(fields)[0] if fields else None)
        main = field or (ds.output_names[0] if ds.output_names else None)
        if main is None or main not in ds.output_names:
            raise ValueError(f"{data_path}: no output field {field!r} to export; outputs: "
                             f"{', '.join(ds.output_names) or 'none'}")
        steady = ds.times is None
        if layout == "auto":
            layout = "seeds" if not steady and ds.grid.ndim >= 2 else "tensor"
        if layout not in ("tensor", "seeds") or (layout == "seeds" and steady):
            raise ValueError(f"PDEBench layout {layout!r} is not available for this dataset "
                             "(tensor; seeds for trajectories)")
        expected = (ds.n_samples,) + (() if steady else (len(ds.times),)) + ds.grid.shape
        if layout == "seeds":
            with export_file(out) as f:
                _write_seeds(f, ds, main, dtype, chunk_bytes)
            return out
        if tuple(ds.field(main).shape) != expected:
            raise ValueError(f"{data_path}: PDEBench's 'tensor' holds a scalar field; "
                             f"{main!r} has shape {ds.field(main).shape} (expected {expected})")
        names = _export_names(ds, main, steady)
        with export_file(out) as f:
            _write_header(f, ds, names, steady, dtype)
            for src, dst in names.items():
                _copy_field(ds.field(src), f, dst, dtype, chunk_bytes,
                            steady and src in ds.output_names)
    return out


def _write_seeds(f: h5py.File, ds: Any, main: str, dtype: str | None, chunk_bytes: int) -> None:
    """PDEBench's per-seed layout, one group per sample, written block by block."""
    ftype = np.dtype(dtype) if dtype else np.float64
    others = [k for k in ds.input_names + ds.output_names if k != main]
    channel = ds.field(main).ndim > 2 + ds.grid.ndim
    params = np.asarray(ds.parameters, dtype=float).reshape(ds.n_samples, -1)
    f.attrs["rom_problem"] = ds.problem
    f.attrs["rom_steady"] = False
    f.attrs["rom_channel"] = bool(channel)
    f.attrs["rom_periodic"] = json_attr([bool(b) for b in ds.grid.periodic])
    f.attrs["rom_names"] = json_attr({"data": main})
    f.attrs["rom_roles"] = json_attr({k: "input" if k in ds.input_names else "output"
                                      for k in [main, *others]})
    f.attrs["rom_parameter_names"] = json_attr(list(ds.parameter_names))
    width = max(4, len(str(ds.n_samples - 1)))
    per = sum(ds.field(k).size // ds.n_samples * 8 for k in [main, *others])
    for lo, hi in iter_blocks(ds.n_samples, samples_per_chunk(per, chunk_bytes)):
        block = {k: ds.field(k)[lo:hi] for k in [main, *others]}
        for i in range(lo, hi):
            g = f.create_group(f"{i:0{width}d}")
            data = block[main][i - lo]
            g.create_dataset("data", data=_cast(data if channel else data[..., None], ftype))
            for a, axis in zip("xyz", ds.grid.axes):
                write_coordinates(g, f"grid/{a}", axis, ftype)
            write_coordinates(g, "grid/t", ds.times, ftype)
            for k in others:
                g.create_dataset(f"rom_fields/{k}", data=_cast(block[k][i - lo], ftype))
            g.create_dataset("rom_parameters", data=params[i])
            if len(ds.parameter_names) <= MAX_PARAMETER_ATTRS:  # readable ones, like beta
                for j, p in enumerate(ds.parameter_names):
                    g.attrs[p] = float(params[i, j])


def _export_names(ds: Any, main: str, steady: bool) -> dict[str, str]:
    """rom field name -> PDEBench dataset name."""
    names = {main: "tensor"}
    rest = [k for k in ds.input_names + ds.output_names if k != main]
    if steady and ds.input_names and ds.input_names[0] != "nu" and "nu" not in rest:
        names[ds.input_names[0]] = "nu"
    taken = set(names.values()) | set(RESERVED)
    for k in rest:
        if k not in names:
            names[k] = k if k not in taken else f"rom_{k}"
            taken.add(names[k])
    return names


def _cast(a: np.ndarray, ftype: np.dtype) -> np.ndarray:
    """Real floats to the export dtype; complex (and integer) values stay as they are."""
    return a.astype(ftype, copy=False) if a.dtype.kind == "f" else a


def _write_header(f: h5py.File, ds: Any, names: dict[str, str], steady: bool,
                  dtype: str | None) -> None:
    """Coordinates, constants as attributes, ``rom_*`` attributes and ``rom_parameters``."""
    ftype = np.dtype(dtype) if dtype else np.float64
    for k, axis in enumerate(ds.grid.axes):
        write_coordinates(f, COORDS[k], axis, ftype)
    t = np.zeros(1) if steady else np.asarray(ds.times)
    write_coordinates(f, TIME, t, ftype)
    params = np.asarray(ds.parameters, dtype=float).reshape(ds.n_samples, -1)
    for j, name in enumerate(ds.parameter_names):
        col = params[:, j]
        if col.size and np.all(col == col[0]) and name.isidentifier():
            f.attrs[name] = float(col[0])
    p = f.create_dataset("rom_parameters", data=params)
    p.attrs["names"] = json_attr(list(ds.parameter_names))
    f.attrs["rom_problem"] = ds.problem
    f.attrs["rom_steady"] = bool(steady)
    f.attrs["rom_periodic"] = json_attr([bool(b) for b in ds.grid.periodic])
    f.attrs["rom_names"] = json_attr({v: k for k, v in names.items()})
    f.attrs["rom_roles"] = json_attr({v: ("input" if k in ds.input_names else "output")
                                      for k, v in names.items()})


def _copy_field(src: h5py.Dataset, f: h5py.File, name: str, dtype: str | None,
                chunk_bytes: int, add_time_axis: bool) -> None:
    """Copy a rom field into ``f[name]`` in blocks of samples (``(N, 1, ...)`` when steady)."""
    ftype = np.dtype(dtype) if dtype and src.dtype.kind == "f" else src.dtype
    shape = (src.shape[0], 1, *src.shape[1:]) if add_time_axis else src.shape
    dst = f.create_dataset(name, shape=shape, dtype=ftype)
    per = int(np.prod(src.shape[1:], dtype=np.int64)) * src.dtype.itemsize
    for lo, hi in iter_blocks(src.shape[0], samples_per_chunk(per, chunk_bytes)):
        block = src[lo:hi].astype(ftype, copy=False)
        dst[lo:hi] = block[:, None] if add_time_axis else block
