"""``rom info FILE [--json] [--check]``: summarise (and validate) a dataset or a model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

#: parameters listed one per line by `rom info` (random-field problems have hundreds)
SHOW_PARAMETERS = 8


def dataset_summary(path: Path) -> dict[str, Any]:
    """The JSON record of a dataset: sizes, grid, fields, parameters, progress, solver totals."""
    import numpy as np

    from data.dataset import Dataset

    with Dataset(path) as ds:
        st = ds.stats
        done = ds.done

        def total(key: str, cast: type) -> Any:
            return cast(np.sum(st[key][done])) if key in st else None

        solve_key = "solve_seconds" if "solve_seconds" in st else "seconds"
        res = st.get("residual")
        return {
            "kind": "dataset", "path": str(path), "problem": ds.problem,
            "format_version": int(ds.attrs.get("format_version", 0)),
            "created": ds.attrs.get("created"), "rom_version": ds.attrs.get("rom_version"),
            "n_samples": ds.n_samples, "n_done": int(done.sum()), "complete": ds.complete,
            "resolution": ds.config.get("resolution"), "options": ds.config.get("options"),
            "grid": {"shape": list(ds.grid.shape), "periodic": list(ds.grid.periodic),
                     "bounds": [[float(a[0]), float(a[-1])] for a in ds.grid.axes]},
            "n_times": None if ds.times is None else int(len(ds.times)),
            "fields": {k: list(v) for k, v in ds.fields.items()},
            "inputs": ds.input_names, "outputs": ds.output_names,
            "parameters": {n: {"kind": k, "range": list(r)} for n, k, r in zip(
                ds.parameter_space.names, ds.parameter_space.kinds, ds.parameter_space.ranges)},
            "sampler": ds.sampler, "seed": ds.seed,
            "solver": ds.solver, "solver_settings": ds.solver_settings,
            "solver_stats": {
                "iterations": total("iterations", int), "matvecs": total("matvecs", int),
                "solve_seconds": total(solve_key, float), "wall_seconds": total("seconds", float),
                "max_residual": _finite_max(res[done]) if res is not None else None,
                "not_converged": (int(np.sum(~st["converged"][done].astype(bool)))
                                  if "converged" in st else None)},
            "size_bytes": path.stat().st_size,
        }


def _finite_max(values: Any) -> float | None:
    """Largest finite value (``None`` when there is none: keeps ``--json`` strict JSON)."""
    import numpy as np

    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return float(v.max()) if v.size else None


def format_dataset(d: dict[str, Any]) -> str:
    """Human-readable lines of :func:`dataset_summary`."""
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
    journal = path.with_name(path.name + ".journal")
    if path.exists() or not journal.exists():
        return
    from data.journal import scan

    records, _ = scan(journal)
    n = records[0].meta.get("config", {}).get("n_samples", "?") if records else "?"
    done = max(len(records) - 1, 0)
    raise click.ClickException(f"{path}: not written yet; its journal holds {done}/{n} solved "
                               "samples; rerun the same `rom generate` command to resume")


@click.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--check", is_flag=True, help="Validate the dataset schema fully; exit 1 on problems.")
def info(file: Path, as_json: bool, check: bool) -> None:
    """Summarise a dataset (or a model directory)."""
    from data.model_dir import is_model_dir

    if is_model_dir(file):
        from cli.models import serving_module

        desc = serving_module(file)[1].describe(file)
        click.echo(json.dumps(desc, default=str) if as_json else _format_mapping(desc))
        return
    missing_with_journal(file)
    if check:
        _check(file, as_json)
        return
    d = dataset_summary(file)
    click.echo(json.dumps(d) if as_json else format_dataset(d))


def _check(file: Path, as_json: bool) -> None:
    from data.check import check_dataset, summary

    problems, warnings = check_dataset(file)
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
