"""One HTTP/1.0 attempt on a non-blocking socket, as a state machine (sans-scheduler).

Strategy: `NonBlockingAttempt` never waits. The engine calls `step()` whenever it likes (the
``polling`` engine: in a tight loop; the ``select`` engine: when the socket is ready for `wants`)
and the attempt advances as far as it can without blocking through its phases:

``resolve`` → ``connect`` → ``tls`` (https only) → ``send`` → ``recv`` → ``done``

- connect: ``connect_ex`` on a non-blocking socket (EINPROGRESS → want writable). On a later
  step, ``SO_ERROR`` tells whether it failed; if not, a second ``connect_ex`` tells whether it
  has finished (0/EISCONN) or is still pending (EALREADY), so a step is safe even when the
  socket is not ready — which is what lets the polling engine call it blindly. Every address
  ``getaddrinfo`` returns (IPv4 and IPv6, in order) is tried before the attempt fails.
- tls: ``SSLContext.wrap_socket(..., do_handshake_on_connect=False)`` on the connected
  non-blocking socket, then ``do_handshake()`` until it stops raising ``SSLWantReadError`` /
  ``SSLWantWriteError``. Chosen over ``MemoryBIO`` + ``SSLObject`` because the kernel keeps
  buffering the ciphertext and verification runs exactly as in the blocking engines; the price
  is that ``sock`` is replaced by its wrapper (same file descriptor) and that decrypted bytes
  buffered inside the SSL object are invisible to select, so reads drain ``pending()``.
- send: ``send`` may take only part of the request (or raise EAGAIN / ``SSLWantWriteError``);
  the rest is sent on later steps.
- recv: one ``recv(READ_SIZE)`` per step (plus, for TLS, whatever ``pending()`` holds) into the
  shared `Exchange`; EAGAIN / ``SSLWantReadError`` just means "wait for readable". One kernel
  read per step keeps a fast body from starving other sockets of an event loop.

Deadlines: `deadline` is the earlier of the connect and whole-attempt deadlines until TCP and
TLS are established, then the whole-attempt deadline. The attempt never checks the clock
itself: the engine calls `expire()` once `deadline` has passed.

Where it blocks: nowhere, except name resolution. ``socket.getaddrinfo`` has no non-blocking
form, so a name lookup is the one place these engines block their loop. It is bounded and kept
cheap: IP literals are parsed with ``AI_NUMERICHOST`` and never reach the resolver; names are
looked up once per (host, port) per run (a `DNSCache` owned by the engine, including definite
"no such name" answers), and each lookup is bounded by the system resolver's own timeouts.
"""

from __future__ import annotations

import errno
import os
import selectors
import socket
import ssl
import time
from typing import Any

from fetchall.engines.base import AttemptEnv
from fetchall.engines.exchange import READ_SIZE, Exchange
from fetchall.engines.resolver import Address, DNSCache, resolve
from fetchall.engines.translate import translate_exception
from fetchall.policy import Outcome, Request

_PENDING = frozenset({errno.EINPROGRESS, errno.EALREADY, errno.EWOULDBLOCK, errno.EAGAIN})
_CONNECTED = frozenset({0, errno.EISCONN})


