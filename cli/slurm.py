"""``rom slurm generate ... --array N``: write sbatch scripts for an array of shards + a merge.

The array script runs task ``K = $SLURM_ARRAY_TASK_ID`` (0-based,
``--array=0-(N-1)``) as ``rom generate ... --shard K/N -o OUT.shards/shard-K-of-N.h5``;
the merge script runs ``rom merge OUT.shards/shard-*-of-N.h5 -o OUT``. Submit
both with a dependency so the merge waits for every array task to succeed::

    jid=$(sbatch --parsable gen.sbatch) && sbatch --dependency=afterok:$jid gen.merge.sbatch

A failed array task is rerun with ``sbatch --array=K gen.sbatch``: it resumes
the shard from its journal.
"""

from __future__ import annotations

import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path

import click

#: options of `rom generate` that make no sense inside an array task
EXCLUDED = ("shard", "workers", "scheduler", "cluster", "list_")


def parse_generate_args(args: tuple[str, ...]) -> tuple[list[str], Path, int]:
    """Validate ``rom generate`` arguments with its own parser; return ``(args, OUT, n)``.

    ``-o/--output`` is taken out of the returned arguments (each task gets its own).
    """
    from cli.generate import generate

    if not args or args[0] != "generate":
        raise click.UsageError("expected `rom slurm generate PROBLEM ... --array N -o OUT`")
    rest = list(args[1:])
    ctx = generate.make_context("generate", list(rest))
    p = ctx.params
    for name in EXCLUDED:
        if p.get(name):
            flag = "--list" if name == "list_" else f"--{name}"
            raise click.UsageError(f"{flag} cannot be used in an sbatch array")
    for value, flag in ((p.get("problem"), "PROBLEM"), (p.get("n"), "-n"),
                        (p.get("resolution"), "--resolution"), (p.get("output"), "-o")):
        if value is None:
            raise click.UsageError(f"missing {flag} in the generate arguments")
    return _drop_output(rest), Path(p["output"]), int(p["n"])


def _drop_output(args: list[str]) -> list[str]:
    """``args`` without ``-o X`` / ``--output X`` / ``--output=X`` / ``-oX``."""
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
        elif a in ("-o", "--output"):
            skip = True
        elif not (a.startswith("--output=") or (a.startswith("-o") and not a.startswith("--"))):
            out.append(a)
    return out


def array_script(gen_args: list[str], out: Path, n_tasks: int, *, rom: str, job_name: str,
                 time_limit: str, partition: str | None, cpus: int, mem: str | None,
                 account: str | None, extra: tuple[str, ...]) -> str:
    """Text of the sbatch array script (one shard per array task)."""
    from data.shards import shard_dir

    shards = shard_dir(out)
    width = f"{n_tasks:05d}"
    lines = ["#!/bin/bash",
             f"# Written by `rom slurm` at {datetime.now(timezone.utc).isoformat(timespec='seconds')}.",
             f"# Array task K (0..{n_tasks - 1}) solves chunk K of {n_tasks} contiguous chunks of",
             f"# the solve order of {out.name} and writes {shards.name}/shard-K-of-{width}.h5.",
             "# Rerunning a task (sbatch --array=K THIS) resumes its shard from the journal.",
             f"#SBATCH --job-name={job_name}",
             f"#SBATCH --array=0-{n_tasks - 1}",
             "#SBATCH --ntasks=1",
             f"#SBATCH --cpus-per-task={cpus}",
             f"#SBATCH --time={time_limit}",
             f"#SBATCH --output={shards}/slurm-%A_%a.log"]
    lines += [f"#SBATCH --partition={partition}"] if partition else []
    lines += [f"#SBATCH --mem={mem}"] if mem else []
    lines += [f"#SBATCH --account={account}"] if account else []
    lines += [f"#SBATCH {e}" for e in extra]
    cmd = " ".join([rom, "generate", *map(shlex.quote, gen_args)])
    lines += ["set -euo pipefail",
              'export OMP_NUM_THREADS="${SLURM_CPUS_PER_TASK:-1}"',
              f"mkdir -p {shlex.quote(str(shards))}",
              'K="${SLURM_ARRAY_TASK_ID:?run this script with sbatch (an array job)}"',
              f'SHARD="{shards}/shard-$(printf %05d "$K")-of-{width}.h5"',
              f'{cmd} --shard "$K/{n_tasks}" --quiet -o "$SHARD"', ""]
    return "\n".join(lines)


