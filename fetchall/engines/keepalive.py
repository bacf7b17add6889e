"""Engine ``keepalive``: asyncio Protocol/transport level, hand-built HTTP/1.1 keep-alive.

Strategy: one asyncio task per URL (scheduled by `aio.run_jobs`, on uvloop when installed). An
attempt takes a connection from a small per-host pool (`pool.Pool`: idle connections reused
LIFO, at most ``per_host`` open per scheme + ``host:port``), or opens one with
``loop.create_connection`` and a `_Connection` protocol (no streams). The request goes out as
HTTP/1.1 with ``Connection: keep-alive`` (the policy's ``Connection: close`` is replaced); every
received byte is fed straight from ``data_received`` into the shared `Exchange` (fetchall's own
`ResponseParser` frames it), and the attempt awaits one future that resolves when the exchange
needs no more bytes or the connection fails.

A connection goes back to the pool only if the response was a complete 2xx ended by its own
framing (Content-Length, chunked or bodiless — never read-until-close), HTTP/1.1 without
``Connection: close`` (HTTP/1.0 only with ``Connection: keep-alive``), no byte arrived after
its end (RFC 9112 §6.3: such bytes are discarded and the connection is closed), and nothing
failed. A non-2xx response is not drained: its connection is closed. Bytes arriving on an idle
connection close it too. A request sent on a reused connection that fails before any response
byte (closed or reset: a stale keep-alive connection) is sent once more on a new connection,
without counting an attempt (RFC 9112 §9.3.1); a fresh connection never gets this.

``--timeout`` bounds connect, send and the whole response of an attempt (the resend included);
waiting for a pool slot is not part of it. Errors are translated like the ``asyncio`` engine's.
Yields to the loop at: waiting for a pool slot, DNS (the loop's executor), connect, TLS
handshake, waiting for the response, and `asyncio.sleep` for retry backoff.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import cast

from fetchall.engines.aio import run_jobs, run_loop
from fetchall.engines.base import AttemptEnv, RunContext
from fetchall.engines.exchange import Exchange
from fetchall.engines.pool import Key, Pool
from fetchall.engines.translate import translate_exception
from fetchall.errors import ConnectionLostError
from fetchall.policy import Outcome, Request

_KEEP_ALIVE = ("Connection", "keep-alive")


class _Exchange(Exchange):
    """`Exchange` that can tell whether its response leaves the connection reusable."""

    __slots__ = ()

    def keeps_alive(self) -> bool:
        """Whether this response leaves the connection reusable (see module docstring)."""
        parser = self.parser
        status = self.outcome.status
        if parser is None or status is None or not 200 <= status < 300 or not parser.done:
            return False
        if parser.framing == "eof" or parser.trailing_bytes:
            return False
        tokens = {
            token.strip(" \t").lower()
            for value in self.outcome.headers.get_all("connection")
            for token in value.split(",")
        }
        if "close" in tokens:
            return False
        return self.http_version == "HTTP/1.1" or "keep-alive" in tokens


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection; feeds the current exchange from ``data_received``."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.received = False  # any byte of the current response arrived
        self.extra = 0  # bytes that arrived after the current exchange was done
        self._exchange: _Exchange | None = None
        self._waiter: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast("asyncio.Transport", transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            self.extra += len(data)
            if self._exchange is None:  # unsolicited bytes on an idle connection
                self.abort()
            return
        self.received = True
        try:
            if self._exchange is not None and self._exchange.feed(data):
                waiter.set_result(None)
        except Exception as exc:
            waiter.set_exception(exc)

    def eof_received(self) -> bool:
        return False  # the transport closes itself; connection_lost reports the EOF

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if exc is not None:
            waiter.set_exception(exc)
            return
        try:
            assert self._exchange is not None
            self._exchange.feed(b"")  # EOF: ends a read-until-close body, else raises
            waiter.set_result(None)
        except Exception as error:
            waiter.set_exception(error)

    async def exchange(self, exchange: _Exchange, data: bytes) -> None:
        """Send ``data`` and wait until ``exchange`` needs no more bytes (raises on failure)."""
        self._exchange = exchange
        self.received = False
        self.extra = 0
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        if self.closed or self.transport is None:
            raise ConnectionLostError("server closed the connection without sending a response")
        self.transport.write(data)
        await waiter

    def detach(self) -> None:
        """The attempt is over: later bytes are unsolicited."""
        self._exchange = None
        self._waiter = None

    def abort(self) -> None:
        """Close at once (idempotent)."""
        self.closed = True
        self.detach()
        if self.transport is not None:
            self.transport.abort()


class _Engine:
    """The state of one run: the pool and the attempt."""

    def __init__(self, env: AttemptEnv, pool: Pool[_Connection]) -> None:
        self.env = env
        self.pool = pool

    async def connect(self, request: Request) -> _Connection:
        target = request.target
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(
            _Connection,
            target.host,
            target.port,
            ssl=self.env.ssl_context() if target.tls else None,
            server_hostname=target.host if target.tls else None,
        )
        return conn

    async def attempt(self, request: Request) -> Outcome:
        """Perform one attempt (a stale pooled connection is resent once); never raises a
        `FetchError`."""
        env = self.env
        target = request.target
        headers = tuple(h for h in request.headers if h[0].lower() != "connection")
        exchange = _Exchange(
            replace(request, headers=(*headers, _KEEP_ALIVE)), env.out, env.max_size
        )
        key: Key = (target.scheme, target.host_key)
        connect_limit = min(env.connect_timeout, env.timeout)
        conn = await self.pool.acquire(key)  # waiting for a slot is not part of the attempt
        connected = False
        resent = False
        try:
            try:
                async with asyncio.timeout(env.timeout):
                    data = exchange.request_bytes("HTTP/1.1")
                    while True:
                        reused = conn is not None
                        if conn is None:
                            conn = await asyncio.wait_for(self.connect(request), connect_limit)
                        connected = True
                        try:
                            await conn.exchange(exchange, data)
                            break
                        except (ConnectionLostError, ConnectionError):
                            if not reused or resent or conn.received:
                                raise
                        # A kept-alive connection the server had closed meanwhile: send again
                        # on a new one (RFC 9112 §9.3.1). Not an attempt: nothing was answered.
                        resent = True
                        connected = False
                        conn.abort()
                        conn = None
                        exchange.discard()
                        exchange = _Exchange(exchange.request, env.out, env.max_size)
                outcome = exchange.finish()
            except BaseException:
                if conn is not None:
                    conn.abort()
                raise
            assert conn is not None
            reusable = exchange.keeps_alive() and not conn.extra
            conn.detach()
            self.pool.release(key, conn, reusable)
            conn = None
            return outcome
        except Exception as exc:
            self.pool.release(key, conn, False)
            limit = env.timeout if connected else connect_limit
            return exchange.fail(
                translate_exception(exc, target, connected=connected, timeout=limit)
            )
        except BaseException:
            self.pool.release(key, conn, False)
            exchange.discard()
            raise


class KeepaliveEngine:
    """asyncio Protocol, HTTP/1.1 persistent connections per host (uvloop when installed)."""

    name = "keepalive"

    def run(self, ctx: RunContext) -> None:
        """Run the event loop until every job is done."""
        run_loop(self._main(ctx))

    async def _main(self, ctx: RunContext) -> None:
        pool: Pool[_Connection] = Pool(ctx.per_host, ctx.concurrency)
        engine = _Engine(ctx.env, pool)
        try:
            await run_jobs(ctx, engine.attempt)
        finally:
            pool.close_all()
