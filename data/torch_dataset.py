"""HDF5-backed torch datasets of operator-learning pairs (inputs -> outputs).

An item is a dict ``{"x": (C_in, *spatial), "y": (C_out, *spatial), "t": (),
"index": ()}`` of float32 tensors (``t`` is the lead time, 0 for steady
pairs; ``index`` the sample index in the file). Fields of shape
``([T,] *grid.shape[, C])`` per sample become channel-first arrays; complex
fields contribute two channels (real, imaginary). A field may be restricted
to some of its channels with ``"name:0,2"``.

Pairing modes (``time_mode``):

* ``steady``   -- ``x`` = the input fields, ``y`` = the output fields (no time axis).
* ``all2all``  -- every pair of states ``(u(t_i), u(t_j))``, ``j >= i``, of each
  trajectory, lead time ``t_j - t_i`` (Poseidon's all-to-all training). The
  state is the output fields with a time axis; when the first stored time is
  after 0 and the inputs hold the initial condition (same shape as the state;
  for output ``w`` an input named ``w0`` is preferred, then one whose name
  starts with ``w``), it is prepended as the state at ``t = 0``. Other inputs are constant
  conditioning channels appended to ``x``.
* ``window``   -- ``steps_in`` consecutive states (stacked as channels) to the
  next ``steps_out`` states (e.g. Navier-Stokes 10 -> 10), ``t = 0``.
* ``auto``     -- ``steady`` without a time axis, else ``all2all``.

The HDF5 file is opened lazily in each process on first access (so a
``DataLoader`` with ``num_workers > 0`` never shares an h5py handle across a
fork); the selected samples are loaded into memory on first use when they fit
in ``cache_bytes``, else read chunk by chunk (one sample per chunk).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from data.dataset import Dataset
from data.errors import OptionError

TIME_MODES = ("auto", "steady", "all2all", "window")


@dataclass(frozen=True)
class FieldSpec:
    """A field name, optionally restricted to some channels (``"u:0,1"``)."""

    name: str
    channels: tuple[int, ...] | None = None

    @classmethod
    def parse(cls, spec: str) -> FieldSpec:
        name, _, chans = spec.partition(":")
        if not name:
            raise ValueError(f"empty field name in {spec!r}")
        if not chans:
            return cls(name)
        try:
            return cls(name, tuple(int(c) for c in chans.split(",")))
        except ValueError:
            raise ValueError(f"bad channel list in field spec {spec!r} (use NAME:0,1)") from None

    def __str__(self) -> str:
        return self.name if self.channels is None else f"{self.name}:{','.join(map(str, self.channels))}"


def parse_field_list(specs: str | list[str] | tuple[str, ...] | None) -> list[FieldSpec] | None:
    """``"a,b:0"`` or ``["a", "b:0"]`` -> field specs (``None`` keeps the default)."""
    if specs is None or specs == "" or specs == ():
        return None
    if isinstance(specs, str):
        parts, cur = [], ""
        for tok in specs.split(","):  # "a:0,1,b" -> "a:0,1", "b"
            if cur and not tok.strip().isdigit():
                parts.append(cur)
                cur = tok.strip()
            else:
                cur = f"{cur},{tok.strip()}" if cur else tok.strip()
        parts.append(cur)
        specs = parts
    return [FieldSpec.parse(s) for s in specs]


def split_indices(n: int, val_fraction: float = 0.1, test_fraction: float = 0.1,
                  seed: int = 0, samples: np.ndarray | None = None) -> dict[str, list[int]]:
    """Random split of sample indices into train/val/test (deterministic in ``seed``)."""
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError("val and test fractions must be in [0, 1) with a sum below 1")
    idx = np.arange(n) if samples is None else np.asarray(samples)
    perm = np.random.default_rng(seed).permutation(idx)
    n_val, n_test = int(round(val_fraction * len(idx))), int(round(test_fraction * len(idx)))
    if len(idx) - n_val - n_test < 1:
        raise ValueError(f"{len(idx)} samples are too few for this split")
    return {"train": sorted(perm[n_val + n_test:].tolist()),
            "val": sorted(perm[:n_val].tolist()),
            "test": sorted(perm[n_val:n_val + n_test].tolist())}


def all2all_pairs(n_times: int) -> np.ndarray:
    """Index pairs ``(i, j)``, ``0 <= i <= j < n_times``, shape ``(T (T + 1) / 2, 2)``."""
    i, j = np.triu_indices(n_times)
    return np.stack([i, j], axis=1).astype(np.int64)


def window_pairs(n_times: int, steps_in: int, steps_out: int) -> np.ndarray:
    """Window starts ``(s, s + k_in)`` for every window of ``k_in + k_out`` states."""
    starts = np.arange(n_times - steps_in - steps_out + 1, dtype=np.int64)
    return np.stack([starts, starts + steps_in], axis=1)


def _layout(shape: tuple[int, ...], grid_shape: tuple[int, ...], n_times: int | None
            ) -> tuple[bool, int]:
    """``(has_time, n_channels)`` of a field of per-file shape ``(n, [T,] *grid[, C])``."""
    g = len(grid_shape)
    rest = shape[1:]
    has_time = (n_times is not None and len(rest) >= g + 1 and rest[0] == n_times
                and tuple(rest[1:1 + g]) == tuple(grid_shape))
    core = rest[1:] if has_time else rest
    if tuple(core[:g]) != tuple(grid_shape) or len(core) > g + 1:
        raise ValueError(f"field of shape {shape} does not match the grid {grid_shape}")
    return has_time, (core[g] if len(core) == g + 1 else 1)


def _to_channels(a: np.ndarray, has_time: bool, ndim: int, channels: tuple[int, ...] | None
                 ) -> np.ndarray:
    """One sample ``([T,] *spatial[, C])`` -> float32 ``(T or 1, C', *spatial)``."""
    if not has_time:
        a = a[None]
    if a.ndim == ndim + 1:
        a = a[..., None]
    a = np.moveaxis(a, -1, 1)
    if np.iscomplexobj(a):
        a = np.stack([a.real, a.imag], axis=2).reshape(a.shape[0], -1, *a.shape[2:])
    if channels is not None:
        a = a[:, list(channels)]
    return np.ascontiguousarray(a, dtype=np.float32)


class OperatorDataset(torch.utils.data.Dataset):
    """Pairs of fields of a rom dataset for operator learning (see the module docstring)."""

    def __init__(self, path: str | os.PathLike, *, inputs: Any = None, outputs: Any = None,
                 indices: Any = None, time_mode: str = "auto", steps_in: int = 1,
                 steps_out: int = 1, time_steps: Any = None, initial: Any = "auto",
                 cache_bytes: float = 2e9) -> None:
        if time_mode not in TIME_MODES:
            raise ValueError(f"unknown time mode {time_mode!r}; valid: {', '.join(TIME_MODES)}")
        self.path = str(path)
        self.cache_bytes = cache_bytes
        self._ds: Dataset | None = None
        self._pid = os.getpid()
        self._cache: dict[str, np.ndarray] | None = None
        with Dataset(path) as ds:
            self._resolve(ds, parse_field_list(inputs), parse_field_list(outputs), indices,
                          time_mode, int(steps_in), int(steps_out), time_steps, initial)

    # -- set-up ----------------------------------------------------------------
    def _resolve(self, ds: Dataset, inputs, outputs, indices, time_mode, k_in, k_out,
                 time_steps, initial) -> None:
        self.grid_shape = tuple(ds.grid.shape)
        self.ndim = len(self.grid_shape)
        n_times = None if ds.times is None else len(ds.times)
        inputs = inputs if inputs is not None else [FieldSpec(n) for n in ds.input_names]
        outputs = outputs if outputs is not None else [FieldSpec(n) for n in ds.output_names]
        known = set(ds.input_names) | set(ds.output_names)
        missing = [str(s) for s in inputs + outputs if s.name not in known]
        if missing:
            raise ValueError(f"{ds.path}: dataset has no field(s) {', '.join(missing)}; fields: "
                             f"{', '.join(ds.input_names + ds.output_names) or 'none'}")
        if not outputs:
            raise ValueError(f"{ds.path}: no output fields selected")
        self.layout: dict[str, tuple[bool, int]] = {}
        for s in inputs + outputs:
            has_time, c = _layout(tuple(ds.field(s.name).shape), self.grid_shape, n_times)
            c = 2 * c if np.iscomplexobj(np.empty(0, ds.field(s.name).dtype)) else c
            if s.channels is not None and (min(s.channels) < 0 or max(s.channels) >= c):
                raise ValueError(f"field {s.name} has {c} channels; cannot select {s.channels}")
            self.layout[s.name] = (has_time, c)
        any_time = any(self.layout[s.name][0] for s in outputs)
        mode = ("all2all" if any_time else "steady") if time_mode == "auto" else time_mode
        done = np.flatnonzero(ds.done)
        self.indices = np.asarray(done if indices is None else indices, dtype=np.int64)
        if self.indices.size and (self.indices.min() < 0 or self.indices.max() >= ds.n_samples):
            raise ValueError(f"sample index out of range for {ds.n_samples} samples")
        not_done = np.setdiff1d(self.indices, done)
        if not_done.size:
            raise ValueError(f"{ds.path}: sample(s) {not_done[:5].tolist()} are not solved yet")
        self.mode, self.steps_in, self.steps_out = mode, k_in, k_out
        self.inputs, self.outputs = inputs, outputs
        if mode == "steady":
            timed = [s.name for s in inputs + outputs if self.layout[s.name][0]]
            if timed:
                raise OptionError(f"field(s) {', '.join(timed)} have a time axis, which the "
                                  "steady mode cannot use; choose all2all or window with "
                                  "{option}", "time_mode", None)
            self.initial, self.static, self.times = [], inputs, None
        else:
            self._resolve_time(ds, inputs, outputs, time_steps, initial)
        self.in_channels = self._channels(self.static) + (
            0 if mode == "steady" else self.state_channels * (k_in if mode == "window" else 1))
        self.out_channels = (self._channels(outputs) if mode == "steady"
                             else self.state_channels * (k_out if mode == "window" else 1))
        self._pairs = self._make_pairs()

    def _channels(self, specs: list[FieldSpec]) -> int:
        return sum(len(s.channels) if s.channels is not None else self.layout[s.name][1]
                   for s in specs)

    def _resolve_time(self, ds: Dataset, inputs, outputs, time_steps, initial) -> None:
        if ds.times is None:
            raise OptionError(f"{ds.path}: dataset has no time axis; use {{option}}",
                              "time_mode", "steady")
        flat = [s.name for s in outputs if not self.layout[s.name][0]]
        if flat:
            raise ValueError(f"output field(s) {', '.join(flat)} have no time axis")
        timed_in = [s.name for s in inputs if self.layout[s.name][0]]
        if timed_in:
            raise OptionError(f"time-dependent input field(s) {', '.join(timed_in)} are not "
                              "supported as conditioning; select {option} without them",
                              "inputs", None)
        sel = np.arange(len(ds.times)) if time_steps is None else np.asarray(
            _parse_steps(time_steps, len(ds.times)), dtype=np.int64)
        times = np.asarray(ds.times, dtype=float)[sel]
        self.time_steps = sel.tolist()
        by_name = {s.name: s for s in inputs}
        if initial == "auto":
            init, used = [], set()
            if times[0] > 0:
                for o in outputs:
                    fits = [s for s in inputs if s.name not in used
                            and self._channels([s]) == self._channels([o])]
                    # prefer the output's name + "0" (w -> w0), then a name starting with it
                    fits.sort(key=lambda s, o=o: (s.name != f"{o.name}0",
                                                  not s.name.startswith(o.name)))
                    match = fits[0] if fits else None
                    if match is None:
                        init = []
                        break
                    init.append(match)
                    used.add(match.name)
        else:
            names = [n for n in (initial or []) if n]
            unknown = [n for n in names if n not in by_name]
            if unknown:
                raise ValueError(f"initial-condition field(s) {unknown} are not among the inputs")
            init = [by_name[n] for n in names]
            if init and self._channels(init) != self._channels(outputs):
                raise ValueError("initial-condition fields do not match the state's channels")
        self.initial = init
        self.static = [s for s in inputs if s not in init]
        self.state_channels = self._channels(outputs)
        self.times = np.concatenate([[0.0], times]) if init else times
        T = len(self.times)
        if self.mode == "window" and T < self.steps_in + self.steps_out:
            raise ValueError(f"window {self.steps_in} -> {self.steps_out} needs "
                             f"{self.steps_in + self.steps_out} time steps, trajectory has {T}")

    def _make_pairs(self) -> np.ndarray:
        """Rows ``(sample, i, j)``: state/window start ``i``, target ``j``."""
        if self.mode == "steady":
            ij = np.zeros((1, 2), dtype=np.int64)
        elif self.mode == "all2all":
            ij = all2all_pairs(len(self.times))
        else:
            ij = window_pairs(len(self.times), self.steps_in, self.steps_out)
        s = np.repeat(self.indices, len(ij))
        return np.concatenate([s[:, None], np.tile(ij, (len(self.indices), 1))], axis=1)

    # -- reading -----------------------------------------------------------------
    def _file(self) -> Dataset:
        """The open file, (re)opened lazily in each process: a forked DataLoader worker
        never uses the parent's h5py handle."""
        if self._ds is None or self._pid != os.getpid():
            self._ds = Dataset(self.path)
            self._pid = os.getpid()
        return self._ds

    def _read(self, spec: FieldSpec, sample: int) -> np.ndarray:
        """``(T or 1, C, *spatial)`` float32 of one field and sample."""
        has_time, _ = self.layout[spec.name]
        if self._cache is None:
            self._fill_cache()
        if spec.name in self._cache:
            row = int(np.searchsorted(self._cache["__rows__"], sample))
            a = self._cache[spec.name][row]
        else:
            a = _to_channels(self._file().field(spec.name)[sample], has_time, self.ndim, None)
        if has_time and self.mode != "steady":
            a = a[self.time_steps]
        return a if spec.channels is None else a[:, list(spec.channels)]

    def _fill_cache(self) -> None:
        specs = {s.name: s for s in self.inputs + self.outputs}
        ds = self._file()
        nbytes = sum(np.prod(ds.field(n).shape[1:]) * 4 * len(self.indices) for n in specs)
        self._cache = {}
        if nbytes > self.cache_bytes or not len(self.indices):
            return
        rows = np.unique(self.indices)
        self._cache["__rows__"] = rows
        for name in specs:
            has_time, _ = self.layout[name]
            f = ds.field(name)
            self._cache[name] = np.stack([_to_channels(f[int(r)], has_time, self.ndim, None)
                                          for r in rows])

    def states(self, sample: int) -> np.ndarray:
        """The trajectory ``(T, C_state, *spatial)`` of a sample (initial state prepended)."""
        traj = np.concatenate([self._read(s, sample) for s in self.outputs], axis=1)
        if self.initial:
            u0 = np.concatenate([self._read(s, sample) for s in self.initial], axis=1)
            traj = np.concatenate([u0, traj], axis=0)
        return traj

    def static_inputs(self, sample: int) -> np.ndarray:
        """Conditioning channels ``(C_static, *spatial)`` (possibly zero channels)."""
        if not self.static:
            return np.zeros((0, *self.grid_shape), dtype=np.float32)
        return np.concatenate([self._read(s, sample)[0] for s in self.static], axis=0)

    def __len__(self) -> int:
        return len(self._pairs)

    def __getitem__(self, k: int) -> dict[str, torch.Tensor]:
        sample, i, j = (int(v) for v in self._pairs[k])
        static = self.static_inputs(sample)
        if self.mode == "steady":
            x = static
            y = np.concatenate([self._read(s, sample)[0] for s in self.outputs], axis=0)
            t = 0.0
        else:
            traj = self.states(sample)
            if self.mode == "all2all":
                x, y = traj[i], traj[j]
                t = float(self.times[j] - self.times[i])
            else:
                x = traj[i:i + self.steps_in].reshape(-1, *self.grid_shape)
                y = traj[j:j + self.steps_out].reshape(-1, *self.grid_shape)
                t = 0.0
            x = np.concatenate([x, static], axis=0)
        return {"x": torch.from_numpy(np.ascontiguousarray(x)),
                "y": torch.from_numpy(np.ascontiguousarray(y)),
                "t": torch.tensor(t, dtype=torch.float32),
                "index": torch.tensor(sample, dtype=torch.int64)}

    # -- metadata ------------------------------------------------------------------
    @property
    def time_dependent(self) -> bool:
        """Whether the lead time varies between pairs (the model then needs ``t``)."""
        return self.mode == "all2all"

    def describe(self) -> dict[str, Any]:
        """The selection as stored in ``model.json`` (rebuilds the same pairing)."""
        rec: dict[str, Any] = {"inputs": [str(s) for s in self.inputs],
                               "outputs": [str(s) for s in self.outputs],
                               "time_mode": self.mode, "in_channels": self.in_channels,
                               "out_channels": self.out_channels, "ndim": self.ndim,
                               "grid_shape": list(self.grid_shape)}
        if self.mode != "steady":
            rec.update(steps_in=self.steps_in, steps_out=self.steps_out,
                       time_steps=self.time_steps, initial=[s.name for s in self.initial],
                       times=self.times.tolist())
        return rec

    def __getstate__(self) -> dict[str, Any]:  # workers re-open the file themselves
        state = dict(self.__dict__)
        state["_ds"] = None
        state["_cache"] = None
        return state

    def close(self) -> None:
        if self._ds is not None:
            self._ds.close()
            self._ds = None


def _parse_steps(spec: Any, n: int) -> list[int]:
    """``"start:stop[:step]"``, ``"0,2,4"`` or a list of ints -> time step indices."""
    if isinstance(spec, str):
        if ":" in spec:
            parts = [int(p) if p else None for p in spec.split(":")]
            steps = list(range(n))[slice(*parts)]
        else:
            steps = [int(p) for p in spec.split(",") if p]
    else:
        steps = [int(p) for p in spec]
    if not steps or min(steps) < -n or max(steps) >= n:
        raise ValueError(f"time steps {spec!r} select nothing or are out of range for {n} steps")
    return [s % n for s in steps]


def dataset_from_meta(path: str | os.PathLike, data_meta: dict[str, Any],
                      indices: Any = None) -> OperatorDataset:
    """Rebuild the pairing a model was trained with (``describe()`` record) on a file."""
    mode = data_meta["time_mode"]
    kw: dict[str, Any] = {}
    if mode != "steady":
        kw = {"steps_in": data_meta.get("steps_in", 1), "steps_out": data_meta.get("steps_out", 1),
              "time_steps": data_meta.get("time_steps"), "initial": data_meta.get("initial") or []}
    return OperatorDataset(path, inputs=data_meta["inputs"], outputs=data_meta["outputs"],
                           indices=indices, time_mode=mode, **kw)
