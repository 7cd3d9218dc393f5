"""Model directories: ``model.json`` metadata beside weights/tensors, never pickle.

A trained model is a directory::

    MODEL/
      model.json     {"format": "rom-model", "format_version": 1, "kind": ...,
                      "created", "rom_version", "dataset": {...}, ...kind-specific}
      ...            weights (safetensors / torch state dict) or HDF5 tensors

Everything needed to rebuild the model is in ``model.json``; loaders check
``format`` and ``kind`` and fail with one clear line otherwise.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

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
    """Write ``model.json`` atomically (temp file + rename) and return its path."""
    d = Path(model_dir)
    d.mkdir(parents=True, exist_ok=True)
    record = {"format": MODEL_FORMAT, "format_version": MODEL_FORMAT_VERSION, "kind": kind,
              "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "rom_version": rom_version(), **meta}
    tmp = d / "model.json.tmp"
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True, default=jsonable))
    os.replace(tmp, d / "model.json")
    return d / "model.json"


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
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
