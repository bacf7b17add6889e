"""The JSONL report: one object per input URL, written as each result arrives.

Strategy: a plain text file opened once (truncated), one JSON line per row in the documented
field order (`Result.to_dict`, one shared encoder). A small flusher thread flushes new rows every
`FLUSH_EVERY` seconds (and close always does, Ctrl-C included): one write per row was a
measurable part of a small-file run. A process killed outright (SIGKILL, power loss) may lose
the rows of its last `FLUSH_EVERY` seconds; ``--resume`` then simply fetches those URLs again.
Lone surrogates (from odd input) are written as JSON ``\\uXXXX`` escapes, so the file is always
valid UTF-8 and valid JSON. Reading back (for ``--resume``) skips a truncated last line and any
other malformed line.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator
from json.encoder import encode_basestring as _quote
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from fetchall.errors import UsageError, reason
from fetchall.result import Result

_LINE_BREAKS = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}
"""Characters that ``str.splitlines()`` treats as line ends: escaped, so one row is one line for
every reader (they can only occur inside JSON strings, where the escape means the same)."""


FLUSH_EVERY = 0.2
"""Seconds between flushes of the report file (see module docstring)."""

_ENCODER = json.JSONEncoder(ensure_ascii=False)


class ReportWriter:
    """Writes report rows to ``path`` (parent directories are created). With ``keep``, the
    first ``keep`` bytes of an existing report stay (a resumed run), the rest is cut off."""

    def __init__(
        self, path: str | Path, flush_every: float = FLUSH_EVERY, *, keep: int = 0
    ) -> None:
        self.path = Path(path)
        self._flush_every = flush_every
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if keep:
                with open(self.path, "r+b") as old:
                    old.truncate(keep)
            # backslashreplace turns a lone surrogate into a "\udcxx" JSON escape.
            self._file: TextIO = open(  # noqa: SIM115 - closed by close()
                self.path,
                "a" if keep else "w",
                encoding="utf-8",
                errors="backslashreplace",
                newline="\n",
            )
        except OSError as exc:
            raise UsageError(f"cannot write report {path}: {reason(exc)}") from None
        self.size = keep
        """Bytes of the report once every row written so far is flushed."""
        self._lock = threading.Lock()  # the file is shared with the flusher thread
        self._dirty = False
        self._error: OSError | None = None
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        if flush_every > 0:
            self._flusher = threading.Thread(
                target=self._flush_loop, name="fetchall-report-flush", daemon=True
            )
            self._flusher.start()

    def write(self, result: Result) -> None:
        """Append one result row (flushed within `FLUSH_EVERY` seconds)."""
        line = row_line(result)
        self._write_line(_ENCODER.encode(result.to_dict()) if line is None else line)

    def write_row(self, row: dict[str, Any]) -> None:
        """Append an already-built row (e.g. one carried over by ``--resume``)."""
        self._write_line(_ENCODER.encode(row))

    def _write_line(self, line: str) -> None:
        if line.isascii():
            self.size += len(line) + 1
        else:
            line = line.translate(_LINE_BREAKS)
            self.size += len(line.encode("utf-8", "backslashreplace")) + 1
        try:
            with self._lock:
                self._raise_flush_error()
                self._file.write(line + "\n")
                self._dirty = True
                if self._flusher is None:
                    self._file.flush()
        except OSError as exc:
            raise UsageError(f"cannot write report {self.path}: {reason(exc)}") from None

    def flush(self) -> None:
        """Write every row so far to the file now."""
        try:
            with self._lock:
                self._raise_flush_error()
                self._file.flush()
        except OSError as exc:
            raise UsageError(f"cannot write report {self.path}: {reason(exc)}") from None

    def close(self) -> None:
        """Stop the flusher, flush and close (idempotent)."""
        self._stop.set()
        if self._flusher is not None:
            self._flusher.join()
            self._flusher = None
        with self._lock:
            if not self._file.closed:
                try:
                    self._raise_flush_error()
                    self._file.close()
                except OSError as exc:
                    raise UsageError(f"cannot write report {self.path}: {reason(exc)}") from None

    def _flush_loop(self) -> None:
        while not self._stop.wait(self._flush_every):
            with self._lock:
                if self._dirty and not self._file.closed and self._error is None:
                    try:
                        self._file.flush()
                    except OSError as exc:  # raised by the next write or close
                        self._error = exc
                    self._dirty = False

    def _raise_flush_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def __enter__(self) -> ReportWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def row_line(r: Result) -> str | None:
    """The row of ``r`` as one JSON text, exactly as the encoder writes ``r.to_dict()``, from a
    template (a quarter of the encoder's cost); None when a field is not of its plain documented
    type (a subclass, a float that is not finite...), and the encoder is used instead."""
    s, n, u = _text, _count, _maybe_count
    try:
        if type(r.ok) is not bool or type(r.unchanged) is not bool:
            return None
        elapsed = r.elapsed_ms
        if type(elapsed) is not float or not math.isfinite(elapsed):
            return None
        line = (
            f'{{"url": {s(r.url)}, "final_url": {s(r.final_url)}, '
            f'"ok": {"true" if r.ok else "false"}, "status": {u(r.status)}, '
            f'"error_type": {s(r.error_type)}, "error": {s(r.error)}, "path": {s(r.path)}, '
            f'"bytes": {n(r.bytes)}, "content_type": {s(r.content_type)}, '
            f'"attempts": {n(r.attempts)}, "redirects": {n(r.redirects)}, '
            f'"elapsed_ms": {float.__repr__(elapsed)}, "engine": {s(r.engine)}, '
            f'"unchanged": {"true" if r.unchanged else "false"}'
        )
        if r.depth is not None:
            return f'{line}, "depth": {n(r.depth)}, "parent": {s(r.parent)}}}'
        return line + "}"
    except _NotPlain:
        return None


class _NotPlain(Exception):
    """A value the template does not write (the encoder does)."""


def _text(value: object) -> str:
    if value is None:
        return "null"
    if type(value) is not str:
        raise _NotPlain
    return _quote(value)


def _count(value: object) -> str:
    if type(value) is not int:
        raise _NotPlain
    return int.__repr__(value)


def _maybe_count(value: object) -> str:
    return "null" if value is None else _count(value)


def read_report(path: str | Path) -> Iterator[dict[str, Any]]:
    """Yield the rows of a report lazily, skipping a truncated last line and malformed lines.

    Raises `UsageError` if the file cannot be opened.
    """
    try:
        stream = open(path, encoding="utf-8", errors="replace")  # noqa: SIM115
    except OSError as exc:
        raise UsageError(f"cannot read report {path}: {reason(exc)}") from None
    with stream:
        for line in stream:
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                continue  # truncated (interrupted write) or corrupt: that URL is fetched again
            if isinstance(row, dict):
                yield row
