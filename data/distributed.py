"""Running generation (and other sweeps) on a Dask cluster.

One *task* is one contiguous chunk of the work. For generation
(:func:`generate_distributed`) the driver draws the ``n`` parameters from the
seed, fixes the solve order ``perm`` once (``given`` or ``sorted``) and cuts it
into ``chunks`` contiguous pieces (``solvers.ordering.split_chunks``). Task
``K`` runs :func:`data.generate.generate` with ``shard=(K, chunks)`` on a
worker, which journals each sample and writes ``OUT.shards/shard-K-of-N.h5``
(:mod:`data.shards`); a recycling solver carries its subspace along the chunk.
When every shard is complete the driver merges them into ``OUT`` (the same
bytes as a single run with a direct solver), marks it complete and deletes
``OUT.shards/``.

Faults:

* a task that raises is retried ``retries`` times (``Client.submit(retries=)``);
* a worker process that dies is replaced by its nanny and its task resubmitted
  (Dask's ``distributed.scheduler.allowed-failures``, set here to
  ``max(retries, 1)`` for clusters this module starts); the resubmitted task
  resumes the shard from its journal;
* a killed driver is resumed by rerunning the same command: complete shard
  files are skipped, half-done ones resume from their journals. The plan
  (config hash, chunk count, solve order) is kept in ``OUT.shards/plan.json``,
  so a resume uses the same chunks even if the ordering is not bitwise
  reproducible or the number of workers changed.

Clusters (:func:`dask_client`): a local cluster (``distributed.LocalCluster``,
worker processes with one thread each; the nanny sets ``OMP_NUM_THREADS=1``),
an existing scheduler by address, or SLURM jobs through
``dask_jobqueue.SLURMCluster`` (:func:`make_slurm_cluster`).

:func:`map_chunks` is the generic form: ``fn`` applied to contiguous chunks of
``items`` on the cluster, results in chunk order (e.g. reduced-basis online
solves over many parameters, see docs/distributed.md).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from data.atomic import atomic_write_text, remove_stale_temporaries
from data.convergence import require_converged
from data.dataset import Dataset, to_json
from data.errors import OptionError
from data.generate import (
    OutputLocked,
    check_output,
    generate,
    output_lock,
    sigterm_as_interrupt,
    solve_order,
)
from data.progress import Progress
from data.run_settings import check_settings, design, run_config, run_solver
from data.shards import config_hash, merge_shards, order_hash, shard_dir, shard_name
from solvers.problems import Problem, problem_from_config

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- clusters
def make_slurm_cluster(*, cores: int = 1, memory: str = "4GB", walltime: str = "01:00:00",
                       queue: str | None = None, **extra: Any) -> Any:
    """A ``dask_jobqueue.SLURMCluster``: each job runs ``cores`` single-threaded workers.

    Nothing is submitted until ``cluster.scale(jobs=J)``; ``cluster.job_script()``
    shows the sbatch script each job would run.
    """
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError:
        raise ValueError("a SLURM cluster needs dask-jobqueue "
                         "(pip install 'rom-workbench[slurm]')") from None
    if int(cores) < 1:
        raise ValueError(f"cores per job must be at least 1, got {cores}")
    extra.setdefault("scheduler_options", {"dashboard_address": ":0"})
    return SLURMCluster(cores=int(cores), processes=int(cores), memory=memory,
                        walltime=walltime, queue=queue, **extra)


@contextlib.contextmanager
def dask_client(*, client: Any = None, workers: int | None = None, scheduler: str | None = None,
                slurm: Mapping[str, Any] | None = None, retries: int = 2) -> Iterator[Any]:
    """A ``distributed.Client``: the one given, or one on a cluster started (and closed) here.

    Exactly one of ``workers`` (local cluster of that many processes), ``scheduler``
    (address of a running scheduler) or ``slurm`` (``make_slurm_cluster`` options
    plus ``jobs``) may be given; none means a local cluster of one worker.
    """
    if client is not None:
        yield client
        return
    chosen = [k for k, v in (("workers", workers), ("scheduler", scheduler),
                             ("slurm", slurm)) if v is not None]
    if len(chosen) > 1:
        raise ValueError(f"choose one of {', '.join(chosen)}")
    import dask
    from distributed import Client, LocalCluster

    failures = {"distributed.scheduler.allowed-failures": max(int(retries), 1)}
    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}))
    environ.pop("MALLOC_TRIM_THRESHOLD_", None)  # see tune_malloc
    local = {**failures, "distributed.nanny.pre-spawn-environ": environ}
    if scheduler is not None:
        with Client(scheduler, timeout="30s") as c:
            yield c
        return
    if slurm is not None:
        opts = dict(slurm)
        jobs = int(opts.pop("jobs", 1))
        if jobs < 1:
            raise ValueError(f"jobs must be at least 1, got {jobs}")
        if shutil.which("sbatch") is None:
            raise ValueError("a SLURM cluster needs SLURM's sbatch on PATH (run rom on a "
                             "login node of the cluster)")
        with dask.config.set(failures), make_slurm_cluster(**opts) as cluster:
            cluster.scale(jobs=jobs)
            with Client(cluster) as c:
                yield c
        return
    n = 1 if workers is None else int(workers)
    if n < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    with dask.config.set(local), LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
            scheduler_port=0, silence_logs=logging.ERROR) as cluster, Client(cluster) as c:
        yield c


def n_slots(client: Any) -> int:
    """Number of worker threads the scheduler knows now (at least 1)."""
    workers = client.scheduler_info().get("workers", {})
    return max(1, sum(int(w.get("nthreads", 1)) for w in workers.values()))


# --------------------------------------------------------------------------- generic map
def split_items(items: Sequence[Any] | np.ndarray, chunks: int) -> list[Any]:
    """``chunks`` contiguous pieces of ``items``, the first ``len % chunks`` one longer (as
    ``numpy.array_split``; none empty)."""
    n = len(items)
    chunks = max(1, min(int(chunks), n)) if n else 1
    sizes = np.full(chunks, n // chunks) + (np.arange(chunks) < n % chunks)
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    return [items[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def map_chunks(fn: Callable[[Any], Any], items: Sequence[Any] | np.ndarray, *,
               chunks: int | None = None, client: Any = None, workers: int | None = None,
               scheduler: str | None = None, retries: int = 2) -> list[Any]:
    """``[fn(chunk) for chunk in split_items(items, chunks)]``, one Dask task per chunk.

    ``chunks`` defaults to the number of worker threads. Results come back in
    chunk order; a chunk that still fails after ``retries`` re-raises its error.
    """
    with dask_client(client=client, workers=workers, scheduler=scheduler,
                     retries=retries) as c:
        pieces = split_items(items, chunks or n_slots(c))
        futures = [c.submit(fn, piece, retries=retries, pure=False) for piece in pieces]
        return c.gather(futures)


# --------------------------------------------------------------------------- generation
#: glibc ``mallopt`` parameters (malloc.h)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3


def tune_malloc(mmap_threshold: int = 32 << 20, trim_threshold: int = 64 << 20) -> bool:
    """Let glibc keep freed blocks up to ``mmap_threshold`` in the heap (Linux/glibc only).

    Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``; setting it
    switches off glibc's dynamic mmap threshold, so every array above 128 KiB is
    ``mmap``-ed and unmapped again, and each new one page-faults its memory in.
    For solves on 256^2 grids that doubled the time per sample
    (``benchmarks/results/distributed.md``). Setting the thresholds to the values
    the dynamic rule would reach restores single-process speed. Returns whether
    it took effect.
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, int(mmap_threshold))
                    and libc.mallopt(M_TRIM_THRESHOLD, int(trim_threshold)))
    except (OSError, AttributeError):
        return False


