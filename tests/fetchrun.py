"""Helpers for the conformance suite: run one engine through the public API and inspect results."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fetchall.api import fetch_all
from fetchall.result import Result
from fetchall.summary import RunSummary

FAST = {"retries": 0, "retry_backoff": 0.01, "timeout": 10.0, "connect_timeout": 5.0}


@dataclass
class Run:
    """What a run left behind."""

    summary: RunSummary
    results: list[Result]
    out: Path

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The report file, parsed."""
        text = (self.out / "report.jsonl").read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines()]

    def one(self) -> Result:
        """The only result (asserts there is exactly one)."""
        assert len(self.results) == 1, self.results
        return self.results[0]

    def by_url(self, url: str) -> Result:
        """The result whose input URL is ``url``."""
        found = [r for r in self.results if r.url == url]
        assert len(found) == 1, (url, self.results)
        return found[0]

    def saved(self, result: Result) -> bytes:
        """The bytes saved for ``result``."""
        assert result.path is not None, result
        return (self.out / result.path).read_bytes()

    def files(self) -> list[str]:
        """Every file under the output dir except the report (relative POSIX paths)."""
        return [p.relative_to(self.out).as_posix() for p in saved_files(self.out)]


def saved_files(out: Path) -> list[Path]:
    """Every file under ``out`` except the report, the items and the state store, sorted."""
    return sorted(
        p
        for p in out.rglob("*")
        if p.is_file()
        and p.relative_to(out).as_posix() not in ("report.jsonl", "items.jsonl")
        and p.relative_to(out).parts[0] != ".fetchall"
    )


def fetch(engine: str, urls: Iterable[str], out: Path, **settings: Any) -> Run:
    """Fetch ``urls`` with ``engine`` into ``out`` (fast-failing defaults, overridable)."""
    results: list[Result] = []
    merged = {**FAST, **settings}
    summary = fetch_all(list(urls), engine=engine, out=out, on_result=results.append, **merged)
    run = Run(summary, results, out)
    assert_clean(run)
    return run


def assert_clean(run: Run) -> None:
    """Invariants of every run: one row per result (plus the rows a continued run carried
    over), no temp files left, no stray files."""
    assert len(run.results) == run.summary.total
    assert len(run.rows) == run.summary.total + run.summary.resumed
    temp_dir = run.out / ".fetchall-tmp"
    leftovers = list(temp_dir.iterdir()) if temp_dir.exists() else []
    assert not leftovers, f"temporary files left behind: {leftovers}"
    saved = {row["path"] for row in run.rows if row["path"] is not None}
    assert set(run.files()) == saved, "a file on disk has no ok row, or an ok row has no file"


def tagged_processes(tag: str) -> list[str]:
    """Command lines of live processes whose environment holds ``tag`` (read from /proc)."""
    found: list[str] = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and tag.encode() in (entry / "environ").read_bytes():
                found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:  # gone meanwhile, or not ours
            continue
    return found


def group_members(pgid: int) -> set[int]:
    """The live (not zombie) processes of process group ``pgid``."""
    members = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.add(int(stat.parent.name))
    return members


def group_left_after(pgid: int, seconds: float) -> set[int]:
    """The processes of group ``pgid`` still alive after waiting up to ``seconds`` for it to
    empty (bounded: polled every 50 ms)."""
    deadline = time.monotonic() + seconds
    left = group_members(pgid)
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = group_members(pgid)
    return left
