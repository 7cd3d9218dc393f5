"""``rom train KIND DATA.h5 -o MODEL``: one subcommand per model kind."""

from __future__ import annotations

import click

from .lazy import LazyGroup

#: model kind -> "module:click command". Each kind writes a model directory
#: (``model.json`` + weights/tensors, see docs/architecture.md).
TRAINERS = {
    "pod": "cli.train_rom:pod",
    "rb": "cli.train_rom:rb",
    "eim": "cli.train_rom:eim",
    "fno": "cli.train_operators:fno",
    "lsm": "cli.train_operators:lsm",
    "scot": "cli.train_operators:scot",
    "precond": "cli.train_precond:precond",
}


@click.group(cls=LazyGroup, lazy_subcommands=TRAINERS)
def train() -> None:
    """Train a model of KIND on a dataset (see `rom train KIND --help`)."""
