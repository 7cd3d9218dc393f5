"""``rom info FILE [--json] [--check]``: summarise (and validate) a dataset or a model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

#: parameters listed one per line by `rom info` (random-field problems have hundreds)
SHOW_PARAMETERS = 8


def format_dataset(d: dict[str, Any]) -> str:
    """Human-readable lines of :func:`data.dataset.describe`."""
    status = "yes" if d["complete"] else f"no ({d['n_done']}/{d['n_samples']} samples done)"
    grid = " x ".join(map(str, d["grid"]["shape"]))
    lines = [f"dataset      {d['path']}  ({d['size_bytes'] / 2**20:.2f} MiB)",
             f"problem      {d['problem']}  (resolution {d['resolution']}, options {d['options']})",
             f"samples      {d['n_samples']}  complete: {status}",
             f"grid         {grid}  periodic {d['grid']['periodic']}  bounds {d['grid']['bounds']}"]
    if d["n_times"] is not None:
        lines.append(f"times        {d['n_times']} output times")
    for kind in ("inputs", "outputs"):
        for name in d[kind]:
            lines.append(f"{kind[:-1]:<12} {name:<10} {tuple(d['fields'][name])}")
    params = list(d["parameters"].items())
    for name, p in params[:SHOW_PARAMETERS]:
        lo, hi = p["range"]
        lines.append(f"parameter    {name:<10} {p['kind']:<10} [{lo:.4g}, {hi:.4g}]")
    if len(params) > SHOW_PARAMETERS:
        kinds: dict[str, int] = {}
        for _, p in params[SHOW_PARAMETERS:]:
            kinds[p["kind"]] = kinds.get(p["kind"], 0) + 1
        more = ", ".join(f"{v} {k}" for k, v in kinds.items())
        lines.append(f"parameter    ... {len(params) - SHOW_PARAMETERS} more ({more}; "
                     "all with --json)")
    lines.append(f"sampler      {d['sampler']}  seed {d['seed']}")
    s = d["solver_stats"]
    lines.append(f"solver       {d['solver'] or '-'}  {json.dumps(d['solver_settings'])}")
    lines.append(f"solver stats iterations {s['iterations']}  matvecs {s['matvecs']}  "
                 f"solve_seconds {_num(s['solve_seconds'])}  wall_seconds "
                 f"{_num(s['wall_seconds'])}  max residual {_num(s['max_residual'])}  "
                 f"not converged {s['not_converged']}")
    return "\n".join(lines)


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.3g}"


def missing_with_journal(path: Path) -> None:
    """A missing dataset whose generation was killed: say how far its journal got."""
    if path.exists():
        return
    from data.generate import journal_progress

    progress = journal_progress(path)
    if progress is None:
        return
    n = "?" if progress.n_samples is None else progress.n_samples
    raise click.ClickException(f"{path}: not written yet; its journal holds {progress.solved}/{n} "
                               "solved samples; rerun the same `rom generate` command to resume")


@click.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--check", is_flag=True, help="Validate the dataset schema fully; exit 1 on problems.")
def info(file: Path, as_json: bool, check: bool) -> None:
    """Summarise a dataset (or a model directory)."""
    from data.model_dir import is_model_dir

    if is_model_dir(file):
        from data.model_kinds import kind_of

        desc = kind_of(file)[1].describe(file)
        click.echo(json.dumps(desc, default=str) if as_json else _format_mapping(desc))
        return
    missing_with_journal(file)
    if check:
        _check(file, as_json)
        return
    from data.dataset import describe

    d = describe(file)
    click.echo(json.dumps(d) if as_json else format_dataset(d))


def _check(file: Path, as_json: bool) -> None:
    from cli.importer import foreign_file_message
    from data.check import check_dataset, summary

    problems, warnings = check_dataset(file)
    foreign = foreign_file_message(file) if problems else None
    if foreign:  # the file is another format's: say which, and how to import it
        problems[0] = foreign
    if as_json:
        click.echo(json.dumps({"path": str(file), **summary(problems, warnings)}))
    else:
        for w in warnings:
            click.echo(f"warning: {w}")
        for p in problems:
            click.echo(f"problem: {p}")
        if not problems:
            click.echo(f"{file}: ok")
    if problems:
        raise click.ClickException(f"{file}: {len(problems)} schema problem(s): {problems[0]}")


def _format_mapping(d: dict[str, Any], indent: int = 0) -> str:
    lines = []
    for k, v in d.items():
        if isinstance(v, dict):
            lines.append(" " * indent + f"{k}:")
            lines.append(_format_mapping(v, indent + 2))
        else:
            lines.append(" " * indent + f"{k:<14} {v}")
    return "\n".join(lines)
