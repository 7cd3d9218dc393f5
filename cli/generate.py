"""``rom generate PROBLEM -n N --resolution R -o OUT.h5``: solve a parametrised PDE N times.

Thin: parses options, builds the problem and calls :func:`data.generate.generate`
(crash-safe: rerunning the same command resumes an interrupted run).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from cli.params import KeyValue, LibraryChoice, pairs_dict


def list_problems_and_solvers() -> str:
    """Text of ``rom generate --list``: problems (defaults, one-line doc) and solvers."""
    from solvers.linear import SOLVERS
    from solvers.problems import PROBLEMS, problem_class

    lines = ["problems:"]
    for name in sorted(PROBLEMS):
        try:
            cls = problem_class(name)
        except Exception as exc:  # noqa: BLE001 - a broken/unwritten problem must not hide the rest
            lines.append(f"  {name:<20} (unavailable: {' '.join(str(exc).split())[:80]})")
            continue
        doc = (cls.__doc__ or "").strip().splitlines()
        lines.append(f"  {name:<20} {doc[0] if doc else ''}")
        opts = ", ".join(f"{k}={v!r}" for k, v in cls.defaults.items()) or "none"
        lines.append(f"  {'':<20} options: {opts}; min resolution {cls.min_resolution}")
    lines.append("solvers:")
    for name in sorted(SOLVERS):
        doc = (getattr(SOLVERS[name], "__doc__", "") or "").strip().splitlines()
        lines.append(f"  {name:<20} {doc[0] if doc else ''}")
    return "\n".join(lines)


def announce_resume(output: Path) -> None:
    """Say on stderr that an interrupted run's journal will be resumed."""
    from data.generate import journal_progress

    progress = journal_progress(output)
    if progress is not None and progress.n_samples is not None:
        click.echo(f"resuming {output}: {progress.solved}/{progress.n_samples} samples already "
                   f"solved (journal {progress.path.name})", err=True)


def announce_shards(output: Path) -> None:
    """Say on stderr that a distributed run resumes from the shards already in OUTPUT.shards/."""
    from data.distributed import shards_present
    from data.shards import shard_dir

    done = shards_present(output)
    if done is not None:
        click.echo(f"resuming {output} from {shard_dir(output).name}/ ({done} shard files "
                   "present; complete ones are skipped, the others resume from their "
                   "journals)", err=True)


@click.command()
@click.argument("problem", required=False)
@click.option("-n", "--n-samples", "n", type=int, help="Number of samples (parameter draws).")
@click.option("--resolution", type=int, help="Grid nodes per axis.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the parameter design.")
@click.option("--sampler", type=LibraryChoice("solvers.problems.sampling:SAMPLERS"),
              default="random", show_default=True,
              help="Parameter design (i.i.d./Latin hypercube/Sobol').")
@click.option("--param", "params", multiple=True, type=KeyValue("raw"), metavar="KEY=VALUE",
              help="Problem option (repeatable); see --list for each problem's options.")
@click.option("--prescribe", "prescribed", multiple=True, type=KeyValue("raw"),
              metavar="NAME=FILE",
              help="Prescribed datum (repeatable): source, dirichlet, initial, ... read from "
                   "FILE[:ARRAY] (.npz/.npy/HDF5, an array of the grid's shape; see "
                   "docs/problems.md); the dataset config records the path and sha256.")
@click.option("--solver", default="direct", show_default=True, help="Linear (sequence) solver.")
@click.option("--solver-opt", "solver_opts", multiple=True, type=KeyValue("literal"),
              metavar="KEY=VALUE",
              help="Solver option (repeatable); numbers and booleans are parsed.")
@click.option("--precond", default=None, help="Preconditioner name passed to the solver.")
@click.option("--order", type=LibraryChoice("data.run_settings:ORDERS"), default="given",
              show_default=True, help="Solve in sample order or in a similarity order.")
@click.option("--shard", default=None, metavar="K/N",
              help="Solve only chunk K (0-based, 0 <= K < N) of N contiguous chunks of the "
                   "solve order; OUTPUT becomes a shard file for `rom merge`.")
@click.option("--workers", type=int, default=None,
              help="Run on a local Dask cluster of this many single-threaded worker processes.")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Run on an existing Dask scheduler, e.g. tcp://host:8786.")
@click.option("--cluster", type=click.Choice(["slurm"]), default=None,
              help="Start Dask workers as batch jobs (dask-jobqueue).")
@click.option("--jobs", type=int, default=1, show_default=True,
              help="--cluster slurm: number of batch jobs.")
@click.option("--cores", type=int, default=1, show_default=True,
              help="--cluster slurm: cores (= worker processes) per job.")
@click.option("--memory", default="4GB", show_default=True, help="--cluster slurm: memory per job.")
@click.option("--walltime", default="01:00:00", show_default=True,
              help="--cluster slurm: wall time per job.")
@click.option("--queue", default=None, help="--cluster slurm: partition.")
@click.option("--chunks", type=int, default=None,
              help="Distributed: number of tasks (contiguous chunks of the solve order); "
                   "default one per worker.")
@click.option("--retries", type=int, default=2, show_default=True,
              help="Distributed: retries of a failed task (and worker deaths it survives).")