#: seconds a task waits for a shard whose lock another (orphaned) attempt holds
LOCK_WAIT = 3600.0


def run_shard(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Worker side of one generation task: solve (or finish, or skip) one shard file.

    When the driver died, the scheduler may still run its tasks; a new driver's
    attempt at the same shard then waits (up to ``LOCK_WAIT`` s) for the lock and
    skips the shard if the orphan completed it, or resumes from its journal.
    """
    tune_malloc()
    path = Path(spec["path"])
    t0 = time.perf_counter()
    if shard_complete(path, spec["config_hash"], spec["shard"]):
        return {"shard": spec["shard"][0], "path": str(path), "seconds": 0.0, "skipped": True}
    problem = problem_from_config(spec["problem_config"])
    deadline = time.monotonic() + float(spec.get("lock_wait", LOCK_WAIT))
    while True:
        try:
            generate(problem, spec["n"], path, seed=spec["seed"], sampler=spec["sampler"],
                     solver_name=spec["solver"], solver_options=spec["solver_options"],
                     precond=spec["precond"], order=spec["order"], progress=False,
                     shard=tuple(spec["shard"]), allow_unconverged=True,  # judged when merged
                     solve_perm=np.asarray(spec["perm"], dtype=np.int64))
            break
        except OutputLocked:
            # an attempt of a dead driver's run is still writing this shard: wait for it
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
            if shard_complete(path, spec["config_hash"], spec["shard"]):
                return {"shard": spec["shard"][0], "path": str(path),
                        "seconds": time.perf_counter() - t0, "skipped": True}
    return {"shard": spec["shard"][0], "path": str(path),
            "seconds": time.perf_counter() - t0, "skipped": False}


def shard_complete(path: Path, chash: str, shard: Sequence[int]) -> bool:
    """Is ``path`` a complete shard ``shard = (K, N)`` of the run with config hash ``chash``?"""
    if not path.exists():
        return False
    try:
        with Dataset(path) as ds:
            a = ds.attrs
            return bool(ds.complete and a.get("config_hash") == chash
                        and int(a.get("shard_index", -1)) == int(shard[0])
                        and int(a.get("shard_count", -1)) == int(shard[1]))
    except (ValueError, OSError):
        return False


def load_plan(out: Path, config: dict[str, Any], chunks: int | None,
              make_perm: Callable[[], np.ndarray]) -> tuple[np.ndarray, int]:
    """The run's ``(solve order, chunk count)``: from ``OUT.shards/plan.json`` or made now.

    A stored plan of another config is refused; an explicit ``chunks`` that differs
    from the stored one is refused too (finished shards would not fit).
    """
    path = plan_path(out)
    chash = config_hash(config)
    if path.exists():
        try:
            plan = json.loads(path.read_text())
            perm, stored = np.asarray(plan["order"], dtype=np.int64), int(plan["chunks"])
            other = plan["config_hash"] != chash
        except (ValueError, KeyError, TypeError):
            raise OptionError(f"{path} is damaged; use {{option}} to start over",
                              "overwrite") from None
        if other:
            raise OptionError(f"{shard_dir(out)} belongs to a run with different settings; "
                              "use {option} to start over", "overwrite")
        if chunks is not None and int(chunks) != stored:
            raise OptionError(f"{shard_dir(out)} was planned in {stored} chunks, not {chunks}; "
                              "resume with as many chunks or use {option} to start over",
                              "overwrite")
        return perm, stored
    perm = np.asarray(make_perm(), dtype=np.int64)
    n_chunks = int(chunks)
    atomic_write_text(path, to_json({"config_hash": chash, "chunks": n_chunks, "order": perm,
                                     "order_hash": order_hash(perm)}))
    return perm, n_chunks


def plan_path(out: str | os.PathLike) -> Path:
    """``OUT.shards/plan.json``: the solve order and chunk count of a distributed run."""
    return shard_dir(out) / "plan.json"


def shards_present(out: str | os.PathLike) -> int | None:
    """Shard files of an interrupted distributed run of ``OUT``; ``None`` when none was planned."""
    if not plan_path(out).exists():
        return None
    return len(list(shard_dir(out).glob("shard-*.h5")))


def generate_distributed(problem: Problem, n: int, out: str | os.PathLike, *, seed: int = 0,
                         sampler: str = "random", solver_name: str = "direct",
                         solver_options: Mapping[str, Any] | None = None,
                         precond: str | None = None, order: str = "given",
                         overwrite: bool = False, progress: bool = True,
                         chunks: int | None = None, retries: int = 2, keep_shards: bool = False,
                         client: Any = None, workers: int | None = None,
                         scheduler: str | None = None, slurm: Mapping[str, Any] | None = None,
                         task: Callable[[Mapping[str, Any]], Any] = run_shard,
                         allow_unconverged: bool = False) -> Path:
    """Generate ``out`` on a Dask cluster, one task per contiguous chunk of the solve order.

    Same arguments and the same resulting file as :func:`data.generate.generate`
    (bitwise the same fields for a direct solver); ``chunks`` defaults to the
    number of workers. ``task`` is the worker function (tests inject faults).
    """
    check_settings(n, sampler, order)
    if chunks is not None and not 1 <= int(chunks) <= int(n):
        raise ValueError(f"chunks must be between 1 and n={n}, got {chunks}")
    if int(retries) < 0:
        raise ValueError(f"retries must be non-negative, got {retries}")
    n, out = int(n), Path(out)
    config = run_config(problem, n, seed=seed, sampler=sampler,
                        solver=run_solver(solver_name, solver_options, precond),
                        solver_name=solver_name, precond=precond, order=order)
    parameters = design(problem, n, sampler, seed)
    if not check_output(out, overwrite, config):
        with output_lock(out):
            if not check_output(out, overwrite, config):  # another driver may have finished
                remove_stale_temporaries(out)
                sdir = shard_dir(out)
                if overwrite and sdir.exists():
                    shutil.rmtree(sdir)
                sdir.mkdir(exist_ok=True)
                spec = {"problem_config": problem.config(), "n": n, "seed": seed,
                        "sampler": sampler, "solver": solver_name,
                        "solver_options": dict(solver_options or {}), "precond": precond,
                        "order": order, "config_hash": config_hash(config)}
                with sigterm_as_interrupt(), dask_client(client=client, workers=workers,
                                                         scheduler=scheduler, slurm=slurm,
                                                         retries=retries) as c:
                    if chunks is None and not plan_path(out).exists():
                        chunks = min(n, _default_chunks(c, slurm))
                    perm, n_chunks = load_plan(out, config, chunks,
                                               lambda: solve_order(problem, parameters, order))
                    paths = [shard_name(out, k, n_chunks) for k in range(n_chunks)]
                    _run_tasks(c, task, {**spec, "perm": perm.tolist()}, paths, retries,
                               progress)
                merge_shards(paths, out)
                if not keep_shards:
                    shutil.rmtree(sdir, ignore_errors=True)
    if not allow_unconverged:
        with Dataset(out) as ds:
            require_converged(ds)
    return out


def _default_chunks(client: Any, slurm: Mapping[str, Any] | None) -> int:
    """One chunk per worker: all workers of the SLURM jobs, else those connected now."""
    if slurm is not None:
        return max(1, int(slurm.get("jobs", 1)) * int(slurm.get("cores", 1)))
    return n_slots(client)


def _run_tasks(client: Any, task: Callable[[Mapping[str, Any]], Any], spec: Mapping[str, Any],
               paths: list[Path], retries: int, progress: bool) -> None:
    """Submit one task per shard not yet complete; wait; a task failing for good raises."""
    from distributed import as_completed

    count = len(paths)
    todo = [k for k, p in enumerate(paths)
            if not shard_complete(p, spec["config_hash"], (k, count))]
    if len(todo) < count:
        log.info("resuming: %d of %d shards already complete", count - len(todo), count)
    futures = {client.submit(task, {**spec, "shard": (k, count), "path": str(paths[k])},
                             retries=retries, pure=False, key=f"rom-shard-{k}-{os.getpid()}"
                             f"-{time.time_ns()}"): k for k in todo}
    bar = Progress(count, initial=count - len(todo), enabled=progress, unit="shard",
                   desc="generate shards")
    try:
        for fut in as_completed(futures):
            k = futures[fut]
            try:
                fut.result()
            except Exception as exc:  # noqa: BLE001 - re-raised as one line naming the shard
                for other in futures:
                    other.cancel()
                msg = " ".join(str(exc).split()) or type(exc).__name__
                raise RuntimeError(f"shard {k}/{count} failed after {retries} retries: "
                                   f"{msg} (finished shards are kept; rerun to resume)") from exc
            bar.update(1)
    finally:
        bar.close()
