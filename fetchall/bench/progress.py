"""Progress of a bench while it runs, on stderr.

Strategy: a `BenchProgress` is a `BenchListener` used as a context manager, with the look of the
fetch progress (`fetchall.progress`): on a terminal, the same rich bar and a line of figures
(runs done of all runs, the engine and round now running, the ETA from the runs so far — rich
refreshes it from its own thread while the parent waits for the child); otherwise one plain line
as each run finishes, with the same figures. Disabled, it does nothing.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from rich.console import Console
from rich.progress import Progress, TaskID

from fetchall.bench.model import RunResult
from fetchall.progress import bar_columns, clock, eta, share


class BenchProgress:
    """Shows which engine and round is running; use as a context manager around `run_bench`."""

    def __init__(self, *, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self._rich: Progress | None = None
        self._task: TaskID | None = None
        self._label = ""
        self._done = 0
        self._total: int | None = None
        self._started = time.monotonic()

    def __enter__(self) -> BenchProgress:
        self._started = time.monotonic()
        if self.enabled and self.stream.isatty():
            self._rich = Progress(*bar_columns(), console=Console(file=self.stream), transient=True)
            self._rich.start()
            self._task = self._rich.add_task("bench", total=None)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._rich is not None:
            self._rich.stop()
            self._rich = None

    def run_started(self, engine: str, round_no: int, rounds: int, index: int, total: int) -> None:
        """Show the run that starts now."""
        self._label = f"[{index}/{total}] {engine}, round {round_no}/{rounds}"
        self._total = total
        if self._rich is not None and self._task is not None:
            self._rich.update(self._task, description=self._figures(), total=total)

    def run_finished(self, run: RunResult) -> None:
        """Count the run; off a terminal, print one line about it."""
        self._done += 1
        if self._rich is not None and self._task is not None:
            self._rich.update(self._task, description=self._figures(), completed=self._done)
            return
        if not self.enabled:
            return
        outcome = run.error or f"{run.ok} ok, {run.failed} failed"
        print(
            f"fetchall bench: {self._label}: {run.wall_s:.2f} s, {outcome}; {self._figures()}",
            file=self.stream,
            flush=True,
        )

    def _figures(self) -> str:
        """``"3/8 runs (37%), elapsed 0:00:12, ETA 0:00:20"`` (the ETA from the runs so far)."""
        elapsed = time.monotonic() - self._started
        line = f"{share(self._done, self._total)} runs, elapsed {clock(elapsed)}"
        left = eta(self._done, self._total, self._done / elapsed if elapsed > 0 else 0.0)
        if self._rich is not None:
            line = f"{self._label}: {line}"
        return f"{line}, ETA {clock(left)}" if left is not None and self._done else line
