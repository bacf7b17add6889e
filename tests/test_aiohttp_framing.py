"""`FramedHandler`: aiohttp's response protocol behind fetchall's parser, driven directly.

The conformance and hostile tables check the verdicts end to end on every engine; these check
the protocol-level details they cannot see: what aiohttp's parser is given, that the connection
is closed (never reused) after excess bytes, and whose error wins at EOF.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest

from fetchall.engines.aiohttp_framing import FramedHandler
from fetchall.errors import ProtocolError

pytestmark = pytest.mark.timeout(10)


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def connected(loop: asyncio.AbstractEventLoop) -> tuple[FramedHandler, mock.Mock]:
    handler = FramedHandler(loop)
    transport = mock.Mock()
    transport.get_extra_info.return_value = None
    transport.is_closing.return_value = False
    handler.connection_made(transport)
    handler.set_response_params(auto_decompress=False)
    return handler, transport


def response(loop: asyncio.AbstractEventLoop, handler: FramedHandler) -> tuple[Any, bytes]:
    async def read() -> tuple[Any, bytes]:
        message, payload = await handler.read()
        return message, await payload.read()

    return loop.run_until_complete(asyncio.wait_for(read(), 5))


def test_excess_bytes_in_the_same_read_are_dropped_and_the_connection_closed(
    loop: asyncio.AbstractEventLoop,
) -> None:
    handler, transport = connected(loop)
    handler.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n")
    message, body = response(loop, handler)
    assert message.code == 200 and body == b"ok"
    assert handler.should_close and transport.close.called


def test_bytes_after_a_complete_response_close_the_connection(
    loop: asyncio.AbstractEventLoop,
) -> None:
    handler, transport = connected(loop)
    handler.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    assert response(loop, handler)[1] == b"ok"
    assert not transport.close.called
    handler.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nPOISON")
    assert handler.should_close and transport.close.called


def test_aiohttp_sees_a_canonical_head_and_rechunked_body(
    loop: asyncio.AbstractEventLoop,
) -> None:
    handler, _ = connected(loop)
    raw = (
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\nX-Folded: a\n b\nTransfer-Encoding: chunked"
        b"\n\n3;ext=1\nabc\n0\nX-Trailer: 1\n\n"
    )
    for i in range(len(raw)):  # byte by byte: the relay must not depend on read sizes
        handler.data_received(raw[i : i + 1])
    message, body = response(loop, handler)
    assert body == b"abc"
    assert message.raw_headers == ((b"x-folded", b"a b"), (b"transfer-encoding", b"chunked"))


def test_a_rejected_head_raises_the_parsers_error(loop: asyncio.AbstractEventLoop) -> None:
    handler, transport = connected(loop)
    handler.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello")
    with pytest.raises(ProtocolError, match="bad Content-Length"):
        response(loop, handler)
    assert transport.close.called
    handler.connection_lost(None)  # the close arrives: the parser's error stays
    with pytest.raises(ProtocolError, match="bad Content-Length"):
        response(loop, handler)


def test_eof_inside_the_body_is_the_parsers_error(loop: asyncio.AbstractEventLoop) -> None:
    handler, _ = connected(loop)
    handler.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello")

    async def read() -> bytes:
        _, payload = await handler.read()
        loop.call_soon(handler.connection_lost, None)
        return bytes(await payload.read())

    with pytest.raises(ProtocolError, match="got 5 of 10 bytes"):
        loop.run_until_complete(asyncio.wait_for(read(), 5))
