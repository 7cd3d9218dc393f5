"""Which package serves which model kind (for ``rom evaluate`` and ``rom info MODEL``).

A serving module defines::

    evaluate(model_dir: Path, data_path: Path, *, out_dir: Path | None = None,
             resolution: int | None = None, batch_size: int | None = None,
             device: str = "cpu", quiet: bool = False) -> dict
        # metrics: at least data.metrics.evaluation_record(...)'s keys; with
        # out_dir, also writes metrics.json, predictions.h5 and figures there.
    describe(model_dir: Path) -> dict
        # architecture / sizes / parameter count for `rom info MODEL`.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from data.model_dir import read_model_meta

MODEL_KINDS: dict[str, str] = {
    "pod": "rom.api",
    "rb": "rom.api",
    "eim": "rom.api",
    "fno": "operators.api",
    "lsm": "operators.api",
    "scot": "operators.api",
    "precond": "operators.precond_api",
}


def serving_module(model_dir: str | Path) -> tuple[dict, ModuleType]:
    """Read ``model.json`` and import the module that evaluates/describes its kind."""
    meta = read_model_meta(model_dir)
    kind = meta.get("kind")
    if kind not in MODEL_KINDS:
        raise ValueError(f"{model_dir}: unknown model kind {kind!r}; "
                         f"valid: {', '.join(sorted(MODEL_KINDS))}")
    return meta, importlib.import_module(MODEL_KINDS[kind])
