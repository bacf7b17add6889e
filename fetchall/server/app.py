"""The built-in test server's application: routes, body generation, encodings, stats.

Strategy: one `web.Application` (`make_app`) whose body routes all answer through a single
sender, so every route honours the same query knobs: `encoding` (gzip, deflate, deflate-raw, br,
stacked in application order), `chunked=1`, `type=` and `latency=`. Bodies are generated lazily
from a repeating printable pattern in 64 KiB pieces and compressed on the fly, so even a 1 GiB
body never sits in memory (a compressed body sent with Content-Length is compressed up front,
yielding to the loop between pieces; the pattern compresses about a thousandfold). A
middleware counts requests (with server-side start times) and applies the configured latency; a
wrapped protocol factory counts accepted TCP connections (see `thread.py`). ``/robots.txt``
serves whatever the server's `RobotsFile` holds (404 by default); ``/cached/NAME`` answers
conditional requests (ETag, Last-Modified, 304) for a body whose version tests can bump.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import string
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from email.utils import formatdate
from typing import Protocol

from aiohttp import HttpVersion11, web
from aiohttp.typedefs import Handler

from fetchall.server.stats import RobotsFile, ServerStats, Versions

ALPHABET = (string.ascii_letters + string.digits).encode("ascii")
PIECE = 64 * 1024
MAX_BYTES = 1 << 30
MAX_LATENCY = 300.0
MAX_COUNT = 10_000  # bound for redirect hops, flaky thresholds and link counts
_BLOCK = ALPHABET * (PIECE // len(ALPHABET) + 2)
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


def body_bytes(n: int) -> bytes:
    """Return the deterministic n-byte body: ASCII letters then digits, repeating."""
    if n < 0:
        raise ValueError("n must be >= 0")
    return (ALPHABET * (n // len(ALPHABET) + 1))[:n]


def iter_body(n: int) -> Iterator[bytes]:
    """Yield `body_bytes(n)` in pieces of at most 64 KiB, never building it whole."""
    offset = 0
    while offset < n:  # bounded: offset grows by >= 1 each turn
        size = min(PIECE, n - offset)
        start = offset % len(ALPHABET)
        yield _BLOCK[start : start + size]
        offset += size


@dataclass(frozen=True)
class ServerSettings:
    """Server-wide behaviour: added `latency` seconds, varied uniformly by ± `jitter`."""

    latency: float = 0.0
    jitter: float = 0.0

    def __post_init__(self) -> None:
        for name in ("latency", "jitter"):
            value = getattr(self, name)
            if not math.isfinite(value) or not 0.0 <= value <= MAX_LATENCY:
                raise ValueError(f"{name} must be a number between 0 and {MAX_LATENCY:g}")

    def delay(self) -> float:
        """Return the delay for one request (never negative)."""
        if not self.jitter:
            return self.latency
        return max(0.0, self.latency + random.uniform(-self.jitter, self.jitter))


# ---------------------------------------------------------------- query parsing and encoding


def _bad(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=message + "\n")


def _int_param(raw: str, name: str, low: int, high: int) -> int:
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 12) or not low <= int(raw) <= high:
        raise _bad(f"{name} must be an integer from {low} to {high}")
    return int(raw)


def _float_param(raw: str, name: str, high: float) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not 0.0 <= value <= high:
        raise _bad(f"{name} must be a number from 0 to {high:g}")
    return value


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "0").lower() in ("1", "true", "yes", "on")


def _header_value(raw: str, name: str) -> str:
    if any(ord(c) < 32 or ord(c) == 127 for c in raw):
        raise _bad(f"{name} must not contain control characters")
    return raw


class _Encoder(Protocol):
    def compress(self, data: bytes, /) -> bytes: ...
    def flush(self) -> bytes: ...


class _Brotli:
    """Adapts brotli's Compressor to the zlib compressobj interface."""

    def __init__(self) -> None:
        try:
            import brotli
        except ImportError:
            raise web.HTTPNotImplemented(text="brotli is not installed\n") from None
        self._compressor = brotli.Compressor()

    def compress(self, data: bytes, /) -> bytes:
        return bytes(self._compressor.process(data))

    def flush(self) -> bytes:
        return bytes(self._compressor.finish())


_ENCODINGS: dict[str, tuple[str, Callable[[], _Encoder]]] = {
    "gzip": ("gzip", lambda: zlib.compressobj(wbits=31)),
    "deflate": ("deflate", lambda: zlib.compressobj(wbits=15)),
    "deflate-raw": ("deflate", lambda: zlib.compressobj(wbits=-15)),
    "br": ("br", _Brotli),
}