class NonBlockingAttempt:
    """One attempt on a non-blocking socket; see the module docstring.

    ``sock`` is the current socket (None before the first connect). It changes when the next
    address is tried (a new socket, possibly reusing the closed one's descriptor number) and when
    TLS starts (the wrapper, same descriptor); engines that register it must notice both.
    ``dns_cache`` is the engine's `DNSCache` (None: no caching); ``now`` is the monotonic start
    time the deadlines count from (default: the current time).
    """

    def __init__(
        self,
        request: Request,
        env: AttemptEnv,
        dns_cache: DNSCache | None = None,
        *,
        now: float | None = None,
    ) -> None:
        self.request = request
        self.env = env
        self.exchange = Exchange(request, env.out, env.max_size)
        self.sock: socket.socket | None = None
        self.wants = selectors.EVENT_WRITE
        self.phase = "resolve"
        self._dns: DNSCache = {} if dns_cache is None else dns_cache
        if now is None:
            now = time.monotonic()
        self._connect_limit = min(env.connect_timeout, env.timeout)
        self._connect_deadline = now + self._connect_limit
        self._whole_deadline = now + env.timeout
        self._established = False
        self._addresses: list[Address] = []
        self._next_address = 0
        self._sockaddr: tuple[Any, ...] = ()
        self._last_error: OSError | None = None
        self._data = memoryview(b"")
        self._sent = 0
        self._outcome: Outcome | None = None

    # ---- the engine-facing API ----

    @property
    def deadline(self) -> float:
        """Monotonic time by which the current phase must end (see module docstring)."""
        return self._whole_deadline if self._established else self._connect_deadline

    @property
    def done(self) -> bool:
        """True once the attempt has an outcome (or was aborted)."""
        return self.phase == "done"

    @property
    def outcome(self) -> Outcome:
        """The outcome of a finished attempt (ok or failed; never raises a `FetchError`)."""
        if self._outcome is None:
            raise RuntimeError("the attempt has not finished")
        return self._outcome

    def new_socket(self, family: socket.AddressFamily) -> socket.socket:
        """A fresh non-blocking TCP socket for ``family`` (tests override this)."""
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def step(self) -> bool:
        """Advance as far as possible without blocking; True once finished (see `outcome`)."""
        try:
            while not self.done and self._advance():
                pass
        except Exception as exc:
            self._fail(exc)
        except BaseException:
            self.abort()
            raise
        return self.done

    def expire(self) -> None:
        """The deadline passed: finish with a timeout error (connect or whole-attempt)."""
        if not self.done:
            self._fail(TimeoutError())

    def abort(self) -> None:
        """Interrupted: drop the temporary body file and close the socket (idempotent)."""
        self.exchange.discard()
        self._close()
        self.phase = "done"

    # ---- phases: each returns True to keep going, False to wait for `wants` ----

    def _advance(self) -> bool:
        if self.phase == "recv":
            return self._recv()
        if self.phase == "send":
            return self._send()
        if self.phase == "tls":
            return self._handshake()
        if self.phase == "connect":
            return self._connect()
        self._data = memoryview(self.exchange.request_bytes())
        target = self.request.target
        self._addresses = resolve(target.host, target.port, self._dns)
        self.phase = "connect"
        return True

    def _connect(self) -> bool:
        sock = self.sock
        if sock is None:
            return self._start_connect()
        code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code == 0:  # no error so far: a second connect_ex says done or still pending
            return self._connect_result(sock, sock.connect_ex(self._sockaddr))
        self._address_failed(code)
        return True

    def _start_connect(self) -> bool:
        if self._next_address >= len(self._addresses):
            raise self._last_error or OSError(errno.EHOSTUNREACH, "no address to connect to")
        family, self._sockaddr = self._addresses[self._next_address]
        self._next_address += 1
        try:
            sock = self.sock = self.new_socket(family)
        except OSError as exc:  # e.g. no IPv6 on this machine: try the next address
            self._last_error = exc
            return True
        return self._connect_result(sock, sock.connect_ex(self._sockaddr))

    def _connect_result(self, sock: socket.socket, code: int) -> bool:
        """Act on a ``connect_ex`` result: established, still pending, or this address failed."""
        if code in _CONNECTED:
            return self._tcp_established(sock)
        if code in _PENDING:
            self.wants = selectors.EVENT_WRITE
            return False
        self._address_failed(code)
        return True

    def _address_failed(self, code: int) -> None:
        """This address refused (or failed): close its socket; the next step tries the next."""
        self._last_error = OSError(code, os.strerror(code))  # e.g. ConnectionRefusedError
        self._close()
        self.sock = None

    def _tcp_established(self, sock: socket.socket) -> bool:
        target = self.request.target
        if target.tls:
            self.sock = self.env.ssl_context().wrap_socket(
                sock, server_hostname=target.host, do_handshake_on_connect=False
            )
            self.phase = "tls"
        else:
            self._established = True
            self.phase = "send"
        return True

    def _handshake(self) -> bool:
        sock = self.sock
        assert isinstance(sock, ssl.SSLSocket)
        try:
            sock.do_handshake()
        except ssl.SSLWantReadError:
            self.wants = selectors.EVENT_READ
            return False
        except ssl.SSLWantWriteError:
            self.wants = selectors.EVENT_WRITE
            return False
        self._established = True
        self.phase = "send"
        return True

    def _send(self) -> bool:
        sock = self.sock
        assert sock is not None
        if not self._sent:
            self.exchange.mark_sent()  # (again if the first send would have blocked)
        while self._sent < len(self._data):
            try:
                self._sent += sock.send(self._data[self._sent :])
            except (BlockingIOError, ssl.SSLWantWriteError):
                self.wants = selectors.EVENT_WRITE
                return False
            except ssl.SSLWantReadError:
                self.wants = selectors.EVENT_READ
                return False
        self._data = memoryview(b"")
        self.phase = "recv"
        self.wants = selectors.EVENT_READ
        return True

    def _recv(self) -> bool:
        sock = self.sock
        assert sock is not None
        try:
            data = sock.recv(READ_SIZE)
        except (BlockingIOError, ssl.SSLWantReadError):
            self.wants = selectors.EVENT_READ
            return False
        except ssl.SSLWantWriteError:
            self.wants = selectors.EVENT_WRITE
            return False
        if self.exchange.feed(data) or not data:
            self._outcome = self.exchange.finish()
            self._close()
            self.phase = "done"
            return False
        self.wants = selectors.EVENT_READ
        # Bytes already decrypted inside the SSL object never make the socket readable.
        return isinstance(sock, ssl.SSLSocket) and sock.pending() > 0

    # ---- endings ----

    def _fail(self, exc: BaseException) -> None:
        limit = self.env.timeout if self._established else self._connect_limit
        error = translate_exception(
            exc, self.request.target, connected=self._established, timeout=limit
        )
        self._outcome = self.exchange.fail(error)
        self._close()
        self.phase = "done"

    def _close(self) -> None:
        if self.sock is not None:
            self.sock.close()
