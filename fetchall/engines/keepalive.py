"""Engine ``keepalive``: asyncio Protocol/transport level, hand-built HTTP/1.1 keep-alive with
optional pipelining.

Strategy: one asyncio task per URL (scheduled by `aio.run_jobs`, on uvloop when installed). An
attempt takes a connection from a small per-host pool (`pool.Pool`), or opens one with
``loop.create_connection`` and a `_Connection` protocol (no streams). The request goes out as
HTTP/1.1 with the policy's ``Connection: keep-alive`` (the registry marks this engine
``keep_alive``; a user's ``-H "Connection: close"`` wins and the connection is not reused). A
connection keeps a FIFO of the requests sent on it; every received byte is fed straight from
``data_received`` into the oldest one's `Exchange` (fetchall's own `ResponseParser` frames it),
and each attempt awaits one future that resolves when its exchange needs no more bytes or the
connection fails. With ``--pipeline N`` (N > 1) up to N requests are in flight per connection
and ``ceil(per_host / N)`` connections per host; a connection takes requests behind others only
after it answered one reusable response, and the bytes that follow one response
(`ResponseParser.take_trailing`) are the start of the next.

A connection stays usable only if the response was a complete 2xx ended by its own framing
(Content-Length, chunked or bodiless — never read-until-close), HTTP/1.1 without ``Connection:
close`` on either side (HTTP/1.0 only with ``Connection: keep-alive``), and nothing failed; bytes
after a response are discarded and the connection closed unless another request is waiting for
them (RFC 9112 §6.3). A non-2xx response is not drained: its connection is closed. Bytes arriving
on an idle connection close it too. A request that gets no answer — sent on a reused connection
(stale keep-alive), or queued behind another request whose response closed the connection — or
whose first bytes do not start a valid response (junk that followed the previous response on
that connection) is sent once more, on a fresh connection of its own, without counting an
attempt (RFC 9112 §9.3.1, §9.3.2); the first request on a fresh connection never gets this. Once
a pipelined request had to be sent again, the pool stops pipelining to that host for the rest of
the run (as browsers stopped pipelining to servers that mishandled it) — unless the response
before it had ended the connection in order (``Connection: close``, or a non-2xx we do not drain).

``--timeout`` bounds connect, send and the whole response of an attempt (the resend included);
waiting for a pool slot is not part of it. It is one deadline: connects wait with
``asyncio.wait_for`` up to it, and a sent request's wait ends there by a loop timer. An attempt
that ends early (timeout, Ctrl-C) aborts its connection, since a late response would be read as
the next one. Errors are translated like the ``asyncio`` engine's. Yields to the loop at: waiting
for a pool slot, DNS (the loop's executor), connect, TLS handshake, waiting for the response, and
`asyncio.sleep` for retry backoff.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from typing import cast

from fetchall.caches import BoundedCache
from fetchall.engines.aio import run_jobs, run_loop
from fetchall.engines.base import AttemptEnv, RunContext
from fetchall.engines.exchange import READ_SIZE, Exchange
from fetchall.engines.pool import Key, Pool
from fetchall.engines.translate import translate_exception
from fetchall.errors import ConnectionLostError
from fetchall.policy import Outcome, Request

_HEAD_PART = 16 * 1024
"""Bytes of a read copied for a response's head before looking whether the rest is plain body."""
_UNANSWERED = "server closed the connection without sending a response"
_CUT_SHORT = "connection closed while the response was arriving"


class _Exchange(Exchange):
    """`Exchange` that can tell whether its response leaves the connection reusable."""

    __slots__ = ()

    def keeps_alive(self) -> bool:
        """Whether this response leaves the connection reusable (bytes after it aside: the
        connection decides about those; see module docstring)."""
        parser = self.parser
        status = self.outcome.status
        if parser is None or status is None or not 200 <= status < 300 or not parser.done:
            return False
        if parser.framing == "eof":
            return False
        if _asks_to_close(self.request.headers):
            return False
        value = self.outcome.headers.get("connection")
        if value is None:  # the usual case: nothing to split
            return self.http_version == "HTTP/1.1"
        received = _tokens([value])
        return "close" not in received and (
            self.http_version == "HTTP/1.1" or "keep-alive" in received
        )


_ASKS_TO_CLOSE: BoundedCache[tuple[tuple[str, str], ...], bool] = BoundedCache(1024)
"""`_asks_to_close` per header tuple (requests to one host share theirs)."""


def _asks_to_close(headers: tuple[tuple[str, str], ...]) -> bool:
    """Whether the request's own ``Connection`` header says ``close``."""
    asks = _ASKS_TO_CLOSE.get(headers)
    if asks is None:
        sent = [v for k, v in headers if k.lower() == "connection"]
        asks = _ASKS_TO_CLOSE.remember(headers, sent != ["keep-alive"] and "close" in _tokens(sent))
    return asks


def _tokens(values: Iterable[str]) -> set[str]:
    """The lower-case tokens of ``Connection`` header values."""
    return {token.strip(" \t").lower() for value in values for token in value.split(",")}


