"""NumPy ``.npz`` archives -> rom datasets, read in blocks of samples.

An ``.npz`` file is a zip archive of ``.npy`` members. ``np.load`` would read
a whole member on access, so each member is read here as a stream: the
``.npy`` header (magic, version, ``shape``/``fortran_order``/``descr``) is
parsed with :mod:`numpy.lib.format`, then samples ``lo:hi`` are the bytes
``[lo * row, hi * row)`` after it (``row`` = bytes of one sample in C order).
This works for stored (``np.savez``) and deflated (``np.savez_compressed``)
members alike; Fortran-ordered members are loaded whole. Object arrays are
refused (no unpickling). Array roles follow
:func:`data.formats.arrays.plan_from_arrays`.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from numpy.lib import format as npy_format

from .arrays import ArrayHandle, plan_from_arrays
from .common import ImportPlan


def read_npz(path: str | os.PathLike, *, inputs: Sequence[str] | None = None,
             outputs: Sequence[str] | None = None, problem: str | None = None,
             periodic: bool | None = None) -> ImportPlan:
    """Describe an ``.npz`` archive as an :class:`ImportPlan` (members read lazily)."""
    path = Path(path)
    try:
        z = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ValueError(f"{path}: not an .npz archive ({exc})") from None
    try:
        arrays = {}
        for member in z.namelist():
            if not member.endswith(".npy"):
                continue
            handle = _member(z, member, path)
            arrays[handle.name] = handle
        plan = plan_from_arrays(arrays, path, "npz", inputs=inputs, outputs=outputs,
                                problem=problem, periodic=periodic)
    except BaseException:
        z.close()
        raise
    plan.handles.append(z)
    return plan


def _header(fh: Any, path: Path, member: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    """``(shape, fortran_order, dtype)`` of the ``.npy`` stream ``fh`` (positioned at 0)."""
    try:
        version = npy_format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = npy_format.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, fortran, dtype = npy_format.read_array_header_2_0(fh)
        else:  # (3, 0): utf-8 field names; same header dictionary
            shape, fortran, dtype = npy_format._read_array_header(fh, version)  # noqa: SLF001
    except ValueError as exc:
        raise ValueError(f"{path}: member {member!r} is not a .npy array ({exc})") from None
    if dtype.hasobject:
        raise ValueError(f"{path}: member {member!r} holds Python objects; rom does not "
                         "unpickle data")
    return tuple(int(s) for s in shape), bool(fortran), dtype


def _member(z: zipfile.ZipFile, member: str, path: Path) -> ArrayHandle:
    name = member[:-4]
    with z.open(member) as fh:
        shape, fortran, dtype = _header(fh, path, member)
        offset = fh.tell()
    if not shape:
        shape = (1,)
    return ArrayHandle(name, shape, dtype, _reader(z, member, shape, dtype, offset, fortran))


def _reader(z: zipfile.ZipFile, member: str, shape: tuple[int, ...], dtype: np.dtype,
            offset: int, fortran: bool) -> Callable[[int, int], np.ndarray]:
    row = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
    state: dict[str, Any] = {}

    def read(lo: int, hi: int) -> np.ndarray:
        if fortran:  # rows are not contiguous: read the member once
            if "whole" not in state:
                with z.open(member) as fh:
                    state["whole"] = np.load(fh, allow_pickle=False)
            return np.asarray(state["whole"]).reshape(shape)[lo:hi]
        fh = state.get("fh")
        if fh is None or state.get("pos") != lo:  # sequential reads need no seek
            if fh is not None:
                fh.close()
            fh = state["fh"] = z.open(member)
            fh.seek(offset + lo * row)
        buf = fh.read((hi - lo) * row)
        state["pos"] = hi
        if len(buf) != (hi - lo) * row:
            raise ValueError(f"member {member!r} is truncated")
        return np.frombuffer(buf, dtype=dtype).reshape((hi - lo, *shape[1:]))

    return read
