"""Engine ``aiohttp``: `aiohttp.ClientSession` with connector limits and keep-alive.

Strategy: aiohttp does the connections (pooling, keep-alive, TLS) and HTTP/1.1 requests;
fetchall still decides everything else. Responses are framed by fetchall's own parser before
aiohttp's parser sees a canonical copy (`FramedConnector`, see `aiohttp_framing`), so framing
verdicts — excess bytes discarded, malformed lengths, chunks, heads — match the hand-built
engines byte for byte. A bare ``ClientOSError`` (not a connect error) means an established
connection was lost: ``connection_lost``, as on the other engines. Redirects, retries and
automatic decompression are switched off in aiohttp, so the shared policy drives every hop
and the shared `Exchange` decodes, caps and saves the body exactly as for the hand-built
engines. The connector gets the same global/per-host numbers as the limiter.
aiohttp's silent resend after a connection error is switched off too (it resent even on fresh
connections, so the server saw attempts the report did not count); only a request sent on a
pooled keep-alive connection that the server had closed meanwhile is sent once more, on a new
connection, before any response — a stale connection, not an attempt (RFC 9112 §9.3.1).
Yields to the loop at: connect (pooled), sending, reading the head and every body chunk, and
`asyncio.sleep` for retry backoff.
"""

from __future__ import annotations

import asyncio
from functools import partial

import aiohttp
from yarl import URL

from fetchall.engines.aio import run_jobs, run_loop
from fetchall.engines.aiohttp_framing import CONNECTION_USE, ConnectionUse, FramedConnector
from fetchall.engines.base import AttemptEnv, RunContext
from fetchall.engines.exchange import READ_SIZE, Exchange
from fetchall.errors import (
    BadURLError,
    ConnectError,
    ConnectionLostError,
    DNSError,
    FetchError,
    FetchTimeoutError,
    ProtocolError,
    TLSError,
)
from fetchall.http.headers import Headers
from fetchall.policy import Outcome, Request
from fetchall.urls import Target

MAX_FIELD_SIZE = 65536
MAX_HEADERS = 256
_HOP_HEADERS = frozenset({"connection"})


async def aiohttp_attempt(
    request: Request, session: aiohttp.ClientSession, env: AttemptEnv
) -> Outcome:
    """Perform one attempt through ``session``; never raises a `FetchError`."""
    exchange = Exchange(request, env.out, env.max_size)
    target = request.target
    headers = [(k, v) for k, v in request.headers if k.lower() not in _HOP_HEADERS]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + env.timeout
    connected = False
    trace = ConnectionUse()
    CONNECTION_USE.set(trace)
    try:
        while True:
            timeout = aiohttp.ClientTimeout(
                total=max(deadline - loop.time(), 0.001),
                sock_connect=min(env.connect_timeout, env.timeout),
            )
            try:
                async with session.request(
                    request.method,
                    _yarl_url(target),
                    headers=headers,
                    allow_redirects=False,
                    timeout=timeout,
                    ssl=env.ssl_context() if target.tls else True,  # made on the first https URL
                ) as resp:
                    connected = True
                    raw = Headers(
                        (k.decode("latin-1"), v.decode("latin-1")) for k, v in resp.raw_headers
                    )
                    if exchange.on_head(resp.status, resp.reason or "", raw):
                        await _read_body(resp, exchange)
                exchange.outcome.sent = trace.sent
                return exchange.finish()
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
                if connected or not trace.reused or trace.retried:
                    raise
                # A kept-alive connection the server had closed meanwhile: send again on a
                # new one (RFC 9112 §9.3.1). Not an attempt of ours: the server never answered.
                trace.retried = True
                trace.reused = False
    except Exception as exc:
        exchange.outcome.sent = trace.sent  # (None if no connection was made)
        return exchange.fail(translate_aiohttp(exc, target, connected=connected, env=env))
    except BaseException:
        exchange.discard()
        raise


def _yarl_url(target: Target) -> URL:
    """The already-normalised URL for aiohttp, sent exactly as the hand-built engines send it.

    yarl drops an empty query (``/q?`` would go out as ``/q``, another URL with another file
    name); keeping the ``?`` at the end of the raw path makes aiohttp send ``/q?`` too.
    """
    if not target.url.endswith("?"):
        return URL(target.url, encoded=True)
    base = URL(target.url[:-1], encoded=True)
    return URL.build(
        scheme=base.scheme, authority=base.raw_authority, path=base.raw_path + "?", encoded=True
    )


