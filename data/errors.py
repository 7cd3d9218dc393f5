"""Domain errors whose remedy is one of the caller's options.

Library code speaks of the data and the mathematics; which spelling of an
option the reader needs depends on who called: a Python caller passes the
keyword ``overwrite=True``, a ``rom`` user the flag ``--overwrite``. An
:class:`OptionError` keeps the option apart from its message: ``{option}`` in
the message marks where it is named. ``str(exc)`` names the keyword; the
command line renders the flag (``cli/main.py``), so no library message names a
command-line flag.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def keyword(option: str, value: Any) -> str:
    """The Python spelling: ``overwrite=True``, ``format='the-well'``, ``'shard'``."""
    return f"{option!r}" if value is None else f"{option}={value!r}"


class OptionError(ValueError):
    """A ``ValueError`` whose message names ``option`` (with ``value``; ``None``: the
    option itself) at ``{option}``, e.g. ``OptionError(f"{out} exists; use {{option}} to
    replace it", "overwrite")``."""

    def __init__(self, message: str, option: str, value: Any = True):
        self.template, self.option, self.value = message, option, value
        super().__init__(self.render(keyword))

    def render(self, spell: Callable[[str, Any], str]) -> str:
        """The message with the option spelt by ``spell(option, value)``."""
        return self.template.replace("{option}", spell(self.option, self.value))
