"""The state store's format: its schema, the states of a URL, and the rows it reads and writes.

Strategy: one row per input URL (table ``urls``: the normalised URL, unique, so the store is also
the run's duplicate filter; its input text, host key, state, and once finished everything the
report row and a later ``--refresh`` need: status, path, bytes, SHA-256, ETag, Last-Modified...).
A bad line of the input is a row too (no URL, state failed), so the report can be rebuilt and
the input never needs re-reading. ``hosts`` remembers each host key and whether it has queued
URLs not yet taken into memory (``pending``): the frontier (`fetchall.frontier.stored`) walks it,
so the order of the list never limits concurrency. ``counts`` keeps totals per state and per
error type, ``progress`` a snapshot of finished URLs per commit, so ``fetchall status`` never
scans the table; ``meta`` holds the format, the run state and where the input and the report
stood at the last commit. ``final_url`` is NULL when it is the URL itself, and the SHA-256 is
kept as 32 bytes: less to write per URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fetchall.errors import UsageError
from fetchall.result import Result

FORMAT = "fetchall-state"
VERSION = 1
QUEUED, DONE, FAILED, BLOCKED = 0, 1, 2, 3
STATE_NAMES = ("queued", "done", "failed", "blocked")

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE urls (
    id INTEGER PRIMARY KEY,
    url TEXT UNIQUE,
    text TEXT NOT NULL,
    host TEXT,
    state INTEGER NOT NULL DEFAULT 0,
    depth INTEGER NOT NULL DEFAULT 0,
    parent INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    redirects INTEGER NOT NULL DEFAULT 0,
    final_url TEXT,  -- NULL: the URL itself (no redirect)
    status INTEGER,
    path TEXT,
    bytes INTEGER NOT NULL DEFAULT 0,
    sha256 BLOB,
    etag TEXT,
    last_modified TEXT,
    content_type TEXT,
    error_type TEXT,
    error TEXT,
    unchanged INTEGER NOT NULL DEFAULT 0,
    elapsed_ms REAL NOT NULL DEFAULT 0,
    engine TEXT,
    finished REAL
);
CREATE INDEX urls_queued ON urls (host, id) WHERE state = 0;
CREATE INDEX urls_failed ON urls (host) WHERE state = 2;
CREATE TABLE hosts (key TEXT PRIMARY KEY, first INTEGER NOT NULL, pending INTEGER NOT NULL)
    WITHOUT ROWID;
CREATE INDEX hosts_pending ON hosts (first) WHERE pending = 1;
CREATE TABLE counts (name TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE progress (t REAL PRIMARY KEY, finished INTEGER NOT NULL);
"""

RESULT_UPDATE = """
UPDATE urls SET state = ?, attempts = ?, redirects = ?, final_url = ?, status = ?, path = ?,
    bytes = ?, sha256 = ?, etag = ?, last_modified = ?, content_type = ?, error_type = ?,
    error = ?, unchanged = ?, elapsed_ms = ?, engine = ?, finished = ?
WHERE id = ?
"""

DONE_UPDATE = """
UPDATE urls SET state = 1, attempts = ?, redirects = ?, final_url = NULL, status = ?, path = ?,
    bytes = ?, sha256 = NULL, etag = ?, last_modified = ?, content_type = ?, error_type = NULL,
    error = NULL, unchanged = 0, elapsed_ms = ?, engine = ?, finished = ?
WHERE id = ?
"""
"""`RESULT_UPDATE` of the usual row: done, no redirect, no digest, no error, not a 304 (the
empty columns as literals: fewer parameters to bind)."""

ROW_COLUMNS = (
    "text, COALESCE(final_url, url), state, status, error_type, error, path, bytes, "
    "content_type, attempts, "
    "redirects, elapsed_ms, engine, unchanged"
)
"""The columns `report_rows` reads, in `row_from_columns` order."""


class StateError(UsageError):
    """The state store cannot be used (one line; the CLI exits 2)."""


@dataclass(slots=True)
class Queued:
    """A queued URL as the frontier loads it."""

    id: int
    url: str
    text: str
    etag: str | None
    last_modified: str | None
    final_url: str | None
    path: str | None
    bytes: int
    depth: int = 0
    parent: str | None = None
    """The URL of the page that linked to it (a crawl), as given."""


@dataclass(slots=True)
class Finished:
    """What the store keeps of a URL that ended (the report row's values and more)."""

    id: int
    state: int
    attempts: int = 0
    redirects: int = 0
    final_url: str | None = None
    status: int | None = None
    path: str | None = None
    bytes: int = 0
    sha256: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None
    error_type: str | None = None
    error: str | None = None
    unchanged: bool = False
    elapsed_ms: float = 0.0
    engine: str | None = None


@dataclass(slots=True)
class Saved:
    """A URL this run saved: what another URL ending at the same final URL shares."""

    final_url: str
    status: int | None
    path: str
    bytes: int
    content_type: str | None
    sha256: str | None
    etag: str | None
    last_modified: str | None


def default_path(out_dir: Path) -> Path:
    """Where the state of the run in ``out_dir`` lives unless ``--state`` says otherwise."""
    return out_dir / ".fetchall" / "state.db"


def finished_record(row_id: int, url: str, result: Result, engine: str) -> Finished:
    """The store's record of the report row of row ``row_id`` (normalised URL ``url``)."""
    if result.ok:
        state = DONE
    elif result.error_type == "robots":
        state = BLOCKED
    else:
        state = FAILED
    final = result.final_url if result.final_url != url else None  # NULL: itself
    return Finished(
        row_id, state, result.attempts, result.redirects, final, result.status,
        result.path, result.bytes, result.sha256, result.etag, result.last_modified,
        result.content_type, result.error_type, result.error, result.unchanged,
        result.elapsed_ms, engine,
    )  # fmt: skip
