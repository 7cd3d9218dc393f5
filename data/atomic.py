"""Atomic file writes: write to a temporary sibling, rename over the target at the end.

A reader (or a crash) never sees a half-written file: the content goes to
``.NAME.tmp-PID`` in the target's directory (same file system, so
:func:`os.replace` is atomic on POSIX), which is renamed to ``NAME`` only when
the writer returns without an exception; on an exception it is removed. The
temporary name carries the writer's process id so that a later run can tell a
stale temporary of a dead process from a live writer's.

Example::

    with atomic_path(out) as tmp:
        with h5py.File(tmp, "w") as f:
            ...
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def temporary_name(path: str | os.PathLike) -> Path:
    """The temporary sibling ``.NAME.tmp-PID`` of ``path`` used by :func:`atomic_path`."""
    path = Path(path)
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary name to write; rename it to ``path`` on success, remove it on failure.

    The parent directory must exist. The file is created by the caller, so it
    gets the caller's umask like any other file.
    """
    path = Path(path)
    tmp = temporary_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path
