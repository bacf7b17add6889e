"""Opening a state file safely: the run lock, the connection, and refusing what is not ours.

Strategy: the lock is an ``flock`` on ``state.db.lock`` beside the database (the OS releases it
even after ``kill -9``; it holds the owner's pid for the message). A database is checked before
anything is written to it, not even the journal mode: a file that is not SQLite, not ours, of
another format version or corrupt is refused with a one-line `StateError` and left untouched.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

from fetchall.errors import reason
from fetchall.state.schema import FORMAT, SCHEMA, VERSION, StateError

CACHE_KIB = 4096
"""SQLite page cache: bounded, so memory does not grow with the size of the database."""


@contextlib.contextmanager
def translate(path: Path) -> Iterator[None]:
    """Turn a SQLite failure while writing into a one-line `StateError`."""
    try:
        yield
    except sqlite3.Error as exc:
        raise StateError(
            f"cannot write the state file {path}: {reason(exc)}; --resume continues the run "
            "once that is mended"
        ) from None


def lock(path: Path) -> int:
    """Take the run lock next to ``path`` (released by the OS if the process dies)."""
    lock_path = path.with_name(path.name + ".lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
    except OSError as exc:
        raise StateError(f"cannot open the lock file {lock_path}: {reason(exc)}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        owner = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
        os.close(fd)
        raise StateError(
            f"another fetchall run (pid {owner}) is using {path}; wait for it, or use another "
            "--out or --state"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd


def is_locked(path: Path) -> bool:
    """Whether a run holds the lock of the store at ``path`` right now."""
    lock_path = path.with_name(path.name + ".lock")
    try:
        fd = os.open(lock_path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level="DEFERRED", check_same_thread=False, timeout=0)


def check_or_create(db: sqlite3.Connection, path: Path) -> None:
    """Refuse a database that is not ours before writing anything to it (not even the journal
    mode); create the schema in an empty one."""
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if tables:
        _check_ours(db, tables, path)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    if not tables:
        db.executescript(SCHEMA)
        db.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?)",
            [("format", FORMAT), ("version", VERSION), ("created", time.time())],
        )
        db.commit()


def _check_ours(db: sqlite3.Connection, tables: set[str], path: Path) -> None:
    meta = dict(db.execute("SELECT key, value FROM meta")) if "meta" in tables else {}
    if meta.get("format") != FORMAT:
        raise StateError(f"{path} is not a fetchall state file (refusing to touch it)")
    if meta.get("version") != VERSION:
        raise StateError(
            f"{path} is a fetchall state file of format version {meta.get('version')!r}, "
            f"this fetchall reads version {VERSION}"
        )
    db.execute("SELECT COUNT(*) FROM urls WHERE id < 0").fetchone()  # a cheap read: corrupt?
