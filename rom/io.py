"""ROM files: a model directory with ``model.json`` and ``tensors.h5`` (no pickle).

``tensors.h5`` holds one HDF5 dataset per array (keys may contain ``/`` for
groups); ``model.json`` (:mod:`data.model_dir`) holds everything else needed
to rebuild the model: the dataset's problem config, options, histories.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import h5py
import numpy as np

from data.model_dir import read_model_meta, write_model_meta

TENSORS = "tensors.h5"


def save_tensors(model_dir: str | os.PathLike, tensors: Mapping[str, np.ndarray]) -> Path:
    """Write arrays atomically (temporary file, then rename)."""
    d = Path(model_dir)
    d.mkdir(parents=True, exist_ok=True)
    tmp = d / (TENSORS + ".tmp")
    with h5py.File(tmp, "w") as f:
        for key, value in tensors.items():
            arr = np.asarray(value)
            f.create_dataset(key, data=arr, compression="gzip" if arr.size > 4096 else None)
    os.replace(tmp, d / TENSORS)
    return d / TENSORS


def load_tensors(model_dir: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read every array of ``tensors.h5`` (keys as written)."""
    path = Path(model_dir) / TENSORS
    if not path.is_file():
        raise FileNotFoundError(f"{model_dir}: model has no {TENSORS}")
    out: dict[str, np.ndarray] = {}
    try:
        with h5py.File(path, "r") as f:
            f.visititems(lambda name, obj: out.__setitem__(name, obj[()])
                         if isinstance(obj, h5py.Dataset) else None)
    except OSError as exc:
        raise ValueError(f"{path}: corrupt tensor file ({exc})") from None
    return out


def save_model(model_dir: str | os.PathLike, kind: str, tensors: Mapping[str, np.ndarray],
               **meta: Any) -> Path:
    """Tensors first, then ``model.json`` (so a directory with metadata is complete)."""
    save_tensors(model_dir, tensors)
    return write_model_meta(model_dir, kind, **meta)


def load_model(model_dir: str | os.PathLike, kind: str | tuple[str, ...]
               ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    meta = read_model_meta(model_dir, kind)
    return meta, load_tensors(model_dir)


def require(tensors: Mapping[str, np.ndarray], *keys: str, where: str = "model") -> None:
    missing = [k for k in keys if k not in tensors]
    if missing:
        raise ValueError(f"{where}: corrupt model, missing tensors {missing}")