class _Pending:
    """One request sent on a connection, waiting for (the rest of) its response."""

    __slots__ = ("behind", "exchange", "orderly", "received", "resendable", "timer", "waiter")

    def __init__(
        self, exchange: _Exchange, waiter: asyncio.Future[bool], behind: bool, reused: bool
    ):
        self.exchange = exchange
        self.waiter = waiter  # result: whether the connection stays reusable after it
        self.timer: asyncio.TimerHandle | None = None  # fails the waiter at the deadline
        self.received = False  # a byte of its response arrived
        self.behind = behind  # pipelined: sent while another request was waiting on the connection
        self.resendable = behind or reused  # unanswered, it may be sent again (module docstring)
        self.orderly = False  # unanswered because the response before it ended the connection


class _Connection(asyncio.BufferedProtocol):
    """One TCP (or TLS) connection; feeds its requests' exchanges in order.

    A buffered protocol: the loop reads into ``buffer``, the run's one read buffer (shared by
    every connection: each read is fed on at once, before the next one). Body bytes go on as
    views of it, head bytes as a copy (see `Exchange.takes_views`): a large body costs no
    allocation per read."""

    def __init__(self, buffer: memoryview) -> None:
        self.loop = asyncio.get_running_loop()  # once: each call costs a getpid() on 3.11
        self._buffer = buffer
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.pipelinable = False  # answered a reusable response (pool.PooledConnection)
        self.served = 0  # responses completed on it
        self._queue: deque[_Pending] = deque()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast("asyncio.Transport", transport)  # uvloop's is not a subclass

    def send(self, exchange: _Exchange, data: bytes, deadline: float) -> _Pending:
        """Send one request; its `_Pending` resolves when the response is complete, or fails
        with TimeoutError at ``deadline`` (loop time; the caller cancels `_Pending.timer`)."""
        waiter = self.loop.create_future()
        pending = _Pending(exchange, waiter, behind=bool(self._queue), reused=self.served > 0)
        if self.closed or self.transport is None:
            pending.waiter.set_exception(ConnectionLostError(_UNANSWERED))
            return pending
        pending.timer = self.loop.call_at(deadline, _expire, waiter)
        self._queue.append(pending)
        self.transport.write(data)
        return pending

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._buffer

    def buffer_updated(self, nbytes: int) -> None:
        view = self._buffer[:nbytes]
        queue = self._queue
        if not (queue and queue[0].exchange.takes_views()):
            # A head (or chunked/encoded body) comes first: copy a small part for it, then
            # look again: a large read is mostly body, which may go on as a view.
            if nbytes <= _HEAD_PART:
                self.data_received(view.tobytes())
                return
            self.data_received(view[:_HEAD_PART].tobytes())
            view = view[_HEAD_PART:]
            if not (queue and queue[0].exchange.takes_views()):
                self.data_received(view.tobytes())
                return
        self.data_received(view)  # no view outlives this call

    def data_received(self, data: bytes | memoryview) -> None:
        """Feed received bytes to the waiting exchanges, in order."""
        queue = self._queue
        while data:
            if not queue:  # unsolicited bytes (idle, or after the last response)
                self.abort()
                return
            pending = queue[0]
            pending.received = True
            exchange = pending.exchange
            try:
                if not exchange.feed(data):
                    return
            except Exception as exc:
                queue.popleft()
                error: Exception = exc
                if pending.resendable and exchange.outcome.status is None:
                    # Bad bytes where the response to a request on a reused connection (or
                    # behind another) should start: they may be junk that followed the previous
                    # response, not this request's answer. Unanswered: it is sent again on a
                    # fresh connection, which gives the real verdict.
                    pending.received = False
                    error = ConnectionLostError(_UNANSWERED)
                _resolve(pending.waiter, error)
                self.abort()
                return
            queue.popleft()
            self.served += 1
            parser = exchange.parser
            data = parser.take_trailing() if parser is not None else b""
            if not exchange.keeps_alive():
                _resolve(pending.waiter, False)
                for behind in queue:  # announced (Connection: close) or our choice (non-2xx)
                    behind.orderly = True
                self.abort()
                return
            self.pipelinable = True
            _resolve(pending.waiter, not data or bool(queue))

    def eof_received(self) -> bool:
        return False  # the transport closes itself; connection_lost reports the EOF

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        queue = self._queue
        if queue and queue[0].received:  # EOF inside a response: its framing decides
            pending = queue.popleft()
            if exc is not None:
                _resolve(pending.waiter, exc)
            else:
                try:
                    pending.exchange.feed(b"")  # ends a read-until-close body, else raises
                    _resolve(pending.waiter, False)
                except Exception as error:
                    _resolve(pending.waiter, error)
        self._fail_queue(exc)

    def abort(self) -> None:
        """Close at once (idempotent); requests still queued fail as unanswered."""
        self.closed = True
        self._fail_queue(None)
        if self.transport is not None:
            self.transport.abort()

    def _fail_queue(self, exc: Exception | None) -> None:
        """Fail every queued request: with ``exc`` (reset...) if given, else as unanswered (or
        cut short, for one whose response had begun)."""
        queue = self._queue
        while queue:
            pending = queue.popleft()
            if exc is not None:
                _resolve(pending.waiter, exc)
            elif pending.received:
                _resolve(pending.waiter, ConnectionLostError(_CUT_SHORT))
            else:
                _resolve(pending.waiter, ConnectionLostError(_UNANSWERED))


