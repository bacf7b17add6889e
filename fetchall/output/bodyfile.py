"""A temporary file a body streams into (`BodyFile`).

Strategy: ``os.write`` on a raw descriptor, small pieces gathered first, large ones written as
they are (see `BodyFile`); an optional SHA-256 of every byte; a caller that moves bytes into the
file itself (the ``keepalive`` engine's `os.splice`) takes the descriptor and reports the count.
`OutputDir` (``output/writer.py``) creates these files and commits them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path
from typing import Any

from fetchall.errors import OutputError, reason

FLUSH_AT = 64 * 1024
"""A body's pieces are gathered up to this many bytes before one ``os.write``."""
WRITE_DIRECT_AT = 16 * 1024
"""A piece this large is written at once (after what was gathered), not copied first: a large
body arrives in reads of 16-64 KiB, and copying each into the gathering buffer cost more than
the extra write calls (benchmarks/RESULTS.md, issue 14)."""


class BodyFile:
    """A temporary file a body is being streamed into.

    Written with ``os.write`` on a raw descriptor (a ``BufferedWriter`` per body cost more than
    the writes themselves for small files); pieces smaller than `FLUSH_AT` are gathered first,
    so a small body is one ``write`` and a trickle of tiny chunks is not one syscall each; a
    piece of `WRITE_DIRECT_AT` bytes or more is written as it is.
    """

    __slots__ = ("_fd", "_hash", "_name", "_pending", "sha256", "size")

    def __init__(self, path: str | Path, fd: int, *, digest: bool = False) -> None:
        self._name = os.fspath(path)  # a str: a Path is only built when asked for (`path`)
        self.size = 0
        self._fd = fd  # -1 once closed
        self._pending = bytearray()
        self._hash = hashlib.sha256() if digest else None
        self.sha256: str | None = None
        """Hex SHA-256 of the body once closed (with ``digest``; the state store keeps it)."""

    @property
    def path(self) -> Path:
        """Where the temporary file is."""
        return Path(self._name)

    @property
    def closed(self) -> bool:
        """Whether the file is closed (complete or discarded)."""
        return self._fd < 0

    def write(self, data: bytes | memoryview) -> None:
        """Append ``data``; a disk error (e.g. disk full) is an `OutputError`."""
        pending = self._pending
        self.size += len(data)
        if self._hash is not None:
            self._hash.update(data)
        if len(data) >= WRITE_DIRECT_AT:  # a large read: written as it is, no copy
            if pending:
                self._write_all(pending)
                pending.clear()
            self._write_all(data)
            return
        pending += data
        if len(pending) >= FLUSH_AT:
            self._write_all(pending)
            pending.clear()

    def direct_fd(self) -> int | None:
        """The open file's descriptor, for a caller that appends bytes to it itself (the
        ``keepalive`` engine's `os.splice`), with what is pending written first; None when the
        bytes must come through `write` (the SHA-256 digest needs them). The caller reports
        what it appended with `appended`."""
        if self._hash is not None or self._fd < 0:
            return None
        if self._pending:
            self._write_all(self._pending)
            self._pending.clear()
        return self._fd

    def appended(self, count: int) -> None:
        """``count`` bytes were appended through `direct_fd`."""
        self.size += count

    def close(self) -> None:
        """Write what is pending and close (idempotent); a disk error is an `OutputError`."""
        if self._fd < 0:
            return
        if self._hash is not None:
            self.sha256 = self._hash.hexdigest()
            self._hash = None
        try:
            if self._pending:
                self._write_all(self._pending)
                self._pending.clear()
        finally:
            fd, self._fd = self._fd, -1
            with contextlib.suppress(OSError):
                os.close(fd)

    def discard(self) -> None:
        """Close and delete the file; idempotent and never raises."""
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            with contextlib.suppress(OSError):
                os.close(fd)
        self._pending = bytearray()
        with contextlib.suppress(OSError):
            os.unlink(self._name)

    def _write_all(self, data: bytes | bytearray | memoryview) -> None:
        if self._fd < 0:
            raise OutputError("cannot write the body to disk: the file is closed")
        try:
            with memoryview(data) as view:
                done, total = 0, len(view)
                while done < total:
                    done += os.write(self._fd, view[done:])
        except OSError as exc:
            raise OutputError(f"cannot write the body to disk: {reason(exc)}") from None

    def __reduce__(self) -> tuple[Any, tuple[object, ...]]:
        """A *closed* body pickles as its path, size and digest (a worker process hands it
        over); a ``__reduce__``, as a mypyc-compiled class cannot use ``__setstate__``."""
        if self._fd >= 0:
            raise TypeError("cannot pickle a BodyFile that is still open")
        return _closed_body, (self._name, self.size, self.sha256)


def _closed_body(name: str, size: int, sha256: str | None) -> BodyFile:
    """A complete `BodyFile`, as pickled: ``close`` is a no-op, commit/discard work as usual."""
    body = BodyFile(name, -1)
    body.size = size
    body.sha256 = sha256
    return body
