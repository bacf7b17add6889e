"""The connection pool of the ``keepalive`` engine: idle and shared connections per key, slots,
waiters.

Strategy: the pool never does I/O itself; it only decides. A key (scheme plus ``host:port``) owns
at most ``ceil(per_host / depth)`` open connections, busy or idle (``depth`` = requests in flight
per connection: 1 without pipelining). `acquire` hands out, in this order: the most recently used
idle connection of the key (LIFO: the warmest, least likely to have been closed by the server);
with ``depth > 1``, a busy connection that has already answered one reusable response
(``pipelinable``) and has fewer than ``depth`` requests in flight; or a reserved slot for a new
connection (the caller connects, then registers it with `opened`); else it waits. A request
being sent again asks for a ``fresh`` slot: it skips the first two (closing an idle connection of
the key if that frees a slot); `stop_sharing` turns pipelining off for a key whose server
mishandled it. `release` ends one request's use: the last user puts a reusable connection back
(idle) or aborts it and frees its slot; a non-reusable release aborts the connection for
everyone on it. Each release wakes waiters of the key (up to
``depth``: an idle pipelinable connection can take that many). Idle connections count against a
global cap (the run's concurrency): opening a connection when every slot is taken first aborts
the oldest idle connection of any key, so open connections never exceed the concurrency. Only
waiting in `acquire` yields to the event loop.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, Protocol, TypeVar

from fetchall.digests import DigestMap


class PooledConnection(Protocol):
    """What the pool needs from a connection."""

    @property
    def closed(self) -> bool:
        """True once the connection can no longer be used (lost, aborted, unsolicited bytes)."""

    @property
    def pipelinable(self) -> bool:
        """True once it answered a reusable response: more requests may queue behind others."""

    def abort(self) -> None:
        """Close at once (idempotent)."""


C = TypeVar("C", bound=PooledConnection)
Key = tuple[str, str]


class Pool(Generic[C]):
    """Keyed keep-alive pool (see module docstring)."""

    def __init__(self, per_host: int, limit: int, depth: int = 1) -> None:
        self.depth = max(depth, 1)
        self.per_key = -(-max(per_host, 1) // self.depth)  # connections per key: ceil
        self.limit = max(limit, 1)
        self._idle: dict[Key, list[C]] = {}
        self._idle_order: dict[C, Key] = {}  # every idle connection, oldest first
        self._busy: dict[Key, dict[C, int]] = {}  # busy connection -> requests using it
        self._open: dict[Key, int] = {}
        self._total = 0
        self._waiters: dict[Key, deque[asyncio.Future[None]]] = {}
        self._no_share = DigestMap()  # keys that stopped pipelining (flat memory: many hosts)

    @property
    def open_connections(self) -> int:
        """Connections open now (busy or idle), counting reserved slots."""
        return self._total

    async def acquire(self, key: Key, *, fresh: bool = False) -> C | None:
        """A connection for one request of ``key``, or None: a slot is reserved, the caller
        connects and calls `opened` (or `release` with None if connecting failed). With
        ``fresh``, always a slot for a new connection (a request being sent again)."""
        while True:
            if not fresh:
                conn = self._take_idle(key) or self._share(key)
                if conn is not None:
                    return conn
            elif self._open.get(key, 0) >= self.per_key and self._idle.get(key):
                self._close_idle(key)  # a fresh connection takes the slot of an idle one
            if self._open.get(key, 0) < self.per_key:
                if self._total >= self.limit and self._idle_order:
                    self._evict_oldest()
                self._open[key] = self._open.get(key, 0) + 1
                self._total += 1
                return None
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.setdefault(key, deque()).append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake(key, 1)  # pass on a wake-up this task can no longer use
                raise

    def opened(self, key: Key, conn: C) -> None:
        """Register a new connection made in a slot reserved by `acquire` (one user)."""
        self._busy.setdefault(key, {})[conn] = 1

    def release(self, key: Key, conn: C | None, reusable: bool) -> None:
        """End one request's use of ``conn`` (None: connecting failed, the slot is freed)."""
        if conn is None:
            self._forget(key)
            self._wake(key, 1)
            return
        if not reusable:
            conn.abort()  # the others on it fail or are sent again
        busy = self._busy.get(key, {})
        users = busy.get(conn, 1) - 1
        if users > 0:
            busy[conn] = users
            self._wake(key, 1)
            return
        busy.pop(conn, None)
        if not busy:
            self._busy.pop(key, None)
        if reusable and not conn.closed:
            self._idle.setdefault(key, []).append(conn)
            self._idle_order[conn] = key
            self._wake(key, self.depth if conn.pipelinable else 1)
        else:
            conn.abort()
            self._forget(key)
            self._wake(key, 1)

    def stop_sharing(self, key: Key) -> None:
        """Pipelining to ``key`` failed (a request queued behind another went unanswered):
        from now on its connections take one request at a time."""
        self._no_share.add(hash(key))

    def close_all(self) -> None:
        """Abort every idle connection (end of run)."""
        for conn in list(self._idle_order):
            conn.abort()
        self._idle.clear()
        self._idle_order.clear()

    def _take_idle(self, key: Key) -> C | None:
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            del self._idle_order[conn]
            if not conn.closed:
                self._busy.setdefault(key, {})[conn] = 1
                return conn
            self._forget(key)  # the server closed it while idle
        return None

    def _close_idle(self, key: Key) -> None:
        self._drop_idle(key, self._idle[key][0])  # the oldest of the key

    def _share(self, key: Key) -> C | None:
        if self.depth == 1 or hash(key) in self._no_share:
            return None
        busy = self._busy.get(key)
        if busy:
            for conn, users in busy.items():
                if users < self.depth and conn.pipelinable and not conn.closed:
                    busy[conn] = users + 1
                    return conn
        return None

    def _forget(self, key: Key) -> None:
        count = self._open.get(key, 0) - 1
        if count > 0:
            self._open[key] = count
        else:
            self._open.pop(key, None)
        self._total -= 1

    def _evict_oldest(self) -> None:
        conn, key = next(iter(self._idle_order.items()))
        self._drop_idle(key, conn)

    def _drop_idle(self, key: Key, conn: C) -> None:
        """Abort an idle connection and free its slot."""
        del self._idle_order[conn]
        idle = self._idle[key]
        idle.remove(conn)
        if not idle:
            del self._idle[key]
        conn.abort()
        self._forget(key)

    def _wake(self, key: Key, count: int) -> None:
        waiters = self._waiters.get(key)
        while waiters and count > 0:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                count -= 1
        if not waiters:
            self._waiters.pop(key, None)
