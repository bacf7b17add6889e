"""Progress of a bench while it runs, on stderr.

Strategy: a `BenchProgress` is a `BenchListener` used as a context manager. On a terminal it
drives a rich progress bar (runs done of all runs, the engine and round now running, elapsed
time — rich refreshes it from its own thread while the parent waits for the child); otherwise
it prints one plain line as each run finishes. Disabled, it does nothing.
"""

from __future__ import annotations

import sys
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from fetchall.bench.model import RunResult


class BenchProgress:
    """Shows which engine and round is running; use as a context manager around `run_bench`."""

    def __init__(self, *, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self._rich: Progress | None = None
        self._task: TaskID | None = None
        self._label = ""

    def __enter__(self) -> BenchProgress:
        if self.enabled and self.stream.isatty():
            self._rich = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(file=self.stream),
                transient=True,
            )
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
        if self._rich is not None and self._task is not None:
            self._rich.update(self._task, description=self._label, total=total)

    def run_finished(self, run: RunResult) -> None:
        """Count the run; off a terminal, print one line about it."""
        if self._rich is not None and self._task is not None:
            self._rich.advance(self._task)
            return
        if not self.enabled:
            return
        outcome = run.error or f"{run.ok} ok, {run.failed} failed"
        print(
            f"fetchall bench: {self._label}: {run.wall_s:.2f} s, {outcome}",
            file=self.stream,
            flush=True,
        )
