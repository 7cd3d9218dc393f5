"""``rom pipeline CONFIG``: generate → train → evaluate → report from one file."""

from __future__ import annotations

import time
from pathlib import Path

import click

from . import pipeline_steps as ps
from .pipeline_config import load_config


@click.command()
@click.argument("config", required=False, type=click.Path(path_type=Path))
@click.option("--demo", is_flag=True, help="Run the built-in demo config (cli/examples/demo.yaml).")
@click.option("-o", "--output", "run_dir", type=click.Path(path_type=Path), default=None,
              help="Run directory [default: runs/<config name>].")
@click.option("--force", is_flag=True, help="Re-run every step, even those up to date.")
@click.option("--dry-run", is_flag=True, help="List the steps and whether they would run.")
def pipeline(config: Path | None, demo: bool, run_dir: Path | None, force: bool,
             dry_run: bool) -> None:
    """Run the steps of CONFIG (YAML or TOML), skipping those whose outputs are up to date.

    The whole config is checked first (unknown keys, names, problems, solvers, model kinds
    and the values of every step's options): a mistake stops the pipeline before any step
    runs or any file is written."""
    from .main import cli, error_text

    if demo == (config is not None):
        raise click.UsageError("give either CONFIG or --demo")
    config = ps.DEMO_CONFIG if demo else config
    cfg = load_config(config)
    run_dir = run_dir or Path("runs") / config.stem
    steps = ps.plan(cfg, run_dir)
    for step in steps:
        check_command_line(cli, step, source=str(config))
    run_dir.mkdir(parents=True, exist_ok=True)
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
            msg = (exc.format_message() if isinstance(exc, click.ClickException)
                   else error_text(exc, args))
            raise click.ClickException(f"step {step.name} failed: {msg}") from None
        ps.mark_done(run_dir, step)
        click.echo(f"      done in {time.perf_counter() - t0:.1f} s")
    if not dry_run:
        click.echo(f"pipeline finished in {time.perf_counter() - t_all:.1f} s; "
                   f"report: {steps[-1].output}")


def check_command_line(cli: click.Group, step: ps.Step, source: str = "") -> None:
    """Parse a ``generate`` or ``train`` step's command line as ``rom`` would, without
    running it: a value its command rejects is an error naming the config entry."""
    if not step.name.startswith(("generate:", "train:")):
        return   # evaluate and report take only paths the plan made
    what, name = step.name.split(":", 1)
    where = (f"{source}: " if source else "") + (
        f"dataset {name!r}" if what == "generate" else f"model {name!r}")
    ctx = click.Context(cli, info_name="rom")
    cmd: click.Command | None = cli
    args = list(step.args)
    while isinstance(cmd, click.Group):
        sub, args = args[0], args[1:]
        cmd = cmd.get_command(ctx, sub)
        if cmd is None:
            raise click.ClickException(f"{where}: no such command {sub!r}")
        ctx = click.Context(cmd, info_name=sub, parent=ctx)
    try:
        cmd.make_context(ctx.info_name, args, parent=ctx.parent).close()
    except click.BadParameter as exc:
        option = exc.param.name if exc.param is not None else None
        label = f" option {option!r}" if what == "train" and option else ""
        raise click.ClickException(f"{where}{label}: {exc.message}") from None
    except click.ClickException as exc:
        raise click.ClickException(f"{where}: {exc.format_message()}") from None
