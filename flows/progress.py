"""Progress of long work: a live bar with rate and ETA in a terminal, plain periodic lines in logs.

One helper for every long command (``curate``, ``train``, ``evaluate``): the work reports
``advance`` / ``update`` and this module decides how to show it.

* stderr is a terminal: a ``rich`` bar per task (clips overall, frames of the clip being curated,
  training steps) with its rate and time remaining, redrawn in place.
* otherwise (a log file, a Prefect worker, CI): one plain line per task at most every
  ``interval_s`` seconds and when it finishes, e.g. ``train: 120/300 steps, 2.4 steps/s,
  loss 1.234, ETA 1m15s``, so a log shows progress without a line per step.

``-q`` (``PREFECT_LOGGING_LEVEL=WARNING``) silences the plain lines; the bar stays (it is not a log).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from types import TracebackType

__all__ = ["Progress", "active_progress", "format_duration"]

_active: Progress | None = None  # the board of the flow running in this process, for its tasks


def active_progress() -> Progress | None:
    """The board a flow opened in this process (its tasks add their own lines to it), or None:
    a task on another worker process logs instead."""
    return _active


def format_duration(seconds: float) -> str:
    """``75`` -> ``1m15s``; ``3725`` -> ``1h02m``; unknown (NaN, inf, negative) -> ``?``."""
    if not (seconds >= 0 and seconds != float("inf")):
        return "?"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


class _Task:
    """One line of progress: ``done`` of ``total`` ``unit`` since ``started``."""

    def __init__(self, board: Progress, name: str, total: int, unit: str, done: int = 0) -> None:
        self.board, self.name, self.total, self.unit = board, name, max(int(total), 0), unit
        # ``base``: what was done before this process started (a resumed run), left out of the rate.
        self.done = self.base = max(int(done), 0)
        self.note = ""
        self.started = self.last_line = time.monotonic()
        self.bar_id = None

    def rate(self) -> float:
        """Items per second of this process; 0 in the first second (a first batch that finished
        at once would read as thousands per second)."""
        elapsed = time.monotonic() - self.started
        return (self.done - self.base) / elapsed if elapsed >= 1.0 else 0.0

    def eta(self) -> float:
        rate = self.rate()
        return (self.total - self.done) / rate if rate > 0 else float("nan")

    def line(self) -> str:
        text = f"{self.name}: {self.done}/{self.total} {self.unit}, {self.rate():.2f} {self.unit}/s"
        if self.note:
            text += f", {self.note}"
        if self.done >= self.total:
            return text + f", done in {format_duration(time.monotonic() - self.started)}"
        return text + f", ETA {format_duration(self.eta())}"

    def update(self, done: int, note: str | None = None) -> None:
        """Set the count (and the short note shown after the rate, e.g. the loss)."""
        self.done = min(max(int(done), 0), self.total) if self.total else int(done)
        if note is not None:
            self.note = note
        self.board._refresh(self)

    def advance(self, n: int = 1, note: str | None = None) -> None:
        self.update(self.done + n, note)


class Progress:
    """A board of progress tasks, shown as bars in a terminal and as periodic lines elsewhere.

    Args:
        say: Where plain lines go (a logger's ``info``); default stderr.
        interval_s: Least time between two plain lines of one task.
        live: Force the bar (True) or the lines (False); default: a bar when stderr is a terminal.

    Example::

        with Progress(say=logger.info) as progress:
            steps = progress.task("train", total=300, unit="steps")
            for step in range(300):
                ...
                steps.advance(note=f"loss {loss:.3f}")
    """

    def __init__(self, say: Callable[[str], None] | None = None, interval_s: float = 15.0, live: bool | None = None) -> None:
        self._say = say or (lambda line: print(line, file=sys.stderr, flush=True))
        self.interval_s = float(interval_s)
        self._live = sys.stderr.isatty() if live is None else bool(live)
        self._quiet = os.environ.get("PREFECT_LOGGING_LEVEL", "").upper() in ("WARNING", "ERROR", "CRITICAL")
        self._bar = None
        self._lock = threading.Lock()

    def __enter__(self) -> Progress:
        global _active
        _active = self
        if self._live:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[unit]}"),
                TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                TextColumn("{task.fields[note]}"), console=Console(stderr=True), transient=False,
            )
            self._bar.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        global _active
        if _active is self:
            _active = None
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def remove(self, task: _Task) -> None:
        """Take a finished line off the bar (a clip's frames once the clip is done)."""
        if self._bar is not None and task.bar_id is not None:
            self._bar.remove_task(task.bar_id)
            task.bar_id = None

    def task(self, name: str, total: int, unit: str = "items", done: int = 0) -> _Task:
        """A new line of progress (e.g. one per clip), ``done`` already (a resumed run); shown at once."""
        task = _Task(self, name, total, unit, done)
        if self._bar is not None:
            task.bar_id = self._bar.add_task(name, total=task.total, completed=task.done, unit=unit, rate="", note="")
        return task

    def _refresh(self, task: _Task) -> None:
        with self._lock:
            if self._bar is not None and task.bar_id is not None:
                rate = task.rate()
                self._bar.update(task.bar_id, completed=task.done, rate=f"{rate:.2f}/s" if rate else "", note=task.note)
                return
            now = time.monotonic()
            finished = task.total and task.done >= task.total
            if not self._quiet and (finished or now - task.last_line >= self.interval_s):
                task.last_line = now
                self._say(task.line())
