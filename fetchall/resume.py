"""``--resume``: which URLs a previous run saved, with memory flat in the size of its report.

Strategy: the previous report is moved aside to ``REPORT.previous`` (if an earlier resumed run
was interrupted while copying, the aside file is still there: the report's rows are appended to
it first) and then read twice, lazily, never held in memory: `PreviousRun.load` remembers, as
digests in a `DigestMap`, the normalised URLs of its ok rows whose saved file still exists;
`PreviousRun.copy_rows`, once the new report is open, copies exactly those rows into it (each URL
once) and deletes the aside file. A crash can leave the aside file behind only during the copy,
and the next ``--resume`` reads it again, so no saved row is ever lost.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fetchall.digests import DigestMap
from fetchall.errors import BadURLError, UsageError
from fetchall.output.report import ReportWriter, read_report
from fetchall.urls import parse_url

ASIDE_SUFFIX = ".previous"


class PreviousRun:
    """The saved URLs of the previous run (see module docstring)."""

    def __init__(self, aside: Path, out_root: Path) -> None:
        self.aside = aside
        self._root = out_root
        self._saved = DigestMap()

    @classmethod
    def load(cls, report: Path, out_root: Path) -> PreviousRun | None:
        """Move ``report`` aside and remember its saved URLs; None if there is no report."""
        aside = aside_path(report)
        try:
            if report.is_file():
                if aside.is_file():
                    _append(report, aside)
                    report.unlink()
                else:
                    os.replace(report, aside)
            elif not aside.is_file():
                return None
        except OSError as exc:
            raise UsageError(f"cannot move the previous report aside: {exc}") from None
        previous = cls(aside, out_root)
        for key, _row in previous._saved_rows():
            previous._saved.add(key)
        return previous

    def __contains__(self, url: str) -> bool:
        """Whether the normalised ``url`` was saved by the previous run."""
        return hash(url) in self._saved

    def copy_rows(self, writer: ReportWriter) -> int:
        """Write the saved rows (each URL once) to the new report; delete the aside file."""
        written = DigestMap()
        count = 0
        try:
            for key, row in self._saved_rows():
                if key in self._saved and written.add(key):
                    writer.write_row(row)
                    count += 1
        finally:
            written.close()
        with contextlib.suppress(OSError):
            self.aside.unlink()
        return count

    def close(self) -> None:
        """Forget the digests (idempotent)."""
        self._saved.close()

    def _saved_rows(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """(digest of the normalised URL, row) for every ok row whose file still exists."""
        for row in read_report(self.aside):
            saved, url = row.get("path"), row.get("url")
            if not (row.get("ok") and isinstance(saved, str) and isinstance(url, str)):
                continue
            if not (self._root / saved).is_file():
                continue
            try:
                yield hash(parse_url(url).url), row
            except BadURLError:
                continue


def aside_path(report: Path) -> Path:
    """Where ``--resume`` keeps the previous report while it copies it."""
    return report.with_name(report.name + ASIDE_SUFFIX)


def _append(source: Path, target: Path) -> None:
    """Append the lines of ``source`` to ``target`` (streamed), ending target's last line."""
    with open(target, "rb+") as out:
        out.seek(0, os.SEEK_END)
        if out.tell():
            out.seek(-1, os.SEEK_END)
            if out.read(1) != b"\n":
                out.write(b"\n")
        with open(source, "rb") as stream:
            for line in stream:
                out.write(line)
