"""Crash-safe dataset generation: solve samples, journal each one, write the HDF5 file.

``generate(problem, n, out, ...)`` draws all ``n`` parameters up front from the
seed (``sample_unit`` + ``ParameterSpace.from_unit``), optionally reorders the
solves (``order="sorted"``, ``solvers.ordering.order_systems``), and solves
sample after sample with one sequence solver. Each solved sample is appended to
``OUT.journal`` at once (see :mod:`data.journal`). When every sample is done
the dataset is written, in the original sample order, to a temporary name,
marked complete and renamed to ``OUT``; then the journal is deleted.

Interruptions: ``kill -9`` loses at most the sample being solved; rerunning
the same command resumes from the journal (a different config is refused). On
``KeyboardInterrupt``/``SIGTERM`` an incomplete ``OUT`` (``complete=False``,
``/done`` mask, unsolved samples NaN) is written as well, so ``rom info`` shows
progress; the journal stays the source of truth (:func:`journal_progress` reads
how far it got). ``OUT.lock`` (``fcntl.flock``, released by the OS even on
``kill -9``) keeps two processes from writing the same output.

Shards: ``shard=(K, N)`` solves only the K-th of N contiguous chunks of the
solve order and writes a shard file (:mod:`data.shards`: global sample
indices, shard attributes), crash-safe in the same way; ``data.distributed``
runs the chunks as Dask tasks and merges the shards.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

import h5py
import numpy as np

from data.atomic import atomic_path, remove_stale_temporaries
from data.convergence import require_converged
from data.dataset import (
    STAT_DTYPES,
    Dataset,
    create_field,
    field_array,
    init_file,
    to_json,
    write_stats,
)
from data.errors import OptionError
from data.journal import Journal, JournalWriter, inflate_unshuffle, read_first, scan
from data.progress import Progress
from data.run_settings import check_settings, design, run_config, run_solver
from data.shards import check_shard, config_hash, order_hash, plan_shard
from solvers.ordering import order_systems
from solvers.problems import Problem

log = logging.getLogger(__name__)


class OutputLocked(ValueError):
    """Another live process holds ``OUT.lock``."""


class GenerationInterrupted(KeyboardInterrupt):
    """Raised inside ``generate`` on SIGTERM so that the interrupt path runs."""


# --------------------------------------------------------------------------- helpers
def sample_stats(records: list[Mapping[str, Any]], seconds: float, position: int
                 ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per-sample totals of per-linear-solve records (``SolveStats.as_dict()``) and info.

    iterations, matvecs and solve_seconds are summed, ``residual`` is the maximum
    true relative residual (NaN without linear solves, e.g. explicit or spectral time
    stepping), ``converged`` is true when every solve converged (vacuously without solves).
    """
    res = [float(r.get("residual", np.nan)) for r in records]
    stats = {"iterations": int(sum(int(r.get("iterations", 0)) for r in records)),
             "matvecs": int(sum(int(r.get("matvecs", 0)) for r in records)),
             "residual": float(np.max(res)) if res else float("nan"),
             "seconds": float(seconds),
             "solve_seconds": float(sum(float(r.get("seconds", 0.0)) for r in records)),
             "converged": all(bool(r.get("converged")) for r in records),
             "n_solves": len(records), "order_position": int(position)}
    if len(records) == 1:
        info = {**records[0].get("info", {}), "status": records[0].get("status", "")}
    else:
        statuses: dict[str, int] = {}
        for r in records:
            statuses[r.get("status", "")] = statuses.get(r.get("status", ""), 0) + 1
        info = {"statuses": statuses}
        if records:
            info |= {"first": records[0].get("info", {}), "last": records[-1].get("info", {})}
    return stats, info


def journal_path(out: Path) -> Path:
    """``OUT.journal``: the journal of the run writing ``OUT``."""
    out = Path(out)
    return out.with_name(out.name + ".journal")


def lock_path(out: Path) -> Path:
    """``OUT.lock``: held while a process writes ``OUT``."""
    out = Path(out)
    return out.with_name(out.name + ".lock")


@dataclass(frozen=True)
class JournalProgress:
    """How far the journalled run of ``OUT`` got (see :func:`journal_progress`)."""

    path: Path
    solved: int
    #: the run's sample count; ``None`` when the journal holds no valid config record
    n_samples: int | None


def journal_progress(out: str | os.PathLike) -> JournalProgress | None:
    """Solved samples and sample count recorded in ``OUT.journal``; ``None`` without one."""
    path = journal_path(Path(out))
    if not path.exists():
        return None
    records, _ = scan(path)
    n = records[0].meta.get("config", {}).get("n_samples") if records else None
    return JournalProgress(path, max(len(records) - 1, 0), n)


