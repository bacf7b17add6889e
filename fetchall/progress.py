"""Progress while fetching and the summary afterwards.

Strategy: a `ProgressView` is a result listener. On a terminal it drives a rich live display
(the total is unknown, because URL lists are read lazily, so it shows counts and rates); when
output is not a terminal it prints a plain line at most every few seconds. Both print to stderr;
the summary goes to stdout. Given the runner (`watch`), the line also says how many hosts are
held back (cooling down after a 429/503, waiting for their rate slot, waiting for robots.txt);
that is read in the coordinating thread, when a result arrives, at most every `REFRESH` seconds.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from fetchall.politeness import HostStatus
from fetchall.result import Result
from fetchall.runner import Runner
from fetchall.summary import RunSummary

if TYPE_CHECKING:  # rich is imported only when something is shown (~50 ms of start-up)
    from rich.progress import Progress

PLAIN_INTERVAL = 2.0
REFRESH = 0.1
MAX_FAILURES_SHOWN = 5


def human_bytes(n: float) -> str:
    """``1536`` → ``"1.5 KiB"``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


class ProgressView:
    """Listener that renders progress; use as a context manager around the run."""

    def __init__(self, *, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.done = self.ok = self.failed = self.bytes = 0
        self.failures: list[Result] = []
        self._started = time.monotonic()
        self._last_line = self._started
        self._rich: Progress | None = None
        self._task: object = None
        self._host_status: Callable[[], HostStatus] | None = None
        self._hosts = HostStatus(0, 0, 0)
        self._next_refresh = 0.0

    def watch(self, runner: Runner) -> None:
        """Show how many of ``runner``'s hosts are held back (`fetch_all`'s ``on_start``)."""
        self._host_status = runner.host_status

    def __enter__(self) -> ProgressView:
        self._started = self._last_line = time.monotonic()
        if self.enabled and self.stream.isatty():
            from rich.console import Console
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._rich = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=Console(file=self.stream),
                transient=True,
            )
            self._rich.start()
            self._task = self._rich.add_task(self._line(), total=None)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._rich is not None:
            self._rich.stop()

    def __call__(self, result: Result) -> None:
        """Record one result and refresh the display."""
        self.done += 1
        if result.ok:
            self.ok += 1
            self.bytes += result.bytes
        else:
            self.failed += 1
            if len(self.failures) < MAX_FAILURES_SHOWN:
                self.failures.append(result)
        if not self.enabled:
            return
        now = time.monotonic()
        if now < self._next_refresh:
            return
        self._next_refresh = now + REFRESH
        if self._host_status is not None:
            self._hosts = self._host_status()
        if self._rich is not None:
            self._rich.update(self._task, description=self._line())  # type: ignore[arg-type]
            return
        if now - self._last_line >= PLAIN_INTERVAL:
            self._last_line = now
            print(f"fetchall: {self._line()}", file=self.stream, flush=True)

    def _line(self) -> str:
        elapsed = max(time.monotonic() - self._started, 1e-9)
        line = (
            f"{self.done} done, {self.ok} ok, {self.failed} failed, "
            f"{human_bytes(self.bytes)}, {self.done / elapsed:.1f} req/s"
        )
        held = hosts_held(self._hosts)
        return f"{line}; hosts {held}" if held else line


def hosts_held(status: HostStatus) -> str:
    """``"2 cooling down, 1 rate-limited"`` ("" if no host is held back)."""
    parts = [
        f"{count} {what}"
        for count, what in (
            (status.cooling, "cooling down"),
            (status.rate_limited, "rate-limited"),
            (status.robots_pending, "awaiting robots.txt"),
        )
        if count
    ]
    return ", ".join(parts)


def print_summary(summary: RunSummary, view: ProgressView, out_dir: str, report: str) -> None:
    """The end-of-run summary: totals, counts by status, the first failures."""
    from rich.console import Console
    from rich.table import Table

    console = Console(file=sys.stdout, highlight=False, soft_wrap=True)
    state = "interrupted" if summary.interrupted else "done"
    console.print(
        f"{state}: {summary.total} URLs in {summary.elapsed:.2f} s "
        f"({summary.requests_per_second:.1f} req/s) with engine {summary.engine}: "
        f"{summary.ok} ok, {summary.failed} failed, {human_bytes(summary.bytes)} saved"
    )
    extras = []
    if summary.duplicates:
        extras.append(f"{summary.duplicates} duplicate lines skipped")
    if summary.resumed:
        failed = f", {summary.resumed_failed} of them failed" if summary.resumed_failed else ""
        extras.append(f"{summary.resumed} carried over from the earlier run{failed}")
    if summary.robots_requests:
        extras.append(
            f"{summary.robots_blocked} disallowed by robots.txt "
            f"({summary.robots_requests} robots.txt requests)"
        )
    if summary.cooldowns:
        extras.append(f"{summary.cooldowns} host cooldowns (429/503)")
    if extras:
        console.print("; ".join(extras))
    if summary.by_status:
        table = Table("status", "count", box=None, show_edge=False, pad_edge=False)
        for label, count in sorted(summary.by_status.items(), key=lambda kv: (-kv[1], kv[0])):
            table.add_row(label, str(count))
        console.print(table)
    for failure in view.failures:
        console.print(
            f"failed: {failure.url} — {failure.error_type}: {failure.error}", markup=False
        )
    if summary.failed > len(view.failures):
        console.print(f"... and {summary.failed - len(view.failures)} more failures")
    console.print(f"files in {out_dir}/, report in {report}", markup=False)
