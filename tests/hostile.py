"""Helpers for the hostile-server tables: one run per engine over a whole table of raw cases.

Each `Case` is a raw response (exact bytes, or a script when timing matters) and what every
engine must make of it: the bytes saved, or the error type plus a word the message must contain.
`check_table` serves every case from one raw server, fetches them all in a single run (so a
table costs one run per engine, whatever its size) and returns every mismatch, so one failing
test names all the cases an engine gets wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fetchrun import Run, fetch
from rawserver import RawConn, RawServer

Response = bytes | Callable[[RawConn], None]


@dataclass(frozen=True)
class Case:
    """A raw response and what every engine must make of it."""

    response: Response
    saved: bytes | None = None  # the body saved (an ok row), or None for a failed row
    error_type: str | None = None  # the report's error_type of a failed row
    word: str = ""  # a failed row's message contains this (case-insensitive)


def ok(response: Response, body: bytes) -> Case:
    """Every engine saves exactly ``body``."""
    return Case(response, saved=body)


def bad(response: Response, error_type: str, word: str) -> Case:
    """Every engine fails the URL with ``error_type`` (message containing ``word``), no file."""
    return Case(response, error_type=error_type, word=word)


def then(first: bytes, pause: float, second: bytes = b"") -> Callable[[RawConn], None]:
    """A script: send ``first``, pause, send ``second``; the server then closes (FIN)."""

    def script(conn: RawConn) -> None:
        conn.send(first)
        conn.sleep(pause)
        if second:
            conn.send(second)

    return script


def check_table(
    engine: str, server: RawServer, table: dict[str, Case], out: Path, **settings: Any
) -> tuple[Run, list[str]]:
    """Fetch every case of ``table`` in one run; return the run and the list of mismatches."""
    urls = {name: server.route(f"/{name}", case.response) for name, case in table.items()}
    width = len(urls)
    run = fetch(engine, urls.values(), out, concurrency=width, per_host=width, **settings)
    problems: list[str] = []
    for name, case in table.items():
        result = run.by_url(urls[name])
        if case.saved is not None:
            if not result.ok or run.saved(result) != case.saved:
                problems.append(f"{name}: expected ok {case.saved[:20]!r}..., got {result}")
            continue
        if result.ok or result.error_type != case.error_type or result.path is not None:
            problems.append(f"{name}: expected {case.error_type}, got {result}")
        elif case.word.lower() not in (result.error or "").lower():
            problems.append(f"{name}: message lacks {case.word!r}: {result.error!r}")
        elif not result.error:
            problems.append(f"{name}: empty error message")
    return run, problems
