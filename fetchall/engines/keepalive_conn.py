"""The ``keepalive`` engine's connections: a buffered asyncio protocol that frames the responses
to the requests sent on it, in order, and decides whether it stays usable.

Strategy: a connection keeps a FIFO of the requests sent on it (`Pending`); every received byte
is fed straight from the loop's read into the oldest one's exchange (fetchall's own
`ResponseParser` frames it), and each request's waiter resolves when its exchange needs no more
bytes or the connection fails. With pipelining, the bytes that follow one response
(`ResponseParser.take_trailing`) are the start of the next. Reads land in the run's one buffer:
plain body bytes go on as views of it, head bytes as a copy. The rest of a large plain body framed
by Content-Length is spliced from the socket to the file instead (`splicing`; plain TCP only):
the transport stops reading, a reader on a duplicate of the socket moves what arrives, and the
transport reads again once the body is complete.

A connection stays usable only if the response was a complete 2xx ended by its own framing
(Content-Length, chunked or bodiless — never read-until-close), HTTP/1.1 without ``Connection:
close`` on either side (HTTP/1.0 only with ``Connection: keep-alive``), and nothing failed; bytes
after a response are discarded and the connection closed unless another request is waiting for
them (RFC 9112 §6.3). A non-2xx response is not drained: its connection is closed. Bytes arriving
on an idle connection close it too. A request that gets no answer — sent on a reused connection
(stale keep-alive), or queued behind another request whose response closed the connection — or
whose first bytes do not start a valid response (junk that followed the previous response on
that connection) fails as unanswered, and the engine sends it once more (see `keepalive`).
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from collections.abc import Callable, Iterable
from typing import cast

from fetchall.caches import BoundedCache
from fetchall.engines.exchange import Exchange
from fetchall.engines.splicing import SPLICE_AT, Pipe
from fetchall.errors import ConnectionLostError

_HEAD_PART = 16 * 1024
"""Bytes of a read copied for a response's head before looking whether the rest is plain body."""
_SPLICES_PER_CALL = 4
"""At most this many pipefuls per readiness of a spliced socket, so one fast sender cannot keep
the loop from the other connections (the loop calls again while bytes wait)."""
_UNANSWERED = "server closed the connection without sending a response"
_CUT_SHORT = "connection closed while the response was arriving"


class KeepAliveExchange(Exchange):
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


class Pending:
    """One request sent on a connection, waiting for (the rest of) its response."""

    __slots__ = ("behind", "exchange", "orderly", "received", "resendable", "timer", "waiter")

    def __init__(
        self, exchange: KeepAliveExchange, waiter: asyncio.Future[bool], behind: bool, reused: bool
    ):
        self.exchange = exchange
        self.waiter = waiter  # result: whether the connection stays reusable after it
        self.timer: asyncio.TimerHandle | None = None  # fails the waiter at the deadline
        self.received = False  # a byte of its response arrived
        self.behind = behind  # pipelined: sent while another request was waiting on the connection
        self.resendable = behind or reused  # unanswered, it may be sent again (module docstring)
        self.orderly = False  # unanswered because the response before it ended the connection


