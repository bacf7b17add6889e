"""The JSONL report: one object per input URL, written and flushed as each result arrives.

Strategy: a plain text file opened once (truncated), one ``json.dumps`` line per row in the
documented field order (`Result.to_dict`), flushed after each row so a crash or Ctrl-C loses
nothing already reported. Lone surrogates (from odd input) are written as JSON ``\\uXXXX``
escapes, so the file is always valid UTF-8 and valid JSON. Reading back (for ``--resume``)
skips a truncated last line and any other malformed line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from fetchall.errors import UsageError
from fetchall.result import Result

_LINE_BREAKS = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}
"""Characters that ``str.splitlines()`` treats as line ends: escaped, so one row is one line for
every reader (they can only occur inside JSON strings, where the escape means the same)."""


class ReportWriter:
    """Writes report rows to ``path`` (parent directories are created)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # backslashreplace turns a lone surrogate into a "\udcxx" JSON escape.
            self._file: TextIO = open(  # noqa: SIM115 - closed by close()
                self.path, "w", encoding="utf-8", errors="backslashreplace", newline="\n"
            )
        except OSError as exc:
            raise UsageError(f"cannot write report {path}: {_reason(exc)}") from None

    def write(self, result: Result) -> None:
        """Append one result row and flush."""
        self.write_row(result.to_dict())

    def write_row(self, row: dict[str, Any]) -> None:
        """Append an already-built row (e.g. one carried over by ``--resume``) and flush."""
        try:
            self._file.write(json.dumps(row, ensure_ascii=False).translate(_LINE_BREAKS) + "\n")
            self._file.flush()
        except OSError as exc:
            raise UsageError(f"cannot write report {self.path}: {_reason(exc)}") from None

    def close(self) -> None:
        """Flush and close (idempotent)."""
        if not self._file.closed:
            self._file.close()

    def __enter__(self) -> ReportWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def read_report(path: str | Path) -> Iterator[dict[str, Any]]:
    """Yield the rows of a report lazily, skipping a truncated last line and malformed lines.

    Raises `UsageError` if the file cannot be opened.
    """
    try:
        stream = open(path, encoding="utf-8", errors="replace")  # noqa: SIM115
    except OSError as exc:
        raise UsageError(f"cannot read report {path}: {_reason(exc)}") from None
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


def _reason(exc: OSError) -> str:
    """A short lower-case reason for an OSError."""
    reason = exc.strerror or str(exc)
    return reason[:1].lower() + reason[1:]
