"""Model directories: ``model.json`` metadata beside weights/tensors, never pickle.

A trained model is a directory::

    MODEL/
      model.json     {"format": "rom-model", "format_version": 1, "kind": ...,
                      "created", "rom_version", "dataset": {...}, ...kind-specific}
      tensors.h5     reduced-order models: one HDF5 dataset per array
      ...            neural operators: weights (safetensors / torch state dict)

Everything needed to rebuild the model is in ``model.json``; loaders check
``format`` and ``kind`` and fail with one clear line otherwise. ``tensors.h5``
keys may contain ``/`` (HDF5 groups). Both files are written atomically
(:mod:`data.atomic`), tensors first, so a directory with a ``model.json`` is
complete.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .atomic import atomic_path, atomic_write_text

MODEL_FORMAT = "rom-model"
MODEL_FORMAT_VERSION = 1

#: the distribution name on the package index (the command stays ``rom``)
DISTRIBUTION = "rom-workbench"


def rom_version() -> str:
    try:
        from importlib.metadata import version

        return version(DISTRIBUTION)
    except Exception:  # noqa: BLE001 - running from a source tree
        return "0+unknown"


def write_model_meta(model_dir: str | os.PathLike, kind: str, **meta: Any) -> Path:
    """Write ``model.json`` atomically and return its path."""
    d = Path(model_dir)
    d.mkdir(parents=True, exist_ok=True)
    record = {"format": MODEL_FORMAT, "format_version": MODEL_FORMAT_VERSION, "kind": kind,
              "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "rom_version": rom_version(), **meta}
    return atomic_write_text(d / "model.json",
                             json.dumps(record, indent=2, sort_keys=True, default=jsonable))


def read_model_meta(model_dir: str | os.PathLike, kind: str | tuple[str, ...] | None = None
                    ) -> dict[str, Any]:
    """Read and check ``model.json``; ``kind`` restricts the accepted kinds."""
    d = Path(model_dir)
    path = d / "model.json" if d.is_dir() else d
    if not path.exists():
        raise FileNotFoundError(f"{model_dir}: not a rom model (no model.json)")
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: corrupt model.json ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != MODEL_FORMAT:
        raise ValueError(f"{path}: not a rom model file (format is not {MODEL_FORMAT!r})")
    kinds = (kind,) if isinstance(kind, str) else kind
    if kinds and meta.get("kind") not in kinds:
        raise ValueError(f"{model_dir}: model is of kind {meta.get('kind')!r}, "
                         f"expected {' or '.join(kinds)}")
    return meta


def is_model_dir(path: str | os.PathLike) -> bool:
    return (Path(path) / "model.json").is_file()


def jsonable(obj: Any) -> Any:
    """``json.dumps`` default for numpy scalars/arrays and paths."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


# -- tensors.h5 (reduced-order models) -------------------------------------------------------

TENSORS = "tensors.h5"


def save_tensors(model_dir: str | os.PathLike, tensors: Mapping[str, np.ndarray]) -> Path:
    """Write ``tensors.h5`` atomically (arrays over 4096 entries gzip-compressed)."""
    d = Path(model_dir)
    d.mkdir(parents=True, exist_ok=True)
    with atomic_path(d / TENSORS) as tmp:
        with h5py.File(tmp, "w") as f:
            for key, value in tensors.items():
                arr = np.asarray(value)
                f.create_dataset(key, data=arr, compression="gzip" if arr.size > 4096 else None)
    return d / TENSORS


def load_tensors(model_dir: str | os.PathLike) -> dict[str, np.ndarray]:
    """Every array of ``tensors.h5``, keyed as written."""
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
    """A tensor model directory: ``tensors.h5`` first, then ``model.json``."""
    save_tensors(model_dir, tensors)
    return write_model_meta(model_dir, kind, **meta)


def load_model(model_dir: str | os.PathLike, kind: str | tuple[str, ...]
               ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``(model.json, tensors)`` of a tensor model directory of kind ``kind``."""
    meta = read_model_meta(model_dir, kind)
    return meta, load_tensors(model_dir)


def require_tensors(tensors: Mapping[str, np.ndarray], *keys: str, where: str = "model") -> None:
    """Fail with one line naming the missing arrays (a damaged model directory)."""
    missing = [k for k in keys if k not in tensors]
    if missing:
        raise ValueError(f"{where}: corrupt model, missing tensors {missing}")