def _expire(waiter: asyncio.Future[bool]) -> None:
    """The attempt's deadline passed: its wait ends with TimeoutError (it aborts the
    connection, which drops the request from the queue)."""
    if not waiter.done():
        waiter.set_exception(TimeoutError())


def _resolve(waiter: asyncio.Future[bool], result: bool | BaseException) -> None:
    """Settle ``waiter`` unless its attempt is already gone (cancelled)."""
    if waiter.done():
        return
    if isinstance(result, BaseException):
        waiter.set_exception(result)
    else:
        waiter.set_result(result)


class _Engine:
    """The state of one run: the pool and the attempt."""

    def __init__(self, env: AttemptEnv, pool: Pool[_Connection]) -> None:
        self.env = env
        self.pool = pool
        self.loop = asyncio.get_running_loop()
        buffer = memoryview(bytearray(READ_SIZE))  # the run's one read buffer (see _Connection)
        self.new_connection = lambda: _Connection(buffer)

    async def connect(self, request: Request) -> _Connection:
        target = request.target
        _, conn = await self.loop.create_connection(
            self.new_connection,
            target.host,
            target.port,
            ssl=self.env.ssl_context() if target.tls else None,
            server_hostname=target.host if target.tls else None,
        )
        return conn

    async def attempt(self, request: Request) -> Outcome:
        """Perform one attempt (an unanswered request is sent once more); never raises a
        `FetchError`."""
        env = self.env
        target = request.target
        exchange = _Exchange(request, env.out, env.max_size)
        key: Key = (target.scheme, target.host_key)
        connect_limit = min(env.connect_timeout, env.timeout)
        pool = self.pool
        conn = await pool.acquire(key)  # waiting for a slot is not part of the attempt
        held = True  # this attempt holds a pool slot (conn None) or a use of conn
        connected = False
        resent = False
        loop = self.loop
        try:
            try:
                # --timeout: one deadline for connect, send and response; the waits below end
                # at it (a timer per request, not an asyncio.timeout: a third of the cost).
                deadline = loop.time() + env.timeout
                data = exchange.request_bytes("HTTP/1.1")
                while True:
                    if conn is None:
                        limit = min(connect_limit, deadline - loop.time())
                        conn = await asyncio.wait_for(self.connect(request), limit)
                        pool.opened(key, conn)
                    connected = True
                    pending = conn.send(exchange, data, deadline)
                    answered = False  # (no break inside try/finally: mypyc cannot compile it)
                    try:
                        reusable = await pending.waiter
                        answered = True
                    except (ConnectionLostError, ConnectionError):
                        if not pending.resendable or resent or pending.received:
                            raise
                    finally:
                        if pending.timer is not None:
                            pending.timer.cancel()
                    if answered:
                        break
                    # Unanswered (stale keep-alive connection, or queued behind a response
                    # that closed it): send again elsewhere. Not an attempt: nothing answered.
                    resent = True
                    connected = held = False
                    if pending.behind and not pending.orderly:
                        pool.stop_sharing(key)  # this host does not pipeline reliably
                    pool.release(key, conn, False)
                    exchange.discard()
                    exchange = _Exchange(exchange.request, env.out, env.max_size)
                    conn = await pool.acquire(key, fresh=True)
                    held = True
                outcome = exchange.finish()
            except BaseException:
                if conn is not None:
                    conn.abort()  # a late response would be read as the next request's
                raise
            pool.release(key, conn, reusable)
            return outcome
        except Exception as exc:
            if held:
                pool.release(key, conn, False)
            limit = env.timeout if connected else connect_limit
            return exchange.fail(
                translate_exception(exc, target, connected=connected, timeout=limit)
            )
        except BaseException:
            if held:
                pool.release(key, conn, False)
            exchange.discard()
            raise


class KeepaliveEngine:
    """asyncio Protocol, HTTP/1.1 persistent connections per host, optional pipelining (uvloop
    when installed)."""

    name = "keepalive"

    def run(self, ctx: RunContext) -> None:
        """Run the event loop until every job is done."""
        run_loop(self._main(ctx))

    async def _main(self, ctx: RunContext) -> None:
        pool: Pool[_Connection] = Pool(ctx.per_host, ctx.concurrency, ctx.pipeline)
        engine = _Engine(ctx.env, pool)
        try:
            await run_jobs(ctx, engine.attempt)
        finally:
            pool.close_all()
