"""The keepalive engine's own contract: connections are reused when, and only when, the response
allows it, and a stale pooled connection is resent once without counting an attempt.

Reuse is counted on the servers (accepted TCP connections). The raw server's keep-alive script
answers every request that arrives on its connection with the same bytes, so a client that
reused a connection it should have closed would show fewer connections than URLs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fetchrun import fetch
from rawserver import RawConn, RawServer

from fetchall.server import ServerThread, body_bytes

pytestmark = pytest.mark.timeout(60)

ENGINE = "keepalive"
OK_11 = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def keep_answering(response: bytes) -> Callable[[RawConn], None]:
    """A raw script that answers each request on the connection with ``response``."""

    def script(conn: RawConn) -> None:
        conn.send(response)
        while conn.read_head().endswith(b"\r\n\r\n"):  # the next request on this connection
            conn.send(response)

    return script


def sequential(raw: RawServer, response: bytes, tmp_path: Path, count: int = 4) -> int:
    """Fetch ``count`` URLs one at a time; every result must be ``ok``; the connections used."""
    raw.route("*", keep_answering(response))
    run = fetch(ENGINE, [raw.url(f"/f{i}") for i in range(count)], tmp_path, concurrency=1)
    assert all(r.ok and r.attempts == 1 for r in run.results), run.results
    return raw.connections


def test_connections_are_reused(server: ServerThread, tmp_path: Path) -> None:
    urls = [server.url(f"/bytes/{100 + i}") for i in range(50)]
    run = fetch(ENGINE, urls, tmp_path, concurrency=4, per_host=4)
    assert all(r.ok for r in run.results), run.results
    assert run.saved(run.by_url(urls[7])) == body_bytes(107)
    assert server.stats.connections <= 4 + 2, server.stats.connections


def test_per_host_bounds_open_connections(server: ServerThread, tmp_path: Path) -> None:
    urls = [server.url(f"/bytes/{10 + i}?latency=0.05") for i in range(30)]
    run = fetch(ENGINE, urls, tmp_path, concurrency=10, per_host=2)
    assert all(r.ok for r in run.results)
    assert server.stats.max_active <= 2
    assert server.stats.connections <= 2 + 2, server.stats.connections


@pytest.mark.parametrize(
    "response",
    [
        OK_11,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 204 No Content\r\n\r\n",
    ],
    ids=["length", "chunked", "http10-keep-alive", "bodiless"],
)
def test_reused_after_self_framed_response(
    raw_server: RawServer, tmp_path: Path, response: bytes
) -> None:
    assert sequential(raw_server, response, tmp_path) == 1
    assert b"HTTP/1.1\r\n" in raw_server.requests[0]
    assert b"Connection: keep-alive\r\n" in raw_server.requests[0]
    assert b"Connection: close" not in raw_server.requests[0]


@pytest.mark.parametrize(
    "response",
    [
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nConnection: Keep-Alive, Close\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\nX",
    ],
    ids=["connection-close", "close-token", "http10", "excess-bytes", "excess-after-chunks"],
)
def test_not_reused(raw_server: RawServer, tmp_path: Path, response: bytes) -> None:
    assert sequential(raw_server, response, tmp_path) == 4


def test_not_reused_after_read_until_close(raw_server: RawServer, tmp_path: Path) -> None:
    raw_server.route("*", b"HTTP/1.1 200 OK\r\n\r\nuntil close")
    run = fetch(ENGINE, [raw_server.url(f"/f{i}") for i in range(3)], tmp_path, concurrency=1)
    assert all(r.ok for r in run.results)
    assert run.saved(run.results[0]) == b"until close"
    assert raw_server.connections == 3


def test_not_reused_after_non_2xx(raw_server: RawServer, tmp_path: Path) -> None:
    raw_server.route("*", keep_answering(b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno"))
    run = fetch(ENGINE, [raw_server.url(f"/f{i}") for i in range(3)], tmp_path, concurrency=1)
    assert all(r.status == 404 and r.error_type == "http_status" for r in run.results)
    assert raw_server.connections == 3


def test_not_reused_after_bytes_on_idle_connection(
    raw_server: RawServer, server: ServerThread, tmp_path: Path
) -> None:
    def script(conn: RawConn) -> None:
        conn.send(OK_11)
        conn.sleep(0.1)
        conn.send(b"unsolicited")  # arrives while the connection is idle
        keep_answering(OK_11)(conn)

    raw_server.route("*", script)
    # one at a time: the slow URL in the middle keeps the raw connection idle meanwhile
    urls = [raw_server.url("/a"), server.url("/bytes/10?latency=0.4"), raw_server.url("/b")]
    run = fetch(ENGINE, urls, tmp_path, concurrency=1)
    assert all(r.ok for r in run.results), run.results
    assert raw_server.connections == 2


def _stale_then(later: bytes | None, paths: list[str] | None = None) -> Callable[[RawConn], None]:
    """First connection: answer, then close after the next request arrived; later connections:
    answer with ``later`` (None: close without a response). Request paths go to ``paths``."""
    seen: list[int] = []
    paths = [] if paths is None else paths

    def script(conn: RawConn) -> None:
        seen.append(1)
        paths.append(conn.path)
        if len(seen) > 1:
            if later is not None:
                conn.send(later)
            return
        conn.send(OK_11)
        conn.read_head()  # the client reuses the connection; the server closes it unanswered
        paths.append(conn.path)

    return script


def test_stale_connection_is_resent_once(raw_server: RawServer, tmp_path: Path) -> None:
    paths: list[str] = []
    raw_server.route("*", _stale_then(OK_11, paths))
    urls = [raw_server.url("/a"), raw_server.url("/b")]
    run = fetch(ENGINE, urls, tmp_path, concurrency=1, retries=3)
    assert [(r.ok, r.attempts) for r in run.results] == [(True, 1), (True, 1)], run.results
    assert raw_server.connections == 2
    assert paths == ["/a", "/b", "/b"]  # /b: once on the stale connection, once resent


def test_resend_happens_only_once(raw_server: RawServer, tmp_path: Path) -> None:
    raw_server.route("*", _stale_then(None))
    urls = [raw_server.url("/a"), raw_server.url("/b")]
    run = fetch(ENGINE, urls, tmp_path, concurrency=1)
    second = run.by_url(urls[1])
    assert second.error_type == "connection_lost" and second.attempts == 1, second
    assert raw_server.connections == 2  # the stale one and one fresh: no second resend


def test_fresh_connection_is_not_resent(raw_server: RawServer, tmp_path: Path) -> None:
    raw_server.route("*", b"")  # close without a response
    result = fetch(ENGINE, [raw_server.url("/x")], tmp_path).one()
    assert result.error_type == "connection_lost" and result.attempts == 1, result
    assert raw_server.connections == 1


def test_not_reused_when_the_user_asks_for_close(raw_server: RawServer, tmp_path: Path) -> None:
    """``-H "Connection: close"`` replaces the default and is honoured even if the server
    would keep the connection open."""
    raw_server.route("*", keep_answering(OK_11))
    urls = [raw_server.url(f"/f{i}") for i in range(3)]
    run = fetch(ENGINE, urls, tmp_path, concurrency=1, headers=[("Connection", "close")])
    assert all(r.ok for r in run.results)
    assert raw_server.connections == 3
    assert all(b"Connection: close\r\n" in request for request in raw_server.requests)
    assert all(b"keep-alive" not in request for request in raw_server.requests)


@pytest.mark.parametrize("pipeline", [1, 3])
def test_bodies_read_through_the_shared_read_buffer_arrive_intact(
    tmp_path: Path, pipeline: int
) -> None:
    """Every connection reads into the run's one buffer and plain bodies go on as views of it:
    distinct random bodies, several reads each, framed by length or by EOF, mixed with small
    ones on reused (and pipelined) connections, must each be saved byte for byte."""
    import contextlib
    import os
    import socket
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    bodies = {f"/len/{i}": os.urandom(200_000 + i * 65_537) for i in range(8)}
    bodies.update({f"/eof/{i}": os.urandom(300_000 + i) for i in range(3)})
    bodies.update({f"/small/{i}": os.urandom(100 + i) for i in range(30)})

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive; pipelined requests are read in turn

        def do_GET(self) -> None:
            body = bodies[self.path]
            self.send_response(200)
            if self.path.startswith("/eof/"):  # read until close
                self.close_connection = True
                self.send_header("Connection", "close")
            else:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            if self.close_connection:
                # A lingering close, as nginx does: requests pipelined behind this one are
                # read and dropped until the client closes, so the kernel sends a FIN after
                # the body, not a reset that could cut it short.
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_WR)
                self.connection.settimeout(10)
                with contextlib.suppress(OSError):
                    while self.rfile.read1(65536):  # bounded: ends at EOF or the timeout
                        pass

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        urls = [base + path for path in bodies]
        run = fetch(ENGINE, urls, tmp_path, concurrency=6, per_host=6, pipeline=pipeline)
    finally:
        server.shutdown()
        server.server_close()
    for path, body in bodies.items():
        result = run.by_url(base + path)
        assert result.ok, result
        assert run.saved(result) == body, path
