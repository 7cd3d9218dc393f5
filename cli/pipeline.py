"""``rom pipeline CONFIG``: generate → train → evaluate → report from one file."""

from __future__ import annotations

import time
from pathlib import Path

import click

from . import pipeline_steps as ps


@click.command()
@click.argument("config", required=False, type=click.Path(path_type=Path))
@click.option("--demo", is_flag=True, help="Run the built-in demo config (cli/examples/demo.yaml).")
@click.option("-o", "--output", "run_dir", type=click.Path(path_type=Path), default=None,
              help="Run directory [default: runs/<config name>].")
@click.option("--force", is_flag=True, help="Re-run every step, even those up to date.")
@click.option("--dry-run", is_flag=True, help="List the steps and whether they would run.")
def pipeline(config: Path | None, demo: bool, run_dir: Path | None, force: bool,
             dry_run: bool) -> None:
    """Run the steps of CONFIG (YAML or TOML), skipping those whose outputs are up to date."""
    from .main import cli

    if demo == (config is not None):
        raise click.UsageError("give either CONFIG or --demo")
    config = ps.DEMO_CONFIG if demo else config
    cfg = ps.load_config(config)
    run_dir = run_dir or Path("runs") / config.stem
    run_dir.mkdir(parents=True, exist_ok=True)
    steps = ps.plan(cfg, run_dir)
    t_all = time.perf_counter()
    for step in steps:
        if not force and ps.is_up_to_date(run_dir, step):
            click.echo(f"[up to date] {step.name}")
            continue
        if dry_run:
            click.echo(f"[would run] {step.name}: rom {' '.join(step.args)}")
            continue
        args = ps.prepare(run_dir, step)
        step.output.parent.mkdir(parents=True, exist_ok=True)
        click.echo(f"[run] {step.name}: rom {' '.join(args)}")
        t0 = time.perf_counter()
        try:
            cli.main(args=args, prog_name="rom", standalone_mode=False)
        except click.exceptions.Exit as exc:
            if exc.exit_code:
                raise click.ClickException(f"step {step.name} failed (exit {exc.exit_code})") from None
        except (click.ClickException, ValueError, OSError, RuntimeError) as exc:
            msg = exc.format_message() if isinstance(exc, click.ClickException) else str(exc)
            raise click.ClickException(f"step {step.name} failed: {msg}") from None
        ps.mark_done(run_dir, step)
        click.echo(f"      done in {time.perf_counter() - t0:.1f} s")
    if not dry_run:
        click.echo(f"pipeline finished in {time.perf_counter() - t_all:.1f} s; "
                   f"report: {steps[-1].output}")
