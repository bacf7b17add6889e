"""Progress while fetching and the summary afterwards.

Strategy: a `ProgressView` is a result listener. Its total comes from an `InputSize` (the URL
lists' lines, counted in the background) corrected by what the runner has read (`Runner.progress`:
rows known, the line reached), so duplicates, blank lines, comments and an earlier run's rows are
accounted for, and it is exact once the input is read. On a terminal it drives a rich bar with
done/total, %, rate, ETA, bytes, failures and requests in flight (a pulsing bar while the total is
unknown: stdin, generators); off a terminal it prints the same figures as a plain line at most
every few seconds. Both go to stderr; the summary goes to stdout. The runner is read in the
coordinating thread, when a result arrives, at most every `REFRESH` seconds.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:  # rich is imported only when something is shown (~50 ms of start-up)
    from rich.progress import Progress, ProgressColumn, TaskID

    from fetchall.inputsize import InputSize, RunView
    from fetchall.politeness import HostStatus
    from fetchall.result import Result
    from fetchall.summary import RunSummary

PLAIN_INTERVAL = 2.0
REFRESH = 0.1
RATE_WINDOW = 30.0  # seconds of samples the rate (and so the ETA) is taken over
MAX_FAILURES_SHOWN = 5


def human_bytes(n: float) -> str:
    """``1536`` → ``"1.5 KiB"``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def clock(seconds: float) -> str:
    """``3725`` → ``"1:02:05"`` (an ETA or an elapsed time, as curl and rich show them)."""
    whole = max(0, round(seconds))
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def share(done: int, total: int | None) -> str:
    """``"1,174/3,000 (39%)"``, or ``"1,174 done"`` with no total."""
    if total is None:
        return f"{done:,} done"
    percent = 100 * done // total if total else 100
    return f"{done:,}/{total:,} ({percent}%)"


def eta(done: int, total: int | None, rate: float) -> float | None:
    """Seconds left at ``rate`` per second (None without a total or a rate)."""
    if total is None or rate <= 0:
        return None
    return max(0, total - done) / rate


def bar_columns() -> tuple[ProgressColumn, ...]:
    """The rich columns every fetchall progress display uses: a bar (pulsing while the total
    is unknown) and a line of figures (the task's description)."""
    from rich.progress import BarColumn, TextColumn

    return (BarColumn(bar_width=30), TextColumn("{task.description}"))


@dataclass
class Figures:
    """What a progress line says."""

    done: int
    total: int | None
    ok: int
    failed: int
    bytes: int
    rate: float
    carried: int = 0
    in_flight: int | None = None
    held: str = ""

    def line(self) -> str:
        """``1,174/3,000 (39%), 1,173 ok, 1 failed, 2.3 MiB, 132.8 req/s, ETA 0:00:13,
        12 in flight; hosts 2 cooling down``."""
        parts = [share(self.done, self.total)]
        if self.carried:
            parts.append(f"{self.carried:,} from the earlier run")
        parts += [
            f"{self.ok:,} ok",
            f"{self.failed:,} failed",
            human_bytes(self.bytes),
            f"{self.rate:.1f} req/s",
        ]
        left = eta(self.done, self.total, self.rate)
        if left is not None:
            parts.append(f"ETA {clock(left)}")
        if self.in_flight is not None:
            parts.append(f"{self.in_flight} in flight")
        line = ", ".join(parts)
        return f"{line}; hosts {self.held}" if self.held else line


class RateMeter:
    """Events per second over the last `RATE_WINDOW` seconds (the whole run until then)."""

    def __init__(self, now: float) -> None:
        self._samples: deque[tuple[float, int]] = deque([(now, 0)])

    def rate(self, now: float, count: int) -> float:
        """Record ``count`` (a running total) at ``now``; the rate over the window."""
        samples = self._samples
        samples.append((now, count))
        while len(samples) > 2 and now - samples[1][0] >= RATE_WINDOW:
            samples.popleft()
        then, before = samples[0]
        return (count - before) / (now - then) if now > then else 0.0


class ProgressView:
    """Listener that renders progress; use as a context manager around the run."""

    def __init__(
        self,
        *,
        enabled: bool = True,
        stream: TextIO | None = None,
        inputs: InputSize | None = None,
    ) -> None:
        """``inputs``: the size of the run's input (no total without it)."""
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.done = self.ok = self.failed = self.bytes = 0
        self.failures: list[Result] = []
        self._inputs = inputs
        self._started = time.monotonic()
        self._last_line = self._started
        self._meter = RateMeter(self._started)
        self._rich: Progress | None = None
        self._task: TaskID | None = None
        self._runner: RunView | None = None
        self._figures = Figures(0, None, 0, 0, 0, 0.0)
        self._next_refresh = 0.0

    def watch(self, runner: RunView) -> None:
        """Read totals, requests in flight and held-back hosts from ``runner`` (`fetch_all`'s
        ``on_start``)."""
        self._runner = runner

    def __enter__(self) -> ProgressView:
        self._started = self._last_line = time.monotonic()
        self._meter = RateMeter(self._started)
        if not self.enabled:
            return self
        if self._inputs is not None:
            self._inputs.start()
        if self.stream.isatty():
            from rich.console import Console
            from rich.progress import Progress

            self._rich = Progress(*bar_columns(), console=Console(file=self.stream), transient=True)
            self._rich.start()
            self._task = self._rich.add_task(self._figures.line(), total=None)
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
        figures = self._figures = self.figures(now)
        if self._rich is not None and self._task is not None:
            self._rich.update(
                self._task, description=figures.line(), completed=figures.done,
                total=figures.total,
            )  # fmt: skip
            return
        if now - self._last_line >= PLAIN_INTERVAL:
            self._last_line = now
            print(f"fetchall: {figures.line()}", file=self.stream, flush=True)

    def figures(self, now: float) -> Figures:
        """The figures now (reads the runner)."""
        rate = self._meter.rate(now, self.done)
        figures = Figures(self.done, None, self.ok, self.failed, self.bytes, rate)
        runner = self._runner
        if runner is None:
            return figures
        progress = runner.progress()
        carried = runner.summary.resumed
        figures.done += carried
        figures.carried = carried
        figures.in_flight = progress.in_flight
        figures.held = hosts_held(runner.host_status())
        if self._inputs is not None:
            total = self._inputs.expected_rows(progress)
            figures.total = None if total is None else max(total, figures.done)
        return figures


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
    on = f" on {summary.workers} Dask workers" if summary.workers else ""
    console.print(
        f"{state}: {summary.total} URLs in {summary.elapsed:.2f} s "
        f"({summary.requests_per_second:.1f} req/s) with engine {summary.engine}{on}: "
        f"{summary.ok} ok, {summary.failed} failed, {human_bytes(summary.bytes)} saved"
    )
    extras = []
    if summary.workers:
        extras.append(
            f"-c and --per-host apply per worker: up to {summary.workers}× those requests "
            "in flight in all"
        )
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
    if summary.skipped:
        reasons = ", ".join(f"{n} {why}" for why, n in sorted(summary.skipped.items()))
        extras.append(f"links not followed: {reasons}")
    if summary.items:
        extras.append(f"{summary.items} items in {out_dir}/items.jsonl")
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
