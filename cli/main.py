"""The ``rom`` command: a thin click application over solvers, data, rom and operators.

Every command exits 0 on success and, on bad input, prints one line
``rom: error: ...`` on stderr and exits non-zero, without a traceback
(set ``ROM_DEBUG=1`` to see one).
"""

from __future__ import annotations

import os
import sys
import warnings

import click

from data.errors import OptionError

from .lazy import LazyGroup

COMMANDS = {
    "generate": "cli.generate:generate",
    "info": "cli.info:info",
    "export": "cli.export:export",
    "import": "cli.importer:import_",
    "train": "cli.train:train",
    "evaluate": "cli.evaluate:evaluate",
    "bench": "cli.bench:bench",
    "report": "cli.report:report",
    "pipeline": "cli.pipeline:pipeline",
    "merge": "cli.merge:merge",
    "slurm": "cli.slurm:slurm",
}


@click.group(cls=LazyGroup, lazy_subcommands=COMMANDS,
             context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(package_name="rom-workbench")
@click.option("--threads", type=click.IntRange(min=1), default=None, envvar="ROM_THREADS",
              help="Threads of BLAS and torch (default: their own choice). Small problems "
                   "run fastest on 1; on a shared machine more threads can be far slower.")
def cli(threads: int | None) -> None:
    """rom: PDE datasets, linear solvers, reduced-order models and neural operators."""
    if threads is not None:
        set_threads(threads)


def set_threads(n: int) -> None:
    """Limit BLAS/OpenMP/torch to ``n`` threads (env for libraries not yet loaded)."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: one-line errors and warnings, exit codes 0 / 1 (error) / 2 (usage)."""
    previous = warnings.formatwarning
    if not os.environ.get("ROM_DEBUG"):
        warnings.formatwarning = _format_warning
    try:
        _run(argv)
    finally:
        warnings.formatwarning = previous


def _run(argv: list[str] | None) -> None:
    try:
        cli.main(args=argv, prog_name="rom", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:  # click's form of Ctrl-C / SIGTERM
        click.echo("rom: interrupted (completed work is kept)", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        click.echo(f"rom: error: {_one_line(exc.format_message())}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("rom: interrupted (completed work is kept)", err=True)
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - the CLI's promise is one line, no traceback
        if os.environ.get("ROM_DEBUG"):
            raise
        from cli.importer import explain_error

        msg = explain_error(exc) or error_text(exc, sys.argv[1:] if argv is None else argv)
        if not isinstance(exc, (ValueError, OSError, KeyError, RuntimeError)):
            msg = f"{type(exc).__name__}: {msg}"
        click.echo(f"rom: error: {_one_line(msg)}", err=True)
        sys.exit(1)


def command_params(argv: list[str]) -> list[click.Parameter]:
    """The parameters of the command that ``argv`` runs (none when it names no command)."""
    ctx, cmd = click.Context(cli, info_name="rom"), cli
    for token in argv:
        if not isinstance(cmd, click.Group):
            break
        if token in cmd.list_commands(ctx):
            cmd = cmd.get_command(ctx, token)
    return [] if isinstance(cmd, click.Group) else list(cmd.params)


def error_text(exc: BaseException, argv: list[str]) -> str:
    """The message of a library error as ``rom`` shows it: the library option of an
    :class:`~data.errors.OptionError` becomes the flag of the command ``argv`` runs
    (``overwrite=True`` -> ``--overwrite``, ``fmt='the-well'`` -> ``--format the-well``)."""
    if not isinstance(exc, OptionError):
        return str(exc) or type(exc).__name__
    flags = {p.name: next((o for o in p.opts if o.startswith("--")), p.opts[0])
             for p in command_params(argv) if isinstance(p, click.Option)}

    def flag(option: str, value: object) -> str:
        name = flags.get(option, "--" + option.replace("_", "-"))
        return name if value is None or value is True else f"{name} {value}"
    return exc.render(flag)


def _format_warning(message: Warning | str, category: type[Warning], filename: str,
                    lineno: int, line: str | None = None) -> str:
    """A library warning as one line ``rom: warning: ...`` (no source file and code line)."""
    return f"rom: warning: {_one_line(str(message))}\n"


def _one_line(msg: str) -> str:
    return " ".join(str(msg).split())


if __name__ == "__main__":
    main()
