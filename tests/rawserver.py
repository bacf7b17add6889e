"""A raw-socket test server that sends exact bytes, including malformed, slow or hostile ones.

Strategy: one daemon thread accepts on a loopback listener (polling with a short timeout so
it notices stop), and each connection gets its own daemon thread. That thread reads the
request head (until CRLFCRLF, at most 64 KiB, 10 s), dispatches on the request-target (exact
match first, then the path without query) and runs the route's script: fixed bytes, or a
callable driving a `RawConn`. Client disconnects inside scripts are swallowed. `stop()` sets
a stop event (which wakes every `sleep`/`hang`/`drip`), closes the listener, shuts down every
open connection and joins the threads with a bounded wait.
"""

from __future__ import annotations

import collections
import contextlib
import select
import socket
import struct
import threading
import time
from collections.abc import Callable

HEAD_LIMIT = 64 * 1024
HEAD_TIMEOUT = 10.0
JOIN_TIMEOUT = 2.0
NOT_FOUND = (
    b"HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n"
    b"Connection: close\r\n\r\nnot found\n"
)

Script = bytes | Callable[["RawConn"], None]


class RawConn:
    """One accepted connection, handed to a route's script."""

    def __init__(self, sock: socket.socket, stop: threading.Event) -> None:
        self.sock = sock
        self.request = b""  # the request head, including the final CRLFCRLF
        self.path = ""  # the request-target
        self.closed = False
        self._stop = stop

    def read_head(self) -> bytes:
        """Read until CRLFCRLF (bounded size and time); return what was read."""
        data = self._receive(1, HEAD_TIMEOUT)
        end = data.find(b"\r\n\r\n")
        self.request = data[: end + 4] if end >= 0 else data
        parts = self.request.split(b"\r\n", 1)[0].split(b" ")
        self.path = parts[1].decode("latin-1") if len(parts) >= 2 else ""
        return self.request

    def read_heads(self, count: int, timeout: float = 5.0) -> list[bytes]:
        """Read until ``count`` request heads arrived, pipelined requests being allowed to come
        together (bounded size and time); return the complete heads."""
        data = self._receive(count, timeout)
        return [head + b"\r\n\r\n" for head in data.split(b"\r\n\r\n")[:-1]]

    def _receive(self, heads: int, timeout: float) -> bytes:
        """Read until ``heads`` CRLFCRLFs arrived, EOF, the stop event, ``timeout`` seconds or
        `HEAD_LIMIT` bytes."""
        data = b""
        deadline = time.monotonic() + timeout
        while data.count(b"\r\n\r\n") < heads and len(data) < HEAD_LIMIT:  # bounded
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._stop.is_set():
                break
            self.sock.settimeout(min(remaining, 0.5))
            try:
                chunk = self.sock.recv(4096)
            except TimeoutError:
                continue
            if not chunk:
                break
            data += chunk
        self.sock.settimeout(None)
        return data

    def send(self, data: bytes) -> None:
        """Send all of data (raises OSError if the client went away; the server swallows it)."""
        self.sock.sendall(data)

    def drip(self, data: bytes, delay: float) -> None:
        """Send data one byte at a time, sleeping `delay` between bytes; stop quietly if the
        client went away or the server is stopping."""
        for i in range(len(data)):
            if i and self._stop.wait(delay):
                return
            try:
                self.sock.sendall(data[i : i + 1])
            except OSError:
                return

    def sleep(self, seconds: float) -> None:
        """Sleep, waking early if the server stops."""
        self._stop.wait(seconds)

    def hang(self, seconds: float = 30.0) -> None:
        """Never answer: wait (bounded) until the server stops or the client closes."""
        deadline = time.monotonic() + seconds
        while not self._stop.is_set() and time.monotonic() < deadline:  # bounded by deadline
            try:
                readable, _, _ = select.select([self.sock], [], [], 0.1)
                if readable and not self.sock.recv(4096):
                    return
            except (OSError, ValueError):
                return

    def reset(self) -> None:
        """Abort the connection with a TCP RST (SO_LINGER on, timeout 0, then close)."""
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()
        self.closed = True

    def close(self) -> None:
        """Close gracefully: FIN after the sent data, drain what the client sent, close."""
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)
            self.sock.setblocking(False)
            for _ in range(16):  # unread input would turn our close into an RST
                if not self.sock.recv(65536):
                    break
        self.sock.close()


class RawServer:
    """Thread-per-connection raw socket server on 127.0.0.1 or ::1, ephemeral port."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        if host not in ("127.0.0.1", "::1"):
            raise ValueError("RawServer binds only 127.0.0.1 or ::1")
        self.host = host
        self.port = 0
        self.connections = 0
        self.active = 0
        self.max_active = 0
        self._requests: collections.deque[bytes] = collections.deque(maxlen=1000)
        self._routes: dict[str, Script] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._open: set[socket.socket] = set()

    @property
    def base_url(self) -> str:
        """`http://host:port` (IPv6 bracketed)."""
        if not self.port:
            raise RuntimeError("RawServer not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def requests(self) -> list[bytes]:
        """Raw request heads received (the last 1000)."""
        with self._lock:
            return list(self._requests)

    def url(self, path: str) -> str:
        """Return base_url + path."""
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def route(self, path: str, script: Script) -> str:
        """Register a script for a request-target (or path; ``*`` = any other); return its
        full URL."""
        self._routes[path] = script
        return self.url(path)

    def reset_stats(self) -> None:
        """Zero connection counters and forget recorded requests."""
        with self._lock:
            self.connections = 0
            self.max_active = self.active
            self._requests.clear()

    def start(self) -> RawServer:
        """Bind, listen and start accepting; return self."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.bind((self.host, 0))
        listener.listen(128)
        listener.settimeout(0.1)
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._spawn(self._accept_loop, "rawserver-accept")
        return self

    def stop(self) -> None:
        """Stop accepting, shut down every open connection, join threads (bounded)."""
        self._stop.set()
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            socks, threads = list(self._open), list(self._threads)
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + JOIN_TIMEOUT
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> RawServer:
        return self if self._listener is not None else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _spawn(self, target: Callable[..., None], name: str, *args: object) -> None:
        thread = threading.Thread(target=target, name=name, args=args, daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():  # ends at stop()
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.settimeout(None)
            with self._lock:
                self.connections += 1
                self.active += 1
                self.max_active = max(self.max_active, self.active)
                self._open.add(sock)
            self._spawn(self._serve, "rawserver-conn", sock)

    def _serve(self, sock: socket.socket) -> None:
        conn = RawConn(sock, self._stop)
        try:
            head = conn.read_head()
            if head:
                with self._lock:
                    self._requests.append(head)
                self._dispatch(conn)
        except OSError:  # the client went away (BrokenPipe, ConnectionReset, ...)
            pass
        finally:
            with contextlib.suppress(OSError):
                conn.close()
            with self._lock:
                self.active -= 1
                self._open.discard(sock)

    def _dispatch(self, conn: RawConn) -> None:
        if not conn.request.endswith(b"\r\n\r\n"):
            return
        script = self._routes.get(conn.path)
        if script is None:
            script = self._routes.get(conn.path.split("?", 1)[0])
        if script is None:
            script = self._routes.get("*", NOT_FOUND)  # route("*", ...): every other target
        if isinstance(script, bytes):
            conn.send(script)
        else:
            script(conn)
