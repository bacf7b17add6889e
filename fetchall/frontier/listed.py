"""``--no-state``: the input read lazily, in order, with a flat-memory duplicate filter.

Strategy: `pull` takes the next entry of the input (URLs a callback enqueued first); a bad line
goes to the runner's sink, a URL seen before is counted and skipped (`DigestMap` of ``hash()``
of the normalised URL: a dict, spilled to a temporary SQLite table beyond 16,384 entries).
Nothing is written anywhere: such a run cannot be resumed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from fetchall.digests import DigestMap
from fetchall.frontier import BadLineSink, Entry
from fetchall.result import Result
from fetchall.urllists import RawLine, parse_line
from fetchall.urls import BadLine

CALLBACK_SOURCE = "callback"


class ListFrontier:
    """The input lists, in order (see module docstring)."""

    def __init__(self, source: Iterator[RawLine], on_bad: BadLineSink) -> None:
        self.duplicates = 0
        self.position: tuple[str, int] | None = None
        self.rows_known = 0
        self._source = source
        self._on_bad = on_bad
        self._extra: deque[str] = deque()
        self._drained = False
        self._seen = DigestMap()

    def pull(self) -> Entry | None:
        """The next new URL of the input, or None once it is read."""
        while True:
            if self._extra:
                raw: RawLine = (CALLBACK_SOURCE, 0, self._extra.popleft(), False)
            elif self._drained:
                return None
            else:
                taken = next(self._source, None)
                if taken is None:
                    self._drained = True
                    continue
                raw = taken
                self.position = raw[0], raw[1]
            entry = parse_line(raw)
            if isinstance(entry, BadLine):
                self.rows_known += 1
                self._on_bad(entry)
                continue
            if not self._seen.add(hash(entry.target.url)):
                self.duplicates += 1
                continue
            self.rows_known += 1
            return Entry(entry.target, entry.text)

    @property
    def input_done(self) -> bool:
        """The input is read to its end."""
        return self._drained

    @property
    def exhausted(self) -> bool:
        """The input is read and nothing was enqueued since."""
        return self._drained and not self._extra

    def add(self, url: str) -> None:
        """Queue a URL from a callback (pulled before the rest of the input)."""
        self._extra.append(url)

    def finished(self, entry: Entry, result: Result) -> None:
        """Nothing to record without a store."""

    def saved(self, url: str, *, hop: bool = False) -> None:
        """Without a store, a final URL reached again is fetched again (same file)."""
        return None

    def next_due(self) -> None:
        """Never needs a call of its own."""
        return None

    def checkpoint(self, now: float, *, force: bool = False) -> None:
        """Nothing to make durable."""

    def close(self) -> None:
        """Drop the duplicate filter."""
        self._seen.close()
