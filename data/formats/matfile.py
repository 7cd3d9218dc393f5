"""MATLAB ``.mat`` files of the FNO benchmarks -> rom datasets.

The Fourier Neural Operator benchmarks (Li et al., 2021) ship MATLAB files:
Darcy flow ``coeff`` / ``sol`` ``(N, s, s)`` (plus ``Kcoeff``...), Burgers
``a`` / ``u`` ``(N, s)``, Navier-Stokes ``a`` ``(N, s, s)``, ``u`` ``(N, s, s, T)``
and ``t`` ``(1, T)``.

* **v5** files (``MATLAB 5.0 MAT-file`` header) are read with
  :func:`scipy.io.loadmat`, one variable at a time (``variable_names=``), and
  their shapes listed with :func:`scipy.io.whosmat` without loading anything.
* **v7.3** files are HDF5; MATLAB writes arrays column-major, so h5py sees
  every axis reversed: a MATLAB ``(N, s, s, T)`` array is stored as
  ``(T, s, s, N)``. It is read in blocks along the last stored axis (the
  samples) and each block is transposed back to ``(k, s, s, T)``.

:func:`data.formats.arrays.plan_from_arrays` then picks inputs, outputs, the
time axis and the grid.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Sequence

import h5py
import numpy as np
import scipy.io

from .arrays import ArrayHandle, plan_from_arrays
from .common import ImportPlan, decode
from .detect import is_mat_v73

#: MATLAB classes that hold numbers
NUMERIC_CLASSES = {"double", "single", "int8", "uint8", "int16", "uint16", "int32", "uint32",
                   "int64", "uint64", "logical"}


def read_mat(path: str | os.PathLike, *, inputs: Sequence[str] | None = None,
             outputs: Sequence[str] | None = None, problem: str | None = None,
             periodic: bool | None = None) -> ImportPlan:
    """Describe an FNO-style ``.mat`` file (v5 or v7.3) as an :class:`ImportPlan`."""
    path = Path(path)
    if is_mat_v73(path):
        f = h5py.File(path, "r")
        try:
            plan = plan_from_arrays(v73_arrays(f), path, "fno-mat", inputs=inputs,
                                    outputs=outputs, problem=problem, periodic=periodic)
        except BaseException:
            f.close()
            raise
        plan.handles.append(f)
        plan.source["mat_version"] = "7.3"
        return plan
    plan = plan_from_arrays(v5_arrays(path), path, "fno-mat", inputs=inputs, outputs=outputs,
                            problem=problem, periodic=periodic)
    plan.source["mat_version"] = "5"
    return plan


# --------------------------------------------------------------------------- v5 (scipy)
def v5_arrays(path: Path) -> dict[str, ArrayHandle]:
    """Numeric variables of a v5 file; each is loaded on first read, alone."""
    try:
        listing = scipy.io.whosmat(str(path))
    except Exception as exc:  # noqa: BLE001 - scipy raises many types on bad files
        raise ValueError(f"{path}: not a readable MATLAB file ({_first_line(exc)})") from None
    arrays: dict[str, ArrayHandle] = {}
    for name, shape, cls in listing:
        if cls not in NUMERIC_CLASSES or name.startswith("__"):
            continue
        arrays[name] = ArrayHandle(name, tuple(int(s) for s in shape), np.dtype(_v5_dtype(cls)),
                                   _v5_reader(path, name))
    return arrays


def _v5_dtype(cls: str) -> str:
    return {"double": "float64", "single": "float32", "logical": "bool"}.get(cls, cls)


def _v5_reader(path: Path, name: str) -> Callable[[int, int], np.ndarray]:
    cache: dict[str, np.ndarray] = {}

    def read(lo: int, hi: int) -> np.ndarray:
        if name not in cache:
            cache[name] = scipy.io.loadmat(str(path), variable_names=[name])[name]
        return cache[name][lo:hi]

    return read


# --------------------------------------------------------------------------- v7.3 (HDF5)
def v73_arrays(f: h5py.File) -> dict[str, ArrayHandle]:
    """Numeric root datasets of a v7.3 file, axes reversed to MATLAB's (C-order) view."""
    arrays: dict[str, ArrayHandle] = {}
    for name, ds in f.items():
        if not isinstance(ds, h5py.Dataset) or name.startswith("#"):
            continue
        cls = decode(ds.attrs.get("MATLAB_class", "double"))
        if cls not in NUMERIC_CLASSES or ds.dtype.kind not in "biuf":
            continue
        arrays[name] = ArrayHandle(name, tuple(ds.shape[::-1]), ds.dtype, _v73_reader(ds))
    return arrays


def _v73_reader(ds: h5py.Dataset) -> Callable[[int, int], np.ndarray]:
    """Samples ``lo:hi`` (MATLAB's first axis = the last stored axis), transposed back."""

    def read(lo: int, hi: int) -> np.ndarray:
        block = ds[(Ellipsis, slice(lo, hi))]
        return np.ascontiguousarray(block.transpose(tuple(range(block.ndim - 1, -1, -1))))

    return read


def write_mat_v73(path: str | os.PathLike, arrays: dict[str, Any]) -> Path:
    """Write arrays as MATLAB would in a v7.3 file (header user block, reversed axes,
    ``MATLAB_class``) -- for tests and for users without MATLAB."""
    path = Path(path)
    with h5py.File(path, "w", userblock_size=512) as f:
        for name, value in arrays.items():
            a = np.asarray(value)
            ds = f.create_dataset(name, data=a.transpose(tuple(range(a.ndim - 1, -1, -1))))
            cls = {"float64": "double", "float32": "single", "bool": "logical"}
            ds.attrs["MATLAB_class"] = np.bytes_(cls.get(str(a.dtype), str(a.dtype)))
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: rom. HDF5 schema 1.00 ."
    with open(path, "r+b") as fh:
        fh.write(header.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02IM")
    return path


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