async def _read_body(resp: aiohttp.ClientResponse, exchange: Exchange) -> None:
    """Stream the (still encoded) body into the shared exchange: what is buffered already is
    taken without waiting (a small body has usually arrived with its head), then the rest as
    it comes."""
    content = resp.content
    while not exchange.full:  # a truncating request (robots.txt) stops at what it keeps
        chunk = content.read_nowait(READ_SIZE)  # raises the stream's error, if any
        if not chunk:
            if content.at_eof():
                break
            chunk = await content.readany()  # b"" at the end
            if not chunk:
                break
        exchange.on_data(chunk)
    exchange.on_end()


def translate_aiohttp(
    exc: BaseException, target: Target, *, connected: bool, env: AttemptEnv
) -> FetchError:
    """Map aiohttp's exceptions onto fetchall's hierarchy (the same types the raw engines use)."""
    where = target.host_header
    if isinstance(exc, FetchError):
        return exc
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return TLSError(f"certificate verify failed for {where}: {exc.certificate_error}")
    if isinstance(exc, aiohttp.ClientSSLError):
        return TLSError(f"TLS error with {where}: {exc}")
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return DNSError(f"cannot resolve host {target.host!r}: {exc.os_error.strerror or exc}")
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        limit = min(env.connect_timeout, env.timeout)
        return FetchTimeoutError(f"connect to {where} timed out after {limit:g}s")
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return FetchTimeoutError(f"timed out after {env.timeout:g}s")
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, ConnectionRefusedError):
            return ConnectError(f"connection refused by {where}")
        return ConnectError(f"cannot connect to {where}: {exc.os_error.strerror or exc}")
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return ConnectionLostError("server closed the connection without sending a response")
    if isinstance(exc, aiohttp.ClientPayloadError):
        return _payload_error(exc, where)
    if isinstance(exc, aiohttp.ClientResponseError):
        return ProtocolError(f"bad response from {where}: {_first_line(exc)}")
    if isinstance(exc, aiohttp.InvalidURL):
        return BadURLError(f"aiohttp rejected the URL: {exc}")
    if isinstance(exc, aiohttp.ClientOSError | OSError):
        reason = exc.strerror or str(exc) or type(exc).__name__
        # connect failures are ClientConnectorError (above): a bare ClientOSError comes from
        # an established connection (e.g. reset before or while the head arrives)
        if connected or isinstance(exc, aiohttp.ClientOSError):
            return ConnectionLostError(f"connection to {where} lost: {reason}")
        return ConnectError(f"cannot connect to {where}: {reason}")
    return FetchError(f"{type(exc).__name__}: {exc}")


def _payload_error(exc: aiohttp.ClientPayloadError, where: str) -> FetchError:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionResetError):
            return ConnectionLostError(f"connection to {where} lost: {cause.strerror or cause}")
        cause = cause.__cause__ or cause.__context__
    # aiohttp names a reset only in the message text (client_proto.connection_lost)
    if "ConnectionResetError" in str(exc):
        return ConnectionLostError(f"connection to {where} lost: Connection reset by peer")
    return ProtocolError(f"bad response body from {where}: {_first_line(exc)}")


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


class AiohttpEngine:
    """aiohttp ClientSession; limits through our limiter and the connector."""

    name = "aiohttp"

    def run(self, ctx: RunContext) -> None:
        """Run the event loop until every job is done."""
        run_loop(self._main(ctx))

    async def _main(self, ctx: RunContext) -> None:
        env = ctx.env
        connector = FramedConnector(
            limit=ctx.concurrency,
            limit_per_host=ctx.per_host,
        )
        async with aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            max_line_size=MAX_FIELD_SIZE,
            max_field_size=MAX_FIELD_SIZE,
            max_headers=MAX_HEADERS,
            timeout=aiohttp.ClientTimeout(total=None),
        ) as session:
            # aiohttp would silently resend a request whose connection failed, even a fresh
            # one: that retry is the shared policy's to decide (and count in `attempts`).
            if hasattr(session, "_retry_connection"):
                session._retry_connection = False
            await run_jobs(ctx, partial(aiohttp_attempt, session=session, env=env))