@click.option("--keep-shards", is_flag=True,
              help="Distributed: keep OUTPUT.shards/ after merging.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output (and its journal).")
@click.option("--allow-unconverged", is_flag=True,
              help="Exit 0 even when samples missed the solver tolerance (they are marked "
                   "unconverged in the dataset either way).")
@click.option("--quiet", is_flag=True, help="No progress bar or summary line.")
@click.option("--list", "list_", is_flag=True, help="List problems and solvers, then exit.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Output dataset (.h5).")
def generate(problem: str | None, n: int | None, resolution: int | None, seed: int, sampler: str,
             params: tuple[tuple[str, str], ...], prescribed: tuple[tuple[str, str], ...],
             solver: str, solver_opts: tuple[tuple[str, Any], ...],
             precond: str | None, order: str, shard: str | None, workers: int | None,
             scheduler: str | None, cluster: str | None, jobs: int, cores: int, memory: str,
             walltime: str, queue: str | None, chunks: int | None, retries: int,
             keep_shards: bool, overwrite: bool, allow_unconverged: bool, quiet: bool,
             list_: bool, output: Path | None) -> None:
    """Generate a dataset of PROBLEM solved at N sampled parameters.

    Every solved sample is journalled at once (OUTPUT.journal): rerun the same
    command to resume an interrupted run. With --workers, --scheduler or
    --cluster the chunks of the solve order run as Dask tasks, each writing a
    shard under OUTPUT.shards/, merged into OUTPUT at the end (rerun to resume).
    Rerunning the command on a complete OUTPUT of the same settings does nothing.
    Samples whose solver missed its tolerance are kept, marked unconverged, and
    make the command fail unless --allow-unconverged.
    """
    if list_:
        click.echo(list_problems_and_solvers())
        return
    if problem is None:
        raise click.UsageError("missing argument PROBLEM (see `rom generate --list`)")
    for value, flag in ((n, "-n"), (resolution, "--resolution"), (output, "-o")):
        if value is None:
            raise click.UsageError(f"missing option {flag}")
    if n <= 0:
        raise click.BadParameter(f"must be positive, got {n}", param_hint="-n")
    dist = distributed_options(n, shard, workers, scheduler, cluster, jobs, cores, memory,
                               walltime, queue, chunks, retries, keep_shards)
    from solvers.problems import make_problem

    prob = make_problem(problem, resolution, **pairs_dict(params))
    prob = prob.prescribe(**dict(prescribed))
    if not quiet and not overwrite and dist is None:
        announce_resume(output)
    elif not quiet and not overwrite:
        announce_shards(output)
    t0 = time.perf_counter()
    kw = dict(seed=seed, sampler=sampler, solver_name=solver,
              solver_options=pairs_dict(solver_opts),
              precond=precond, order=order, overwrite=overwrite,
              progress=not quiet, allow_unconverged=allow_unconverged)
    from data.convergence import UnconvergedSamples

    try:
        if dist is not None:
            from data.distributed import generate_distributed

            generate_distributed(prob, n, output, **kw, **dist)
        else:
            from data.generate import generate as run
            from data.shards import parse_shard

            run(prob, n, output, **kw, shard=parse_shard(shard) if shard else None)
    except UnconvergedSamples as exc:
        raise click.ClickException(f"{exc}; the dataset keeps them, marked unconverged "
                                   "(--allow-unconverged accepts them)") from None
    if not quiet:
        click.echo(f"wrote {output} ({n} samples of {problem} at resolution {resolution}, "
                   f"{time.perf_counter() - t0:.1f} s)")


def distributed_options(n: int, shard: str | None, workers: int | None, scheduler: str | None,
                        cluster: str | None, jobs: int, cores: int, memory: str, walltime: str,
                        queue: str | None, chunks: int | None, retries: int,
                        keep_shards: bool) -> dict[str, Any] | None:
    """Keyword arguments of ``generate_distributed`` for a run of ``n`` samples, checked, or
    ``None`` for a single process run."""
    chosen = [flag for flag, v in (("--shard", shard), ("--workers", workers),
                                   ("--scheduler", scheduler), ("--cluster", cluster))
              if v is not None]
    if len(chosen) > 1:
        raise click.UsageError(f"{' and '.join(chosen)} exclude each other")
    if not chosen or shard is not None:
        return None
    if workers is not None and workers < 1:
        raise click.BadParameter(f"must be at least 1, got {workers}", param_hint="--workers")
    if chunks is not None and not 1 <= chunks <= n:
        raise click.ClickException(f"--chunks must be between 1 and n={n}, got {chunks}")
    if retries < 0:
        raise click.ClickException(f"--retries must be non-negative, got {retries}")
    slurm = None
    if cluster == "slurm":
        if jobs < 1:
            raise click.BadParameter(f"must be at least 1, got {jobs}", param_hint="--jobs")
        if cores < 1:
            raise click.BadParameter(f"must be at least 1, got {cores}", param_hint="--cores")
        slurm = {"jobs": jobs, "cores": cores, "memory": memory, "walltime": walltime,
                 "queue": queue}
    return {"workers": workers, "scheduler": scheduler, "slurm": slurm, "chunks": chunks,
            "retries": retries, "keep_shards": keep_shards}
