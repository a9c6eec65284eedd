"""A one-line progress display: current cell, done/total, ETA (plain lines off a TTY).

>>> import io
>>> out = io.StringIO()
>>> bar = ProgressLine(out, tty=False, clock=iter([0.0, 10.0]).__next__)
>>> bar(0, 2, None, None); bar(1, 2, None, None)
>>> out.getvalue().splitlines()[-1]
'[1/2] ETA 10s'
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from bench.results.records import CellResult
from bench.spec.cell import Cell


def format_duration(seconds: float) -> str:
    """Short human duration.

    >>> format_duration(5), format_duration(125), format_duration(7300)
    ('5s', '2m05s', '2h01m')
    """
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class ProgressLine:
    """Callable progress reporter for ``Runner.run``."""

    def __init__(
        self,
        stream: TextIO = sys.stderr,
        *,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.clock = clock
        self.started: float | None = None

    def __call__(self, done: int, total: int, cell: Cell | None, result: CellResult | None) -> None:
        now = self.clock()
        if self.started is None:
            self.started = now
        eta = ""
        if done:
            eta = f" ETA {format_duration((now - self.started) / done * (total - done))}"
        if result is not None and cell is not None:
            status = result.status if result.status == "ok" else f"{result.status}: {result.reason}"
            line = f"[{done}/{total}] {cell.label}: {status}{eta}"
        elif cell is not None:
            line = f"[{done}/{total}] running {cell.label}{eta}"
        else:
            line = f"[{done}/{total}]{eta}"
        if self.tty:
            self.stream.write("\r\033[K" + line[:200])
            if result is not None and result.status != "ok":
                self.stream.write("\n")
        else:
            if result is not None or cell is None:
                self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
