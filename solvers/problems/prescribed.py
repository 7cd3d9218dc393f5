"""Prescribed data of a problem: sources, boundary and initial data given by the caller.

Every problem of the zoo draws its random inputs from ``mu``; a caller who
wants a particular source, boundary data or initial state (a manufactured
solution, a measured field) prescribes it with ``Problem.prescribe(**data)``
(see :mod:`solvers.problems.base`). This module holds what that needs once:

* the forms a datum may take (:data:`Data`): a number, an array of the grid's
  shape (``grid.shape``, boundary nodes included), a callable of the node
  coordinates ``f(*grid.mesh())`` (plus the time ``t`` for the source and
  boundary data of a time-dependent problem: ``f(x, y, t)``), or a field read
  from a file (:class:`FieldFile`, the string ``"PATH[:NAME]"``);
* :func:`on_grid`, which evaluates a datum on the grid and checks its shape;
* the *record* of a datum kept in ``Problem.config()``: a file's absolute path,
  array name and the sha256 of the array (so a dataset's problem is rebuilt
  from the same file and a changed file is refused), a number's value, or a
  note that it was given in Python (such a problem is not rebuilt from its
  config).

Dirichlet data enter by *lifting*: the unknowns stay the interior nodes, the
system is ``A_II u_I = f_I - A_IB g_B`` (:mod:`solvers.problems.lifting`) and
``to_fields`` writes ``g`` on the boundary.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Union

import numpy as np

from .grid import Grid

#: what ``Problem.prescribe`` may be given for each datum
Data = Union[float, complex, np.ndarray, Callable[..., Any], "FieldFile", str, os.PathLike]

#: every datum name a problem may accept (each problem lists its own in ``prescribable``)
DATA_NAMES = ("source", "dirichlet", "impedance", "initial", "velocity")

_HDF5 = (".h5", ".hdf5", ".he5")


def array_sha256(array: np.ndarray) -> str:
    """sha256 of an array's dtype, shape and bytes (C order)."""
    a = np.ascontiguousarray(array)
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.tobytes())
    return h.hexdigest()


@dataclass(frozen=True)
class FieldFile:
    """An array stored in an ``.npz``/``.npy`` or HDF5 file: ``PATH[:NAME]``.

    ``name`` is the array of an ``.npz`` or the dataset path of an HDF5 file;
    without it the file must hold exactly one array. ``sha256`` (set when the
    file is re-read from a record) is checked against the array read.
    """

    path: str
    name: str | None = None
    sha256: str | None = None

    @classmethod
    def parse(cls, text: str | os.PathLike) -> FieldFile:
        """``"f.npz"``, ``"f.npz:name"`` or ``"f.h5:group/name"``."""
        text = os.fspath(text)
        path, sep, name = text.rpartition(":")
        if not sep or Path(text).exists() or not path:
            return cls(text)
        return cls(path, name or None)

    def __str__(self) -> str:
        return self.path if self.name is None else f"{self.path}:{self.name}"

    def load(self) -> np.ndarray:
        """Read the array (a one-line ``ValueError``/``OSError`` when it is missing or changed)."""
        path = Path(self.path)
        if not path.is_file():
            raise OSError(f"prescribed field file {self.path} not found")
        if path.suffix.lower() in _HDF5:
            array = self._load_hdf5(path)
        else:
            array = self._load_numpy(path)
        if self.sha256 is not None and array_sha256(array) != self.sha256:
            raise ValueError(f"prescribed field {self} has changed since it was recorded "
                             f"(sha256 {array_sha256(array)[:12]}..., recorded {self.sha256[:12]}...)")
        return array

    def _load_numpy(self, path: Path) -> np.ndarray:
        try:
            data = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise ValueError(f"cannot read {path} as .npz/.npy: {exc}") from None
        if isinstance(data, np.ndarray):
            if self.name is not None:
                raise ValueError(f"{path} is a single .npy array; drop ':{self.name}'")
            return data
        with data:
            return np.asarray(data[self._pick(path, list(data.files))])

    def _load_hdf5(self, path: Path) -> np.ndarray:
        import h5py

        with h5py.File(path, "r") as f:
            names: list[str] = []
            f.visititems(lambda key, obj: names.append(key) if isinstance(obj, h5py.Dataset) else None)
            return np.asarray(f[self._pick(path, names)][()])

    def _pick(self, path: Path, names: list[str]) -> str:
        if self.name is None:
            if len(names) != 1:
                raise ValueError(f"{path} holds {len(names)} arrays ({', '.join(names[:8])}); "
                                 "name one as PATH:NAME")
            return names[0]
        name = self.name.strip("/")
        if name not in [n.strip("/") for n in names]:
            raise ValueError(f"{path} has no array {self.name!r}; it holds {', '.join(names[:8])}")
        return name

    def record(self, array: np.ndarray) -> dict[str, Any]:
        return {"path": str(Path(self.path).resolve()), "name": self.name,
                "sha256": array_sha256(array)}


def read(value: Data, what: str, shape: tuple[int, ...]) -> tuple[Any, dict[str, Any]]:
    """``(value to keep, record for the config)`` of one prescribed datum.

    Files are read here (and their arrays kept), arrays are checked against
    ``shape`` (the grid's), numbers and callables are kept as given.
    """
    if isinstance(value, (str, os.PathLike, FieldFile)):
        file = value if isinstance(value, FieldFile) else FieldFile.parse(value)
        array = file.load()
        _check_shape(array, f"{what} from {file}", shape)
        return array, file.record(array)
    if callable(value):
        return value, {"python": "callable"}
    if np.ndim(value) == 0:
        number = np.asarray(value).item()
        if isinstance(number, complex):
            return number, {"python": "number"}
        return float(number), {"value": float(number)}
    array = np.asarray(value)
    _check_shape(array, what, shape)
    return array, {"python": "array", "sha256": array_sha256(array)}


def from_record(what: str, record: dict[str, Any]) -> Data:
    """The datum a config record stands for (the inverse of :func:`read`'s record)."""
    if "path" in record:
        return FieldFile(record["path"], record.get("name"), record.get("sha256"))
    if "value" in record:
        return float(record["value"])
    raise ValueError(f"the prescribed {what} was given in Python ({record.get('python', '?')}), "
                     "not as a file, so the problem cannot be rebuilt from its config")


def on_grid(grid: Grid, value: Any, what: str, *time: float) -> np.ndarray:
    """The datum on the full grid: a number, an array of ``grid.shape``, or
    ``value(*grid.mesh(), *time)`` (a callable returning such an array or a number)."""
    if callable(value):
        value = value(*grid.mesh(), *time)
    array = np.asarray(value)
    if array.ndim == 0:
        return np.full(grid.shape, array.item())
    _check_shape(array, what, grid.shape)
    return array


def _check_shape(array: np.ndarray, what: str, shape: tuple[int, ...]) -> None:
    if array.shape != tuple(shape):
        raise ValueError(f"{what} has shape {array.shape}, expected the grid shape {tuple(shape)}")
