"""Sitemaps (sitemaps.org protocol): reading one file, and finding a crawl's sitemap URLs.

Strategy: `read_sitemap` streams a saved file through expat 64 KiB at a time: gzip is sniffed by
its magic bytes (not the URL) and inflated in bounded steps, at most `MAX_BYTES` (50 MiB) of XML
in all (a 1 MB gzip bomb stops there instead of filling memory); a DOCTYPE or an entity
declaration is refused (a sitemap never needs one, and that removes the XML-bomb class whatever
the expat version); ``<loc>`` is read under ``urlset/url`` or ``sitemapindex/sitemap`` in any
namespace (or none), whitespace stripped; at most `MAX_URLS` (50,000) per file. A file that is
not XML is read as a text sitemap (one URL a line). Errors end the file, never the crawl: what
was read before them is kept.

`discover` finds a crawl's sitemap URLs: it fetches, through the run's engine and options, the
seed hosts' robots.txt (for ``Sitemap:`` lines; not with ``--no-robots``) and ``/sitemap.xml``,
then the sitemaps they name (a site's own offer: not checked against its robots.txt, as
search engines do), following sitemap indexes `MAX_INDEX_DEPTH` deep and reading at
most `MAX_FILES` files; the URLs go to a temporary file, one a line (memory stays flat).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from xml.parsers import expat

MAX_URLS = 50_000
MAX_BYTES = 50 << 20
MAX_INDEX_DEPTH = 3
MAX_FILES = 1000
_CHUNK = 64 << 10
_SITEMAP_LINE = re.compile(rb"^[ \t]*sitemap[ \t]*:[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)


class SitemapError(Exception):
    """A sitemap that cannot be read on (what was read before is kept)."""


@dataclass
class Sitemap:
    """What one file said: the URLs of a ``urlset`` (pages) or a ``sitemapindex`` (sitemaps)."""

    index: bool = False
    urls: list[str] = field(default_factory=list)
    error: str | None = None
    """Why reading stopped early (bad XML, a DOCTYPE, a limit), or None."""


def read_sitemap(path: Path) -> Sitemap:
    """Read the sitemap saved at ``path`` (see module docstring)."""
    result = Sitemap()
    try:
        with open(path, "rb") as stream:
            chunks = _inflated(stream)
            first = next(chunks, b"")
            if first.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
                _read_xml(first, chunks, result)
            else:
                _read_text(first, chunks, result)
    except (OSError, SitemapError, zlib.error, ValueError, LookupError) as exc:
        result.error = str(exc)  # LookupError, ValueError: an encoding expat cannot read
    return result


def _inflated(stream: IO[bytes]) -> Iterator[bytes]:
    """The file's bytes, gunzipped if it is gzip, at most `MAX_BYTES` in all."""
    first = stream.read(_CHUNK)
    raw = _prepend(first, (chunk for chunk in iter(lambda: stream.read(_CHUNK), b"")))
    total = 0
    source: Iterable[bytes] = _gunzip(raw) if first[:2] == b"\x1f\x8b" else raw
    for chunk in source:
        if not chunk:
            continue
        total += len(chunk)
        if total > MAX_BYTES:
            raise SitemapError(f"more than {MAX_BYTES >> 20} MiB: read no further")
        yield chunk


