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

Complex fields are split into ``<name>_re`` and ``<name>_im``; for XDMF, fields
whose channel count meshio's XDMF cannot type (anything but 1, 2, 3, 6, 9) are
split into scalars ``<name>_<c>``. Every exporter writes its files under
temporary names and renames them at the end, and refuses to replace an existing
file unless ``overwrite``. With ``progress`` the XDMF/VTU exporters report the
samples (or time steps) on stderr (:class:`data.progress.Progress`).
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import inspect
import os
from pathlib import Path
from typing import Any, Callable, Iterator
from xml.sax.saxutils import quoteattr

import numpy as np

from data.progress import Progress

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


def export(data_path: str | os.PathLike, out: str | os.PathLike, fmt: str, *,
           overwrite: bool = False, progress: bool = False, **kw: Any) -> Path:
    """Export the dataset ``data_path`` to ``out`` in format ``fmt``.

    The files appear under their names only once complete; an existing file among
    them is refused unless ``overwrite``. ``progress``: report the samples (steady
    data) or time steps (a trajectory) on stderr (:class:`data.progress.Progress`),
    for the exporters that take it (XDMF, VTU).
    """
    data_path, out = Path(data_path).absolute(), Path(out).absolute()
    if not data_path.exists():
        raise FileNotFoundError(f"{data_path}: no such file")
    run = exporter(fmt)
    if progress and "progress" in inspect.signature(run).parameters:
        kw["progress"] = True
    return run(data_path, Path(out), overwrite=overwrite, **kw)


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


#: point-data widths meshio's XDMF writer can type (Scalar, Vector, Tensor6, Tensor)
XDMF_WIDTHS = (1, 2, 3, 6, 9)


