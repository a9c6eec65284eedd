"""Progress of a run: a live rich bar with ETA on a terminal, plain lines otherwise.

`ProgressDisplay` is the ``progress(index, total, cell, result)`` callback that
``Runner.run`` calls before each cell (``result`` None) and after it. Off a terminal
(a log file, CI) it writes one line per finished cell:

>>> import io
>>> out = io.StringIO()
>>> display = ProgressDisplay(out, tty=False, clock=iter([0.0, 10.0]).__next__)
>>> display(0, 2, None, None); display(1, 2, None, None)
>>> out.getvalue().splitlines()[-1]
'[1/2] ETA 10s'
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from bench.results.records import CellResult
from bench.results.text import format_duration
from bench.spec.cell import Cell


class MeanEta(ProgressColumn):
    """ETA from the mean time per finished cell so far, as the plain lines give it.

    Not rich's `TimeRemainingColumn`: it estimates from a 30 s window (one cell can take
    longer, leaving no sample) and forgets its samples whenever the total changes.
    """

    def render(self, task: Task) -> Text:
        if not task.completed or task.elapsed is None or task.total is None:
            return Text("ETA -", style="progress.remaining")
        left = task.elapsed / task.completed * (task.total - task.completed)
        return Text(f"ETA {format_duration(left)}", style="progress.remaining")


class ProgressDisplay:
    """Callable progress reporter for ``Runner.run``; ``close()`` ends the live bar.

    ``total`` may grow between calls (rounds added to a run); the bar follows it.
    """

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
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __call__(
        self, index: int, total: int, cell: Cell | None, result: CellResult | None
    ) -> None:
        if self.tty:
            self._live(index, total, cell, result)
        else:
            self._plain(index, total, cell, result)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def __enter__(self) -> ProgressDisplay:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _live(self, index: int, total: int, cell: Cell | None, result: CellResult | None) -> None:
        if self._bar is None:
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                MeanEta(),
                console=Console(file=self.stream, force_terminal=True),
                get_time=self.clock,
            )
            self._task = self._bar.add_task("", total=total)
            self._bar.start()
        assert self._task is not None
        label = escape(cell.label) if cell is not None else ""
        if result is not None and cell is not None:
            style = "green" if result.status == "ok" else "red"
            self._bar.console.print(f"[{style}]{escape(_status(result))}[/{style}] {label}")
        running = f"running {label}" if result is None and cell is not None else ""
        self._bar.update(self._task, total=total, completed=index, description=running)

    def _plain(self, index: int, total: int, cell: Cell | None, result: CellResult | None) -> None:
        now = self.clock()
        if self.started is None:
            self.started = now
        if result is None and cell is not None:
            return  # a cell starts: nothing to say until it ends
        eta = ""
        if index:
            eta = f" ETA {format_duration((now - self.started) / index * (total - index))}"
        what = f" {cell.label}: {_status(result)}" if cell is not None and result else ""
        self.stream.write(f"[{index}/{total}]{what}{eta}\n")
        self.stream.flush()


def _status(result: CellResult) -> str:
    return result.status if result.status == "ok" else f"{result.status}: {result.reason}"
