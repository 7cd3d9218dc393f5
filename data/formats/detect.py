"""Recognise a foreign data file by its structure (never by its name alone).

* ``"fno-mat"`` -- a MATLAB file: the 128-byte text header ``MATLAB 5.0 MAT-file``
  (v5, read by scipy) or ``MATLAB 7.3 MAT-file`` (an HDF5 file with a 512-byte
  user block), or an HDF5 file whose datasets carry ``MATLAB_class``;
* ``"npz"`` -- a zip archive of ``.npy`` members;
* ``"the-well"`` -- HDF5 with the root attributes ``dataset_name`` and
  ``n_spatial_dims`` and the groups ``dimensions`` and ``t0_fields``;
* ``"pdebench"`` -- HDF5 with ``tensor`` + ``x-coordinate``, the CFD variables
  + ``x-coordinate``, or per-seed groups ``<seed>/data``;
* ``None`` -- anything else (including rom's own datasets and models).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import h5py

from .pdebench import pdebench_layout

MAT_V5 = b"MATLAB 5.0 MAT-file"
MAT_V73 = b"MATLAB 7.3 MAT-file"


def detect_format(path: str | os.PathLike) -> str | None:
    """``"pdebench"``, ``"the-well"``, ``"fno-mat"``, ``"npz"`` or ``None``."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if not path.is_file():
        return None
    with open(path, "rb") as fh:
        head = fh.read(128)
    if head.startswith(MAT_V5) or head.startswith(MAT_V73):
        return "fno-mat"
    if head.startswith(b"PK") and _is_npz(path):
        return "npz"
    if h5py.is_hdf5(path):
        try:
            with h5py.File(path, "r") as f:
                return hdf5_format(f)
        except OSError:
            return None
    return None


def hdf5_format(f: h5py.File) -> str | None:
    """The foreign format of an open HDF5 file, from its groups, datasets and attributes."""
    if f.attrs.get("format") in ("rom-dataset", b"rom-dataset"):
        return None
    if "dataset_name" in f.attrs and "n_spatial_dims" in f.attrs \
            and "dimensions" in f and "t0_fields" in f:
        return "the-well"
    if pdebench_layout(f) is not None:
        return "pdebench"
    if any(isinstance(v, h5py.Dataset) and "MATLAB_class" in v.attrs for v in f.values()):
        return "fno-mat"
    return None


def _is_npz(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    return bool(names) and all(n.endswith(".npy") for n in names)


def is_mat_v73(path: str | os.PathLike) -> bool:
    """True for a MATLAB v7.3 file (HDF5 with MATLAB's header or ``MATLAB_class`` datasets)."""
    with open(path, "rb") as fh:
        head = fh.read(128)
    if head.startswith(MAT_V73):
        return True
    if head.startswith(MAT_V5) or not h5py.is_hdf5(path):
        return False
    with h5py.File(path, "r") as f:
        return any(isinstance(v, h5py.Dataset) and "MATLAB_class" in v.attrs for v in f.values())
