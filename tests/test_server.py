"""Tests of the test servers themselves: fetchall.server (aiohttp) and tests/rawserver.py.

Strategy: only stdlib clients (http.client, raw sockets) talk to the servers, so these tests do
not depend on any fetchall engine. Every wait is bounded by a socket timeout or a deadline.
"""

from __future__ import annotations

import gzip
import http.client
import json
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable
from email.utils import formatdate
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import brotli
import pytest
from rawserver import RawConn, RawServer

from fetchall.server import (
    ServerSettings,
    ServerThread,
    body_bytes,
    demo_urls,
    iter_body,
)

TIMEOUT = 5.0
ROOT = Path(__file__).resolve().parent.parent

Reply = tuple[int, http.client.HTTPMessage, bytes]


def get(server: ServerThread, path: str, method: str = "GET", **headers: str) -> Reply:
    """One request on a fresh connection; returns (status, headers, body)."""
    host = "::1" if server.base_url.startswith("http://[") else "127.0.0.1"
    conn = http.client.HTTPConnection(host, server.port, timeout=TIMEOUT)
    try:
        conn.request(method, path, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


def raw_exchange(port: int, request: bytes, host: str = "127.0.0.1", limit: int = 1 << 22) -> bytes:
    """Send raw bytes, read everything until the server closes (bounded size and time)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(TIMEOUT)
        sock.connect((host, port))
        sock.sendall(request)
        data = b""
        while len(data) < limit:  # bounded by size; each recv bounded by the timeout
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        return data


def raw_get(port: int, target: str, version: str = "1.1", method: str = "GET") -> bytes:
    request = f"{method} {target} HTTP/{version}\r\nHost: x\r\nConnection: close\r\n\r\n"
    return raw_exchange(port, request.encode())


def split_head(data: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = dict(line.split(": ", 1) for line in lines[1:])
    return lines[0], {k.lower(): v for k, v in fields.items()}, body


def dechunk(body: bytes) -> tuple[bytes, int]:
    """Decode chunked framing strictly; return (payload, number of data chunks)."""
    out, count = b"", 0
    for _ in range(100_000):  # bounded
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            assert body == b"\r\n"
            return out, count
        out, count = out + body[:size], count + 1
        assert body[size : size + 2] == b"\r\n"
        body = body[size + 2 :]
    raise AssertionError("too many chunks")


def wait_until(predicate: Callable[[], bool], timeout: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:  # bounded by deadline
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


# ------------------------------------------------------------------------------- bodies


@pytest.mark.parametrize("n", [0, 1, 61, 62, 63, 65535, 65536, 65537, 200_001])
def test_iter_body_matches_body_bytes(n: int) -> None:
    pieces = list(iter_body(n))
    assert b"".join(pieces) == body_bytes(n)
    assert all(len(p) <= 65536 for p in pieces)


def test_body_bytes_pattern() -> None:
    body = body_bytes(130)
    assert body[:62] == b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    assert body[62:124] == body[:62] and len(body) == 130
    with pytest.raises(ValueError):
        body_bytes(-1)


@pytest.mark.parametrize("n", [0, 1, 100, 70_000])
def test_bytes_route(server: ServerThread, n: int) -> None:
    status, headers, body = get(server, f"/bytes/{n}")
    assert (status, body) == (200, body_bytes(n))
    assert headers["Content-Length"] == str(n)
    assert headers["Content-Type"] == "application/octet-stream"
    assert "Content-Encoding" not in headers


def test_bytes_large_streamed(server: ServerThread) -> None:
    n = 5 * 1024 * 1024 + 7
    assert get(server, f"/bytes/{n}")[2] == body_bytes(n)


@pytest.mark.parametrize("bad", ["-1", "abc", "1073741825", "99999999999999999999", "%EF%BC%91"])
def test_bytes_rejects_bad_sizes(server: ServerThread, bad: str) -> None:
    assert get(server, f"/bytes/{bad}")[0] in (400, 404)


DECODERS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.decompress,
    "deflate": zlib.decompress,
    "deflate-raw": lambda b: zlib.decompress(b, wbits=-15),
    "br": brotli.decompress,
    "gzip,deflate": lambda b: gzip.decompress(zlib.decompress(b)),
    "deflate,br,gzip": lambda b: zlib.decompress(brotli.decompress(gzip.decompress(b))),
}
HEADER_NAMES = {"deflate-raw": "deflate", "gzip,deflate": "gzip, deflate"}


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("encoding", list(DECODERS))
def test_encodings_decode_to_body(server: ServerThread, encoding: str, chunked: bool) -> None:
    n = 200_000
    query = f"encoding={encoding}" + ("&chunked=1" if chunked else "")
    status, headers, body = get(server, f"/bytes/{n}?{query}")
    assert status == 200
    expected_name = HEADER_NAMES.get(encoding, encoding.replace(",", ", "))
    assert headers["Content-Encoding"] == expected_name
    assert DECODERS[encoding](body) == body_bytes(n)
    if chunked:
        assert headers["Transfer-Encoding"] == "chunked"
    else:
        assert headers["Content-Length"] == str(len(body))


@pytest.mark.parametrize("bad", ["zstd", "gzip,,gzip", "gzip,gzip,gzip,gzip,gzip", ""])
def test_bad_encoding_is_400(server: ServerThread, bad: str) -> None:
    assert get(server, f"/bytes/10?encoding={bad}")[0] == 400


def test_chunked_framing_on_the_wire(server: ServerThread) -> None:
    status_line, headers, body = split_head(raw_get(server.port, "/bytes/150000?chunked=1"))
    assert status_line == "HTTP/1.1 200 OK"
    assert headers["transfer-encoding"] == "chunked" and "content-length" not in headers
    payload, chunks = dechunk(body)
    assert payload == body_bytes(150000) and chunks >= 3


def test_chunked_on_http10_is_close_delimited(server: ServerThread) -> None:
    status_line, headers, body = split_head(raw_get(server.port, "/bytes/1000?chunked=1", "1.0"))
    assert status_line.startswith("HTTP/1.0 200")
    assert "transfer-encoding" not in headers and "content-length" not in headers
    assert body == body_bytes(1000)


def test_http10_gets_content_length(server: ServerThread) -> None:
    _, headers, body = split_head(raw_get(server.port, "/bytes/300", "1.0"))
    assert headers["content-length"] == "300" and body == body_bytes(300)


def test_type_param(server: ServerThread) -> None:
    _, headers, _ = get(server, "/bytes/3?type=text/x-demo;%20charset=utf-8")
    assert headers["Content-Type"] == "text/x-demo; charset=utf-8"
    _, headers, _ = get(server, "/json/1?type=text/plain")
    assert headers["Content-Type"] == "text/plain"
    assert get(server, "/bytes/3?type=a%0d%0aX-Evil:%201")[0] == 400


def test_head_has_length_but_no_body(server: ServerThread) -> None:
    status, headers, body = get(server, "/bytes/1234", method="HEAD")
    assert (status, body, headers["Content-Length"]) == (200, b"", "1234")
    raw = raw_get(server.port, "/bytes/1234", method="HEAD")
    assert raw.endswith(b"\r\n\r\n") and b"Content-Length: 1234" in raw
    raw = raw_get(server.port, "/bytes/5000?encoding=gzip", method="HEAD")
    assert raw.endswith(b"\r\n\r\n") and b"Content-Encoding: gzip" in raw


# ------------------------------------------------------------------------------- /status


@pytest.mark.parametrize("code", [200, 201, 404, 418, 500, 503, 599])
def test_status_route(server: ServerThread, code: int) -> None:
    status, headers, body = get(server, f"/status/{code}")
    assert (status, body) == (code, f"status {code}\n".encode())
    assert headers["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize("code", [204, 304])
def test_status_without_body(server: ServerThread, code: int) -> None:
    raw = raw_get(server.port, f"/status/{code}")
    assert raw.startswith(f"HTTP/1.1 {code}".encode()) and raw.endswith(b"\r\n\r\n")


@pytest.mark.parametrize("code", ["199", "600", "abc"])
def test_status_out_of_range(server: ServerThread, code: str) -> None:
    assert get(server, f"/status/{code}")[0] == 400


def test_status_with_encoding(server: ServerThread) -> None:
    status, _, body = get(server, "/status/500?encoding=gzip")
    assert (status, gzip.decompress(body)) == (500, b"status 500\n")


# ----------------------------------------------------------------------------- redirects


def follow(server: ServerThread, path: str, limit: int = 20) -> tuple[list[str], Reply]:
    """Follow redirects by hand; return the Location values seen and the final reply."""
    url, locations = server.url(path), list[str]()
    for _ in range(limit):  # bounded
        parts = urlsplit(url)
        reply = get(server, parts.path + ("?" + parts.query if parts.query else ""))
        if reply[0] not in (301, 302, 303, 307, 308):
            return locations, reply
        locations.append(reply[1]["Location"])
        url = urljoin(url, reply[1]["Location"])
    raise AssertionError("redirect loop")


def test_relative_redirect_chain(server: ServerThread) -> None:
    locations, (status, _, body) = follow(server, "/redirect/3")
    assert locations == ["/redirect/2", "/redirect/1", "/redirect/0"]
    assert (status, body) == (200, body_bytes(16))
    assert server.stats.by_path["/redirect/0"] == 1


def test_path_relative_redirect_chain(server: ServerThread) -> None:
    locations, (status, _, body) = follow(server, "/redirect/2?relative=path")
    assert locations == ["1?relative=path", "0?relative=path"]
    assert (status, body) == (200, body_bytes(16))


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_redirect_status_and_absolute(server: ServerThread, code: int) -> None:
    status, headers, _ = get(server, f"/redirect/2?status={code}&absolute=1")
    assert status == code
    assert headers["Location"] == server.url(f"/redirect/1?status={code}&absolute=1")
    locations, reply = follow(server, f"/redirect/2?status={code}&absolute=1")
    assert len(locations) == 2 and reply[0] == 200


def test_redirect_bad_status(server: ServerThread) -> None:
    assert get(server, "/redirect/1?status=305")[0] == 400
    assert get(server, "/redirect/1?status=200")[0] == 400


def test_redirect_to(server: ServerThread) -> None:
    status, headers, _ = get(server, "/redirect-to?url=ftp://example.invalid/x")
    assert (status, headers["Location"]) == (302, "ftp://example.invalid/x")
    status, headers, _ = get(server, "/redirect-to?url=/redirect-to%3Furl%3Dx&status=307")
    assert (status, headers["Location"]) == (307, "/redirect-to?url=x")


def test_redirect_to_without_url_has_no_location(server: ServerThread) -> None:
    status, headers, _ = get(server, "/redirect-to?status=301")
    assert status == 301 and "Location" not in headers


def test_redirect_to_rejects_header_injection(server: ServerThread) -> None:
    assert get(server, "/redirect-to?url=/x%0d%0aSet-Cookie:%20a=b")[0] == 400


# --------------------------------------------------------------------------------- /flaky


def test_flaky_counts_per_key(server: ServerThread) -> None:
    statuses = [get(server, "/flaky/a/3")[0] for _ in range(4)]
    assert statuses == [503, 503, 200, 200]
    assert get(server, "/flaky/b/2")[0] == 503
    ok = get(server, "/flaky/b/2")
    assert (ok[0], ok[2]) == (200, body_bytes(32))


def test_flaky_retry_after_verbatim_and_reset(server: ServerThread) -> None:
    date = formatdate(time.time() + 1, usegmt=True)
    _, headers, _ = get(server, f"/flaky/c/3?retry_after={date.replace(' ', '%20')}")
    assert headers["Retry-After"] == date
    _, headers, _ = get(server, "/flaky/c/3?retry_after=0")
    assert headers["Retry-After"] == "0"
    _, headers, _ = get(server, "/flaky/d/2")
    assert "Retry-After" not in headers
    server.stats.reset()
    assert get(server, "/flaky/c/2")[0] == 503  # the counter was forgotten


def test_flaky_k1_always_ok(server: ServerThread) -> None:
    assert get(server, "/flaky/e/1")[0] == 200
    assert get(server, "/flaky/e/0")[0] == 400


# ------------------------------------------------------------------- /headers /json /links


def test_headers_echo_names_as_received(server: ServerThread) -> None:
    request = (
        b"GET /headers HTTP/1.1\r\nHost: h\r\nuser-AGENT: probe/1\r\nX-Custom: a\r\n"
        b"Authorization: Bearer t\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n"
    )
    _, _, body = split_head(raw_exchange(server.port, request))
    data = json.loads(body)
    assert data["user-AGENT"] == "probe/1" and data["X-Custom"] == "a"
    assert data["Authorization"] == "Bearer t" and data["Accept-Encoding"] == "gzip"


def test_json_route(server: ServerThread) -> None:
    status, headers, body = get(server, "/json/abc-1")
    assert (status, json.loads(body)) == (200, {"id": "abc-1"})
    assert headers["Content-Type"] == "application/json"


def test_links_route(server: ServerThread) -> None:
    status, headers, body = get(server, "/links/4")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    hrefs = re.findall(r'<a href="([^"]+)"', body.decode())
    assert hrefs == ["/json/0", "/json/1", "/json/2", "/json/3"]


# ------------------------------------------------------------------------------- latency


def test_latency_query(server: ServerThread) -> None:
    started = time.monotonic()
    assert get(server, "/bytes/1?latency=0.3")[0] == 200
    assert 0.3 <= time.monotonic() - started < 1.5
    for bad in ("-1", "nan", "inf", "x", "301"):
        assert get(server, f"/bytes/1?latency={bad}")[0] == 400


def test_server_wide_latency_and_jitter() -> None:
    with ServerThread(latency=0.2, jitter=0.05) as srv:
        started = time.monotonic()
        assert get(srv, "/json/1")[0] == 200
        assert 0.15 <= time.monotonic() - started < 1.0
        started = time.monotonic()
        assert get(srv, "/json/1?latency=0")[0] == 200  # the query overrides the default
        assert time.monotonic() - started < 0.15


def test_settings_validation() -> None:
    settings = ServerSettings(latency=0.1, jitter=0.1)
    assert all(0.0 <= settings.delay() <= 0.2 for _ in range(100))
    for bad in ({"latency": -1.0}, {"jitter": float("nan")}, {"latency": float("inf")}):
        with pytest.raises(ValueError):
            ServerSettings(**bad)


# --------------------------------------------------------------------------------- stats


def test_stats_count_requests_paths_and_connections(server: ServerThread) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT)
    for path in ("/bytes/1", "/bytes/1", "/json/2"):  # three requests, one kept-alive socket
        conn.request("GET", path)
        conn.getresponse().read()
    conn.close()
    get(server, "/nope")
    stats = server.stats
    assert (stats.requests, stats.connections) == (4, 2)
    assert stats.by_path == {"/bytes/1": 2, "/json/2": 1, "/nope": 1}
    stats.reset()
    assert (stats.requests, stats.connections, stats.max_active, stats.by_path) == (0, 0, 0, {})


def test_stats_max_active(server: ServerThread) -> None:
    threads = [
        threading.Thread(target=get, args=(server, f"/bytes/{i}?latency=0.4"), daemon=True)
        for i in range(5)
    ]
    for thread in threads:
        thread.start()
    assert wait_until(lambda: server.stats.active == 5)
    for thread in threads:
        thread.join(TIMEOUT)
    assert server.stats.max_active == 5 and server.stats.connections == 5
    assert wait_until(lambda: server.stats.active == 0)


# ------------------------------------------------------------------------ server lifecycle


def test_stop_is_bounded_with_requests_in_flight() -> None:
    srv = ServerThread().start()

    def hung_request() -> None:
        with pytest.raises(OSError):  # the server goes away mid-request
            get(srv, "/bytes/1?latency=60")

    hung = threading.Thread(target=hung_request, daemon=True)
    hung.start()
    assert wait_until(lambda: srv.stats.active == 1)
    started = time.monotonic()
    srv.stop()
    assert time.monotonic() - started < 2.0
    srv.stop()  # idempotent
    with pytest.raises(OSError):
        get(srv, "/bytes/1")


def test_lifecycle_errors() -> None:
    with pytest.raises(ValueError):
        ServerThread(host="0.0.0.0")
    with pytest.raises(ValueError):
        ServerThread(port=70000)
    srv = ServerThread()
    with pytest.raises(RuntimeError):
        _ = srv.base_url
    with srv:
        assert srv.url("x") == srv.url("/x") == f"http://127.0.0.1:{srv.port}/x"
        with pytest.raises(RuntimeError):
            srv.start()


def test_start_fails_loudly_on_a_taken_port(server: ServerThread) -> None:
    with pytest.raises(RuntimeError, match="failed to start"):
        ServerThread(port=server.port).start()


def test_serve_forever_prints_and_stops_on_ctrl_c() -> None:
    code = "from fetchall.server import serve_forever; serve_forever('127.0.0.1', 0, 0.0, 0.0)"
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.fullmatch(r"serving on http://127\.0\.0\.1:(\d+)\n", line)
        assert match, line
        assert raw_get(int(match[1]), "/json/1").startswith(b"HTTP/1.1 200")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=TIMEOUT)
        assert proc.returncode == 0 and "Traceback" not in err
    finally:
        proc.kill()
        proc.wait(TIMEOUT)


# ------------------------------------------------------------------------------ TLS, IPv6


def test_tls_server_verified_with_test_ca(tls_server: ServerThread, ca_file: Path) -> None:
    assert tls_server.base_url.startswith("https://127.0.0.1:")
    context = ssl.create_default_context(cafile=str(ca_file))
    conn = http.client.HTTPSConnection(
        "127.0.0.1", tls_server.port, timeout=TIMEOUT, context=context
    )
    conn.request("GET", "/bytes/100?encoding=gzip")
    resp = conn.getresponse()
    assert gzip.decompress(resp.read()) == body_bytes(100)
    conn.close()


def test_tls_server_rejected_without_ca(tls_server: ServerThread) -> None:
    conn = http.client.HTTPSConnection(
        "127.0.0.1", tls_server.port, timeout=TIMEOUT, context=ssl.create_default_context()
    )
    with pytest.raises(ssl.SSLCertVerificationError):
        conn.request("GET", "/bytes/1")
    conn.close()


def test_ipv6_server(builtin_server_v6: ServerThread) -> None:
    assert builtin_server_v6.base_url == f"http://[::1]:{builtin_server_v6.port}"
    status, _, body = get(builtin_server_v6, "/bytes/77")
    assert (status, body) == (200, body_bytes(77))
    _, headers, _ = get(builtin_server_v6, "/redirect/1?absolute=1")
    assert headers["Location"].startswith(f"http://[::1]:{builtin_server_v6.port}/redirect/0")


# ---------------------------------------------------------------------------- demo list


def test_demo_urls_replaces_and_skips_comments() -> None:
    lines = ["# c", "", "  {server}/bytes/1  ", "{server}/json/2"]
    assert list(demo_urls("http://h:1/", lines)) == ["http://h:1/bytes/1", "http://h:1/json/2"]


def test_demo_list_all_ok_but_one_404(server: ServerThread) -> None:
    template = (ROOT / "urls" / "demo.txt").read_text().splitlines()
    urls = list(demo_urls(server.base_url, template))
    assert 20 <= len(urls) <= 40 and all(u.startswith(server.base_url) for u in urls)
    finals = []
    for url in urls:
        path = url.removeprefix(server.base_url)
        for _ in range(3):  # the flaky demo URL needs a retry
            _, reply = follow(server, path)
            if reply[0] != 503:
                break
        finals.append(reply[0])
    assert sorted(finals) == [200] * (len(urls) - 1) + [404]


# ---------------------------------------------------------------------------- RawServer


def test_raw_bytes_script_exact(raw_server: RawServer) -> None:
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX: \x01weird\r\n\r\nabcEXTRA"
    url = raw_server.route("/x", reply)
    assert url == f"http://127.0.0.1:{raw_server.port}/x"
    request = b"GET /x HTTP/1.0\r\nHost: a\r\n\r\n"
    assert raw_exchange(raw_server.port, request) == reply
    assert raw_server.requests == [request]


def test_raw_dispatch_exact_target_then_path(raw_server: RawServer) -> None:
    raw_server.route("/q?a=1", b"A")
    raw_server.route("/q", b"B")
    assert raw_get(raw_server.port, "/q?a=1") == b"A"
    assert raw_get(raw_server.port, "/q?a=2") == b"B"
    assert raw_get(raw_server.port, "/q") == b"B"


def test_raw_unknown_is_404(raw_server: RawServer) -> None:
    status_line, headers, body = split_head(raw_get(raw_server.port, "/missing"))
    assert status_line == "HTTP/1.0 404 Not Found"
    assert int(headers["content-length"]) == len(body)


def test_raw_callable_script(raw_server: RawServer) -> None:
    def script(conn: RawConn) -> None:
        conn.send(b"HTTP/1.0 200 OK\r\n\r\n")
        conn.send(conn.path.encode() + b"|" + conn.request)

    raw_server.route("/echo", script)
    request = b"GET /echo?z HTTP/1.1\r\nHost: a\r\n\r\n"
    assert raw_exchange(raw_server.port, request) == b"HTTP/1.0 200 OK\r\n\r\n/echo?z|" + request


def test_raw_drip(raw_server: RawServer) -> None:
    raw_server.route("/drip", lambda conn: conn.drip(b"HTTP/1.0 200 OK\r\n\r\nab", 0.01))
    started = time.monotonic()
    assert raw_get(raw_server.port, "/drip") == b"HTTP/1.0 200 OK\r\n\r\nab"
    assert time.monotonic() - started >= 0.2


@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")
def test_raw_client_going_away_is_quiet(raw_server: RawServer) -> None:
    def flood(conn: RawConn) -> None:
        for _ in range(10_000):  # bounded; the client closes long before
            conn.send(b"x" * 65536)

    raw_server.route("/drip", lambda conn: conn.drip(b"y" * 1000, 0.005))
    raw_server.route("/flood", flood)
    for path in ("/drip", "/flood"):
        with socket.create_connection(("127.0.0.1", raw_server.port), TIMEOUT) as sock:
            sock.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
            assert sock.recv(1)
    assert wait_until(lambda: raw_server.active == 0)


def test_raw_reset_gives_econnreset(raw_server: RawServer) -> None:
    def script(conn: RawConn) -> None:
        conn.send(b"HTTP/1.1 200 OK\r\n")
        conn.reset()

    raw_server.route("/rst", script)
    with socket.create_connection(("127.0.0.1", raw_server.port), TIMEOUT) as sock:
        sock.sendall(b"GET /rst HTTP/1.1\r\n\r\n")
        time.sleep(0.1)
        with pytest.raises(ConnectionResetError):
            for _ in range(10):  # bounded
                sock.recv(4096)


def test_raw_sleep_then_send(raw_server: RawServer) -> None:
    def script(conn: RawConn) -> None:
        conn.sleep(0.2)
        conn.send(b"late")

    raw_server.route("/slow", script)
    started = time.monotonic()
    assert raw_get(raw_server.port, "/slow") == b"late"
    assert time.monotonic() - started >= 0.2


def test_raw_hang_returns_when_client_closes(raw_server: RawServer) -> None:
    raw_server.route("/hang", lambda conn: conn.hang())
    with socket.create_connection(("127.0.0.1", raw_server.port), TIMEOUT) as sock:
        sock.sendall(b"GET /hang HTTP/1.0\r\n\r\n")
        assert wait_until(lambda: len(raw_server.requests) == 1)
    assert wait_until(lambda: raw_server.active == 0)


def test_raw_hang_and_stop_do_not_hang() -> None:
    server = RawServer().start()
    server.route("/hang", lambda conn: conn.hang(60))
    server.route("/sleep", lambda conn: conn.sleep(60))
    socks = [socket.create_connection(("127.0.0.1", server.port), TIMEOUT) for _ in range(4)]
    try:
        for sock, path in zip(socks, ["/hang", "/sleep", None, None], strict=True):
            if path:  # the other two never send a request head
                sock.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
        assert wait_until(lambda: server.active == 4 and len(server.requests) == 2)
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 1.5
        for sock in socks:
            assert sock.recv(10) == b""  # closed by stop()
    finally:
        for sock in socks:
            sock.close()


def test_raw_counters(raw_server: RawServer) -> None:
    def script(conn: RawConn) -> None:
        conn.sleep(0.3)
        conn.send(b"ok")

    raw_server.route("/wait", script)
    threads = [
        threading.Thread(target=raw_get, args=(raw_server.port, "/wait"), daemon=True)
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    assert wait_until(lambda: raw_server.active == 3)
    for thread in threads:
        thread.join(TIMEOUT)
    assert (raw_server.connections, raw_server.max_active) == (3, 3)
    assert wait_until(lambda: raw_server.active == 0)
    raw_server.reset_stats()
    assert (raw_server.connections, raw_server.max_active, raw_server.requests) == (0, 0, [])


def test_raw_requests_bounded(raw_server: RawServer) -> None:
    raw_server.route("/", b"")
    for i in range(1005):  # bounded
        raw_get(raw_server.port, f"/?{i}")
    requests = raw_server.requests
    assert len(requests) == 1000 and requests[-1].startswith(b"GET /?1004 ")


def test_raw_ipv6() -> None:
    with RawServer("::1") as server:
        url = server.route("/six", b"HTTP/1.0 204 No Content\r\n\r\n")
        assert url == f"http://[::1]:{server.port}/six"
        request = b"GET /six HTTP/1.0\r\n\r\n"
        assert raw_exchange(server.port, request, host="::1") == b"HTTP/1.0 204 No Content\r\n\r\n"
    with pytest.raises(ValueError):
        RawServer("0.0.0.0")
