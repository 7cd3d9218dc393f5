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

:func:`atomic_files` does the same for a group of files that name each other
(an XDMF file and its HDF5 heavy data): they are written under their final
names into a temporary sibling directory and renamed into place at the end.
:func:`remove_stale_temporaries` removes what a writer killed with ``kill -9``
left behind (temporaries whose process id is no longer alive).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Sequence
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


@contextmanager
def atomic_files(paths: Sequence[str | os.PathLike]) -> Iterator[Path]:
    """Yield a temporary directory beside ``paths[0]``; on success move each file
    ``DIR/NAME`` written there to the target of that name, in the given order, and remove
    the directory; on failure remove the directory, leaving every target untouched.

    The targets must share one directory (the files may refer to each other by name).
    """
    targets = [Path(p) for p in paths]
    if len({t.parent.resolve() for t in targets}) > 1:
        raise ValueError("atomic_files: the files must be in one directory")
    tmp = temporary_name(targets[0])
    tmp.mkdir()
    try:
        yield tmp
        for target in targets:
            os.replace(tmp / target.name, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove the temporaries ``.NAME.tmp-PID`` of ``path`` whose process is dead; return them.

    A live writer's temporary (including this process's) is left alone.
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    removed = []
    for tmp in parent.glob(f".{path.name}.tmp-*"):
        pid = tmp.name.rpartition("-")[2]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        removed.append(tmp)
    return removed


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
