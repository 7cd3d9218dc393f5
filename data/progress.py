"""Progress of a long loop, on stderr: a tqdm bar on a terminal, periodic lines when piped.

One helper for every long command (``rom generate``, ``rom import``, ``rom bench
solvers``, the operator trainer). On a TTY it is a tqdm bar. When stderr is not a
TTY (a pipe, a log file, a batch job) a bar would be noise or nothing, so it writes
one line every ``interval`` seconds and, if the loop outlasted one interval, a final
line on :meth:`Progress.close` (a quick run stays silent)::

    generate: 120/400 samples, 2.1 s/sample, eta 9m50s

The interval is ``ROM_PROGRESS_INTERVAL`` seconds (default 30). A disabled
``Progress`` (``--quiet``) prints nothing.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, TextIO

DEFAULT_INTERVAL = 30.0


def _interval() -> float:
    try:
        return float(os.environ.get("ROM_PROGRESS_INTERVAL", DEFAULT_INTERVAL))
    except ValueError:
        return DEFAULT_INTERVAL


def format_duration(seconds: float) -> str:
    """``9m50s``, ``1h02m``, ``42s``."""
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


class Progress:
    """Count ``total`` steps of ``unit`` (``initial`` already done, e.g. on a resume)."""

    def __init__(self, total: int | None, *, desc: str, unit: str = "it", initial: int = 0,
                 enabled: bool = True, interval: float | None = None,
                 file: TextIO | None = None) -> None:
        self.total, self.desc, self.unit = total, desc, unit
        self.n = self.start_n = initial
        self.enabled = enabled
        self.file = file if file is not None else sys.stderr
        self.interval = _interval() if interval is None else interval
        self.postfix = ""
        self.t0 = self.last = time.perf_counter()
        self.bar = None
        self.closed, self.lines = False, 0
        if enabled and _isatty(self.file):
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=initial, desc=desc, unit=unit,
                            file=self.file, dynamic_ncols=True)

    def update(self, k: int = 1) -> None:
        """``k`` more steps done."""
        self.n += k
        if self.bar is not None:
            self.bar.update(k)
        elif self.enabled and time.perf_counter() - self.last >= self.interval:
            self._line()

    def set_postfix(self, **values: Any) -> None:
        """Values shown after the count (``train=0.12``)."""
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())
        if self.bar is not None:
            self.bar.set_postfix(**values)

    def close(self) -> None:
        """Close the bar, or write the final line."""
        if self.closed:
            return
        self.closed = True
        if self.bar is not None:
            self.bar.close()
        elif self.enabled and (self.lines or time.perf_counter() - self.t0 >= self.interval):
            self._line(final=True)

    def line(self, final: bool = False) -> str:
        """The one-line report: count, time per step, eta (or elapsed when done)."""
        now = time.perf_counter()
        done = self.n - self.start_n
        count = f"{self.n}/{self.total}" if self.total is not None else f"{self.n}"
        parts = [f"{self.desc}: {count} {self.unit}s"]
        if done > 0:
            parts.append(f"{(now - self.t0) / done:.3g} s/{self.unit}")
        if final:
            parts.append(f"{format_duration(now - self.t0)} elapsed")
        elif done > 0 and self.total is not None:
            parts.append(f"eta {format_duration((self.total - self.n) * (now - self.t0) / done)}")
        if self.postfix:
            parts.append(self.postfix)
        return ", ".join(parts)

    def _line(self, final: bool = False) -> None:
        self.last, self.lines = time.perf_counter(), self.lines + 1
        print(self.line(final), file=self.file, flush=True)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _isatty(f: TextIO) -> bool:
    try:
        return bool(f.isatty())
    except (AttributeError, ValueError):
        return False