class Connection(asyncio.BufferedProtocol):
    """One TCP (or TLS) connection; feeds its requests' exchanges in order.

    A buffered protocol: the loop reads into ``buffer``, the run's one read buffer (shared by
    every connection: each read is fed on at once, before the next one). Body bytes go on as
    views of it, head bytes as a copy (see `Exchange.takes_views`): a large body costs no
    allocation per read."""

    def __init__(self, buffer: memoryview, pipe: Callable[[], Pipe] | None) -> None:
        self.loop = asyncio.get_running_loop()  # once: each call costs a getpid() on 3.11
        self._buffer = buffer
        self._pipe = pipe  # the run's pipe, to splice large bodies (None: never, e.g. TLS)
        self._splicing = -1  # while splicing: a duplicate of the socket's descriptor
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.pipelinable = False  # answered a reusable response (pool.PooledConnection)
        self.served = 0  # responses completed on it
        self._queue: deque[Pending] = deque()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast("asyncio.Transport", transport)  # uvloop's is not a subclass

    def send(self, exchange: KeepAliveExchange, data: bytes, deadline: float) -> Pending:
        """Send one request; its `Pending` resolves when the response is complete, or fails
        with TimeoutError at ``deadline`` (loop time; the caller cancels `Pending.timer`)."""
        waiter = self.loop.create_future()
        pending = Pending(exchange, waiter, behind=bool(self._queue), reused=self.served > 0)
        if self.closed or self.transport is None:
            pending.waiter.set_exception(ConnectionLostError(_UNANSWERED))
            return pending
        pending.timer = self.loop.call_at(deadline, _expire, waiter)
        self._queue.append(pending)
        exchange.mark_sent()
        self.transport.write(data)
        return pending

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._buffer

    def buffer_updated(self, nbytes: int) -> None:
        self._feed_read(nbytes)
        if self._pipe is not None and self._queue:
            self._maybe_splice(self._pipe)

    def _feed_read(self, nbytes: int) -> None:
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
            parser = exchange.parser
            data = parser.take_trailing() if parser is not None else b""
            if not self._answered(pending, data):
                return

    def _answered(self, pending: Pending, trailing: bytes) -> bool:
        """A response ended (``trailing``: the bytes that followed it): resolve its request;
        whether the connection stays usable."""
        self.served += 1
        if not pending.exchange.keeps_alive():
            _resolve(pending.waiter, False)
            for behind in self._queue:  # announced (Connection: close) or our choice (non-2xx)
                behind.orderly = True
            self.abort()
            return False
        self.pipelinable = True
        _resolve(pending.waiter, not trailing or bool(self._queue))
        return True

    def _maybe_splice(self, pipe: Callable[[], Pipe]) -> None:
        """Splice the rest of the current response's body if it is large (`splicing`): the
        transport stops reading and a reader on a duplicate of the socket takes over."""
        pending = self._queue[0]
        transport = self.transport
        if self._splicing >= 0 or self.closed or transport is None or transport.is_closing():
            return
        try:
            file = pending.exchange.direct_body(SPLICE_AT)  # writes what the file still lacks
        except Exception as exc:  # the disk is full...: the request fails, as in data_received
            self._queue.popleft()
            _resolve(pending.waiter, exc)
            self.abort()
            return
        sock = transport.get_extra_info("socket")
        if file is None or sock is None:
            return
        try:
            fd = os.dup(sock.fileno())  # (the loop refuses a reader on a transport's own)
        except OSError:
            return  # out of descriptors: the read buffer will do
        transport.pause_reading()
        self._splicing = fd
        self.loop.add_reader(fd, self._splice, pending, file, pipe())

    def _splice(self, pending: Pending, file: int, pipe: Pipe) -> None:
        """The socket is readable while splicing: move what arrived; at the body's end, hand
        the connection back to its transport."""
        if self._splicing < 0:  # stopped meanwhile
            return
        exchange = pending.exchange
        parser = exchange.parser
        assert parser is not None
        try:
            for _ in range(_SPLICES_PER_CALL):
                count = pipe.move(self._splicing, file, parser.body_left)
                if not count:
                    exchange.feed(b"")  # EOF inside the body: raises the parser's error
                if exchange.moved(count):
                    break
            else:
                return  # more has arrived: the loop calls again, after the other connections
        except BlockingIOError:
            return  # the rest has not arrived yet
        except Exception as exc:
            self._stop_splicing()
            self._queue.popleft()  # (splicing is only ever for the oldest request)
            _resolve(pending.waiter, exc)
            self.abort()
            return
        self._stop_splicing()
        if self.transport is not None:
            self.transport.resume_reading()
        self._queue.popleft()
        self._answered(pending, b"")

    def _stop_splicing(self) -> None:
        fd, self._splicing = self._splicing, -1
        if fd >= 0:
            self.loop.remove_reader(fd)
            os.close(fd)

    def eof_received(self) -> bool:
        return False  # the transport closes itself; connection_lost reports the EOF

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._stop_splicing()
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
        self._stop_splicing()
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
