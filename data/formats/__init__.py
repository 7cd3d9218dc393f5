"""Data exchange with other formats: PDEBench, The Well, FNO ``.mat`` files and ``.npz``.

``import_file(src, out)`` converts a foreign file into a rom dataset in
blocks of samples; ``detect_format(path)`` names a foreign format from the
file's structure; ``export_pdebench`` / ``export_the_well`` write rom datasets
in those layouts. The name mappings are documented in ``docs/exchange.md``.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import h5py

from data.errors import OptionError

from .common import DEFAULT_CHUNK_BYTES, ImportPlan, open_hdf5, write_plan
from .detect import detect_format

#: format name -> "module:reader" (each reader returns an ImportPlan)
READERS: dict[str, str] = {
    "pdebench": "data.formats.pdebench:read_pdebench",
    "the-well": "data.formats.the_well:read_the_well",
    "fno-mat": "data.formats.matfile:read_mat",
    "npz": "data.formats.npz:read_npz",
}
#: names accepted on the command line for each format
ALIASES = {"mat": "fno-mat", "well": "the-well", "the_well": "the-well"}


def canonical_format(name: str) -> str:
    """A format name or alias as a key of :data:`READERS` (ValueError if unknown)."""
    key = ALIASES.get(name, name)
    if key not in READERS:
        raise ValueError(f"unknown format {name!r}; valid: auto, {', '.join(sorted(READERS))}, "
                         f"{', '.join(sorted(ALIASES))}")
    return key


def read_foreign(src: str | os.PathLike, fmt: str = "auto", **options: Any) -> ImportPlan:
    """Open a foreign file as an :class:`ImportPlan` (``fmt="auto"`` detects the format)."""
    src = Path(src)
    if not src.exists():
        raise FileNotFoundError(f"{src}: no such file")
    if src.is_dir():  # only The Well ships a data set as a directory of files
        if fmt not in ("auto", "the-well", "well", "the_well"):
            raise OptionError(f"{src}: is a directory; only {{option}} reads directories",
                              "fmt", "the-well")
        from .the_well import well_files

        first = well_files(src)[0]
        if fmt == "auto" and detect_format(first) != "the-well":
            raise ValueError(f"{src}: is a directory and {first.name} is not a The Well file")
        fmt = "the-well"
    if fmt == "auto":
        detected = detect_format(src)
        if detected is None and h5py.is_hdf5(src):
            open_hdf5(src).close()  # a corrupt file says so rather than "unknown format"
        if detected is None:
            raise OptionError(f"{src}: cannot tell the format (not PDEBench, The Well, an FNO "
                              ".mat or .npz file); name it with {option}", "fmt", None)
        fmt = detected
    module, func = READERS[canonical_format(fmt)].split(":")
    reader: Callable[..., ImportPlan] = getattr(importlib.import_module(module), func)
    return reader(src, **options)


def import_file(src: str | os.PathLike, out: str | os.PathLike, *, fmt: str = "auto",
                inputs: Sequence[str] | None = None, outputs: Sequence[str] | None = None,
                problem: str | None = None, periodic: bool | None = None,
                chunk_bytes: int = DEFAULT_CHUNK_BYTES, overwrite: bool = False,
                progress: Callable[[int], None] | None = None,
                on_plan: Callable[[ImportPlan], None] | None = None) -> Path:
    """Convert a foreign file into a rom dataset at ``out`` and return its path."""
    plan = read_foreign(src, fmt, inputs=inputs or None, outputs=outputs or None,
                        problem=problem, periodic=periodic)
    with plan:
        if on_plan is not None:
            on_plan(plan)
        return write_plan(plan, out, chunk_bytes=chunk_bytes, overwrite=overwrite,
                          progress=progress)


def export_pdebench(data_path: str | os.PathLike, out: str | os.PathLike, **kw: Any) -> Path:
    from .pdebench import export_pdebench as _export

    return _export(data_path, out, **kw)


def export_the_well(data_path: str | os.PathLike, out: str | os.PathLike, **kw: Any) -> Path:
    from .the_well import export_the_well as _export

    return _export(data_path, out, **kw)


__all__ = ["DEFAULT_CHUNK_BYTES", "ImportPlan", "READERS", "canonical_format", "detect_format",
           "export_pdebench", "export_the_well", "import_file", "read_foreign", "write_plan"]
