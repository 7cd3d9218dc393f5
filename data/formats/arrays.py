"""Bare sample-first arrays (FNO ``.mat`` files, ``.npz`` archives) as an :class:`ImportPlan`.

The ``.mat`` and ``.npz`` readers list a file's arrays as :class:`ArrayHandle`
objects (name, shape in C order with samples first, a block reader);
:func:`plan_from_arrays` then decides which are inputs, outputs, the time axis
and parameters by the conventional names of FNO-style files (see
``docs/exchange.md``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from data.errors import OptionError

from .common import FieldSource, ImportPlan, pick_names, provenance, uniform_axes


@dataclass
class ArrayHandle:
    """A named array of a ``.mat``/``.npz`` file in C (Python) axis order, samples first.

    ``read(lo, hi)`` returns samples ``lo:hi`` with shape ``(hi - lo, *shape[1:])``.
    """

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    read: Callable[[int, int], np.ndarray]


#: conventional names of inputs / outputs / time axes in FNO-style files, in order
INPUT_NAMES = ("coeff", "a", "input", "inputs", "x")
OUTPUT_NAMES = ("sol", "u", "output", "outputs", "y")
TIME_NAMES = ("t", "times", "time")
PARAMETER_NAMES = ("mu", "params", "parameters")


def plan_from_arrays(arrays: Mapping[str, ArrayHandle], path: Path | str, fmt: str, *,
                     inputs: Sequence[str] | None = None, outputs: Sequence[str] | None = None,
                     problem: str | None = None, periodic: bool | None = None) -> ImportPlan:
    """An :class:`ImportPlan` from bare sample-first arrays (FNO ``.mat``, ``.npz``).

    Inputs/outputs are the arrays named by ``inputs``/``outputs`` or the first
    conventional name present (``coeff``/``a``/..., ``sol``/``u``/...). A time
    array ``t`` of length ``T`` marks the output axis of length ``T``: FNO's
    Navier-Stokes layout ``(N, nx, ny, T)`` is moved to rom's ``(N, T, nx, ny)``.
    The grid is the unit cube with the spatial shape (periodic, right endpoint
    omitted, for ``a``/``u`` files -- Burgers and Navier-Stokes on the torus --
    and with both endpoints otherwise). Unused arrays of shape ``(N,)`` and
    ``mu``/``params`` of shape ``(N, p)`` become parameters.
    """
    available = [k for k in arrays if k not in TIME_NAMES]
    out_names = pick_names(available, outputs, OUTPUT_NAMES, path, "output")
    if not out_names:
        raise OptionError(f"{path}: no output array (looked for {', '.join(OUTPUT_NAMES)}); "
                          f"name one with {{option}}; arrays: {', '.join(available) or 'none'}",
                          "outputs", None)
    in_names = [k for k in pick_names(available, inputs, INPUT_NAMES, path, "input")
                if k not in out_names]
    n = arrays[out_names[0]].shape[0]
    for k in out_names + in_names:
        if arrays[k].shape[0] != n:
            raise ValueError(f"{path}: array {k!r} has {arrays[k].shape[0]} samples, "
                             f"{out_names[0]!r} has {n}")
    t = next((arrays[k] for k in TIME_NAMES if k in arrays), None)
    times = None if t is None else np.asarray(t.read(0, t.shape[0]), dtype=float).ravel()
    if in_names:
        spatial = tuple(arrays[in_names[0]].shape[1:])
    else:
        rest = tuple(arrays[out_names[0]].shape[1:])
        spatial = _drop_time(rest, times)[0]
    fields = [FieldSource(k, "input", tuple(arrays[k].shape[1:]), arrays[k].dtype, arrays[k].read,
                          source=k) for k in in_names]
    used_times = False
    for k in out_names:
        a = arrays[k]
        rest, axis = _drop_time(tuple(a.shape[1:]), times, spatial)
        if axis is None:
            fields.append(FieldSource(k, "output", tuple(a.shape[1:]), a.dtype, a.read, source=k))
            continue
        used_times = True
        fields.append(FieldSource(k, "output", (len(times), *rest), a.dtype,
                                  _time_first(a.read, 1 + axis), source=k))
    periodic = (in_names[:1] == ["a"] or out_names[:1] == ["u"]) if periodic is None else periodic
    grid = uniform_axes(spatial, bool(periodic))
    values, pnames = _array_parameters(arrays, n, set(in_names) | set(out_names))
    return ImportPlan(problem or f"imported:{Path(path).stem}", n, grid,
                      times if used_times else None, fields, values, pnames,
                      provenance(fmt, path, inputs=in_names, outputs=out_names))


def _drop_time(rest: tuple[int, ...], times: np.ndarray | None,
               spatial: tuple[int, ...] | None = None) -> tuple[tuple[int, ...], int | None]:
    """The per-sample shape without its time axis, and where that axis was (``None``: none).

    The time axis is the first or last axis of length ``len(times)`` that is
    not part of the spatial shape.
    """
    if times is None or len(rest) < 2:
        return rest, None
    nt = len(times)
    if spatial is not None and rest[:len(spatial)] == spatial and len(rest) == len(spatial):
        return rest, None
    if rest[-1] == nt and (spatial is None or rest[:-1] == spatial):
        return rest[:-1], len(rest) - 1
    if rest[0] == nt and (spatial is None or rest[1:1 + len(spatial)] == spatial):
        return rest[1:], 0
    return rest, None


def _time_first(read: Callable[[int, int], np.ndarray], axis: int
                ) -> Callable[[int, int], np.ndarray]:
    """A reader that moves block axis ``axis`` (the time axis) to position 1."""
    if axis == 1:
        return read
    return lambda lo, hi: np.ascontiguousarray(np.moveaxis(read(lo, hi), axis, 1))


def _array_parameters(arrays: Mapping[str, ArrayHandle], n: int, used: set[str]
                      ) -> tuple[np.ndarray, tuple[str, ...]]:
    names: list[str] = []
    cols: list[np.ndarray] = []
    for k, a in arrays.items():
        if k in used or k in TIME_NAMES or a.dtype.kind not in "iuf":
            continue
        if a.shape == (n,) or a.shape == (n, 1):
            names.append(k)
            cols.append(np.asarray(a.read(0, n), dtype=float).reshape(n))
        elif k in PARAMETER_NAMES and len(a.shape) == 2 and a.shape[0] == n:
            block = np.asarray(a.read(0, n), dtype=float)
            names += [f"{k}_{j}" for j in range(a.shape[1])]
            cols += list(block.T)
    values = np.stack(cols, axis=1) if cols else np.zeros((n, 0))
    return values, tuple(names)
