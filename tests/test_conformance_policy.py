"""Conformance, part 2: redirects, retries, timeouts, connection errors, request headers."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
from fetchrun import fetch
from rawserver import RawConn, RawServer

from fetchall.server import ServerThread, body_bytes

pytestmark = pytest.mark.timeout(30)


def test_relative_redirect_chain(engine: str, server: ServerThread, tmp_path: Path) -> None:
    url = server.url("/redirect/3")
    run = fetch(engine, [url], tmp_path)
    result = run.one()
    assert result.ok and result.redirects == 3 and result.attempts == 4
    assert result.final_url == server.url("/redirect/0")
    assert run.saved(result) == body_bytes(16)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_every_redirect_status(
    engine: str, server: ServerThread, tmp_path: Path, status: int
) -> None:
    result = fetch(engine, [server.url(f"/redirect/1?status={status}&absolute=1")], tmp_path).one()
    assert result.ok and result.redirects == 1, result


def test_redirect_failures(
    engine: str, server: ServerThread, raw_server: RawServer, tmp_path: Path
) -> None:
    raw_server.route("/loop-b", b"HTTP/1.0 302 Found\r\nLocation: /loop-a\r\n\r\n")
    loop = raw_server.route("/loop-a", b"HTTP/1.0 302 Found\r\nLocation: loop-b\r\n\r\n")
    urls = {
        "too-many": server.url("/redirect/5"),
        "missing-location": server.url("/redirect-to"),
        "file-scheme": server.url("/redirect-to?url=file:///etc/passwd"),
        "ftp-scheme": server.url("/redirect-to?url=ftp://127.0.0.1/x"),
        "loop": loop,
    }
    run = fetch(engine, urls.values(), tmp_path, max_redirects=3)
    for name, url in urls.items():
        result = run.by_url(url)
        assert not result.ok and result.error_type == "redirect", (name, result)
    assert "too many" in str(run.by_url(urls["too-many"]).error)
    assert "Location" in str(run.by_url(urls["missing-location"]).error)
    assert "loop" in str(run.by_url(loop).error)
    assert run.files() == []


def test_flaky_server_succeeds_on_third_attempt(
    engine: str, server: ServerThread, tmp_path: Path
) -> None:
    url = server.url(f"/flaky/{engine}-3/3?retry_after=0")
    result = fetch(engine, [url], tmp_path, retries=2).one()
    assert result.ok and result.attempts == 3


def test_retries_exhausted(engine: str, server: ServerThread, tmp_path: Path) -> None:
    url = server.url(f"/flaky/{engine}-x/9")
    result = fetch(engine, [url], tmp_path, retries=1).one()
    assert not result.ok and result.status == 503 and result.attempts == 2


def test_retry_after_beyond_the_cap_fails_at_once(
    engine: str, server: ServerThread, tmp_path: Path
) -> None:
    """Never earlier than the server asked: a wait beyond the cap is not shortened and retried,
    the URL fails at once saying what was asked."""
    url = server.url(f"/flaky/{engine}-cap/2?retry_after=86400")
    started = time.monotonic()
    result = fetch(engine, [url], tmp_path, retries=1, retry_after_cap=0.2).one()
    assert not result.ok and result.attempts == 1 and result.status == 503
    assert result.error_type == "http_status"
    assert "86,400 s" in str(result.error) and "--retry-after-cap 0.2 s" in str(result.error)
    assert server.stats.by_path[f"/flaky/{engine}-cap/2"] == 1
    assert time.monotonic() - started < 10  # a bound against hanging, not a timing assertion


def dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_dead_port_is_a_connect_error_after_retries(engine: str, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{dead_port()}/x"
    result = fetch(engine, [url], tmp_path, retries=2).one()
    assert result.error_type == "connect" and result.attempts == 3 and result.status is None


def test_unresolvable_host_is_a_dns_error(engine: str, tmp_path: Path) -> None:
    result = fetch(engine, ["http://no-such-host.invalid/x"], tmp_path, retries=1).one()
    assert result.error_type == "dns" and result.attempts == 1


def hang(conn: RawConn) -> None:
    conn.hang(20)


def drip(conn: RawConn) -> None:
    conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
    conn.drip(b"x" * 1000, 0.05)


def reset_mid_body(conn: RawConn) -> None:
    conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000)
    conn.sleep(0.1)
    conn.reset()


@pytest.mark.parametrize("script", [hang, drip], ids=["never-answers", "drips"])
def test_whole_attempt_timeout(engine: str, raw_server: RawServer, tmp_path: Path, script) -> None:  # type: ignore[no-untyped-def]
    url = raw_server.route("/slow", script)
    started = time.monotonic()
    result = fetch(engine, [url], tmp_path, timeout=0.5).one()
    assert result.error_type == "timeout", result
    assert time.monotonic() - started < 5  # bounded by a small multiple of --timeout


def test_reset_mid_body(engine: str, raw_server: RawServer, tmp_path: Path) -> None:
    url = raw_server.route("/reset", reset_mid_body)
    result = fetch(engine, [url], tmp_path).one()
    assert result.error_type == "connection_lost", result
    assert result.path is None


def test_request_headers(engine: str, server: ServerThread, tmp_path: Path) -> None:
    url = server.url("/headers")
    run = fetch(engine, [url], tmp_path, headers=[("X-Token", "abc")], user_agent="fetchall-test/1")
    sent = {k.lower(): v for k, v in json.loads(run.saved(run.one())).items()}
    assert sent["x-token"] == "abc" and sent["user-agent"] == "fetchall-test/1"
    assert "gzip" in sent["accept-encoding"]
    assert sent["host"] == f"127.0.0.1:{server.port}"


def test_credentials_not_sent_to_another_host(
    engine: str, server: ServerThread, tmp_path: Path
) -> None:
    other = f"http://localhost:{server.port}/headers"
    url = server.url(f"/redirect-to?url={other}")
    creds = [("Authorization", "Bearer secret"), ("Cookie", "a=1"), ("X-Other", "kept")]
    run = fetch(engine, [url, server.url("/headers")], tmp_path, headers=creds)
    moved = {k.lower(): v for k, v in json.loads(run.saved(run.by_url(url))).items()}
    assert "authorization" not in moved and "cookie" not in moved and moved["x-other"] == "kept"
    same = json.loads(run.saved(run.by_url(server.url("/headers"))))
    assert {k.lower(): v for k, v in same.items()}["authorization"] == "Bearer secret"


def test_request_bytes_cannot_be_injected(
    engine: str, raw_server: RawServer, tmp_path: Path
) -> None:
    raw_server.route("/a%0D%0AX-Injected:%201", b"HTTP/1.0 200 OK\r\n\r\nfine")
    url = raw_server.url("/a%0D%0AX-Injected:%201")
    result = fetch(engine, [url], tmp_path).one()
    assert result.ok, result
    head = raw_server.requests[-1]
    assert b"\r\nX-Injected" not in head and head.count(b"\r\n\r\n") == 1
