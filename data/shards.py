"""Shards of one generation run, and merging them into one dataset.

A run of ``n`` samples draws all parameters from the seed and fixes one solve
order ``perm`` (a permutation of ``0..n-1``: ``given`` or ``sorted``). Shard
``K`` of ``N`` (**0-based**, ``0 <= K < N``; ``--shard K/N``) solves the
``K``-th contiguous piece of that order (``solvers.ordering.split_chunks``:
sizes differ by at most one), so a recycling solver or a reused
preconditioner keeps working along its stretch of the chain.

A shard file is an ordinary rom dataset of only its samples, in increasing
global index, plus

* ``/sample_index`` (int64 ``(m,)``): the global index of each sample,
* root attributes ``shard_index`` (K), ``shard_count`` (N), ``n_total`` (n),
  ``config_hash`` (SHA-256 of the run's config, without the shard entry) and
  ``order_hash`` (SHA-256 of the global solve order),
* ``config["shard"] = {"index": K, "count": N}``;
  ``stats/order_position`` is the position in the *global* order.

:func:`merge_shards` checks that the shards belong to one run (same problem,
config, order, shard count), reports missing shards and samples, and copies
every sample into one file in the original sample order. It is a **copy**, not
an HDF5 virtual dataset: the result is self-contained (shards may be deleted),
and the compressed chunks are copied byte for byte (``read_direct_chunk`` /
``write_direct_chunk``), so the merged file holds exactly the bytes a single
run writes and costs no recompression.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import h5py
import numpy as np

from data.atomic import atomic_path
from data.dataset import STAT_DTYPES, Dataset, create_field, init_file, to_json, write_stats
from data.errors import OptionError
from solvers.ordering import split_chunks

SHARD_ATTRS = ("shard_index", "shard_count", "n_total", "config_hash", "order_hash")


# --------------------------------------------------------------------------- planning
def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` -> ``(K, N)`` with ``0 <= K < N`` (0-based, like ``$SLURM_ARRAY_TASK_ID``)."""
    k, sep, n = str(text).partition("/")
    try:
        if not sep:
            raise ValueError
        index, count = int(k), int(n)
    except ValueError:
        raise OptionError(f"{{option}} must be K/N with integers K and N, got {text!r}",
                          "shard", None) from None
    check_shard(index, count)
    return index, count


def check_shard(index: int, count: int) -> None:
    """Refuse a shard outside ``0 <= K < N`` with a one-line message."""
    if count < 1:
        raise ValueError(f"shard count must be at least 1, got {count}")
    if not 0 <= index < count:
        raise ValueError(f"shard index must satisfy 0 <= K < N (0-based), got {index}/{count}")


def config_hash(config: dict[str, Any]) -> str:
    """SHA-256 (hex) of a run config's canonical JSON, without any ``shard`` entry."""
    plain = {k: v for k, v in config.items() if k != "shard"}
    return hashlib.sha256(to_json(plain).encode()).hexdigest()


def order_hash(perm: np.ndarray) -> str:
    """SHA-256 (hex) of a solve order as little-endian int64."""
    return hashlib.sha256(np.asarray(perm, dtype="<i8").tobytes()).hexdigest()


@dataclass(frozen=True)
class ShardPlan:
    """What one shard holds.

    ``index``: global indices of its samples, ascending (the file's sample order);
    ``seq``: local indices in solve order; ``position``: global solve position of
    each local sample.
    """

    index: np.ndarray
    seq: np.ndarray
    position: np.ndarray


def plan_shard(perm: np.ndarray, shard: int, count: int) -> ShardPlan:
    """The ``shard``-th of ``count`` contiguous chunks of the global solve order ``perm``."""
    check_shard(shard, count)
    perm = np.asarray(perm, dtype=np.int64)
    if count > perm.size:
        raise ValueError(f"{count} shards for {perm.size} samples: at most one shard per sample")
    chunks = split_chunks(perm, count)
    chunk = chunks[shard]
    start = sum(c.size for c in chunks[:shard])
    index = np.sort(chunk)
    seq = np.searchsorted(index, chunk)
    position = np.empty(chunk.size, dtype=np.int64)
    position[seq] = start + np.arange(chunk.size)
    return ShardPlan(index, seq.astype(np.int64), position)


def shard_dir(out: str | os.PathLike) -> Path:
    """``OUT.shards/``: where the distributed driver keeps the shards of ``OUT``."""
    out = Path(out)
    return out.with_name(out.name + ".shards")


