"""`NonBlockingAttempt` specifics the conformance suite cannot see: partial sends, SO_ERROR,
address fallback, the DNS cache, deadlines and abort — plus the select engine's timer heap."""

from __future__ import annotations

import selectors
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import trustme
from rawserver import RawConn, RawServer

from fetchall.engines import resolver
from fetchall.engines.base import AttemptEnv
from fetchall.engines.nonblocking import NonBlockingAttempt
from fetchall.engines.resolver import DNSCache, resolve
from fetchall.engines.select import EventLoop
from fetchall.output.bodyfile import BodyFile
from fetchall.output.writer import OutputDir
from fetchall.policy import Request
from fetchall.server import body_bytes
from fetchall.urls import parse_url

pytestmark = pytest.mark.timeout(30)


def make_request(url: str, *extra: tuple[str, str]) -> Request:
    target = parse_url(url)
    return Request(target=target, headers=(("Host", target.host_header), *extra))


def make_env(tmp_path: Path, **kw: Any) -> AttemptEnv:
    return AttemptEnv(out=OutputDir(tmp_path), **{"timeout": 5.0, "connect_timeout": 5.0, **kw})


def drive(attempt: NonBlockingAttempt, seen: list[tuple[str, int]] | None = None) -> None:
    """Step ``attempt`` whenever its socket is ready for `wants` (at most 10 s)."""
    give_up = time.monotonic() + 10
    with selectors.DefaultSelector() as selector:
        while not attempt.step():
            if seen is not None:
                seen.append((attempt.phase, attempt.wants))
            assert time.monotonic() < give_up, "attempt did not finish"
            assert attempt.sock is not None
            selector.register(attempt.sock, attempt.wants)
            selector.select(0.5)
            selector.unregister(attempt.sock)


def dead_port(family: socket.AddressFamily = socket.AF_INET) -> int:
    with socket.socket(family) as sock:
        sock.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
        return int(sock.getsockname()[1])


def saved(outcome: Any) -> bytes:
    assert isinstance(outcome.body, BodyFile), outcome
    data = outcome.body.path.read_bytes()
    outcome.body.discard()
    return data


# ------------------------------------------------------------------------- partial sends


class CountingSocket(socket.socket):
    """A socket that records (bytes offered, bytes taken) for every `send`."""

    sends: ClassVar[list[tuple[int, int]]] = []

    def send(self, data: Any, flags: int = 0) -> int:
        taken = super().send(data, flags)
        self.sends.append((len(data), taken))
        return taken


class TinySendBuffer(NonBlockingAttempt):
    def new_socket(self, family: socket.AddressFamily) -> socket.socket:
        sock = CountingSocket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        sock.setblocking(False)
        return sock


@pytest.fixture
def slow_reader() -> Iterator[tuple[int, list[bytes]]]:
    """A server with a tiny receive buffer that waits, then reads the request slowly."""
    received: list[bytes] = []
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            time.sleep(0.3)  # let the client's send buffer fill up
            data = b""
            while not data.endswith(b"\r\n\r\n"):
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            received.append(data)
            conn.sendall(b"HTTP/1.0 200 OK\r\n\r\nok")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], received
    thread.join(5)
    listener.close()


def test_partial_sends_resume_where_they_stopped(
    slow_reader: tuple[int, list[bytes]], tmp_path: Path
) -> None:
    port, received = slow_reader
    CountingSocket.sends = []
    request = make_request(f"http://127.0.0.1:{port}/big", ("X-Big", "a" * 300_000))
    attempt = TinySendBuffer(request, make_env(tmp_path))
    seen: list[tuple[str, int]] = []
    drive(attempt, seen)
    assert saved(attempt.outcome) == b"ok"
    assert received == [attempt.exchange.request_bytes()]
    assert any(taken < offered for offered, taken in CountingSocket.sends), CountingSocket.sends
    # A partial send is followed by a wait for writability, then the rest. How many waits
    # depends on scheduling: on a loaded machine the reader may drain so much meanwhile that
    # one wait is enough (seen once under load), so at least one is what is asserted.
    assert seen.count(("send", selectors.EVENT_WRITE)) >= 1, "never waited to send the rest"


# ---------------------------------------------------------------- connect and addresses