@contextlib.contextmanager
def output_lock(out: Path) -> Iterator[None]:
    """Hold ``fcntl.flock`` on ``OUT.lock``; a second holder gets a one-line ValueError."""
    path = lock_path(out)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputLocked(f"{out} is being written by another process "
                             f"(lock {path.name} is held)") from None
        try:  # the file we locked may have been unlinked by the previous holder
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        os.close(fd)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into :class:`GenerationInterrupted` while generating (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise GenerationInterrupted(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def check_output(out: Path, overwrite: bool, config: Mapping[str, Any] | None = None) -> bool:
    """Refuse an unwritable directory, or an existing complete/foreign output without overwrite.

    Returns whether ``out`` is already complete with exactly ``config`` (nothing to do).
    """
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise ValueError(f"output directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"output directory {parent} is not writable")
    if out.is_dir():
        raise ValueError(f"{out} is a directory")
    if not out.exists() or overwrite:
        return False
    try:
        with Dataset(out) as ds:
            complete, stored = ds.complete, ds.config
    except (ValueError, OSError):
        raise OptionError(f"{out} exists and is not a resumable rom dataset; "
                          "use {option} to replace it", "overwrite") from None
    if complete and config is not None and stored == json.loads(to_json(dict(config))):
        return True
    if complete:
        other = " with other settings" if config is not None else ""
        raise OptionError(f"{out} exists and is complete{other}; use {{option}} to "
                          "regenerate it", "overwrite")
    return False


def solve_order(problem: Problem, parameters: np.ndarray, order: str) -> np.ndarray:
    """Permutation of the samples in which to solve them."""
    if order == "given":
        return np.arange(parameters.shape[0])
    perm = np.asarray(order_systems(problem, parameters), dtype=np.int64)
    if sorted(perm.tolist()) != list(range(parameters.shape[0])):
        raise ValueError("order_systems did not return a permutation of the samples")
    return perm


def stored_order(journal: Path, config: dict[str, Any], n: int, key: str = "order"
                 ) -> np.ndarray | None:
    """The solve order recorded by an interrupted run with this config (not recomputed on
    resume: an ordering need not be reproducible bit for bit), else ``None``."""
    if not journal.exists():
        return None
    first = read_first(journal)
    if first is None or first.meta.get("config") != json.loads(to_json(config)):
        return None
    order = first.arrays.get(key)
    if order is None or sorted(order.tolist()) != list(range(n)):
        return None
    return order.astype(np.int64)


# --------------------------------------------------------------------------- writing
class FieldWriter:
    """Writes samples into the fields of an open file, caching dataset handles.

    A sample journalled as a compressed chunk goes in with ``write_direct_chunk``
    when the dataset's chunking and filters are exactly those the chunk was made
    for (one sample per chunk, shuffle + gzip level 1); otherwise it is decoded.
    """

    def __init__(self, f: h5py.File, n: int) -> None:
        self.f, self.n = f, n
        self._open: dict[str, tuple[h5py.Dataset, bool]] = {}

    def _dataset(self, kind: str, name: str, dtype: np.dtype, shape: tuple[int, ...]
                 ) -> tuple[h5py.Dataset, bool]:
        key = f"{kind}/{name}"
        if key not in self._open:
            group = self.f[kind]
            d = group[name] if name in group else create_field(group, name, (self.n, *shape),
                                                              dtype)
            direct = (d.chunks == (1, *shape) and d.dtype == dtype and d.compression == "gzip"
                      and d.compression_opts == 1 and d.shuffle and not d.fletcher32
                      and not d.scaleoffset)
            self._open[key] = (d, direct)
        return self._open[key]

    def store(self, kind: str, name: str, i: int, arr: np.ndarray | None,
              chunk: tuple[np.dtype, tuple[int, ...], bytes] | None) -> None:
        """Put sample ``i`` of ``kind/name`` (an array, or a chunk compressed as HDF5 does)."""
        dtype, shape = (arr.dtype, arr.shape) if arr is not None else chunk[:2]
        d, direct = self._dataset(kind, name, dtype, shape)
        if chunk is not None and direct:
            d.id.write_direct_chunk((i,) + (0,) * len(shape), chunk[2])
        else:
            d[i] = arr if arr is not None else inflate_unshuffle(chunk[2], chunk[0], chunk[1])


def write_from_journal(out: Path, journal: Journal, *, problem: Problem, config: dict[str, Any],
                       parameters: np.ndarray, order: np.ndarray, sampler: str, seed: int,
                       complete: bool, position: np.ndarray | None = None,
                       shard: Mapping[str, Any] | None = None) -> Path:
    """Stream the journalled samples into ``OUT`` (atomically, :mod:`data.atomic`), original order.

    ``position`` (default: the inverse of ``order``) is each sample's position in
    the solve order; ``shard`` (root attributes plus ``sample_index``, see
    :mod:`data.shards`) makes ``OUT`` a shard file.
    """
    n = parameters.shape[0]
    if position is None:
        position = np.empty(n, dtype=np.int64)
        position[order] = np.arange(n)
    shard = dict(shard or {})
    sample_index = shard.pop("sample_index", None)
    stats: dict[str, Any] = {k: np.zeros(n, dtype=t) for k, t in STAT_DTYPES.items()}
    stats["residual"][:] = np.nan
    stats["order_position"][:] = position
    info = [""] * n
    done = np.zeros(n, dtype=bool)
    with atomic_path(out) as tmp, h5py.File(tmp, "w") as f:
        init_file(f, problem=problem, config=config, grid=problem.grid, times=problem.times,
                  parameters=parameters, parameter_space=problem.parameter_space,
                  sampler=sampler, seed=seed, complete=complete, extra_attrs=shard)
        if sample_index is not None:
            f.create_dataset("sample_index", data=np.asarray(sample_index, dtype=np.int64))
        fields = FieldWriter(f, n)
        for rec in journal.load(keep_compressed=True):
            i = int(rec.meta["index"])
            for key in [*rec.arrays, *rec.chunks]:
                kind, _, name = key.partition("/")
                if kind in ("inputs", "outputs"):
                    fields.store(kind, name, i, rec.arrays.get(key), rec.chunks.get(key))
            for k in STAT_DTYPES:
                stats[k][i] = rec.meta["stats"][k]
            info[i] = to_json(rec.meta.get("info", {}))
            done[i] = True
        if not complete:
            f.create_dataset("done", data=done)
        stats["info"] = info
        write_stats(f, stats, n, config["solver"], config["solver_settings"])
    return out


# --------------------------------------------------------------------------- driver
def generate(problem: Problem, n: int, out: str | os.PathLike, *, seed: int = 0,
             sampler: str = "random", solver_name: str = "direct",
             solver_options: Mapping[str, Any] | None = None, precond: str | None = None,
             order: str = "given", overwrite: bool = False, progress: bool = True,
             shard: tuple[int, int] | None = None, solve_perm: np.ndarray | None = None,
             allow_unconverged: bool = False) -> Path:
    """Generate (or resume) the dataset ``out`` of ``n`` samples of ``problem``; return its path.

    ``shard=(K, N)`` (0-based) solves only the K-th of N contiguous chunks of the
    solve order and writes a shard file (:mod:`data.shards`). ``solve_perm`` is a
    solve order computed elsewhere (the distributed driver computes it once, so
    that every shard sees the same order); by default it follows ``order``.

    Every setting is checked before a file is made. A complete ``out`` with the
    same settings is left as it is. Samples whose solver missed its tolerance stay
    in the file, marked (``/stats/converged``); unless ``allow_unconverged``, they are
    then an :class:`~data.convergence.UnconvergedSamples` error.
    """
    check_settings(n, sampler, order)
    n, out = int(n), Path(out)
    if shard is not None:
        check_shard(*shard)
        if shard[1] > n:
            raise ValueError(f"{shard[1]} shards for {n} samples: at most one shard per sample")
    solver = run_solver(solver_name, solver_options, precond)
    config = run_config(problem, n, seed=seed, sampler=sampler, solver=solver,
                        solver_name=solver_name, precond=precond, order=order)
    stored = config if shard is None else {**config, "shard": {"index": int(shard[0]),
                                                               "count": int(shard[1])}}
    parameters = design(problem, n, sampler, seed)
    if not check_output(out, overwrite, stored):
        with output_lock(out):
            if not check_output(out, overwrite, stored):  # another process may have finished
                remove_stale_temporaries(out)
                if overwrite:
                    journal_path(out).unlink(missing_ok=True)
                _run(problem, out, config, parameters, solver, sampler, seed, progress,
                     solve_perm, shard)
    if not allow_unconverged:
        with Dataset(out) as ds:
            require_converged(ds)
    return out


def _run(problem: Problem, out: Path, config: dict[str, Any], parameters: np.ndarray,
         solver: Any, sampler: str, seed: int, progress: bool, solve_perm: np.ndarray | None,
         shard: tuple[int, int] | None) -> None:
    """Solve into ``out`` (under its lock); a run that fails before its first sample is
    journalled leaves no journal behind."""
    try:
        if shard is None:
            _generate_all(problem, out, config, parameters, solver, sampler, seed, progress,
                          solve_perm)
        else:
            _generate_shard(problem, out, config, parameters, solver, sampler, seed, progress,
                            solve_perm, shard)
    except Exception:
        got = journal_progress(out)
        if got is not None and got.solved == 0:
            got.path.unlink(missing_ok=True)
        raise
    journal_path(out).unlink(missing_ok=True)


def _run_order(problem: Problem, out: Path, config: dict[str, Any], parameters: np.ndarray,
               solve_perm: np.ndarray | None, key: str) -> np.ndarray:
    """The solve order: the one an interrupted run with this (journal) ``config`` stored
    under ``key``, else ``solve_perm`` (checked), else computed by ``config["order"]``."""
    n = parameters.shape[0]
    perm = stored_order(journal_path(out), config, n, key)
    if perm is not None:
        return perm
    if solve_perm is None:
        return solve_order(problem, parameters, config["order"])
    perm = np.asarray(solve_perm, dtype=np.int64)
    if perm.shape != (n,) or not np.array_equal(np.sort(perm), np.arange(n)):
        raise ValueError(f"solve order is not a permutation of the {n} samples")
    return perm


def _generate_all(problem: Problem, out: Path, config: dict[str, Any], parameters: np.ndarray,
                  solver: Any, sampler: str, seed: int, progress: bool,
                  solve_perm: np.ndarray | None) -> None:
    """Every sample of the run into ``out``."""
    perm = _run_order(problem, out, config, parameters, solve_perm, "order")
    with Journal(journal_path(out), config,
                 {"parameters": parameters, "order": perm}) as journal:
        _run_journal(problem, out, journal, parameters, perm, None, solver, progress,
                     dict(problem=problem, config=config, parameters=parameters, order=perm,
                          sampler=sampler, seed=seed))


def _generate_shard(problem: Problem, out: Path, config: dict[str, Any], parameters: np.ndarray,
                    solver: Any, sampler: str, seed: int, progress: bool,
                    solve_perm: np.ndarray | None, shard: tuple[int, int]) -> None:
    """Shard ``shard = (K, N)`` of the run into ``out`` (see :mod:`data.shards`)."""
    n = parameters.shape[0]
    jconfig = {**config, "shard": {"index": int(shard[0]), "count": int(shard[1])}}
    perm = _run_order(problem, out, jconfig, parameters, solve_perm, "global_order")
    plan = plan_shard(perm, *shard)
    local = parameters[plan.index]
    attrs = {"shard_index": int(shard[0]), "shard_count": int(shard[1]), "n_total": n,
             "config_hash": config_hash(config), "order_hash": order_hash(perm),
             "sample_index": plan.index}
    with Journal(journal_path(out), jconfig,
                 {"parameters": local, "global_order": perm}) as journal:
        _run_journal(problem, out, journal, local, plan.seq, plan.position, solver, progress,
                     dict(problem=problem, config=jconfig, parameters=local, order=plan.seq,
                          sampler=sampler, seed=seed, position=plan.position, shard=attrs))


def _run_journal(problem: Problem, out: Path, journal: Journal, parameters: np.ndarray,
                 seq: np.ndarray, position: np.ndarray | None, solver: Any, progress: bool,
                 kw: dict[str, Any]) -> None:
    """Solve what the journal lacks, then write ``out`` (incomplete on an interrupt)."""
    if journal.discarded_bytes:
        log.warning("%s: discarded a damaged or torn tail of %d bytes "
                    "(a sample in it is solved again)",
                    journal.path.name, journal.discarded_bytes)
    try:
        with sigterm_as_interrupt():
            _solve_missing(problem, parameters, seq, solver, journal, progress, position)
    except KeyboardInterrupt:
        write_from_journal(out, journal, complete=False, **kw)
        raise
    write_from_journal(out, journal, complete=True, **kw)


def _solve_missing(problem: Problem, parameters: np.ndarray, perm: np.ndarray, solver: Any,
                   journal: Journal, progress: bool, position: np.ndarray | None = None) -> None:
    """Solve, in the order ``perm``, every sample not yet in the journal; journal each one.

    ``position[i]`` is the solve position recorded for sample ``i`` (default: its
    place in ``perm``; a shard records its place in the global order).
    """
    done = {int(r.meta["index"]) for r in journal.samples}
    bar = Progress(len(perm), initial=len(done), enabled=progress, unit="sample",
                   desc=f"generate {problem.name}")
    writer = JournalWriter(journal)
    try:
        for pos, i in enumerate(perm):
            i = int(i)
            if i in done:
                continue
            t0 = time.perf_counter()
            sol = problem.solve(parameters[i], solver)
            seconds = time.perf_counter() - t0
            stats, info = sample_stats(sol.stats, seconds,
                                       pos if position is None else int(position[i]))
            arrays = {"mu": parameters[i]}
            arrays |= {f"inputs/{k}": field_array(v) for k, v in sol.inputs.items()}
            arrays |= {f"outputs/{k}": field_array(v) for k, v in sol.outputs.items()}
            fields = tuple(k for k in arrays if k != "mu")
            writer.submit({"index": i, "position": pos, "stats": stats, "info": info}, arrays,
                          fields)
            bar.update(1)
    finally:
        writer.close()  # on success and on interrupt: queued samples reach the journal
        bar.close()