def shard_name(out: str | os.PathLike, shard: int, count: int) -> Path:
    """``OUT.shards/shard-KKKKK-of-NNNNN.h5``: where the driver puts shard ``K``."""
    return shard_dir(out) / f"shard-{shard:05d}-of-{count:05d}.h5"


# --------------------------------------------------------------------------- merging
@dataclass
class ShardInfo:
    """Root facts of one shard file, read to check compatibility."""

    path: Path
    problem: str
    config: dict[str, Any]
    attrs: dict[str, Any]
    index: np.ndarray
    complete: bool
    done: np.ndarray

    @property
    def shard(self) -> tuple[int, int]:
        return int(self.attrs["shard_index"]), int(self.attrs["shard_count"])


def read_shard(path: str | os.PathLike) -> ShardInfo:
    """Open a shard file and read what merging checks; one-line error when it is none."""
    with Dataset(path) as ds:
        attrs = ds.attrs
        missing = [a for a in SHARD_ATTRS if a not in attrs]
        if missing:
            raise OptionError(f"{path}: not a shard of a rom run (no {', '.join(missing)}); "
                              "shards are written by a generation with {option}", "shard", "K/N")
        index = ds._f["sample_index"][()].astype(np.int64) if "sample_index" in ds._f else None
        if index is None or index.shape != (ds.n_samples,):
            raise ValueError(f"{path}: corrupt shard: /sample_index missing or of wrong shape")
        return ShardInfo(Path(path), ds.problem, ds.config, attrs, index, ds.complete,
                         ds.done.copy())


def _first_difference(a: dict[str, Any], b: dict[str, Any]) -> str:
    """Name of the first key whose value differs between two configs (nested by dots)."""
    for key in sorted(set(a) | set(b)):
        if key == "shard":
            continue
        va, vb = a.get(key), b.get(key)
        if va != vb:
            if isinstance(va, dict) and isinstance(vb, dict):
                return f"{key}.{_first_difference(va, vb)}"
            return f"{key} ({json.dumps(va)} vs {json.dumps(vb)})"
    return "config"


def check_compatible(shards: Sequence[ShardInfo]) -> None:
    """All shards from one run: same problem, config, shard count, order; no shard twice."""
    ref = shards[0]
    for s in shards[1:]:
        if s.problem != ref.problem:
            raise ValueError(f"{s.path} is a shard of problem {s.problem!r}, "
                             f"{ref.path} of {ref.problem!r}")
        if s.attrs["config_hash"] != ref.attrs["config_hash"]:
            raise ValueError(f"{s.path} and {ref.path} come from different runs: config differs "
                             f"in {_first_difference(s.config, ref.config)}")
        if s.shard[1] != ref.shard[1]:
            raise ValueError(f"{s.path} is one of {s.shard[1]} shards, {ref.path} one of "
                             f"{ref.shard[1]}")
        if s.attrs["order_hash"] != ref.attrs["order_hash"]:
            raise ValueError(f"{s.path} and {ref.path} used different solve orders (the "
                             "ordering was not reproducible across machines); regenerate them")
    seen: dict[int, Path] = {}
    for s in shards:
        if s.shard[0] in seen:
            raise ValueError(f"shard {s.shard[0]}/{s.shard[1]} given twice: {seen[s.shard[0]]} "
                             f"and {s.path}")
        seen[s.shard[0]] = s.path


def coverage(shards: Sequence[ShardInfo]) -> tuple[list[int], np.ndarray]:
    """``(missing shard indices, done mask over the n global samples)``."""
    count, n = shards[0].shard[1], int(shards[0].attrs["n_total"])
    present = {s.shard[0] for s in shards}
    done = np.zeros(n, dtype=bool)
    for s in shards:
        if s.index.size and (s.index.min() < 0 or s.index.max() >= n):
            raise ValueError(f"{s.path}: sample index out of range for {n} samples")
        if np.any(done[s.index[s.done]]):
            raise ValueError(f"{s.path}: holds samples another shard holds as well")
        done[s.index[s.done]] = True
    return [k for k in range(count) if k not in present], done


