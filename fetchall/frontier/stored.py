"""The frontier in the state store: the input imported as it is read, URLs handed out per host.

Strategy: the input is imported while fetching goes on, whenever no active host has a URL ready
for a free slot: batch by batch (parsed, inserted with one statement — the store's unique URL
column is the duplicate filter — bad lines recorded) until one is ready or `IMPORT_BUDGET`
seconds have passed (then `next_due` asks to be called again at once); a stream (stdin) one
entry at a time, so it is read no further than needed, as without a store. URLs are handed out
per *active host*: at most `max_active` hosts are in memory, each with a small buffer of its
queued URLs and a count of URLs handed out and not finished (`outstanding`, at most
``--per-host``); a round robin over the active hosts with room picks the next URL. While the
active hosts cannot fill ``-c`` slots between them, the import also *reads ahead*, in short
slices and for at most `READ_AHEAD_SHARE` of the run's time: a list of 5 hosts × 20,000 URLs in
host order reaches its fifth host within about two seconds and keeps all five busy, and a list
of one host is imported beside the fetching, not before it. Memory does not grow with the list:
the rest waits in the store.

Most URLs never leave memory between import and fetch: a new URL of an active host with buffer
room goes straight into the buffer; a host with more URLs in the store than in memory reads them
back in input order (`LOAD_CHUNK` per query); a host the import sees while the active set is full
is marked *pending* in the store and activated later, oldest first. Every `finished` URL is
recorded in the store, which commits in batches (`checkpoint`, when the store says) with how
far the input was imported and how long the report was, so a resumed run skips exactly the
imported entries and keeps exactly the report rows of committed URLs.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Iterator
from itertools import islice

from fetchall.digests import DigestMap
from fetchall.frontier import BadLineSink, Entry
from fetchall.output.report import ReportWriter
from fetchall.result import Result
from fetchall.state.schema import STATE_NAMES, Saved, finished_record
from fetchall.state.store import StateStore
from fetchall.urllists import RawLine, parse_line
from fetchall.urls import BadLine, UrlLine, rebuild_target

IMPORT_BUDGET = 0.05
"""Seconds one `pull` may spend importing (for a URL to hand out) before it lets the engine run."""
READ_AHEAD_SLICE = 0.005
"""Seconds one `pull` may spend reading ahead (to find more hosts)."""
READ_AHEAD_SHARE = 0.5
"""Reading ahead takes at most this share of the run's time: the rest is left to fetching."""
READ_AHEAD_MAX = 100_000
"""Entries read ahead at most beyond the URLs handed out."""
IMPORT_BATCH = 256
"""Entries imported at once from input at rest (a file, a list); a stream: one at a time."""
LOAD_CHUNK = 64
"""Queued URLs of one host read back per query."""
BUFFER_MAX = 512
"""URLs of one host held in memory at most, straight from the import."""
BUFFERED_MAX = 16_384
"""URLs held in memory at most over all hosts (about 6 MiB); beyond, new URLs wait in the store."""
CALLBACK_SOURCE = "callback"


class _Host:
    """An active host: its buffered URLs, how many are out, and whether the store has more."""

    __slots__ = ("buffer", "counted", "cursor", "listed", "more", "outstanding")

    def __init__(self, more: bool) -> None:
        self.buffer: deque[Entry] = deque()
        self.counted = False  # its slots are in the frontier's capacity
        self.outstanding = 0
        self.more = more  # queued URLs in the store beyond `cursor` that the buffer lacks
        self.cursor = 0  # the id of the last URL taken into the buffer
        self.listed = False


