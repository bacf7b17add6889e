"""One HTTP/1.0 exchange over a blocking socket — shared by the blocking, threads and processes
engines.

Strategy: resolve and connect with `socket.create_connection` (bounded by the connect timeout),
wrap in TLS if needed, `sendall` the hand-built request, then `recv` into the shared `Exchange`
until it needs no more bytes. Before every blocking call the socket timeout is set to what is
left of the whole-attempt deadline, so ``--timeout`` bounds connect + send + the whole body.
Blocks in: getaddrinfo/connect, the TLS handshake, sendall, recv. An optional ``on_socket`` hook
is told about the socket in use (and ``None`` when it is done with), so another thread can shut it
down to interrupt a blocked call (the threads engine on Ctrl-C); the hook may raise to abort.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

from fetchall.engines.base import AttemptEnv
from fetchall.engines.exchange import READ_SIZE, Exchange
from fetchall.engines.translate import translate_exception
from fetchall.errors import FetchTimeoutError
from fetchall.policy import Outcome, Request
from fetchall.urls import Target

OnSocket = Callable[[socket.socket | None], None]


def connect_blocking(
    target: Target, env: AttemptEnv, deadline: float, on_socket: OnSocket | None = None
) -> socket.socket:
    """A connected (and, for https, TLS-established) blocking socket."""
    remaining = _remaining(deadline, env.timeout)
    sock = socket.create_connection((target.host, target.port), min(env.connect_timeout, remaining))
    try:
        if on_socket is not None:
            on_socket(sock)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if target.tls:
            sock.settimeout(min(env.connect_timeout, _remaining(deadline, env.timeout)))
            context = env.ssl_context()
            sock = context.wrap_socket(
                sock, server_hostname=target.host, do_handshake_on_connect=False
            )
            if on_socket is not None:  # the wrapper owns the fd now: hook it before handshaking
                on_socket(sock)
            sock.do_handshake()
    except BaseException:
        sock.close()
        raise
    return sock


def blocking_attempt(
    request: Request, env: AttemptEnv, on_socket: OnSocket | None = None
) -> Outcome:
    """Perform one attempt with blocking sockets; never raises a `FetchError`."""
    exchange = Exchange(request, env.out, env.max_size)
    deadline = time.monotonic() + env.timeout
    connected = False
    try:
        sock = connect_blocking(request.target, env, deadline, on_socket)
        connected = True
        with sock:
            sock.settimeout(_remaining(deadline, env.timeout))
            exchange.mark_sent()
            sock.sendall(exchange.request_bytes())
            while True:
                sock.settimeout(_remaining(deadline, env.timeout))
                data = sock.recv(READ_SIZE)
                if exchange.feed(data) or not data:
                    break
        return exchange.finish()
    except Exception as exc:
        limit = env.timeout if connected else env.connect_timeout
        return exchange.fail(
            translate_exception(exc, request.target, connected=connected, timeout=limit)
        )
    except BaseException:
        exchange.discard()
        raise
    finally:
        if on_socket is not None:
            on_socket(None)


def _remaining(deadline: float, timeout: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise FetchTimeoutError(f"timed out after {timeout:g}s")
    return left