def _ranges(idx: np.ndarray, limit: int = 8) -> str:
    """``"0-3, 7, 9-12, ..."`` of sorted integers."""
    parts: list[str] = []
    idx = np.asarray(idx)
    if idx.size:
        breaks = np.flatnonzero(np.diff(idx) != 1) + 1
        for run in np.split(idx, breaks):
            parts.append(f"{run[0]}" if run.size == 1 else f"{run[0]}-{run[-1]}")
    more = f", ... ({len(parts) - limit} more runs)" if len(parts) > limit else ""
    return ", ".join(parts[:limit]) + more


def merge_shards(paths: Sequence[str | os.PathLike], out: str | os.PathLike, *,
                 partial: bool = False) -> Path:
    """Merge shard files into ``out`` (original sample order, complete) and return its path.

    Refuses shards of different runs; a missing shard or unsolved sample is an
    error naming them, unless ``partial`` (then ``out`` is written incomplete,
    with a ``/done`` mask, and can be completed by merging again later).
    """
    if not paths:
        raise ValueError("no shard files given")
    out = Path(out)
    for p in paths:
        if Path(p).resolve() == out.resolve():
            raise ValueError(f"output {out} is one of the shards")
    shards = [read_shard(p) for p in paths]
    check_compatible(shards)
    missing, done = coverage(shards)
    if not done.all() and not partial:
        count = shards[0].shard[1]
        what = [f"missing shard(s) {_ranges(np.array(missing))} of {count}"] if missing else []
        lacking = np.flatnonzero(~done)
        what.append(f"{lacking.size} of {done.size} samples unsolved ({_ranges(lacking)})")
        raise OptionError(f"cannot merge: {'; '.join(what)} ({{option}} writes an incomplete "
                          "file)", "partial")
    return _write_merged(shards, out, done)


def _write_merged(shards: Sequence[ShardInfo], out: Path, done: np.ndarray) -> Path:
    """Copy every shard's samples to their global rows of a new file (written atomically)."""
    ref = shards[0]
    n = done.size
    config = {k: v for k, v in ref.config.items() if k != "shard"}
    complete = bool(done.all())
    with atomic_path(out) as tmp, h5py.File(tmp, "w") as f:
        parameters = None
        stats: dict[str, Any] = {k: np.zeros(n, dtype=t) for k, t in STAT_DTYPES.items()}
        stats["residual"][:] = np.nan
        info = [""] * n
        for s in shards:
            with Dataset(s.path) as ds:
                if parameters is None:
                    parameters = np.full((n, ds.parameters.shape[1]), np.nan)
                    init_file(f, problem=ds.problem, config=config, grid=ds.grid,
                              times=ds.times, parameters=parameters,
                              parameter_space=ds.parameter_space, sampler=ds.sampler,
                              seed=ds.seed, complete=complete,
                              extra_attrs={"merged_shards": len(shards)})
                    solver = (ds.solver, ds.solver_settings)
                parameters[s.index] = ds.parameters
                _copy_fields(ds._f, f, s.index, s.done, n)
                for k in STAT_DTYPES:
                    if k in ds.stats:
                        stats[k][s.index] = ds.stats[k]
                for j, rec in zip(s.index, ds._f["stats/info"][()] if "stats/info" in ds._f
                                  else [b""] * s.index.size):
                    info[j] = rec.decode() if isinstance(rec, bytes) else str(rec)
        f["parameters/values"][...] = parameters
        if not complete:
            f.create_dataset("done", data=done)
        stats["info"] = info
        write_stats(f, stats, n, *solver)
    return out


def _copy_fields(src: h5py.File, dst: h5py.File, index: np.ndarray, done: np.ndarray,
                 n: int) -> None:
    """Copy the solved samples of every field of ``src`` to rows ``index`` of ``dst``.

    Chunks are copied compressed as they are when both datasets are chunked one
    sample per chunk with the same filters; otherwise samples are decoded and written.
    """
    for kind in ("inputs", "outputs"):
        for name, d in src[kind].items():
            if name not in dst[kind]:
                create_field(dst[kind], name, (n, *d.shape[1:]), d.dtype)
            t = dst[kind][name]
            raw = (d.chunks == t.chunks == (1, *d.shape[1:]) and d.compression == t.compression
                   and d.compression_opts == t.compression_opts and d.shuffle == t.shuffle)
            zeros = (0,) * (d.ndim - 1)
            for j in np.flatnonzero(done):
                if raw:
                    mask, chunk = d.id.read_direct_chunk((int(j), *zeros))
                    t.id.write_direct_chunk((int(index[j]), *zeros), chunk, mask)
                else:
                    t[int(index[j])] = d[int(j)]
