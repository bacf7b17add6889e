"""Where the next URL comes from: the frontier hands the runner one URL at a time and is told how
each ended. `ListFrontier` reads the input lists lazily, in order (``--no-state``);
`StoreFrontier` imports them into the state store and hands URLs out per host, so the order of
a list never limits concurrency, and a run can be resumed, refreshed or retried.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from fetchall.result import Result
from fetchall.state.schema import Saved
from fetchall.urls import BadLine, Target


@dataclass(slots=True, eq=False)
class Entry:
    """A URL on its way through the run: what a frontier hands out and is told about."""

    target: Target
    text: str
    """The URL as given (the report's ``url``)."""
    id: int = 0
    """Its row in the state store (0 without one)."""
    etag: str | None = None
    last_modified: str | None = None
    final_url: str | None = None
    """Where the validators above came from (``--refresh``: sent only to that URL)."""
    path: str | None = None
    bytes: int = 0
    """The file a ``304 Not Modified`` keeps (``--refresh``)."""
    depth: int = 0
    """Link distance from a seed (a crawl)."""
    parent: str | None = None
    """The URL of the page that linked to it (a crawl), as given; None for a seed."""


BadLineSink = Callable[[BadLine], None]
"""Called with each bad input line as it is read (the runner writes its report row)."""


class Frontier(Protocol):
    """What the runner needs from a frontier."""

    duplicates: int
    """Input URLs skipped because they were listed before."""
    position: tuple[str, int] | None
    """(source, line number) of the last input entry read (for a progress total)."""

    @property
    def rows_known(self) -> int:
        """Rows the run will have for what was read so far (an earlier run's included)."""

    @property
    def input_done(self) -> bool:
        """The whole input is read."""

    def pull(self) -> Entry | None:
        """The next URL to admit, or None if none can be handed out now."""

    @property
    def exhausted(self) -> bool:
        """True once nothing more will come: the input is read and every URL handed out."""

    def add(self, url: str) -> None:
        """Add a URL to the run (a callback's ``enqueue``), deduplicated like the input."""

    def finished(self, entry: Entry, result: Result) -> None:
        """``entry`` ended as ``result`` (its report row is written)."""

    def saved(self, url: str, *, hop: bool = False) -> Saved | None:
        """The file this run already saved for the final URL ``url`` (see
        `StoreFrontier.saved`), or None."""

    def next_due(self) -> float | None:
        """When (`time.monotonic`) the frontier wants `pull` called again even if nothing
        else happens (e.g. to commit its state), or None."""

    def checkpoint(self, now: float, *, force: bool = False) -> None:
        """Make what was recorded durable if due (or ``force``): before rows it must not
        count (interrupted URLs), and at the end."""

    def close(self) -> None:
        """Release everything (idempotent)."""
