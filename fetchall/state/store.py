"""The run's durable state: one SQLite database per output directory (``DIR/.fetchall/state.db``).

Strategy: the schema is in `fetchall.state.schema`, opening and locking in `fetchall.state.files`;
this class is the run's one writer. Writes come only from the coordinating thread, inside one
open transaction committed every `BATCH_ROWS` finished URLs or `BATCH_SECONDS` (`commit_due`
says when; measured here: ~11 µs per row in batches against ~33 µs with a commit each). WAL and
``synchronous=NORMAL``: a commit survives a killed process at once and a power cut once the OS
flushes the WAL, and ``fetchall status`` reads beside the writer. Anything the store cannot do
(locked, read-only, disk full) is a `StateError`: one line, exit 2, nothing overwritten.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

from fetchall.errors import reason
from fetchall.state.files import check_or_create, connect, lock, translate
from fetchall.state.reads import PlanReads
from fetchall.state.schema import (
    DONE,
    DONE_UPDATE,
    RESULT_UPDATE,
    ROW_COLUMNS,
    STATE_NAMES,
    Finished,
    Queued,
    Saved,
    StateError,
)

BATCH_ROWS = 500
BATCH_SECONDS = 0.5
PROGRESS_KEEP = 300.0
"""Seconds of progress snapshots kept (the rate over the last minute needs one minute)."""


class StateStore(PlanReads):
    """The open store of one run (see module docstring). Use `StateStore.open`."""

    def __init__(self, path: Path, db: sqlite3.Connection, lock_fd: int) -> None:
        self.path = path
        self._db = db
        self._lock_fd = lock_fd
        self._results: list[tuple[object, ...]] = []  # RESULT_UPDATE parameters
        self._done: list[tuple[object, ...]] = []  # DONE_UPDATE parameters
        self._dirty = False  # written since the last commit
        self._broken = False  # a write failed: close without committing
        self._last_commit = time.monotonic()
        self.counts: Counter[str] = Counter(dict(db.execute("SELECT name, n FROM counts")))
        self._counts_dirty = False
        self.meta: dict[str, object] = dict(db.execute("SELECT key, value FROM meta"))

    # ---- opening ----

    @classmethod
    def open(cls, path: Path) -> StateStore:
        """Open (or create) the store at ``path`` for writing, holding its lock for the run."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(
                f"cannot create the state directory {path.parent}: {reason(exc)}"
            ) from None
        lock_fd = lock(path)
        try:
            db = connect(path)
            try:
                check_or_create(db, path)
                return cls(path, db, lock_fd)
            except BaseException:
                db.close()
                raise
        except sqlite3.Error as exc:
            os.close(lock_fd)
            raise StateError(f"cannot use the state file {path}: {reason(exc)}") from None
        except BaseException:
            os.close(lock_fd)
            raise

    def abandon(self) -> None:
        """Close without committing what is pending (a run that could not start)."""
        if self._lock_fd >= 0:
            with contextlib.suppress(sqlite3.Error):
                self._db.rollback()
            self._results.clear()
            self._done.clear()
            self.close()

    def close(self) -> None:
        """Commit what is pending and close (idempotent); releases the lock."""
        if self._lock_fd < 0:
            return
        try:
            if not self._broken:
                self.commit()
        finally:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            os.close(self._lock_fd)
            self._lock_fd = -1

    # ---- the run ----

    @property
    def run_state(self) -> str | None:
        """``"running"`` (unfinished: interrupted or going), ``"finished"``, or None (new)."""
        value = self.meta.get("run")
        return value if isinstance(value, str) else None

    def set_meta(self, **values: object) -> None:
        """Set meta values (written with the next commit's transaction)."""
        with self._writing():
            self._db.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                list(values.items()),
            )
        self.meta.update(values)

    def reset(self) -> None:
        """Forget every URL (a new run over a finished one, or ``--fresh``)."""
        with self._writing():
            for table in ("urls", "hosts", "counts", "progress"):
                self._db.execute(f"DELETE FROM {table}")
            self._db.execute("DELETE FROM meta WHERE key NOT IN ('format', 'version')")
        self.counts.clear()
        self.meta = {k: v for k, v in self.meta.items() if k in ("format", "version")}
        self._results.clear()
        self._done.clear()

    def requeue(self, states: Iterable[int]) -> int:
        """Put the URLs in ``states`` back in the queue (``--refresh``: done; ``--retry-failed``:
        failed) and mark their hosts pending; returns how many."""
        wanted = tuple(states)
        if not wanted:
            return 0
        marks = ",".join("?" * len(wanted))
        with self._writing():
            cursor = self._db.execute(
                f"UPDATE urls SET state = 0 WHERE state IN ({marks}) AND url IS NOT NULL",
                wanted,
            )
            moved = cursor.rowcount
        self.recount()
        return moved

    def mark_pending_hosts(self) -> None:
        """Every host with queued URLs is pending again (a resumed run starts from the store)."""
        self._write_results()
        with self._writing():
            self._db.execute("UPDATE hosts SET pending = 0")
            self._db.execute(
                "INSERT INTO hosts (key, first, pending) "
                "SELECT host, MIN(id), 1 FROM urls WHERE state = 0 AND host IS NOT NULL "
                "GROUP BY host ON CONFLICT (key) DO UPDATE SET pending = 1"
            )

    def recount(self) -> None:
        """Rebuild `counts` from the table (after a bulk change)."""
        counts: Counter[str] = Counter()
        for state, n in self._db.execute("SELECT state, COUNT(*) FROM urls GROUP BY state"):
            counts[STATE_NAMES[state]] = n
        for error_type, n in self._db.execute(
            "SELECT error_type, COUNT(*) FROM urls WHERE state IN (2, 3) GROUP BY error_type"
        ):
            counts[f"error:{error_type}"] = n
        counts["duplicates"] = self.counts.get("duplicates", 0)
        self.counts = counts
        self._counts_dirty = True

    # ---- import ----

    def add_urls(
        self, rows: list[tuple[str, str, str]], depth: int = 0, parent: int | None = None
    ) -> list[int | None]:
        """Insert queued URLs ``(url, text, host)`` (found at ``depth`` on the page of row
        ``parent``: a crawl); the id of each new one, None for a URL the store already holds
        (a duplicate)."""
        db = self._db
        with self._writing():
            # Each row gets its id here (after the highest one), so the new rows' ids are
            # known without reading them back; a duplicate's insert does nothing, leaving a gap.
            (last,) = db.execute("SELECT COALESCE(MAX(id), 0) FROM urls").fetchone()
            first = last + 1
            if depth or parent is not None:
                cursor = db.executemany(
                    "INSERT INTO urls (id, url, text, host, depth, parent) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (url) DO NOTHING",
                    [(first + i, *row, depth, parent) for i, row in enumerate(rows)],
                )
            else:
                cursor = db.executemany(
                    "INSERT INTO urls (id, url, text, host) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (url) DO NOTHING",
                    [(first + i, *row) for i, row in enumerate(rows)],
                )
            ids: list[int | None] = list(range(first, first + len(rows)))
            if cursor.rowcount != len(rows):  # duplicates: which rows went in?
                inserted = {i for (i,) in db.execute("SELECT id FROM urls WHERE id >= ?", (first,))}
                ids = [i if i in inserted else None for i in ids]
        added = len(rows) - ids.count(None)
        self.counts["queued"] += added
        self.counts["duplicates"] += len(rows) - added
        self._counts_dirty = True
        return ids

    def add_bad(self, text: str, error_type: str, error: str, engine: str) -> None:
        """Insert a bad input line as a failed row (its report row is already written)."""
        with self._writing():
            self._db.execute(
                "INSERT INTO urls (url, text, state, error_type, error, engine, finished) "
                "VALUES (NULL, ?, 2, ?, ?, ?, ?)",
                (text, error_type, error, engine, time.time()),
            )
        self.counts["failed"] += 1
        self.counts[f"error:{error_type}"] += 1
        self._counts_dirty = True

    def mark_hosts(self, hosts: dict[str, int]) -> None:
        """Hosts ``key -> first id`` have queued URLs the frontier has not taken."""
        with self._writing():
            self._db.executemany(
                "INSERT INTO hosts (key, first, pending) VALUES (?, ?, 1) "
                "ON CONFLICT (key) DO UPDATE SET pending = 1",
                hosts.items(),
            )

    # ---- the frontier's reads ----

    def has_pending_hosts(self) -> bool:
        """Whether any host is marked pending (its URLs not taken by a frontier yet)."""
        return (
            self._db.execute("SELECT 1 FROM hosts WHERE pending = 1 LIMIT 1").fetchone() is not None
        )

    def pending_hosts(self, limit: int, exclude: set[str]) -> list[str]:
        """Up to ``limit`` hosts with URLs not taken yet (oldest first), marked taken."""
        found: list[str] = []
        offset = 0
        while len(found) < limit:
            keys = [
                key
                for (key,) in self._db.execute(
                    "SELECT key FROM hosts WHERE pending = 1 ORDER BY first LIMIT ? OFFSET ?",
                    (limit, offset),
                )
            ]
            if not keys:
                break
            offset += len(keys)
            found += [key for key in keys if key not in exclude][: limit - len(found)]
        if found:
            with self._writing():
                self._db.executemany(
                    "UPDATE hosts SET pending = 0 WHERE key = ?", [(k,) for k in found]
                )
        return found

    def queued(
        self, host: str, after: int, limit: int, max_depth: int | None = None
    ) -> list[Queued]:
        """The next queued URLs of ``host`` after id ``after``, in input order (``after``
        is the last one the caller took: none beyond it was handed out, so none has ended; from
        the start, a URL that ended must not read back as queued: the results are written).
        A crawl (``max_depth``) reads no deeper than that, with the linking page's URL."""
        if not after:
            self._write_results()
        if max_depth is None:
            return [
                Queued(*row)
                for row in self._db.execute(
                    "SELECT id, url, text, etag, last_modified, COALESCE(final_url, url), "
                    "path, bytes FROM urls "
                    "WHERE host = ? AND state = 0 AND id > ? ORDER BY id LIMIT ?",
                    (host, after, limit),
                )
            ]
        return [
            Queued(*row)
            for row in self._db.execute(
                "SELECT u.id, u.url, u.text, u.etag, u.last_modified, "
                "COALESCE(u.final_url, u.url), u.path, u.bytes, u.depth, p.text "
                "FROM urls u LEFT JOIN urls p ON p.id = u.parent "
                "WHERE u.host = ? AND u.state = 0 AND u.id > ? AND u.depth <= ? "
                "ORDER BY u.id LIMIT ?",
                (host, after, max_depth, limit),
            )
        ]

    def saved(self, *, row_id: int | None = None, url: str | None = None) -> Saved | None:
        """The saved file of the done row ``row_id``, or of the done URL ``url`` (None if it
        is not done or saved no file)."""
        self._write_results()
        columns = (
            "COALESCE(final_url, url), status, path, bytes, content_type, sha256, etag, "
            "last_modified"
        )
        where, key = ("id", row_id) if row_id is not None else ("url", url)
        row = self._db.execute(
            f"SELECT {columns} FROM urls WHERE {where} = ? AND state = 1", (key,)
        ).fetchone()
        if row is None or row[2] is None or row[0] is None:
            return None
        found = Saved(*row)
        if isinstance(found.sha256, bytes):
            found.sha256 = found.sha256.hex()
        return found

    # ---- results ----

    def record(self, done: Finished) -> None:
        """Record how a URL ended (committed with the next batch)."""
        if (
            done.state == DONE and done.final_url is None and done.sha256 is None
            and done.error_type is None and done.error is None and not done.unchanged
        ):  # fmt: skip
            self._done.append(
                (
                    done.attempts, done.redirects, done.status, done.path, done.bytes, done.etag,
                    done.last_modified, done.content_type, done.elapsed_ms, done.engine,
                    time.time(), done.id,
                )
            )  # fmt: skip
        else:
            self._results.append(
                (
                    done.state, done.attempts, done.redirects, done.final_url, done.status,
                    done.path, done.bytes,
                    bytes.fromhex(done.sha256) if done.sha256 else None,
                    done.etag, done.last_modified,
                    done.content_type, done.error_type, done.error, int(done.unchanged),
                    done.elapsed_ms, done.engine, time.time(), done.id,
                )
            )  # fmt: skip
        counts = self.counts
        counts["queued"] -= 1
        counts[STATE_NAMES[done.state]] += 1
        if done.error_type is not None:
            counts[f"error:{done.error_type}"] += 1
        self._counts_dirty = True

    @property
    def commit_due(self) -> float | None:
        """When (monotonic) what was written must be committed: `BATCH_SECONDS` after the
        last commit (at once with `BATCH_ROWS` results waiting); None if nothing was."""
        if len(self._results) + len(self._done) >= BATCH_ROWS:
            return self._last_commit
        if self._dirty or self._results or self._done:
            return self._last_commit + BATCH_SECONDS
        return None

    def commit(self, **meta: object) -> None:
        """Write the pending results, counts, a progress snapshot and ``meta``; commit."""
        db = self._db
        self._write_results()
        with self._writing():
            if self._counts_dirty:
                db.executemany(
                    "INSERT INTO counts (name, n) VALUES (?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET n = excluded.n",
                    list(self.counts.items()),
                )
                finished = sum(self.counts[name] for name in STATE_NAMES[1:])
                now = time.time()
                db.execute(
                    "INSERT OR REPLACE INTO progress (t, finished) VALUES (?, ?)",
                    (now, finished),
                )
                db.execute("DELETE FROM progress WHERE t < ?", (now - PROGRESS_KEEP,))
                self._counts_dirty = False
        if meta:
            self.set_meta(**meta)
        with self._writing():
            if db.in_transaction:
                db.commit()
        self._dirty = False
        self._last_commit = time.monotonic()

    def _write_results(self) -> None:
        """Execute the buffered result updates (inside the open transaction)."""
        if self._results or self._done:
            with self._writing():
                self._db.executemany(RESULT_UPDATE, self._results)
                self._db.executemany(DONE_UPDATE, self._done)
            self._results.clear()
            self._done.clear()

    # ---- reading back ----

    def report_rows(self) -> Iterator[tuple[object, ...]]:
        """Every finished URL's report values (`ROW_COLUMNS`, then a crawl's depth and parent
        URL), in input order."""
        self._write_results()
        yield from self._db.execute(
            f"SELECT {ROW_COLUMNS}, depth, (SELECT p.text FROM urls p WHERE p.id = urls.parent) "
            "FROM urls WHERE state != 0 ORDER BY id"
        )

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """A write: marks the store dirty; a SQLite failure becomes a `StateError` and the
        store is not committed again (a half-written batch stays uncommitted)."""
        self._dirty = True
        try:
            with translate(self.path):
                yield
        except StateError:
            self._broken = True
            raise
