"""A map of 64-bit digests whose memory stays flat however many entries it holds.

Strategy: entries go into a plain dict; when the dict reaches ``limit`` entries they all move, in
one transaction, into a private temporary SQLite database (``sqlite3.connect("")``: an on-disk
file SQLite deletes itself, even after a crash, with a page cache capped at `CACHE_KIB`), and the
dict starts empty again. A lookup checks the dict first, then (once something has spilled) the
database. So a run of 10,000 URLs never touches SQLite, and a run of 1,000,000 keeps at most
``limit`` entries in Python objects: memory is bounded by ``limit`` and the cache, not by the
number of entries. Used for the runner's seen-URL set and the output directory's claims.

Keys and values are signed 64-bit integers (`hash()` of a str, or a blake2b digest).
Not thread-safe: callers that share one instance across threads hold their own lock. If SQLite
fails (no writable temp directory, disk full), the map says so once on the ``fetchall`` logger
and keeps everything in memory (doubling the limit before the next try): a run never stops for
it, memory just grows again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

_log = logging.getLogger("fetchall")

DEFAULT_LIMIT = 16_384
"""Entries kept in the dict before they spill (about 2 MB of Python objects)."""

CACHE_KIB = 512
"""SQLite page cache of the spill database (leaf pages come from the OS page cache, which is not
the process's memory). 1,000,000 random keys into two maps, measured once on a busy machine:
512 KiB took 8.8 s and grew RSS by 6.3 MiB; 2 MiB took 12.0 s and grew it by 9.2 MiB."""


class DigestMap:
    """``int -> int`` mapping: a dict up to ``limit`` entries, a temporary SQLite table beyond."""

    __slots__ = ("_db", "_first_limit", "_limit", "_mem", "_spilled")

    def __init__(self, limit: int | None = None) -> None:
        limit = DEFAULT_LIMIT if limit is None else limit  # read now: tests lower it
        if limit < 1:
            raise ValueError("limit must be positive")
        self._limit = self._first_limit = limit
        self._mem: dict[int, int] = {}
        self._db: _SpillTable | None = None
        self._spilled = 0

    def get(self, key: int) -> int | None:
        """The value stored for ``key``, or None."""
        value = self._mem.get(key)
        if value is None and self._db is not None:
            return self._db.get(key)
        return value

    def __contains__(self, key: int) -> bool:
        return self.get(key) is not None

    def __setitem__(self, key: int, value: int) -> None:
        mem = self._mem
        mem[key] = value
        if len(mem) >= self._limit:
            self._spill()

    def add(self, key: int) -> bool:
        """Use the map as a set: store ``key`` (value 0); True if it was not there before."""
        if key in self._mem or (self._db is not None and self.get(key) is not None):
            return False
        self[key] = 0
        return True

    @property
    def spilled(self) -> int:
        """How many entries were moved to the database (0 while everything fits the dict)."""
        return self._spilled

    def close(self) -> None:
        """Drop everything and delete the spill database (idempotent)."""
        self._mem = {}
        if self._db is not None:
            self._db.close()
            self._db = None

    def _spill(self) -> None:
        import sqlite3

        try:
            if self._db is None:
                self._db = _SpillTable()
            self._db.put_all(sorted(self._mem.items()))
        except sqlite3.Error as exc:
            if self._limit == self._first_limit:
                _log.warning(
                    "fetchall: cannot spill to a temporary SQLite file (%s); keeping it in memory",
                    exc,
                )
            self._limit *= 2
            return
        self._spilled += len(self._mem)
        self._mem = {}


class _SpillTable:
    """The SQLite side of a `DigestMap`: one private temporary table ``d (k, v)``. ``sqlite3`` is
    imported on the first spill only: most runs never spill (it costs ~4 ms of start-up)."""

    def __init__(self) -> None:
        import sqlite3

        self._error = sqlite3.Error
        # check_same_thread=False: the output directory commits under its own lock from
        # whichever thread coordinates; the connection is never used by two threads at once.
        db = self._db = sqlite3.connect("", isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode = OFF")
        db.execute("PRAGMA synchronous = OFF")
        db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        db.execute("CREATE TABLE d (k INTEGER PRIMARY KEY, v INTEGER NOT NULL)")

    def get(self, key: int) -> int | None:
        """The stored value, or None (also when the table cannot be read: logged)."""
        try:
            row = self._db.execute("SELECT v FROM d WHERE k = ?", (key,)).fetchone()
        except self._error as exc:  # e.g. an I/O error reading the temporary file
            _log.warning("fetchall: cannot read the spill database: %s", exc)
            return None
        return None if row is None else int(row[0])

    def put_all(self, items: Iterable[tuple[int, int]]) -> None:
        """Insert or replace ``items`` in one transaction (raises `sqlite3.Error`)."""
        db = self._db
        db.execute("BEGIN")
        try:
            db.executemany("INSERT OR REPLACE INTO d (k, v) VALUES (?, ?)", items)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def close(self) -> None:
        """Close and so delete the temporary database."""
        self._db.close()
