"""The aiohttp engine's boundary: aiohttp exceptions map onto the shared error types
(mocked with aioresponses, so every branch is reachable without a misbehaving server).

Successful responses are covered against real servers by the conformance suite: aioresponses
0.7.9 cannot build a ClientResponse for aiohttp 3.14 (missing ``stream_writer`` argument)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import aiohttp
import pytest
from aioresponses import aioresponses
from fetchrun import fetch
from rawserver import RawServer

from fetchall.engines.aiohttp import aiohttp_attempt
from fetchall.engines.base import AttemptEnv
from fetchall.output.writer import OutputDir
from fetchall.policy import Outcome, PolicySettings, build_request
from fetchall.urls import parse_url

URL = "http://example.test/x"
KEY = aiohttp.client_reqrep.ConnectionKey("example.test", 80, False, True, None, None, None)


def attempt(tmp_path: Path, **mock: object) -> Outcome:
    async def go() -> Outcome:
        env = AttemptEnv(out=OutputDir(tmp_path), timeout=5, connect_timeout=2)
        request = build_request(parse_url(URL), PolicySettings())
        async with aiohttp.ClientSession(auto_decompress=False) as session:
            with aioresponses() as mocked:
                mocked.get(URL, **mock)  # type: ignore[arg-type]
                return await aiohttp_attempt(request, session, env)

    return asyncio.run(go())


@pytest.mark.parametrize(
    ("exception", "error_type"),
    [
        (aiohttp.ClientConnectorDNSError(KEY, socket.gaierror(-2, "Name unknown")), "dns"),
        (aiohttp.ClientConnectorError(KEY, ConnectionRefusedError(111, "refused")), "connect"),
        (aiohttp.ConnectionTimeoutError("connect"), "timeout"),
        (aiohttp.ServerTimeoutError("read"), "timeout"),
        (TimeoutError(), "timeout"),
        (aiohttp.ServerDisconnectedError(), "connection_lost"),
        (aiohttp.ClientPayloadError("Response payload is not completed"), "protocol"),
        (aiohttp.ClientOSError(104, "reset"), "connection_lost"),
        (aiohttp.ClientSSLError(KEY, OSError(1, "bad tls")), "tls"),
        (aiohttp.InvalidURL("http://"), "bad_url"),
    ],
)
def test_exception_mapping(tmp_path: Path, exception: Exception, error_type: str) -> None:
    outcome = attempt(tmp_path, exception=exception)
    assert outcome.error is not None and outcome.error.error_type == error_type, outcome
    assert outcome.body is None


def test_payload_reset_is_connection_lost(tmp_path: Path) -> None:
    error = aiohttp.ClientPayloadError("payload")
    error.__cause__ = ConnectionResetError(104, "Connection reset by peer")
    outcome = attempt(tmp_path, exception=error)
    assert outcome.error is not None and outcome.error.error_type == "connection_lost"


def test_stale_pooled_connection_is_resent_once_and_only_once(
    raw_server: RawServer, tmp_path: Path
) -> None:
    """A request sent on a pooled connection the server had closed is sent once more on a new
    connection, not counted as an attempt (the reuse is noted by `FramedConnector`); a fresh
    connection is never resent."""
    from test_keepalive import OK_11, _stale_then

    paths: list[str] = []
    raw_server.route("*", _stale_then(OK_11, paths))
    urls = [raw_server.url("/a"), raw_server.url("/b")]
    run = fetch("aiohttp", urls, tmp_path / "one", concurrency=1, retries=3)
    assert [(r.ok, r.attempts) for r in run.results] == [(True, 1), (True, 1)], run.results
    assert paths == ["/a", "/b", "/b"]  # /b: once on the stale connection, once resent
    raw_server.reset_stats()
    raw_server.route("*", _stale_then(None))
    run = fetch("aiohttp", urls, tmp_path / "two", concurrency=1)
    second = run.by_url(urls[1])
    assert second.error_type == "connection_lost" and second.attempts == 1, second
    assert raw_server.connections == 2  # the stale one and one fresh: no second resend
