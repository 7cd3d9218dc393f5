"""``rom train KIND DATA.h5 -o MODEL``: one subcommand per registered model kind.

The subcommands are built from the registry (:data:`data.model_kinds.MODEL_KINDS`)
and each kind's declared :class:`~data.model_kinds.Option` list, so a new kind
needs no command-line code: its options become click options, checked at
parse time, and the command calls :func:`data.model_kinds.train_model` (the
same entry point as from Python), which calls ``kind.train(DATA, MODEL, **options)``.

Every subcommand also takes ``--overwrite``: the output directory must be new
or empty, or (``--resume``, for kinds that have it) a run of the same kind;
anything else is refused before training starts
(:func:`data.model_dir.prepare_model_dir`) unless ``--overwrite`` replaces it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from data.convergence import UnconvergedSamples
from data.evaluation import strict_json
from data.model_dir import OutputInUse, is_model_dir
from data.model_kinds import MODEL_KINDS, ModelKind, Option, model_kind, train_model

from .params import KeyValue, pairs_dict


def _click_type(opt: Option) -> Any:
    if isinstance(opt.type, tuple):
        return click.Choice(list(opt.type))
    if opt.type in (int, float):
        rng = click.IntRange if opt.type is int else click.FloatRange
        if opt.minimum is None and opt.maximum is None:
            return opt.type
        return rng(min=opt.minimum, max=opt.maximum, min_open=opt.min_open,
                   max_open=opt.max_open)
    if opt.type is Path:
        return click.Path(file_okay=False, path_type=Path)
    if opt.type == "pairs":
        return KeyValue("json")
    return opt.type


def click_option(opt: Option) -> click.Option:
    """The click option of one declared training option."""
    if opt.type is bool:
        decls = [f"{opt.cli_flag}/--no-{opt.cli_flag[2:]}"] if opt.default else [opt.cli_flag]
        return click.Option(decls + [opt.name], is_flag=True, default=bool(opt.default),
                            help=opt.help)
    multiple = opt.type == "pairs"
    return click.Option([opt.cli_flag, opt.name], type=_click_type(opt), multiple=multiple,
                        default=() if multiple else opt.default, required=opt.required,
                        help=opt.help, metavar="KEY=VALUE" if multiple else None,
                        show_default=not multiple and opt.default is not None)


def train_command(kind: ModelKind) -> click.Command:
    """``rom train KIND``: DATA, ``-o MODEL``, the kind's options, ``--quiet``, ``--json``."""
    params: list[click.Parameter] = [
        click.Argument(["data"], type=click.Path(dir_okay=False, path_type=Path)),
        click.Option(["-o", "--output", "out"], required=True,
                     type=click.Path(file_okay=False, path_type=Path),
                     help="Model directory to write (model.json and tensors/weights)."),
        *[click_option(opt) for opt in kind.options],
        click.Option(["--overwrite"], is_flag=True,
                     help="Replace what the output directory holds (an old model is removed)."),
        click.Option(["-q", "--quiet"], is_flag=True, help="No progress output."),
        click.Option(["--json", "as_json"], is_flag=True, help="Print the model summary as JSON."),
    ]

    def run(data: Path, out: Path, overwrite: bool, quiet: bool, as_json: bool,
            **options: Any) -> None:
        for opt in kind.options:
            if opt.type == "pairs":
                options[opt.name] = pairs_dict(options[opt.name])
        progress = None if quiet or as_json else (lambda s: click.echo(s, err=True))
        resume = bool(options.pop("resume", False))
        try:
            meta = train_model(kind.name, data, out, overwrite=overwrite, resume=resume,
                               progress=progress, **options)
        except OutputInUse as exc:
            hint = ("--resume continues it, --overwrite starts again" if exc.resumable
                    else "--overwrite replaces it" if is_model_dir(out)
                    else "--overwrite writes the model into it anyway")
            raise click.ClickException(f"{exc} ({hint})") from None
        except UnconvergedSamples as exc:
            hint = " (--allow-unconverged)" if "allow_unconverged" in options else ""
            raise click.ClickException(f"{exc}{hint}") from None
        if meta is None:  # a process that does not report (a DDP rank other than 0)
            return
        if as_json:
            click.echo(json.dumps(strict_json(meta), allow_nan=False))
        else:
            click.echo(f"wrote {out} ({kind.summary(meta)})")

    return click.Command(kind.name, params=params, callback=run, help=kind.help,
                         short_help=kind.help.strip().splitlines()[0] if kind.help else None,
                         context_settings={"show_default": True})


class TrainGroup(click.Group):
    """Subcommands from the model-kind registry, each built on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(MODEL_KINDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in MODEL_KINDS:
            return None
        return train_command(model_kind(cmd_name))

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The kinds with the first line of their help, without building their options
        (reading an operator kind's options imports torch)."""
        rows = []
        for name in self.list_commands(ctx):
            text = model_kind(name).help or ""
            rows.append((name, text.strip().splitlines()[0] if text.strip() else ""))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=TrainGroup)
def train() -> None:
    """Train a model of KIND on a dataset (see `rom train KIND --help`)."""
