"""A loopback TCP relay that holds back the first bytes of its first connection.

Strategy: one daemon thread accepts on 127.0.0.1 (polling with a short timeout so it notices
stop); each accepted connection is joined to a new connection to the upstream port by two pump
threads, one per direction. The client-to-upstream pump of the *first* connection sleeps
``hold`` seconds before forwarding anything. In front of a TLS server this delays that
connection's handshake, so its request leaves ``hold`` seconds after the client started it:
what a slow connect or handshake does on a real network. Every socket has a timeout, every loop
ends at stop or at end of stream, and `stop` joins the threads with a bounded wait.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

PUMP_TIMEOUT = 0.2
JOIN_TIMEOUT = 2.0


class HoldFirstRelay:
    """Relay 127.0.0.1:<port> to 127.0.0.1:``upstream``; the first connection's first bytes
    wait ``hold`` seconds."""

    def __init__(self, upstream: int, hold: float) -> None:
        self.upstream = upstream
        self.hold = hold
        self.port = 0
        self.connections = 0
        self._stop = threading.Event()
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._open: list[socket.socket] = []

    def url(self, path: str, scheme: str = "https") -> str:
        """``scheme://127.0.0.1:<relay port><path>``."""
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> HoldFirstRelay:
        listener = socket.create_server(("127.0.0.1", 0))
        listener.settimeout(PUMP_TIMEOUT)
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._spawn(self._accept_loop)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._listener is not None:
            self._listener.close()
        for sock in list(self._open):
            with contextlib.suppress(OSError):
                sock.close()
        deadline = time.monotonic() + JOIN_TIMEOUT
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():  # ends at stop
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream), timeout=5.0)
            for sock in (client, upstream):
                sock.settimeout(PUMP_TIMEOUT)
                self._open.append(sock)
            self.connections += 1
            hold = self.hold if self.connections == 1 else 0.0
            self._spawn(self._pump, client, upstream, hold)
            self._spawn(self._pump, upstream, client, 0.0)

    def _pump(self, source: socket.socket, sink: socket.socket, hold: float) -> None:
        if hold and self._stop.wait(hold):
            return
        while not self._stop.is_set():  # ends at end of stream, an error, or stop
            try:
                data = source.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                data = b""
            try:
                if not data:
                    sink.shutdown(socket.SHUT_WR)
                    return
                sink.sendall(data)
            except OSError:
                return
