"""click parameter types shared by the commands.

:class:`KeyValue` is the one parser of ``KEY=VALUE`` options (``--param``,
``--solver-opt``, ``--arch``): it runs at parse time, so a malformed pair is
a usage error naming the option before any work starts. Each occurrence
becomes a ``(key, value)`` pair; :func:`pairs_dict` turns the tuple click
collects for ``multiple=True`` into a dict.

:class:`LibraryChoice` is a ``click.Choice`` whose choices are the library's own
tuple (or registry keys), imported when click first needs them, so a command
module stays cheap to import and the choices have one definition.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterable
from typing import Any

import click

#: How a VALUE is read: ``raw`` keeps the text; ``literal`` reads bool/none/int/float
#: when the text is one, else keeps it; ``json`` reads JSON, else keeps the text.
VALUE_MODES = ("raw", "literal", "json")


def parse_literal(text: str) -> Any:
    """int, float, bool or ``None`` when ``text`` reads as one, else the string itself."""
    low = text.strip().lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    if low in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


_READERS = {"raw": str, "literal": parse_literal, "json": _parse_json}


class KeyValue(click.ParamType):
    """``KEY=VALUE`` -> ``(key, value)``, VALUE read as ``mode`` says (see :data:`VALUE_MODES`)."""

    name = "KEY=VALUE"

    def __init__(self, mode: str = "literal") -> None:
        if mode not in _READERS:
            raise ValueError(f"unknown value mode {mode!r}; valid: {', '.join(VALUE_MODES)}")
        self.mode = mode

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> tuple[str, Any]:
        if isinstance(value, tuple):
            return value
        key, sep, text = str(value).partition("=")
        if not sep or not key.strip():
            self.fail(f"expected KEY=VALUE, got {value!r}", param, ctx)
        return key.strip(), _READERS[self.mode](text)


def pairs_dict(pairs: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """The ``(key, value)`` pairs of a repeated :class:`KeyValue` option as a dict (last wins)."""
    return dict(pairs)


class LibraryChoice(click.Choice):
    """``click.Choice`` over ``"module:NAME"`` (a tuple, or the keys of a dict), read on first use."""

    def __init__(self, source: str, case_sensitive: bool = True) -> None:
        self.source = source
        self.case_sensitive = case_sensitive
        self._choices: tuple[str, ...] | None = None

    @property
    def choices(self) -> tuple[str, ...]:  # type: ignore[override]
        if self._choices is None:
            module, _, name = self.source.partition(":")
            self._choices = tuple(getattr(importlib.import_module(module), name))
        return self._choices