def merge_script(out: Path, n_tasks: int, *, rom: str, job_name: str, partition: str | None,
                 account: str | None) -> str:
    """Text of the sbatch script merging the shards (submit with --dependency=afterok)."""
    from data.shards import shard_dir

    shards = shard_dir(out)
    lines = ["#!/bin/bash",
             f"# Merges the {n_tasks} shards of {out.name}; submit after the array job:",
             "#   sbatch --dependency=afterok:JOBID THIS",
             f"#SBATCH --job-name={job_name}-merge",
             "#SBATCH --ntasks=1",
             "#SBATCH --cpus-per-task=1",
             f"#SBATCH --output={shards}/slurm-merge-%j.log"]
    lines += [f"#SBATCH --partition={partition}"] if partition else []
    lines += [f"#SBATCH --account={account}"] if account else []
    lines += ["set -euo pipefail",
              f"{rom} merge {shlex.quote(str(shards))}/shard-*-of-{n_tasks:05d}.h5 "
              f"-o {shlex.quote(str(out))}", ""]
    return "\n".join(lines)


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--array", "n_tasks", type=int, required=True,
              help="Number of array tasks N (shards); task K runs --shard K/N.")
@click.option("--script", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Array script to write [default: OUT.sbatch]; the merge script is "
                   "written next to it with suffix .merge.sbatch.")
@click.option("--time", "time_limit", default="01:00:00", show_default=True,
              help="Wall time per array task.")
@click.option("--partition", default=None, help="SLURM partition.")
@click.option("--account", default=None, help="SLURM account.")
@click.option("--cpus-per-task", "cpus", type=int, default=1, show_default=True,
              help="CPUs per array task (sets OMP_NUM_THREADS).")
@click.option("--mem", default=None, help="Memory per array task, e.g. 8G.")
@click.option("--job-name", default="rom-generate", show_default=True, help="SLURM job name.")
@click.option("--sbatch", "extra", multiple=True, metavar="DIRECTIVE",
              help="Extra #SBATCH directive, e.g. --sbatch=--qos=long (repeatable).")
@click.option("--rom", "rom_cmd", default=None,
              help="Command that runs rom on the compute nodes [default: this Python "
                   "with -m cli.main].")
def slurm(args: tuple[str, ...], n_tasks: int, script: Path | None, time_limit: str,
          partition: str | None, account: str | None, cpus: int, mem: str | None,
          job_name: str, extra: tuple[str, ...], rom_cmd: str | None) -> None:
    """Write an sbatch array script for `rom generate ARGS --shard K/N` and a merge script.

    Usage: rom slurm generate PROBLEM -n N --resolution R ... -o OUT.h5 --array TASKS
    """
    gen_args, out, n = parse_generate_args(args)
    if n_tasks < 1 or n_tasks > n:
        raise click.BadParameter(f"must be between 1 and n={n}, got {n_tasks}",
                                 param_hint="--array")
    if cpus < 1:
        raise click.BadParameter(f"must be at least 1, got {cpus}", param_hint="--cpus-per-task")
    out = out.resolve()
    rom = rom_cmd or f"{shlex.quote(sys.executable)} -m cli.main"
    script = (script or out.with_name(out.stem + ".sbatch")).resolve()
    merge_path = script.with_name(script.stem + ".merge.sbatch")
    if not script.parent.is_dir():
        raise ValueError(f"directory {script.parent} does not exist")
    if not out.parent.is_dir():
        raise ValueError(f"output directory {out.parent} does not exist")
    # SLURM opens the --output log files before a job starts: the directory must exist
    from data.shards import shard_dir

    shard_dir(out).mkdir(exist_ok=True)
    script.write_text(array_script(gen_args, out, n_tasks, rom=rom, job_name=job_name,
                                   time_limit=time_limit, partition=partition, cpus=cpus,
                                   mem=mem, account=account, extra=extra))
    merge_path.write_text(merge_script(out, n_tasks, rom=rom, job_name=job_name,
                                       partition=partition, account=account))
    click.echo(f"wrote {script} and {merge_path}; submit with:\n"
               f"  jid=$(sbatch --parsable {shlex.quote(str(script))}) && "
               f"sbatch --dependency=afterok:$jid {shlex.quote(str(merge_path))}")
