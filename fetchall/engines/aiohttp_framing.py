"""fetchall's response framing in front of aiohttp's parser (used by the ``aiohttp`` engine).

Strategy: every engine must frame a response identically, so the bytes a server sends are never
given to aiohttp's parser (llhttp) as they are. `FramedHandler`, aiohttp's connection protocol
with one step added, first feeds them to the shared sans-I/O `ResponseParser` — the very parser
the hand-built engines use — and relays to llhttp only a canonical copy of what that parser
accepted: the final head (interim 1xx responses dropped; Content-Length / Transfer-Encoding
replaced by the framing the parser chose; obs-folds unfolded) and the body (re-chunked when it
was chunked: chunk extensions and trailers dropped). So:

- whatever the parser rejects fails with the parser's own `ProtocolError` (same type and
  message as every other engine), raised from the response or its body stream; an EOF the
  parser calls an error is reported as that error, not as aiohttp's view of it;
- bytes after the end of a response are discarded, never parsed as another response (RFC 9112
  §6.3), and the connection is never reused: llhttp would otherwise fail the response they
  arrived with, or hand them to the next request sent on the pooled connection;
- llhttp only ever sees well-formed HTTP/1.1, so its own, different leniencies never decide.

aiohttp still does everything else: connections, pooling and keep-alive, TLS, limits, timeouts,
flow control and body streaming. The hook is aiohttp's protocol factory (`FramedConnector`);
``set_response_params`` (called once per request) starts a new parser.
"""

from __future__ import annotations

import asyncio
import time
from contextvars import ContextVar
from functools import partial
from typing import Any, cast

import aiohttp
from aiohttp.client_proto import ResponseHandler
from aiohttp.helpers import set_exception

from fetchall.errors import ConnectionLostError, FetchError, ProtocolError
from fetchall.http.parser import Data, End, Event, Head, ResponseParser

_FRAMING_FIELDS = frozenset({"content-length", "transfer-encoding"})


class FramedHandler(ResponseHandler):
    """aiohttp's response protocol, fed through fetchall's `ResponseParser` first."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self._framer: ResponseParser | None = None  # the current request's parser
        self._error: FetchError | None = None  # the parser rejected the current response
        self._relayed = False  # the current response's head went to aiohttp
        self.used = False  # a request was sent on this connection before

    def set_response_params(self, **kwargs: Any) -> None:
        """A request is about to be sent on this connection: frame its response afresh."""
        self.used = True
        method = "HEAD" if kwargs.get("skip_payload") else "GET"
        self._framer = ResponseParser(method=method)
        self._error = None
        self._relayed = False
        super().set_response_params(**kwargs)

    def data_received(self, data: bytes) -> None:
        """Frame ``data``; relay the canonical form of what it completes to aiohttp."""
        framer = self._framer
        if framer is None or not data:  # no request yet, or aiohttp resuming its own parser
            super().data_received(data)
            return
        if self._error is not None:
            return
        if framer.done:  # after the end of the response: discard, and never reuse
            self._close()
            return
        try:
            events = framer.feed(data)
        except FetchError as exc:
            self._fail(exc)
            return
        relay = self._relay(events, framer)
        if relay:
            super().data_received(relay)
        if framer.trailing_bytes:
            self._close()

    def connection_lost(self, exc: BaseException | None) -> None:
        """EOF: the parser decides whether the response was complete (not llhttp)."""
        framer, error = self._framer, self._error
        if error is None and exc is None and framer is not None and not framer.done:
            try:
                framer.feed(b"")
            except ConnectionLostError:  # nothing received: aiohttp's "server disconnected"
                pass  # (which lets a stale pooled connection be replaced)
            except ProtocolError as err:
                error = err
        if error is not None:
            if self._relayed and self._payload is not None:
                set_exception(self._payload, error)
            self._parser = None  # aiohttp must not report its own view of this EOF
            exc = error
        super().connection_lost(exc)

    def _fail(self, error: FetchError) -> None:
        self._error = error
        if self._relayed and self._payload is not None:
            set_exception(self._payload, error)
        self.set_exception(error)  # response.start() raises it if the head was not relayed
        self._close()

    def _close(self) -> None:
        self.force_close()
        if self.transport is not None:
            self.transport.close()

    def _relay(self, events: list[Event], framer: ResponseParser) -> bytes:
        chunked = framer.framing == "chunked"
        out: list[bytes] = []
        for event in events:
            if isinstance(event, Data):
                data = cast(bytes, event.data)  # this parser is fed bytes: no views
                if chunked:
                    out.append(b"%x\r\n" % len(data))
                    out.append(data)
                    out.append(b"\r\n")
                else:
                    out.append(data)
            elif isinstance(event, Head):
                self._relayed = True
                out.append(_canonical_head(event, framer))
            elif isinstance(event, End) and chunked:
                out.append(b"0\r\n\r\n")
        return out[0] if len(out) == 1 else b"".join(out)


def _canonical_head(head: Head, framer: ResponseParser) -> bytes:
    lines = [f"{head.http_version} {head.status} {head.reason}".encode("latin-1")]
    for name, value in head.headers:
        if name not in _FRAMING_FIELDS:
            lines.append(f"{name}: {value}".encode("latin-1"))
    if framer.framing == "length":
        lines.append(b"content-length: %d" % framer.content_length)
    elif framer.framing == "chunked":
        lines.append(b"transfer-encoding: chunked")
    lines.append(b"\r\n")
    return b"\r\n".join(lines)


class ConnectionUse:
    """Whether the current attempt's request went out on a pooled (kept-alive) connection, and
    when (its connection was handed out, ready: aiohttp writes the request next), set by
    `FramedConnector.connect` for the attempt of the running task (`CONNECTION_USE`)."""

    __slots__ = ("retried", "reused", "sent")

    def __init__(self) -> None:
        self.reused = False
        self.retried = False
        self.sent: float | None = None  # when a connection was handed out: the request follows


CONNECTION_USE: ContextVar[ConnectionUse | None] = ContextVar("CONNECTION_USE", default=None)
"""The running attempt's `ConnectionUse` (each job runs in its own task, so its own context).
Cheaper than an aiohttp ``TraceConfig``, which adds coroutine calls to every request."""


class FramedConnector(aiohttp.TCPConnector):
    """A `aiohttp.TCPConnector` whose connections use `FramedHandler`, and which notes in
    `CONNECTION_USE` when it hands out a connection and whether it was used before."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._factory = partial(_new_handler, loop=self._loop)

    async def connect(self, req: Any, traces: Any, timeout: Any) -> Any:
        """aiohttp's connect, noting the time and a reused connection for the running attempt."""
        conn = await super().connect(req, traces, timeout)
        use = CONNECTION_USE.get()
        if use is not None:
            use.sent = time.monotonic()  # aiohttp writes the request right after (`Outcome.sent`)
            if getattr(conn.protocol, "used", False):
                use.reused = True
        return conn


def _new_handler(loop: asyncio.AbstractEventLoop) -> ResponseHandler:
    return FramedHandler(loop)