def _prepend(head: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if head:
        yield head
    yield from rest


def _gunzip(raw: Iterable[bytes]) -> Iterator[bytes]:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    for chunk in raw:
        data = chunk
        while data:
            out = inflater.decompress(data, _CHUNK)  # bounded output per step
            yield out
            data = inflater.unconsumed_tail
    yield inflater.flush()


class _Reader:
    """expat callbacks collecting ``<loc>`` text."""

    def __init__(self, result: Sitemap) -> None:
        self.result = result
        self.stack: list[str] = []
        self.text: list[str] | None = None

    def start(self, name: str, attributes: dict[str, str]) -> None:
        local = name.rsplit(" ", 1)[-1]
        stack = self.stack
        if not stack:
            if local not in ("urlset", "sitemapindex"):
                raise SitemapError(f"not a sitemap (root element {local!r})")
            self.result.index = local == "sitemapindex"
        elif local == "loc" and len(stack) == 2 and stack[1] in ("url", "sitemap"):
            self.text = []
        stack.append(local)

    def end(self, name: str) -> None:
        self.stack.pop()
        if self.text is not None:
            url = "".join(self.text).strip()
            self.text = None
            if url:
                self.result.urls.append(url)
                if len(self.result.urls) >= MAX_URLS:
                    raise SitemapError(f"more than {MAX_URLS} URLs: read no further")

    def characters(self, data: str) -> None:
        if self.text is not None:
            self.text.append(data)


def _refuse(*_: object) -> None:
    raise SitemapError("a DOCTYPE or entity declaration (refused)")


def _read_xml(first: bytes, chunks: Iterator[bytes], result: Sitemap) -> None:
    if first.startswith(b"\xef\xbb\xbf"):
        first = first[3:]
    first = first.lstrip(b" \t\r\n")  # whitespace before the XML declaration: tolerated
    reader = _Reader(result)
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.StartElementHandler = reader.start
    parser.EndElementHandler = reader.end
    parser.CharacterDataHandler = reader.characters
    try:
        parser.Parse(first, False)
        for chunk in chunks:
            parser.Parse(chunk, False)
        parser.Parse(b"", True)
    except expat.ExpatError as exc:
        raise SitemapError(f"bad XML: {exc}") from None


def _read_text(first: bytes, chunks: Iterator[bytes], result: Sitemap) -> None:
    pending = b""
    for chunk in _prepend(first, chunks):
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        _add_lines(lines, result)
    _add_lines([pending], result)


def _add_lines(lines: list[bytes], result: Sitemap) -> None:
    for line in lines:
        url = line.strip().decode("utf-8", "replace")
        if url.startswith(("http://", "https://")):
            result.urls.append(url)
            if len(result.urls) >= MAX_URLS:
                raise SitemapError(f"more than {MAX_URLS} URLs: read no further")


def sitemaps_in_robots(path: Path) -> list[str]:
    """The ``Sitemap:`` URLs of a saved robots.txt (its first 500 KiB, RFC 9309 §2.5)."""
    try:
        with open(path, "rb") as stream:
            text = stream.read(500 << 10)
    except OSError:
        return []
    return [m.decode("utf-8", "replace") for m in _SITEMAP_LINE.findall(text)]


Fetcher = Callable[[list[str], bool], dict[str, Path]]
"""Fetches URLs (robots.txt obeyed or not) and returns the saved file of each that was ok."""


def discover(origins: Iterable[str], fetch: Fetcher, *, robots: bool, out: IO[str]) -> int:
    """Write the page URLs of the sitemaps of ``origins`` (``scheme://host:port``) to ``out``,
    one a line; the number written."""
    origins = list(dict.fromkeys(origins))
    named: list[str] = []
    if robots:
        saved = fetch([f"{origin}/robots.txt" for origin in origins], False)
        for path in saved.values():
            named += sitemaps_in_robots(path)
    wanted = list(dict.fromkeys([*named, *(f"{origin}/sitemap.xml" for origin in origins)]))
    seen: set[str] = set()
    written = 0
    for _ in range(MAX_INDEX_DEPTH):
        wanted = [url for url in wanted if url not in seen][: MAX_FILES - len(seen)]
        if not wanted:
            break
        seen.update(wanted)
        children: list[str] = []
        for path in fetch(wanted, False).values():  # the site offers them: no robots check
            sitemap = read_sitemap(path)
            if sitemap.index:
                children += sitemap.urls
                continue
            for url in sitemap.urls:
                out.write(url.replace("\n", " ") + "\n")
            written += len(sitemap.urls)
        wanted = children
    return written
