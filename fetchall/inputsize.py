"""How long a run's input is, for a progress bar's total.

Strategy: URL-list files are sized by their lines, counted with a block scan (``bytes.count`` of
newlines, 1 MiB at a time: a million-line list in about 30 ms) in a background thread, so the
first request never waits for it; a list of URL strings by its length. Standard input, FIFOs and
generators have no size: the total stays unknown and a display shows a spinner.

The total is an estimate the run corrects as it reads (`InputSize.expected_rows`): the rows
known so far (unique URLs and bad lines read, an earlier run's rows when resuming) plus the
lines not read yet. Blank lines, comments and duplicates are lines that make no row, so the
estimate only ever falls, and it is exact once the input is read.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from fetchall.urllists import API_SOURCE

if TYPE_CHECKING:
    from fetchall.politeness import HostStatus
    from fetchall.summary import RunSummary

BLOCK = 1 << 20


@dataclass(frozen=True, slots=True)
class RunProgress:
    """Where a run stands (`Runner.progress`), read in the coordinating thread."""

    rows_known: int
    """Rows the run will have for the input read so far (carried-over rows included)."""
    position: tuple[str, int] | None
    """(source, line number) of the last input entry read, None before the first."""
    input_done: bool
    """The whole input is read: ``rows_known`` is final (but for callbacks' URLs)."""
    in_flight: int
    """Requests running now."""


class RunView(Protocol):
    """What a progress display reads from a run (a `Runner`, or a cluster's coordinator)."""

    summary: RunSummary

    def progress(self) -> RunProgress:
        """How far the input is read, and the requests running."""

    def host_status(self) -> HostStatus:
        """Hosts held back right now."""


def count_lines(path: str) -> int | None:
    """Lines in the regular file ``path`` (a last line without a newline counts); None for
    anything else (stdin, a FIFO, a device) or a file that cannot be read."""
    if path == "-":
        return None
    lines = 0
    last = 10  # the last byte read: a newline
    try:
        with open(path, "rb", buffering=0) as stream:
            if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
                return None
            buffer = bytearray(BLOCK)
            view = memoryview(buffer)
            while size := stream.readinto(buffer):
                block: bytes | bytearray = buffer if size == BLOCK else view[:size].tobytes()
                lines += block.count(b"\n")
                last = block[-1]
    except OSError:
        return None
    return lines if last == 10 else lines + 1


class InputSize:
    """The size of a run's input in lines, counted in a background thread (`start`)."""

    def __init__(self, url_files: Sequence[str] = (), urls: Sequence[str] | None = ()) -> None:
        """``urls``: the URL strings given to the API (None: a generator, size unknown)."""
        self._files = list(url_files)
        self._urls = None if urls is None else len(urls)
        self._offsets: dict[str, int] = {}
        self.lines: int | None = None
        """Lines in all (None while counting, or if some input has no size)."""
        self._thread: threading.Thread | None = None

    @property
    def knowable(self) -> bool:
        """Whether every input has a size (no stdin, no generator)."""
        return self._urls is not None and "-" not in self._files

    def start(self) -> InputSize:
        """Count the files in a daemon thread (nothing to do if some input has no size)."""
        if self.knowable:
            self._thread = threading.Thread(target=self._count, name="fetchall-count", daemon=True)
            self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the count (tests); the total lines or None."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.lines

    def _count(self) -> None:
        offsets = {API_SOURCE: 0}
        total = self._urls or 0
        for path in self._files:
            lines = count_lines(path)
            if lines is None:
                return  # not a regular file after all (a FIFO): the total stays unknown
            offsets.setdefault(path, total)
            total += lines
        self._offsets = offsets
        self.lines = total  # published last: readers see the offsets complete

    def lines_read(self, position: tuple[str, int] | None) -> int:
        """Input lines up to ``position`` (a (source, line number) of the last entry read)."""
        if position is None:
            return 0
        source, lineno = position
        return self._offsets.get(source, 0) + lineno

    def expected_rows(self, progress: RunProgress) -> int | None:
        """The report rows the run will end with, as far as is known now (see module
        docstring); None while the size is unknown."""
        if progress.input_done:
            return progress.rows_known
        if self.lines is None:
            return None
        return progress.rows_known + max(0, self.lines - self.lines_read(progress.position))
