"""Write the command reference (``docs/cli_reference.md``) from the click help texts.

Run ``python -m cli.docgen > docs/cli_reference.md``; a test checks the file is current.
"""

from __future__ import annotations

import click

from .main import cli


def _walk(cmd: click.Command, path: list[str]):
    yield path, cmd
    if isinstance(cmd, click.Group):
        ctx = click.Context(cmd, info_name=path[-1])
        for name in cmd.list_commands(ctx):
            yield from _walk(cmd.get_command(ctx, name), [*path, name])


def reference() -> str:
    """Markdown with the ``--help`` text of every command and subcommand."""
    from click.testing import CliRunner

    runner = CliRunner()
    parts = ["# Command reference\n",
             "Generated from the click help texts by `python -m cli.docgen`; do not edit.\n"]
    for path, _ in _walk(cli, ["rom"]):
        res = runner.invoke(cli, [*path[1:], "--help"], prog_name="rom", terminal_width=88)
        parts.append(f"## `{' '.join(path)}`\n\n```text\n{res.output.rstrip()}\n```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    click.echo(reference(), nl=False)
