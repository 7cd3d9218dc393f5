"""Export a dataset for viewers and other tools: XDMF / VTU (meshio), PDEBench, The Well.

``EXPORTERS`` maps a format name to ``f(data_path, out, **kw) -> Path`` (the
strings are imported lazily). The meshio exporters put the fields on the
dataset's grid as *point data* (node values; the grid's ``points`` are in C
order of ``grid.shape``, so a field sample reshaped to ``(n_points[, C])`` is
exactly its point data):

* steady datasets -> one mesh file; every field of every sample is a point
  array ``<field>_<i>`` (or just ``<field>`` with ``sample=i``);
* trajectories -> a time series of one sample (fields without a time axis,
  such as an initial condition, are repeated at every step) (``sample``, default 0): XDMF
  via ``meshio.xdmf.TimeSeriesWriter`` (one ``.xdmf`` + ``.h5``), VTU as one
  ``<stem>_<k>.vtu`` per output time plus a ParaView ``.pvd`` collection at
  ``out``.

Complex fields are split into ``<name>_re`` and ``<name>_im``.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from pathlib import Path
from typing import Any, Callable, Iterator
from xml.sax.saxutils import quoteattr

import numpy as np

EXPORTERS: dict[str, Callable[..., Path] | str] = {
    "xdmf": "data.export:export_xdmf",
    "vtu": "data.export:export_vtu",
    "pdebench": "data.formats.pdebench:export_pdebench",
    "the-well": "data.formats.the_well:export_the_well",
}


def exporter(fmt: str) -> Callable[..., Path]:
    """The export function of format ``fmt``."""
    if fmt not in EXPORTERS:
        raise ValueError(f"unknown export format {fmt!r}; valid: {', '.join(sorted(EXPORTERS))}")
    target = EXPORTERS[fmt]
    if callable(target):
        return target
    module, attr = target.split(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        raise ValueError(f"export format {fmt!r} is not available in this installation") from None


def export(data_path: str | os.PathLike, out: str | os.PathLike, fmt: str, **kw: Any) -> Path:
    """Export the dataset ``data_path`` to ``out`` in format ``fmt``."""
    data_path, out = Path(data_path).absolute(), Path(out).absolute()
    if not data_path.exists():
        raise FileNotFoundError(f"{data_path}: no such file")
    return exporter(fmt)(data_path, Path(out), **kw)


# --------------------------------------------------------------------------- meshio
def point_data(name: str, values: np.ndarray, n_points: int) -> dict[str, np.ndarray]:
    """Point arrays of one field snapshot ``(*grid.shape[, C])`` (complex -> ``_re``/``_im``)."""
    a = np.asarray(values)
    flat = a.reshape(n_points, -1)
    flat = flat[:, 0] if flat.shape[1] == 1 else flat
    if np.iscomplexobj(flat):
        return {f"{name}_re": np.ascontiguousarray(flat.real),
                f"{name}_im": np.ascontiguousarray(flat.imag)}
    return {name: np.ascontiguousarray(flat, dtype=np.float64)}


def has_time_axis(sample_shape: tuple[int, ...], grid_shape: tuple[int, ...],
                  n_times: int) -> bool:
    """Whether a field sample ``([T,] *grid.shape[, C])`` carries the time axis."""
    nd = len(grid_shape)
    return (len(sample_shape) >= nd + 1 and sample_shape[0] == n_times
            and tuple(sample_shape[1:1 + nd]) == tuple(grid_shape))


def _samples(ds: Any, sample: int | None) -> list[int]:
    if sample is None:
        return [i for i in range(ds.n_samples) if ds.done[i]]
    if not 0 <= sample < ds.n_samples:
        raise ValueError(f"sample {sample} out of range: the dataset has {ds.n_samples} samples")
    if not ds.done[sample]:
        raise ValueError(f"sample {sample} has not been solved yet (incomplete dataset)")
    return [sample]


def _fields(ds: Any, fields: list[str] | None) -> list[str]:
    names = ds.input_names + ds.output_names
    for f in fields or ():
        if f not in names:
            raise ValueError(f"no field {f!r}; fields: {', '.join(names)}")
    return list(fields) if fields else names


def _mesh_parts(ds: Any) -> tuple[np.ndarray, list[tuple[str, np.ndarray]]]:
    if not 1 <= ds.grid.ndim <= 3:
        raise ValueError(f"cannot export a {ds.grid.ndim}-D grid to a mesh format")
    cell_type, cells = ds.grid.cells()
    return ds.grid.points(), [(cell_type, cells)]


def export_steady(data_path: Path, out: Path, fmt: str, sample: int | None,
                  fields: list[str] | None) -> Path:
    """One mesh file holding the chosen fields of the chosen samples as point data."""
    import meshio

    from data.dataset import Dataset

    with Dataset(data_path) as ds:
        points, cells = _mesh_parts(ds)
        data: dict[str, np.ndarray] = {}
        for name in _fields(ds, fields):
            d = ds.field(name)
            for i in _samples(ds, sample):
                label = name if sample is not None else f"{name}_{i}"
                data |= point_data(label, d[i], len(points))
    meshio.write(out, meshio.Mesh(points, cells, point_data=data),
                 file_format="xdmf" if fmt == "xdmf" else "vtu")
    return out


def export_series(data_path: Path, out: Path, fmt: str, sample: int | None,
                  fields: list[str] | None) -> Path:
    """A time series of one trajectory: XDMF TimeSeriesWriter, or VTU files + a .pvd."""
    import meshio

    from data.dataset import Dataset

    with Dataset(data_path) as ds:
        i = _samples(ds, 0 if sample is None else sample)[0]
        points, cells = _mesh_parts(ds)
        snaps = {name: ds.field(name)[i] for name in _fields(ds, fields)}
        times = np.asarray(ds.times, dtype=float)
    timed = {name: has_time_axis(a.shape, ds.grid.shape, len(times)) for name, a in snaps.items()}

    def step_data(k: int) -> dict[str, np.ndarray]:
        data: dict[str, np.ndarray] = {}
        for name, arr in snaps.items():
            data |= point_data(name, arr[k] if timed[name] else arr, len(points))
        return data

    if fmt == "xdmf":
        # meshio's TimeSeriesWriter puts <stem>.h5 in the working directory: work beside `out`
        with _chdir(out.parent), meshio.xdmf.TimeSeriesWriter(out.name) as writer:
            writer.write_points_cells(points, cells)
            for k, t in enumerate(times):
                writer.write_data(float(t), point_data=step_data(k))
        return out
    entries = []
    for k, t in enumerate(times):
        step = out.with_name(f"{out.stem}_{k:04d}.vtu")
        meshio.write(step, meshio.Mesh(points, cells, point_data=step_data(k)),
                     file_format="vtu")
        entries.append(f'    <DataSet timestep="{float(t)!r}" part="0" file={quoteattr(step.name)}/>')
    out.write_text('<?xml version="1.0"?>\n<VTKFile type="Collection" version="0.1">\n'
                   "  <Collection>\n" + "\n".join(entries) + "\n  </Collection>\n</VTKFile>\n")
    return out


@contextlib.contextmanager
def _chdir(path: Path) -> Iterator[None]:
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def _export_mesh(data_path: Path, out: Path, fmt: str, sample: int | None = None,
                 fields: list[str] | None = None, **kw: Any) -> Path:
    if kw:
        raise ValueError(f"unknown option(s) {sorted(kw)} for {fmt} export")
    from data.dataset import Dataset

    with Dataset(data_path) as ds:
        trajectory = ds.times is not None
    if not out.parent.is_dir():
        raise ValueError(f"output directory {out.parent} does not exist")
    if fmt == "xdmf":
        heavy = out.with_suffix(".h5")
        if out.suffix == ".h5" or (heavy.exists() and heavy.resolve() == data_path.resolve()):
            raise ValueError(f"XDMF keeps its arrays in {heavy.name}, which would overwrite "
                             f"{data_path}; choose another output name")
    if trajectory:
        return export_series(data_path, out, fmt, sample, fields)
    return export_steady(data_path, out, fmt, sample, fields)


def export_xdmf(data_path: Path, out: Path, **kw: Any) -> Path:
    """XDMF (+ HDF5 heavy data) readable by ParaView/VisIt and ``meshio.read``."""
    return _export_mesh(Path(data_path), Path(out), "xdmf", **kw)


def export_vtu(data_path: Path, out: Path, **kw: Any) -> Path:
    """VTK unstructured grid (``.vtu``; a ``.pvd`` collection for trajectories)."""
    return _export_mesh(Path(data_path), Path(out), "vtu", **kw)