def test_refused_connect_is_read_from_so_error(tmp_path: Path) -> None:
    port = dead_port()
    attempt = NonBlockingAttempt(make_request(f"http://127.0.0.1:{port}/"), make_env(tmp_path))
    assert not attempt.step()  # connect_ex: EINPROGRESS, even on loopback
    assert attempt.phase == "connect" and attempt.wants == selectors.EVENT_WRITE
    drive(attempt)
    error = attempt.outcome.error
    assert error is not None and error.error_type == "connect"
    assert str(error) == f"connection refused by 127.0.0.1:{port}"


def test_every_address_is_tried_in_order(raw_server: RawServer, tmp_path: Path) -> None:
    raw_server.route("/x", b"HTTP/1.0 200 OK\r\n\r\nsecond address")
    cache: DNSCache = {
        ("multi.test", 80): [
            (socket.AF_INET6, ("::1", dead_port(socket.AF_INET6), 0, 0)),
            (socket.AF_INET, ("127.0.0.1", dead_port())),
            (socket.AF_INET, ("127.0.0.1", raw_server.port)),
        ]
    }
    attempt = NonBlockingAttempt(make_request("http://multi.test/x"), make_env(tmp_path), cache)
    drive(attempt)
    assert saved(attempt.outcome) == b"second address"
    assert raw_server.connections == 1


def test_all_addresses_refused_is_one_connect_error(tmp_path: Path) -> None:
    cache: DNSCache = {
        ("multi.test", 80): [(socket.AF_INET, ("127.0.0.1", dead_port())) for _ in range(3)]
    }
    attempt = NonBlockingAttempt(make_request("http://multi.test/"), make_env(tmp_path), cache)
    drive(attempt)
    error = attempt.outcome.error
    assert error is not None and error.error_type == "connect" and "refused" in str(error)