def xdmf_point_data(data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``data`` with every array of a width XDMF cannot carry (4, 5, 7, 8, ...
    channels) split into scalar arrays ``<name>_<c>``."""
    out: dict[str, np.ndarray] = {}
    for name, a in data.items():
        if a.ndim == 1 or a.shape[1] in XDMF_WIDTHS:
            out[name] = a
        else:
            out |= {f"{name}_{c}": np.ascontiguousarray(a[:, c]) for c in range(a.shape[1])}
    return out


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
                  fields: list[str] | None, overwrite: bool, progress: bool = False) -> Path:
    """One mesh file holding the chosen fields of the chosen samples as point data."""
    import meshio

    from data.dataset import Dataset

    with Dataset(data_path) as ds:
        points, cells = _mesh_parts(ds)
        data: dict[str, np.ndarray] = {}
        names, samples = _fields(ds, fields), _samples(ds, sample)
        with Progress(len(names) * len(samples), desc=f"export {fmt}", unit="sample",
                      enabled=progress) as bar:
            for name in names:
                d = ds.field(name)
                for i in samples:
                    label = name if sample is not None else f"{name}_{i}"
                    data |= point_data(label, d[i], len(points))
                    bar.update()
    if fmt == "xdmf":
        data = xdmf_point_data(data)
    targets = [out.with_suffix(".h5"), out] if fmt == "xdmf" else [out]
    with _new_files(targets, overwrite) as tmp:
        meshio.write(tmp / out.name, meshio.Mesh(points, cells, point_data=data),
                     file_format="xdmf" if fmt == "xdmf" else "vtu")
    return out


def export_series(data_path: Path, out: Path, fmt: str, sample: int | None,
                  fields: list[str] | None, overwrite: bool, progress: bool = False) -> Path:
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
        return xdmf_point_data(data) if fmt == "xdmf" else data

    bar = Progress(len(times), desc=f"export {fmt}", unit="step", enabled=progress)
    if fmt == "xdmf":
        with bar, _new_files([out.with_suffix(".h5"), out], overwrite) as tmp:
            # meshio's TimeSeriesWriter puts <stem>.h5 in the working directory
            with _chdir(tmp), meshio.xdmf.TimeSeriesWriter(out.name) as writer:
                writer.write_points_cells(points, cells)
                for k, t in enumerate(times):
                    writer.write_data(float(t), point_data=step_data(k))
                    bar.update()
            inline_mesh(tmp / out.name)
        return out
    steps = [out.with_name(f"{out.stem}_{k:04d}.vtu") for k in range(len(times))]
    with bar, _new_files([*steps, out], overwrite) as tmp:
        for k, step in enumerate(steps):
            meshio.write(tmp / step.name, meshio.Mesh(points, cells, point_data=step_data(k)),
                         file_format="vtu")
            bar.update()
        entries = [f'    <DataSet timestep="{float(t)!r}" part="0" file={quoteattr(step.name)}/>'
                   for t, step in zip(times, steps)]
        (tmp / out.name).write_text(
            '<?xml version="1.0"?>\n<VTKFile type="Collection" version="0.1">\n'
            "  <Collection>\n" + "\n".join(entries) + "\n  </Collection>\n</VTKFile>\n")
    return out


def inline_mesh(xdmf: Path) -> None:
    """Make meshio's time-series XDMF a single temporal collection.

    meshio writes the mesh as a static ``Grid`` beside the temporal collection,
    whose steps ``xi:include`` its topology and geometry; VTK's XDMF readers
    then show the static grid as a second block. Each step gets its own copy
    of the (small) ``Topology``/``Geometry`` elements, which point at the same
    heavy data, and the static grid goes.
    """
    import xml.etree.ElementTree as ET

    tree = ET.parse(xdmf)
    domain = tree.getroot().find("Domain")
    static = [g for g in domain.findall("Grid") if g.get("GridType") == "Uniform"]
    collection = next(g for g in domain.findall("Grid") if g.get("GridType") == "Collection")
    if len(static) != 1:
        return
    shared = [c for c in static[0] if c.tag in ("Topology", "Geometry")]
    include = "{http://www.w3.org/2003/XInclude}include"
    for step in collection.findall("Grid"):
        for inc in step.findall(include):
            position = list(step).index(inc)
            step.remove(inc)
            for j, element in enumerate(shared):
                step.insert(position + j, copy.deepcopy(element))
        step.set("GridType", "Uniform")
    domain.remove(static[0])
    tree.write(xdmf, xml_declaration=True, encoding="utf-8")


@contextlib.contextmanager
def _new_files(targets: list[Path], overwrite: bool) -> Iterator[Path]:
    """A temporary directory to write ``targets`` into under their names; they replace the
    targets at the end (:func:`data.atomic.atomic_files`). Existing targets need ``overwrite``."""
    from data.atomic import atomic_files, remove_stale_temporaries
    from data.errors import OptionError

    existing = [t.name for t in targets if t.exists()]
    if existing and not overwrite:
        verb = "exists" if len(existing) == 1 else "exist"
        raise OptionError(f"{', '.join(existing)} already {verb} in {targets[0].parent}; "
                          "use {option} to replace", "overwrite")
    remove_stale_temporaries(targets[0])
    with atomic_files(targets) as tmp:
        yield tmp


@contextlib.contextmanager
def _chdir(path: Path) -> Iterator[None]:
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def _export_mesh(data_path: Path, out: Path, fmt: str, sample: int | None = None,
                 fields: list[str] | None = None, overwrite: bool = False,
                 progress: bool = False, **kw: Any) -> Path:
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
        return export_series(data_path, out, fmt, sample, fields, overwrite, progress)
    return export_steady(data_path, out, fmt, sample, fields, overwrite, progress)


def export_xdmf(data_path: Path, out: Path, *, progress: bool = False, **kw: Any) -> Path:
    """XDMF (+ HDF5 heavy data) readable by ParaView/VisIt and ``meshio.read``."""
    return _export_mesh(Path(data_path), Path(out), "xdmf", progress=progress, **kw)


def export_vtu(data_path: Path, out: Path, *, progress: bool = False, **kw: Any) -> Path:
    """VTK unstructured grid (``.vtu``; a ``.pvd`` collection for trajectories)."""
    return _export_mesh(Path(data_path), Path(out), "vtu", progress=progress, **kw)
