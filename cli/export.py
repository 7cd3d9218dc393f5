"""``rom export DATA.h5 --format xdmf|vtu|pdebench|the-well -o OUT``."""

from __future__ import annotations

from pathlib import Path

import click

from cli.params import LibraryChoice


@click.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=LibraryChoice("data.export:EXPORTERS"), required=True,
              help="Target format.")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="Output file.")
@click.option("--sample", type=int, default=None,
              help="xdmf/vtu: export only this sample (trajectories: default 0).")
@click.option("--field", "fields", multiple=True,
              help="xdmf/vtu: export only this field (repeatable; default all).")
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default=None,
              help="pdebench/the-well: stored precision [default: float32, as those projects].")
@click.option("--layout", type=click.Choice(["auto", "tensor", "seeds"]), default="auto",
              show_default=True, help="pdebench: single `tensor` file or per-seed groups.")
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
def export(file: Path, fmt: str, output: Path, sample: int | None,
           fields: tuple[str, ...], dtype: str | None, layout: str, overwrite: bool,
           quiet: bool) -> None:
    """Export a dataset to a mesh viewer format or a foreign dataset format.

    The output files appear only when complete (XDMF: OUTPUT and its .h5 heavy
    data); existing files are refused unless --overwrite. xdmf/vtu report the
    samples (time steps of a trajectory) on stderr: a bar on a terminal, a line
    every ROM_PROGRESS_INTERVAL seconds when piped; --quiet silences it."""
    from data.export import export as run

    kw: dict = {}
    if sample is not None:
        kw["sample"] = sample
    if fields:
        kw["fields"] = list(fields)
    if fmt in ("pdebench", "the-well"):
        if dtype is not None:
            kw["dtype"] = dtype
        if fmt == "pdebench":
            kw["layout"] = layout
    path = run(file, output, fmt, overwrite=overwrite, progress=not quiet, **kw)
    click.echo(f"wrote {path}")
