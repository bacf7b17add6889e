"""``--resume``: which URLs a previous run saved, with memory flat in the size of its report.

Strategy: the previous report is moved aside to ``REPORT.previous`` (if an earlier resumed run
was interrupted while copying, the aside file is still there: the report's rows are appended to
it first) and then read twice, lazily, never held in memory: `PreviousRun.load` remembers, in a
`DigestMap`, the normalised URL of each ok row whose saved file still exists (the first such row
per URL, by a digest of its path); `PreviousRun.copy_rows`, once the new report is open, copies
exactly those rows into it, without looking at the files again, and deletes the aside file. A
crash can leave the aside file behind only during the copy, and the next ``--resume`` reads it
again, so no saved row is ever lost.
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
_COPIED = -1  # value of a URL whose row was copied: ``hash()`` of a str is never -1


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
        saved = previous._saved
        for key, path, _row in previous._ok_rows():
            if key not in saved and (out_root / path).is_file():
                saved[key] = hash(path)
        return previous

    def __contains__(self, url: str) -> bool:
        """Whether the normalised ``url`` was saved by the previous run."""
        return hash(url) in self._saved

    def copy_rows(self, writer: ReportWriter) -> None:
        """Write the saved rows (each URL once: the row `load` chose) to the new report; delete
        the aside file."""
        saved = self._saved
        for key, path, row in self._ok_rows():
            if saved.get(key) == hash(path):
                writer.write_row(row)
                saved[key] = _COPIED
        with contextlib.suppress(OSError):
            self.aside.unlink()

    def close(self) -> None:
        """Forget the digests (idempotent)."""
        self._saved.close()

    def _ok_rows(self) -> Iterator[tuple[int, str, dict[str, Any]]]:
        """(digest of the normalised URL, saved path, row) for every ok row."""
        for row in read_report(self.aside):
            path, url = row.get("path"), row.get("url")
            if not (row.get("ok") and isinstance(path, str) and isinstance(url, str)):
                continue
            try:
                yield hash(parse_url(url).url), path, row
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