def _encoders(request: web.Request) -> tuple[list[str], list[_Encoder]]:
    raw = request.query.get("encoding")
    if raw is None:
        return [], []
    tokens = [token.strip().lower() for token in raw.split(",")]
    if not 1 <= len(tokens) <= 4 or any(token not in _ENCODINGS for token in tokens):
        raise _bad(f"encoding must be up to 4 of {', '.join(_ENCODINGS)}, comma-separated")
    return [_ENCODINGS[t][0] for t in tokens], [_ENCODINGS[t][1]() for t in tokens]


def _encode(pieces: Iterable[bytes], encoders: list[_Encoder]) -> Iterator[bytes]:
    for piece in pieces:
        for encoder in encoders:
            piece = encoder.compress(piece)
        if piece:
            yield piece
    tail = b""
    for encoder in encoders:
        tail = encoder.compress(tail) + encoder.flush()
    if tail:
        yield tail


# ---------------------------------------------------------------------------- the handlers


@dataclass(frozen=True)
class _Body:
    size: int
    pieces: Callable[[], Iterator[bytes]]
    content_type: str


def _small(data: bytes, content_type: str) -> _Body:
    return _Body(len(data), lambda: iter((data,) if data else ()), content_type)


async def _send(
    request: web.Request,
    body: _Body,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> web.StreamResponse:
    """Send `body` honouring the encoding/chunked/type query knobs; HEAD sends no body.

    `chunked=1` on an HTTP/1.0 request (which forbids chunked coding) gives a body delimited
    by connection close instead.
    """
    resp = web.StreamResponse(status=status, headers=headers)
    resp.headers["Content-Type"] = _header_value(
        request.query.get("type", body.content_type), "type"
    )
    names, encoders = _encoders(request)
    stream = body.pieces()
    if encoders:
        resp.headers["Content-Encoding"] = ", ".join(names)
        stream = _encode(stream, encoders)
    if _flag(request, "chunked"):
        if request.version >= HttpVersion11:
            resp.enable_chunked_encoding()
    elif encoders:
        parts: list[bytes] = []
        for part in stream:  # bounded by the body size; yields so other requests proceed
            parts.append(part)
            await asyncio.sleep(0)
        resp.content_length = sum(len(part) for part in parts)
        stream = iter(parts)
    else:
        resp.content_length = body.size
    await resp.prepare(request)
    if request.method != "HEAD" and status not in (204, 304):
        for piece in stream:  # bounded by the body size
            await resp.write(piece)
    await resp.write_eof()
    return resp


async def _bytes(request: web.Request) -> web.StreamResponse:
    n = _int_param(request.match_info["n"], "n", 0, MAX_BYTES)
    return await _send(request, _Body(n, lambda: iter_body(n), "application/octet-stream"))


async def _status(request: web.Request) -> web.StreamResponse:
    code = _int_param(request.match_info["code"], "code", 200, 599)
    text = b"" if code in (204, 304) else f"status {code}\n".encode()
    return await _send(request, _small(text, "text/plain; charset=utf-8"), status=code)


async def _redirect_reply(
    request: web.Request, code: int, location: str | None
) -> web.StreamResponse:
    headers = {} if location is None else {"Location": _header_value(location, "url")}
    text = f"redirect to {location}\n".encode() if location is not None else b"no Location\n"
    return await _send(request, _small(text, "text/plain; charset=utf-8"), code, headers)


async def _redirect(request: web.Request) -> web.StreamResponse:
    n = _int_param(request.match_info["n"], "n", 0, MAX_COUNT)
    if n == 0:
        return await _send(request, _small(body_bytes(16), "application/octet-stream"))
    code = _int_param(request.query.get("status", "302"), "status", 300, 399)
    if code not in _REDIRECTS:
        raise _bad("status must be one of 301, 302, 303, 307, 308")
    query = request.rel_url.raw_query_string
    location = f"/redirect/{n - 1}" + (f"?{query}" if query else "")
    if _flag(request, "absolute"):
        location = f"{request.scheme}://{request.host}{location}"
    elif request.query.get("relative") == "path":  # path-relative: "2", not "/redirect/2"
        location = location.removeprefix("/redirect/")
    return await _redirect_reply(request, code, location)


async def _redirect_to(request: web.Request) -> web.StreamResponse:
    code = _int_param(request.query.get("status", "302"), "status", 300, 399)
    return await _redirect_reply(request, code, request.query.get("url"))


async def _headers(request: web.Request) -> web.StreamResponse:
    seen: dict[str, str] = {}
    for raw_name, raw_value in request.raw_headers:
        name, value = raw_name.decode("latin-1"), raw_value.decode("utf-8", "replace")
        seen[name] = f"{seen[name]}, {value}" if name in seen else value
    return await _send(request, _small(json.dumps(seen).encode(), "application/json"))


async def _json(request: web.Request) -> web.StreamResponse:
    data = json.dumps({"id": request.match_info["id"]}).encode()
    return await _send(request, _small(data, "application/json"))


async def _links(request: web.Request) -> web.StreamResponse:
    n = _int_param(request.match_info["n"], "n", 0, MAX_COUNT)
    items = "".join(f'<li><a href="/json/{i}">item {i}</a></li>\n' for i in range(n))
    page = f"<!doctype html>\n<html><head><title>{n} links</title></head>\n<body><ul>\n{items}"
    page += "</ul></body></html>\n"
    return await _send(request, _small(page.encode(), "text/html; charset=utf-8"))


def make_app(
    settings: ServerSettings,
    stats: ServerStats,
    robots: RobotsFile | None = None,
    versions: Versions | None = None,
) -> web.Application:
    """Build the test application: routes, latency and request counting."""
    robots_file = robots or RobotsFile()
    versions = versions or Versions()

    async def cached(request: web.Request) -> web.StreamResponse:
        """``/cached/NAME``: a body per version, with an ETag and a Last-Modified date
        (``validators=etag|date|both|none``), and 304 for a request that matches them."""
        name = request.match_info["name"]
        version = versions.get(name)
        which = request.query.get("validators", "both")
        if which not in ("etag", "date", "both", "none"):
            raise _bad("validators must be etag, date, both or none")
        etag = f'"{name}-v{version}"'
        date = formatdate(1_700_000_000 + version * 86_400, usegmt=True)
        headers = {}
        if which in ("etag", "both"):
            headers["ETag"] = etag
        if which in ("date", "both"):
            headers["Last-Modified"] = date
        if_none = request.headers.get("If-None-Match")
        if_since = request.headers.get("If-Modified-Since")
        if (if_none is not None and "ETag" in headers and if_none == etag) or (
            if_none is None and if_since is not None and if_since == headers.get("Last-Modified")
        ):
            return await _send(request, _small(b"", "text/plain"), 304, headers)
        body = f"{name} version {version}\n".encode()
        return await _send(request, _small(body, "text/plain"), 200, headers)

    async def flaky(request: web.Request) -> web.StreamResponse:
        k = _int_param(request.match_info["k"], "k", 1, MAX_COUNT)
        if stats.flaky_hit(request.match_info["key"]) >= k:
            return await _send(request, _small(body_bytes(32), "application/octet-stream"))
        code = _int_param(request.query.get("status", "503"), "status", 429, 503)
        if code not in (429, 503):
            raise _bad("status must be 429 or 503")
        wait = request.query.get("retry_after")
        headers = {} if wait is None else {"Retry-After": _header_value(wait, "retry_after")}
        return await _send(request, _small(b"try again\n", "text/plain"), code, headers)

    async def robots_txt(request: web.Request) -> web.StreamResponse:
        status, text, location = robots_file.status, robots_file.text, robots_file.location
        headers = {} if location is None else {"Location": location}
        body = _small(text.encode(), "text/plain; charset=utf-8")
        return await _send(request, body, status, headers)

    @web.middleware
    async def count_and_delay(request: web.Request, handler: Handler) -> web.StreamResponse:
        stats.request_started(request.path, request.path_qs)
        try:
            raw = request.query.get("latency")
            delay = settings.delay() if raw is None else _float_param(raw, "latency", MAX_LATENCY)
            if delay > 0:
                await asyncio.sleep(delay)
            return await handler(request)
        finally:
            stats.request_finished()

    app = web.Application(middlewares=[count_and_delay])
    app.add_routes(
        [
            web.get("/bytes/{n}", _bytes),
            web.get("/status/{code}", _status),
            web.get("/redirect/{n}", _redirect),
            web.get("/redirect-to", _redirect_to),
            web.get("/flaky/{key}/{k}", flaky),
            web.get("/headers", _headers),
            web.get("/json/{id}", _json),
            web.get("/links/{n}", _links),
            web.get("/robots.txt", robots_txt),
            web.get("/cached/{name}", cached),
        ]
    )
    return app
