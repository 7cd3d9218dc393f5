"""``rom report RUN_DIR -o report.html``."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("-o", "--output", "out", type=click.Path(path_type=Path), default=None,
              help="Report file [default: RUN_DIR/report.html].")
@click.option("--format", "fmt", type=click.Choice(["html", "pdf"]), default="html",
              show_default=True, help="Self-contained HTML (images embedded) or a PDF of the figures.")
def report(run_dir: Path, out: Path | None, fmt: str) -> None:
    """Render the figures and tables of a run directory into one file."""
    from data.report import build_report

    out = out or run_dir / f"report.{fmt}"
    path = build_report(run_dir, out, fmt=fmt)
    click.echo(f"report: {path}")
