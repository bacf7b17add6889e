"""Reading URL-list files lazily: one bounded line at a time, so memory does not grow with the
length of a list. Blank lines and ``#`` comments are skipped; ``-`` is standard input.

Reading and parsing are two steps: `raw_url_lists` yields each entry's text (`RawLine`), cheap
to count and skip (a resumed run skips what its state store already holds without parsing it),
and `parse_line` turns one into a `UrlLine` or a `BadLine`.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import TextIO

from fetchall.errors import BadURLError, UsageError, reason
from fetchall.urls import MAX_BAD_TEXT, MAX_URL_LENGTH, BadLine, UrlLine, parse_url

_MAX_LINE = MAX_URL_LENGTH + 1024  # read bound for one line of a URL list
STDIN_NAME = "<stdin>"  # the `source` of lines read from "-"
API_SOURCE = "<api>"  # the `source` of URLs given as strings


RawLine = tuple[str, int, str, bool]
"""One entry of a URL list before parsing: (source, line number, stripped text, overlong)."""


def read_url_lists(
    paths: Sequence[str], stdin: TextIO | None = None
) -> Iterator[UrlLine | BadLine]:
    """Yield every URL line of ``paths`` in order, lazily, parsed (see `raw_url_lists`)."""
    for raw in raw_url_lists(paths, stdin):
        yield parse_line(raw)


def raw_url_lists(paths: Sequence[str], stdin: TextIO | None = None) -> Iterator[RawLine]:
    """Yield every entry of ``paths`` in order, lazily, unparsed; ``-`` is stdin.

    Blank lines and ``#`` comments are skipped; files are decoded as UTF-8 (BOM skipped,
    undecodable bytes replaced). Only LF ends a line (a CRLF's CR is stripped with the other
    surrounding whitespace), so a CR inside a line stays in it and makes that line a bad URL
    reported at the line number every editor shows. An unreadable file raises `UsageError`.
    """
    for path in paths:
        if path == "-":
            yield from _read_stdin(stdin)
            continue
        try:
            with open(path, encoding="utf-8-sig", errors="replace", newline="\n") as stream:
                yield from _entries(stream, path)
        except OSError as exc:
            raise UsageError(f"cannot read URL list {path}: {reason(exc)}") from None


def parse_line(raw: RawLine) -> UrlLine | BadLine:
    """The `UrlLine` (or `BadLine`, saying why) of one raw entry."""
    source, lineno, line, overlong = raw
    if overlong:
        error = BadURLError(f"URL too long (more than {MAX_URL_LENGTH} characters)")
        return BadLine(line[:MAX_BAD_TEXT], source, lineno, error)
    try:
        return UrlLine(parse_url(line), source, lineno, line)
    except BadURLError as exc:
        return BadLine(line[:MAX_BAD_TEXT], source, lineno, exc)


def raw_strings(urls: Iterable[str], source: str = API_SOURCE) -> Iterator[RawLine]:
    """Entries of URLs given as strings (blank ones and ``#`` comments skipped)."""
    for index, raw in enumerate(urls, 1):
        text = raw.strip()
        if text and not text.startswith("#"):
            yield source, index, text, False


def _read_stdin(stdin: TextIO | None) -> Iterator[RawLine]:
    """Entries of stdin: the given stream as is, or sys.stdin re-wrapped as lenient UTF-8."""
    if stdin is not None:
        yield from _entries(stdin, STDIN_NAME)
        return
    if sys.stdin is None:
        raise UsageError("cannot read URL list -: there is no standard input")
    buffer = getattr(sys.stdin, "buffer", None)
    if buffer is None:
        yield from _entries(sys.stdin, STDIN_NAME)
        return
    wrapper = io.TextIOWrapper(buffer, encoding="utf-8-sig", errors="replace", newline="\n")
    try:
        yield from _entries(wrapper, STDIN_NAME)
    finally:
        wrapper.detach()  # leave sys.stdin's buffer open


def _entries(stream: TextIO, source: str) -> Iterator[RawLine]:
    """The entries of one stream: its lines, blank ones and comments skipped."""
    for lineno, raw, overlong in _lines(stream):
        line = raw.strip()
        if line and not line.startswith("#"):
            yield source, lineno, line, overlong


def _lines(stream: TextIO) -> Iterator[tuple[int, str, bool]]:
    """``(lineno, line, overlong)`` with each line read at most ``_MAX_LINE`` chars at a time."""
    readline = stream.readline
    lineno = 0
    while raw := readline(_MAX_LINE):
        lineno += 1
        if len(raw) < _MAX_LINE or raw.endswith("\n"):
            yield lineno, raw, False
            continue
        while (more := readline(_MAX_LINE)) and not more.endswith("\n"):
            pass
        yield lineno, raw, True


def check_url_lists(paths: Sequence[str]) -> None:
    """Raise `UsageError` naming the first URL list that cannot be opened; ``-`` always passes."""
    for path in paths:
        if path == "-":
            continue
        try:
            if os.path.isdir(path):
                raise IsADirectoryError(21, "is a directory")
            with open(path, "rb"):
                pass
        except OSError as exc:
            raise UsageError(f"cannot read URL list {path}: {reason(exc)}") from None
