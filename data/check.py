"""Schema validation of rom datasets (``rom info --check``).

``check_dataset(path)`` returns ``(problems, warnings)``: problems break the
format of ``docs/format.md`` (missing attributes, inconsistent shapes, a
``complete`` file with unsolved samples, non-finite values in solved samples)
or make it unfit for use (solved samples whose solver did not converge,
:mod:`data.convergence`); warnings are legal but worth knowing.
Fields are scanned one sample (one chunk) at a time, so memory stays bounded.
"""

from __future__ import annotations

import json
import os
from typing import Any

import h5py
import numpy as np

from data.convergence import convergence_summary
from data.dataset import FORMAT, STAT_DTYPES, Dataset

ROOT_ATTRS = ("format", "format_version", "problem", "created", "rom_version", "config",
              "seed", "n_samples", "complete")


def check_dataset(path: str | os.PathLike) -> tuple[list[str], list[str]]:
    """Validate the file fully; return ``(problems, warnings)`` as one-line messages."""
    try:
        ds = Dataset(path)
    except (ValueError, OSError, KeyError) as exc:
        return [str(exc)], []
    with ds:
        f = ds._f
        problems = _check_root(f) + _check_grid(f, ds) + _check_time(f)
        problems += _check_parameters(f, ds) + _check_done(f, ds)
        problems += _check_fields(f, ds) + _check_stats(f, ds)
        unconverged = convergence_summary(ds)
        if unconverged is not None:
            problems.append(unconverged)
    return problems, []


def _check_root(f: h5py.File) -> list[str]:
    out = [f"missing root attribute {a!r}" for a in ROOT_ATTRS if a not in f.attrs]
    if f.attrs.get("format") not in (FORMAT, FORMAT.encode()):
        out.append(f"root attribute format is not {FORMAT!r}")
    try:
        cfg = json.loads(f.attrs.get("config", "{}"))
        if not isinstance(cfg, dict):
            out.append("root attribute config is not a JSON object")
    except (json.JSONDecodeError, TypeError):
        out.append("root attribute config is not valid JSON")
    return out


def _check_grid(f: h5py.File, ds: Dataset) -> list[str]:
    g, grid, out = f["grid"], ds.grid, []
    for k, axis in enumerate(grid.axes):
        if axis.ndim != 1 or axis.size < 1:
            out.append(f"/grid/axis_{k} is not a non-empty 1-D array")
        elif axis.size > 1 and not np.all(np.diff(axis) > 0):
            out.append(f"/grid/axis_{k} is not strictly increasing")
    if len(grid.periodic) != grid.ndim:
        out.append("/grid periodic flags do not match ndim")
    if f.attrs.get("format_version") == 1:
        return out + _check_explicit_mesh(g, grid)
    if 1 <= grid.ndim <= 3 and "cell_type" not in g.attrs:
        out.append("missing /grid cell_type attribute")
    return out


def _check_explicit_mesh(g: h5py.Group, grid: Any) -> list[str]:
    """Version 1 files: the stored ``/grid/points`` and ``/grid/cells`` match the axes."""
    out = []
    if "points" not in g:
        out.append("missing /grid/points")
    elif g["points"].shape != (int(np.prod(grid.shape)), 3):
        out.append(f"/grid/points has shape {g['points'].shape}, expected "
                   f"({int(np.prod(grid.shape))}, 3)")
    elif not np.allclose(g["points"][()], grid.points()):
        out.append("/grid/points do not match the axes")
    if 1 <= grid.ndim <= 3:
        if "cells" not in g or "cell_type" not in g["cells"].attrs:
            out.append("missing /grid/cells or its cell_type attribute")
        elif g["cells"].size and g["cells"][()].max() >= int(np.prod(grid.shape)):
            out.append("/grid/cells refer to points that do not exist")
    return out


def _check_time(f: h5py.File) -> list[str]:
    if "time" not in f:
        return []
    t = f["time"][()]
    if t.ndim != 1 or (t.size > 1 and not np.all(np.diff(t) > 0)):
        return ["/time is not a strictly increasing 1-D array"]
    return []