# ------------------------------------------------------------------------------- DNS cache


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Record every getaddrinfo call that is not a numeric-host check."""
    calls: list[tuple[str, int]] = []
    real = socket.getaddrinfo

    def spy(host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        if not kwargs.get("flags", 0) & socket.AI_NUMERICHOST:
            calls.append((host, port))
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(resolver.socket, "getaddrinfo", spy)
    return calls


def test_ip_literals_never_reach_the_resolver(lookups: list[tuple[str, int]]) -> None:
    cache: DNSCache = {}
    assert resolve("127.0.0.1", 80, cache) == [(socket.AF_INET, ("127.0.0.1", 80))]
    assert resolve("::1", 8080, cache)[0][1][:2] == ("::1", 8080)
    assert lookups == [] and cache == {}


def test_names_are_resolved_once_per_host_and_port(
    lookups: list[tuple[str, int]], raw_server: RawServer, tmp_path: Path
) -> None:
    raw_server.route("/n", b"HTTP/1.0 200 OK\r\n\r\nnamed")
    cache: DNSCache = {}
    for _ in range(3):
        url = f"http://localhost:{raw_server.port}/n"
        attempt = NonBlockingAttempt(make_request(url), make_env(tmp_path), cache)
        drive(attempt)  # localhost may list ::1 first: refused there, then 127.0.0.1
        assert saved(attempt.outcome) == b"named"
    assert lookups == [("localhost", raw_server.port)]
    assert list(cache) == [("localhost", raw_server.port)]


def test_definite_dns_failures_are_cached_transient_ones_are_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []

    def fake(host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("flags", 0) & socket.AI_NUMERICHOST:
            raise socket.gaierror(socket.EAI_NONAME, "not numeric")
        calls.append(host)
        code = socket.EAI_AGAIN if host == "flaky.test" else socket.EAI_NONAME
        raise socket.gaierror(code, "lookup failed")

    monkeypatch.setattr(resolver.socket, "getaddrinfo", fake)
    cache: DNSCache = {}
    for host in ["gone.test", "gone.test", "flaky.test", "flaky.test"]:
        with pytest.raises(socket.gaierror):
            resolve(host, 80, cache)
    assert calls == ["gone.test", "flaky.test", "flaky.test"]


def test_dns_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resolver, "DNS_CACHE_SIZE", 2)
    cache: DNSCache = {}
    for port in (1, 2, 3):
        resolve("localhost", port, cache)
    assert list(cache) == [("localhost", 2), ("localhost", 3)]


def test_unresolvable_name_is_a_dns_error(tmp_path: Path) -> None:
    attempt = NonBlockingAttempt(make_request("http://no-such-host.invalid/"), make_env(tmp_path))
    assert attempt.step()
    assert attempt.outcome.error is not None and attempt.outcome.error.error_type == "dns"


# ------------------------------------------------------------------ deadlines, abort, TLS


def test_deadline_moves_from_connect_to_whole_attempt(
    raw_server: RawServer, tmp_path: Path
) -> None:
    def head_then_hang(conn: RawConn) -> None:
        conn.send(b"HTTP/1.0 200 OK\r\nContent-Length: 10\r\n\r\npart")
        conn.hang(10)

    url = raw_server.route("/hang", head_then_hang)
    env = make_env(tmp_path, timeout=5.0, connect_timeout=2.0)
    attempt = NonBlockingAttempt(make_request(url), env, now=1000.0)
    assert attempt.deadline == 1002.0
    temps = tmp_path / ".fetchall-tmp"
    give_up = time.monotonic() + 10
    while not (temps.exists() and any(temps.iterdir())):  # until the body file exists
        assert not attempt.step() and time.monotonic() < give_up
    assert attempt.phase == "recv" and attempt.deadline == 1005.0
    attempt.expire()
    error = attempt.outcome.error
    assert error is not None and str(error) == "timed out after 5s"
    assert not any(temps.iterdir()) and attempt.sock is not None and attempt.sock.fileno() == -1


def test_connect_phase_timeout_message(tmp_path: Path) -> None:
    env = make_env(tmp_path, timeout=5.0, connect_timeout=2.0)
    attempt = NonBlockingAttempt(make_request("http://127.0.0.1:9/"), env)
    attempt.expire()
    assert (
        attempt.done and str(attempt.outcome.error) == "connect to 127.0.0.1:9 timed out after 2s"
    )


def test_abort_discards_the_partial_body(raw_server: RawServer, tmp_path: Path) -> None:
    def drip(conn: RawConn) -> None:
        conn.send(b"HTTP/1.0 200 OK\r\nContent-Length: 1000\r\n\r\n")
        conn.drip(b"x" * 1000, 0.05)

    attempt = NonBlockingAttempt(make_request(raw_server.route("/d", drip)), make_env(tmp_path))
    temps = tmp_path / ".fetchall-tmp"
    give_up = time.monotonic() + 10
    while not (temps.exists() and any(temps.iterdir())):
        assert not attempt.step() and time.monotonic() < give_up
    attempt.abort()
    assert attempt.done and not any(temps.iterdir())
    with pytest.raises(RuntimeError):
        _ = attempt.outcome


@pytest.fixture
def slow_tls_server(tls_ca: trustme.CA) -> Iterator[int]:
    """An HTTPS server that waits before answering the ClientHello, then sends a big body."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_ca.issue_cert("127.0.0.1").configure_cert(context)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def serve() -> None:
        conn, _ = listener.accept()
        time.sleep(0.2)  # the client must wait in the handshake
        with context.wrap_socket(conn, server_side=True) as tls:
            head = b""
            while not head.endswith(b"\r\n\r\n"):
                head += tls.recv(4096)
            tls.sendall(b"HTTP/1.0 200 OK\r\n\r\n" + body_bytes(300_000))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    thread.join(5)
    listener.close()


def test_tls_handshake_waits_without_blocking(
    slow_tls_server: int, ca_file: Path, tmp_path: Path
) -> None:
    url = f"https://127.0.0.1:{slow_tls_server}/big"
    attempt = NonBlockingAttempt(make_request(url), make_env(tmp_path, cacert=ca_file))
    seen: list[tuple[str, int]] = []
    drive(attempt, seen)
    assert saved(attempt.outcome) == body_bytes(300_000)
    assert ("tls", selectors.EVENT_READ) in seen
    assert isinstance(attempt.sock, ssl.SSLSocket) and attempt.sock.gettimeout() == 0.0


# ------------------------------------------------------------------ the select event loop


def test_event_loop_timers_fire_in_order_and_cancel() -> None:
    loop = EventLoop()
    fired: list[str] = []
    loop.call_later(0.02, lambda: fired.append("late"))
    loop.call_later(0.01, lambda: fired.append("early"))
    dropped = loop.call_later(0.0, lambda: fired.append("cancelled"))
    loop.cancel(dropped)
    while not loop.idle:
        loop.run_once()
    assert fired == ["early", "late"]
    loop.close()


def test_event_loop_compacts_cancelled_timers() -> None:
    loop = EventLoop()
    timers = [loop.call_later(300, lambda: None) for _ in range(1000)]
    for timer in timers:
        loop.cancel(timer)
    assert len(loop._timers) < 500 and loop.idle
    loop.close()
