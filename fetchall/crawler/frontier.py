"""The crawl's frontier: the state store's per-host frontier, handed out one depth level at a time.

Strategy: a `StoreFrontier` whose read-back stops at the current *level* (`_max_depth`). Seeds
are level 0; a link found on a page of level d is stored at depth d + 1 with its parent, and
waits in the store (not in memory) until every URL of level d has ended: only then does the
level advance (every host with queued URLs is marked pending again and read back per host).
So the first time a URL is stored is at its shortest link distance from a seed, whatever the
engine, the concurrency or the timing (breadth first, like wget), and memory does not grow with
the crawl: the frontier and the seen set are the store (its unique URL column). A resumed crawl
goes on at the shallowest level with queued URLs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator

from fetchall.frontier import BadLineSink, Entry
from fetchall.frontier.stored import StoreFrontier
from fetchall.output.report import ReportWriter
from fetchall.state.store import StateStore
from fetchall.urllists import RawLine
from fetchall.urls import Target, UrlLine


class CrawlFrontier(StoreFrontier):
    """Level-synchronous frontier over a `StateStore` (see module docstring)."""

    def __init__(
        self,
        store: StateStore,
        source: Iterator[RawLine],
        on_bad: BadLineSink,
        *,
        per_host: int,
        concurrency: int,
        engine: str,
        report: ReportWriter,
        read_ahead: bool = True,
    ) -> None:
        super().__init__(
            store, source, on_bad, per_host=per_host, concurrency=concurrency, engine=engine,
            report=report, read_ahead=read_ahead,
        )  # fmt: skip
        self._max_depth = store.shallowest_queued() or 0
        self.on_seed: Callable[[Target], None] | None = None
        """Called with each new seed as the input is imported (a crawl's scope)."""
        self.on_seeds_done: Callable[[], None] | None = None
        """Called once, when the seeds are imported (a crawl's sitemap URLs go in then)."""
        self.host_rows: Counter[str] | None = None
        """Rows per host, once `count_hosts` is called (``--max-per-host``)."""

    def count_hosts(self) -> None:
        """Keep `host_rows` from now on (from the store's rows: a resumed crawl)."""
        self.host_rows = Counter(self._store.rows_per_host())

    @property
    def level(self) -> int:
        """The depth being handed out."""
        assert self._max_depth is not None
        return self._max_depth

    def add_links(self, lines: list[UrlLine], depth: int, parent: Entry | None) -> list[int | None]:
        """Store URLs found on ``parent``'s page (None: in a sitemap) at ``depth`` (the next
        level, or one past the last for page requisites); their ids, None for a URL the store
        holds already."""
        return self._add(lines, depth, parent)

    def known(self, url: str) -> bool:
        """Whether the crawl has ``url`` (queued or ended)."""
        return self._store.known(url)

    def pull(self) -> Entry | None:
        """The next URL of this level; once the level has ended, the first of the next. The
        seeds are all imported first: the crawl's scope is theirs."""
        self.import_all()
        if self.on_seeds_done is not None:
            done, self.on_seeds_done = self.on_seeds_done, None
            done()
        entry = super().pull()
        while entry is None and self._level_ended() and self._advance():
            entry = super().pull()
        return entry

    @property
    def exhausted(self) -> bool:
        """This level has ended and no deeper URL is queued."""
        return super().exhausted and self._store.counts["queued"] == 0

    def _level_ended(self) -> bool:
        """The input is imported and every URL of this level has ended."""
        return (
            self._source is None
            and not self._hosts
            and not self._pending_maybe
            and self._import_due is None
        )

    def _advance(self) -> bool:
        """Go on to the next level with queued URLs; False if there is none."""
        deeper = self._store.shallowest_queued()
        if deeper is None:
            return False
        self._max_depth = deeper
        self._store.mark_pending_hosts()
        self._pending_maybe = self._marked = True
        return True

    def _add(
        self, lines: list[UrlLine], depth: int = 0, parent: Entry | None = None
    ) -> list[int | None]:
        ids = super()._add(lines, depth, parent)
        if parent is None and depth == 0 and self.on_seed is not None:
            for line, row_id in zip(lines, ids, strict=True):
                if row_id is not None:
                    self.on_seed(line.target)
        if self.host_rows is not None:
            for line, row_id in zip(lines, ids, strict=True):
                if row_id is not None:
                    self.host_rows[line.target.host_key] += 1
        return ids
