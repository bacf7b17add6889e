"""Shared fixtures: the built-in aiohttp server (plain, TLS, IPv6) and the raw-bytes server.

Strategy: servers are expensive-ish to start, so the aiohttp servers live for the session and
the function-scoped `server` fixture resets their stats (and /flaky counters) per test. The
raw server is per test so routes never leak between tests. Only 127.0.0.1 and ::1 are used.
"""

from __future__ import annotations

import signal
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from rawserver import RawServer

from fetchall.engines import ENGINES
from fetchall.server import ServerThread

# A test run started in the background by a shell without job control (or under nohup) inherits
# an ignored SIGINT, and so would every fetchall the tests start: the Ctrl-C tests need it to
# arrive. A handled signal is reset to its default in an exec'd child, an ignored one is not.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# ---------------------------------------------------------------------------- built-in server


@pytest.fixture(scope="session")
def builtin_server() -> Iterator[ServerThread]:
    """The session-wide built-in server on 127.0.0.1 (plain HTTP)."""
    with ServerThread() as server:
        yield server


@pytest.fixture
def server(builtin_server: ServerThread) -> ServerThread:
    """The session server with its stats, /flaky counters and robots.txt reset for this test."""
    builtin_server.stats.reset()
    builtin_server.robots.clear()
    builtin_server.versions.clear()
    return builtin_server


@pytest.fixture(scope="session")
def builtin_server_v6() -> Iterator[ServerThread]:
    """The built-in server on ::1. Fails (does not skip) if ::1 cannot be bound."""
    try:
        started = ServerThread(host="::1").start()
    except (OSError, RuntimeError) as exc:
        pytest.fail(f"cannot serve on ::1 (IPv6 loopback unavailable?): {exc}")
    with started as server:
        yield server


# ------------------------------------------------------------------------------------ TLS


@pytest.fixture(scope="session")
def tls_ca() -> trustme.CA:
    """A throwaway certificate authority for the TLS tests."""
    return trustme.CA()


@pytest.fixture(scope="session")
def ca_file(tls_ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of the test CA certificate (PEM), for --cacert and ssl contexts."""
    path = tmp_path_factory.mktemp("tls") / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture(scope="session")
def tls_server(tls_ca: trustme.CA) -> Iterator[ServerThread]:
    """The built-in server over HTTPS, certificate valid for 127.0.0.1, localhost and ::1."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_ca.issue_cert("127.0.0.1", "localhost", "::1").configure_cert(context)
    with ServerThread(ssl_context=context) as server:
        yield server


# ----------------------------------------------------------------------------- raw server


@pytest.fixture
def raw_server() -> Iterator[RawServer]:
    """A fresh raw-bytes server on 127.0.0.1 for this test."""
    with RawServer() as server:
        yield server


# ------------------------------------------------------------------------------- engines


@pytest.fixture(params=sorted(ENGINES))
def engine(request: pytest.FixtureRequest) -> str:
    """Every registered engine: each conformance case runs once per engine."""
    name: str = request.param
    return name