def _check_parameters(f: h5py.File, ds: Dataset) -> list[str]:
    p, out = ds.parameters, []
    if p.ndim != 2 or p.shape[0] != ds.n_samples:
        return [f"/parameters/values has shape {p.shape}, expected ({ds.n_samples}, p)"]
    if p.shape[1] != ds.parameter_space.dim:
        out.append(f"/parameters/values has {p.shape[1]} columns but {ds.parameter_space.dim} "
                   "names")
    elif not np.all(np.isfinite(p)):
        out.append("/parameters/values has non-finite entries")
    else:
        outside = int(np.sum(~ds.parameter_space.contains(p)))
        if outside:
            out.append(f"{outside} parameter row(s) lie outside the stored ranges")
    return out


def _check_done(f: h5py.File, ds: Dataset) -> list[str]:
    out = []
    if "done" in f and f["done"].shape != (ds.n_samples,):
        out.append(f"/done has shape {f['done'].shape}, expected ({ds.n_samples},)")
    elif ds.complete and not ds.done.all():
        out.append(f"file is marked complete but {int((~ds.done).sum())} sample(s) are not done")
    elif not ds.complete and "done" not in f:
        out.append("incomplete file without a /done mask")
    return out


def _shape_ok(shape: tuple[int, ...], ds: Dataset) -> bool:
    """``shape[1:]`` is ``[T,] *grid.shape[, C]`` (the time axis only in trajectory files)."""
    tails = [ds.grid.shape]
    if ds.times is not None:
        tails.insert(0, (len(ds.times), *ds.grid.shape))
    rest = tuple(shape[1:])
    return any(rest[:len(t)] == t and len(rest) <= len(t) + 1 for t in tails)


def _check_fields(f: h5py.File, ds: Dataset) -> list[str]:
    out: list[str] = []
    if not ds.output_names:
        out.append("no output fields")
    done = ds.done if ds.done.shape == (ds.n_samples,) else np.zeros(ds.n_samples, bool)
    for name in ds.input_names + ds.output_names:
        d = ds.field(name)
        where = d.name
        if d.shape[0] != ds.n_samples:
            out.append(f"{where} has {d.shape[0]} samples, expected {ds.n_samples}")
            continue
        if not _shape_ok(d.shape, ds):
            out.append(f"{where} has shape {d.shape}, expected (n, [T,] "
                       f"{', '.join(map(str, ds.grid.shape))}[, channels])")
            continue
        if d.dtype not in (np.float64, np.complex128):
            out.append(f"{where} has dtype {d.dtype}, expected float64")
        if d.chunks is not None and d.chunks[0] != 1:
            out.append(f"{where} is not chunked one sample per chunk (chunks {d.chunks})")
        bad = [i for i in np.flatnonzero(done) if not np.all(np.isfinite(d[i]))]
        if bad:
            out.append(f"{where} has non-finite values in {len(bad)} solved sample(s), "
                       f"first {bad[0]}")
    return out


def _check_stats(f: h5py.File, ds: Dataset) -> list[str]:
    if "stats" not in f:
        return ["missing group /stats"]
    out: list[str] = []
    g = f["stats"]
    for name in list(STAT_DTYPES) + ["info"]:
        if name in g and g[name].shape != (ds.n_samples,):
            out.append(f"/stats/{name} has shape {g[name].shape}, expected ({ds.n_samples},)")
    if "info" in g and g["info"].shape == (ds.n_samples,):
        for i, s in enumerate(g["info"][()]):
            try:
                if s:
                    json.loads(s)
            except (json.JSONDecodeError, UnicodeDecodeError):
                out.append(f"/stats/info[{i}] is not valid JSON")
                break
    try:
        json.loads(g.attrs.get("solver_settings", "{}"))
    except (json.JSONDecodeError, TypeError):
        out.append("/stats solver_settings attribute is not valid JSON")
    return out


def summary(problems: list[str], warnings: list[str]) -> dict[str, Any]:
    return {"ok": not problems, "problems": problems, "warnings": warnings}
