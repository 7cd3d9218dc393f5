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
complete. ``model.json`` is strict JSON (RFC 8259): a non-finite number is
written as ``null`` (:func:`data.evaluation.strict_json`).

Training never writes over work silently: :func:`prepare_model_dir` accepts
a new or empty directory, a run of the same kind to resume, or (asked
explicitly) an old model to replace; anything else, a model of another kind,
a finished or checkpointed model of the same kind or a folder of unrelated
files, raises :class:`OutputInUse`.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .atomic import atomic_path, atomic_write_text
from .evaluation import strict_json

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
    return atomic_write_text(d / "model.json", json.dumps(strict_json(record), indent=2,
                                                          sort_keys=True, allow_nan=False))


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


class OutputInUse(ValueError):
    """The output directory of a training run holds something that must not be lost;
    ``resumable`` when it is a run of the same kind that can be continued."""

    def __init__(self, message: str, resumable: bool = False):
        super().__init__(message)
        self.resumable = resumable


def prepare_model_dir(out: str | os.PathLike, kind: str, *, overwrite: bool = False,
                      resume: bool = False) -> Path:
    """Check (and create) the output directory of a training run of ``kind``.

    Accepted: a missing or empty directory; with ``resume`` a model directory of
    the same kind (the kind checks that its checkpoint can be continued); with
    ``overwrite`` anything: an old model directory (``model.json`` present) is
    removed with all its files, so no two models mix, and a folder that is not a
    model keeps its other files. Otherwise :class:`OutputInUse`.
    """
    d = Path(out)
    if resume and overwrite:
        raise ValueError("a run is either resumed or overwritten, not both")
    if d.exists() and not d.is_dir():
        raise OutputInUse(f"{d}: exists and is not a directory")
    if resume:
        read_model_meta(d, kind)   # no model.json, or another kind: a one-line error
        return d
    if d.is_dir() and any(d.iterdir()):
        if overwrite:
            if is_model_dir(d):
                shutil.rmtree(d)
        elif is_model_dir(d):
            try:
                other = read_model_meta(d).get("kind")
            except ValueError:
                other = None
            if other != kind:
                raise OutputInUse(f"{d}: holds a trained {other or 'unreadable'} model; "
                                  f"refusing to replace it with a {kind} model")
            checkpoint = (d / "checkpoint").is_dir()
            raise OutputInUse(f"{d}: holds a {kind} model"
                              + (" with a training checkpoint" if checkpoint else "")
                              + "; refusing to replace it", resumable=checkpoint)
        else:
            raise OutputInUse(f"{d}: directory is not empty and holds no rom model; "
                              "refusing to write a model into it")
    d.mkdir(parents=True, exist_ok=True)
    return d


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
