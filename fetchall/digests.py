"""A map of 64-bit digests whose memory stays flat however many entries it holds.

Strategy: entries go into a plain dict; when the dict reaches ``limit`` entries they all move, in
one transaction, into a private temporary SQLite database (``sqlite3.connect("")``: an on-disk
file SQLite deletes itself, even after a crash, with a page cache capped at `CACHE_KIB`), and the
dict starts empty again. A lookup checks the dict first, then (once something has spilled) the
database. So a run of 10,000 URLs never touches SQLite, and a run of 1,000,000 keeps at most
``limit`` entries in Python objects: memory is bounded by ``limit`` and the cache, not by the
number of entries. Used for the runner's seen-URL set and the output directory's claims.

Nearly every lookup in those uses is of a key that is not there (a new URL, a new path), so the
spilled keys are also summarised in a Bloom filter (`_Bloom`: 3 probes, at least 16 bits per
key, so about 0.5% false positives): a key it has never seen is answered from memory, and
SQLite is read only for keys that are (or, rarely, seem to be) in it. The filter doubles (and is
refilled from the table) as the table grows: 2 MiB at 1,000,000 spilled keys.

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

    __slots__ = ("_bloom", "_db", "_first_limit", "_limit", "_mem", "_spilled")

    def __init__(self, limit: int | None = None) -> None:
        limit = DEFAULT_LIMIT if limit is None else limit  # read now: tests lower it
        if limit < 1:
            raise ValueError("limit must be positive")
        self._limit = self._first_limit = limit
        self._mem: dict[int, int] = {}
        self._db: _SpillTable | None = None
        self._bloom = _Bloom(BLOOM_MIN_BITS)
        self._spilled = 0

    def get(self, key: int) -> int | None:
        """The value stored for ``key``, or None."""
        value = self._mem.get(key)
        if value is None and self._db is not None and key in self._bloom:
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
        if key in self._mem or (
            self._db is not None and key in self._bloom and self._db.get(key) is not None
        ):
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
        self._bloom.add_all(self._mem)
        if self._spilled > self._bloom.capacity:
            self._bloom = self._db.bloom(self._spilled)
        self._mem = {}


BLOOM_MIN_BITS = 20
"""log2 of the smallest Bloom filter (2**20 bits = 128 KiB, made at the first spill)."""

BITS_PER_KEY = 16
"""A filter is rebuilt bigger once it holds more keys than its bits / this."""


class _Bloom:
    """A Bloom filter of 64-bit keys (already uniform hashes: three probes by double hashing
    of their two halves)."""

    __slots__ = ("_bits", "_mask", "capacity")

    def __init__(self, bits_log2: int) -> None:
        self._bits = bytearray((1 << bits_log2) >> 3)
        self._mask = (1 << bits_log2) - 1
        self.capacity = (1 << bits_log2) // BITS_PER_KEY
        """How many keys it holds before false positives pass about 0.5%."""

    def add_all(self, keys: Iterable[int]) -> None:
        """Add every key of ``keys``."""
        bits, mask = self._bits, self._mask
        for key in keys:
            low, step = key & 0xFFFFFFFF, (key >> 32) | 1
            for probe in (low, low + step, low + 2 * step):
                probe &= mask
                bits[probe >> 3] |= 1 << (probe & 7)

    def __contains__(self, key: int) -> bool:
        bits, mask = self._bits, self._mask
        low, step = key & 0xFFFFFFFF, (key >> 32) | 1
        probe = low & mask
        if not bits[probe >> 3] & (1 << (probe & 7)):
            return False
        probe = (low + step) & mask
        if not bits[probe >> 3] & (1 << (probe & 7)):
            return False
        probe = (low + 2 * step) & mask
        return bool(bits[probe >> 3] & (1 << (probe & 7)))

    def saturate(self) -> None:
        """Say yes to every key from now on."""
        self._bits = bytearray(b"\xff" * len(self._bits))


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

    def bloom(self, count: int) -> _Bloom:
        """A new filter of every key in the table, sized for ``count`` keys and as many more.

        If the table cannot be read, the filter says yes to everything (SQLite is asked)."""
        bits = BLOOM_MIN_BITS
        while (1 << bits) < 2 * count * BITS_PER_KEY:
            bits += 1
        bloom = _Bloom(bits)
        try:
            bloom.add_all(k for (k,) in self._db.execute("SELECT k FROM d"))
        except self._error as exc:
            _log.warning("fetchall: cannot read the spill database: %s", exc)
            bloom.saturate()
        return bloom

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