class StoreFrontier:
    """Per-host frontier over a `StateStore` (see module docstring)."""

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
        self.duplicates = 0
        self.position: tuple[str, int] | None = None
        self._store = store
        self._source: Iterator[RawLine] | None = source
        self._on_bad = on_bad
        self._engine = engine
        self._report = report
        self._recorded = report.size  # report bytes up to the last row the store records
        self._cap = per_host
        self._max_active = max(64, 4 * concurrency)
        self._want = concurrency  # slots the active hosts should be able to fill
        self._capacity = 0  # per-host slots of the active hosts that still have URLs
        self._read_ahead = read_ahead
        self._buffered = 0  # URLs in the hosts' buffers
        self._batch = IMPORT_BATCH if read_ahead else 1
        self._hosts: dict[str, _Host] = {}
        self._redirected = DigestMap()  # hash(final URL) -> row id, for redirected URLs
        self._ready: deque[str] = deque()
        # Hosts may wait in the store (a resumed run, or marked by this one when the active set
        # was full); `_pending_maybe` stays true until a lookup finds none.
        self._marked = self._pending_maybe = store.has_pending_hosts()
        self._import_due: float | None = None  # `pull` ran out of time while importing
        self._started = time.monotonic()
        self._ahead_spent = 0.0  # seconds spent reading ahead
        self._handed_out = 0  # URLs `pull` returned (this run)
        imported = store.meta.get("imported", 0)
        self.imported = imported if isinstance(imported, int) else 0
        self._skip = self.imported  # entries a resumed run imported before: not read again
        self._imported_before = self.imported
        self._max_depth: int | None = None  # a crawl: the level handed out (see crawler.frontier)

    # ---- handing out ----

    def pull(self) -> Entry | None:
        """The next URL, from the next active host with room. The input is imported further
        whenever no active host has URLs left, and (``read_ahead``: not for a stream that may
        block) read ahead, rationed, while the active hosts cannot fill every slot, so later
        hosts are found early."""
        self._import_due = None
        if self._read_ahead and self._capacity < self._want and self._source is not None:
            self._read_more()
        deadline = time.monotonic() + IMPORT_BUDGET
        while True:
            entry = self._take()
            if entry is not None:
                return entry
            if self._activate():
                continue
            if self._source is None or (self._read_ahead and self._capacity > 0):
                return None  # the hosts with URLs are full: more input is reading ahead
            if not self._import_more(deadline):
                return None

    def _read_more(self) -> None:
        """Read ahead for one short slice, unless reading ahead has had its share of the run's
        time: a list of one host (which can never fill ``-c`` with ``--per-host`` slots) is
        imported beside the fetching, not before it."""
        now = time.monotonic()
        if self._ahead_spent >= READ_AHEAD_SHARE * (now - self._started):
            return
        deadline = now + READ_AHEAD_SLICE
        while self._capacity < self._want and self._source is not None and self._ahead_room():
            if not self._import_more(deadline):
                break
        self._import_due = None  # not urgent: the next `pull` reads further
        self._ahead_spent += time.monotonic() - now

    def _ahead_room(self) -> bool:
        """Whether the input imported is less than `READ_AHEAD_MAX` beyond the URLs out."""
        return self.imported - self._imported_before - self._handed_out < READ_AHEAD_MAX

    def _import_more(self, deadline: float) -> bool:
        """Import the next entries of the input; False when it ended or time is up (then
        `next_due` asks for a call at once)."""
        if time.monotonic() >= deadline:
            self._import_due = time.monotonic()
            return False
        source = self._source
        assert source is not None
        if self._skip:  # a resumed run: what the last one imported is not read again
            skipped = 0
            last: RawLine | None = None
            for last in islice(source, self._skip):  # noqa: B007
                skipped += 1
            if last is not None:
                self.position = last[0], last[1]
            self._skip = 0
            if skipped < self.imported:  # a shorter input than last time: nothing new
                self._source = None
                return False
        raws = list(islice(source, self._batch))
        self.imported += len(raws)
        self._import(raws)
        if len(raws) < self._batch:
            self._source = None
        return bool(raws)

    @property
    def rows_known(self) -> int:
        """The store's rows: every URL and bad line imported, in this run or an earlier one."""
        counts = self._store.counts
        return sum(counts[name] for name in STATE_NAMES)

    @property
    def input_done(self) -> bool:
        """The input is imported to its end."""
        return self._source is None

    def import_all(self) -> None:
        """Import the rest of the input now (a cluster's coordinator plans from the store)."""
        while self._source is not None:
            self._import_more(math.inf)

    @property
    def exhausted(self) -> bool:
        """The input is imported and no host has a queued URL left."""
        return self._source is None and not self._hosts and not self._pending_maybe

    def add(self, url: str) -> None:
        """A callback's URL: imported at once (deduplicated like the input)."""
        self._import([(CALLBACK_SOURCE, 0, url, False)])

    def finished(self, entry: Entry, result: Result) -> None:
        """Record how ``entry`` ended; its host may take another URL."""
        self._store.record(finished_record(entry.id, entry.target.url, result, self._engine))
        self._recorded = self._report.size  # its row is the last one written
        final = result.final_url
        if result.path is not None and final is not None and final != entry.target.url:
            self._redirected[hash(final)] = entry.id  # URLs ending there share its file
        host = self._hosts.get(entry.target.host_key)
        if host is not None:
            host.outstanding -= 1
            self._settle(entry.target.host_key, host)
        self.checkpoint(time.monotonic())

    def saved(self, url: str, *, hop: bool = False) -> Saved | None:
        """The file this run already saved for the final URL ``url`` — as the end of another
        URL's redirects, or (``hop``: a redirect towards ``url``) as an input URL itself."""
        row_id = self._redirected.get(hash(url))
        found = self._store.saved(row_id=row_id) if row_id is not None else None
        if found is not None and found.final_url == url:
            return found
        return self._store.saved(url=url) if hop else None

    def checkpoint(self, now: float, *, force: bool = False) -> None:
        """Commit the store if a batch is due (or ``force``), with the import position and
        the report's length: a resumed run skips that much input and keeps that much report."""
        due = self._store.commit_due
        if force or (due is not None and now >= due):
            self._report.flush()
            self._store.commit(imported=self.imported, report_offset=self._recorded)

    def next_due(self) -> float | None:
        """The next commit (at most `BATCH_SECONDS` after a write), or at once if `pull` ran
        out of time importing."""
        due = self._store.commit_due
        if self._import_due is not None and (due is None or self._import_due < due):
            due = self._import_due
        return due

    def close(self) -> None:
        """Drop the map of redirected URLs (the store is closed by its owner)."""
        self._redirected.close()

    # ---- internals ----

    def _take(self) -> Entry | None:
        """A URL from the next active host with room, round robin; None if there is none."""
        ready = self._ready
        while ready:
            key = ready.popleft()
            host = self._hosts[key]
            host.listed = False
            if host.outstanding >= self._cap:
                continue
            if not host.buffer and host.more:
                self._load(key, host)
            if not host.buffer:
                self._settle(key, host)
                continue
            entry = host.buffer.popleft()
            self._buffered -= 1
            self._handed_out += 1
            host.outstanding += 1
            self._settle(key, host)
            return entry
        return None

    def _settle(self, key: str, host: _Host) -> None:
        """List a host with room and URLs; forget one with neither URLs nor URLs out."""
        has_urls = bool(host.buffer) or host.more
        if has_urls != host.counted:
            host.counted = has_urls
            self._capacity += self._cap if has_urls else -self._cap
        if has_urls and host.outstanding < self._cap:
            if not host.listed:
                host.listed = True
                self._ready.append(key)
        elif not has_urls and host.outstanding == 0 and not host.listed:
            del self._hosts[key]
            if self._marked:  # it may have been marked pending while it was active
                self._pending_maybe = True

    def _load(self, key: str, host: _Host) -> None:
        rows = self._store.queued(key, host.cursor, LOAD_CHUNK, self._max_depth)
        self._buffered += len(rows)
        for row in rows:
            host.buffer.append(
                Entry(
                    rebuild_target(row.url, key), row.text, row.id, row.etag,
                    row.last_modified, row.final_url, row.path, row.bytes, row.depth,
                    row.parent,
                )
            )  # fmt: skip
        if rows:
            host.cursor = rows[-1].id
        host.more = len(rows) == LOAD_CHUNK

    def _activate(self) -> bool:
        """Take hosts waiting in the store into memory; False if none could be taken."""
        room = self._max_active - len(self._hosts)
        if room <= 0 or not self._pending_maybe:
            return False
        keys = self._store.pending_hosts(min(room, 256), set(self._hosts))
        if not keys:
            self._pending_maybe = False
            return False
        for key in keys:
            host = self._hosts[key] = _Host(more=True)
            self._settle(key, host)
        return True

    def _import(self, raws: list[RawLine]) -> None:
        """Store a batch of entries; then move `position` past it and write the bad lines'
        rows (a progress total read from a row's listener sees the batch whole)."""
        lines: list[UrlLine] = []
        bad: list[BadLine] = []
        for raw in raws:
            line = parse_line(raw)
            if isinstance(line, BadLine):
                bad.append(line)
            else:
                lines.append(line)
        if lines:
            self._add(lines)
        for line in bad:
            self._store.add_bad(line.text, line.error.error_type, line.message, self._engine)
        if raws and raws[-1][0] != CALLBACK_SOURCE:
            self.position = raws[-1][0], raws[-1][1]
        for line in bad:
            self._on_bad(line)
        if bad:
            self._recorded = self._report.size

    def _add(
        self, lines: list[UrlLine], depth: int = 0, parent: Entry | None = None
    ) -> list[int | None]:
        """Store new URLs (found at ``depth`` on ``parent``'s page: a crawl) and place them;
        their ids (None: a duplicate)."""
        rows = [(u.target.url, u.text, u.target.host_key) for u in lines]
        ids = self._store.add_urls(rows, depth, None if parent is None else parent.id)
        if self._max_depth is not None and depth > self._max_depth:
            return ids  # a crawl's next level: read back when the level is reached
        pending: dict[str, int] = {}
        parent_text = None if parent is None else parent.text
        for line, row_id in zip(lines, ids, strict=True):
            if row_id is None:
                self.duplicates += 1
            else:
                self._place(line, row_id, pending, depth, parent_text)
        if pending:
            self._store.mark_hosts(pending)
            self._pending_maybe = self._marked = True
        return ids

    def _place(
        self,
        line: UrlLine,
        row_id: int,
        pending: dict[str, int],
        depth: int = 0,
        parent: str | None = None,
    ) -> None:
        """Put a new URL where it will be found: its active host's buffer, a new active host,
        or (the active set full) the store's pending hosts."""
        key = line.target.host_key
        host = self._hosts.get(key)
        if host is None:
            if len(self._hosts) >= self._max_active:
                pending.setdefault(key, row_id)
                return
            host = self._hosts[key] = _Host(more=False)
        if host.more or len(host.buffer) >= BUFFER_MAX or self._buffered >= BUFFERED_MAX:
            host.more = True  # read back in input order after what the buffer holds
        else:
            host.buffer.append(Entry(line.target, line.text, row_id, depth=depth, parent=parent))
            host.cursor = row_id
            self._buffered += 1
        self._settle(key, host)
