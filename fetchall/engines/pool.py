"""The connection pool of the ``keepalive`` engine: idle connections per key, slots, waiters.

Strategy: the pool never does I/O itself; it only decides. A key (scheme plus ``host:port``) owns
at most ``per_host`` open connections, busy or idle. `acquire` hands out the most recently used
idle connection of the key (LIFO: the warmest, least likely to have been closed by the server),
or reserves a slot for a new connection (the caller connects), or waits until a connection of
that key is released. `release` puts a reusable connection back (idle) or aborts it and frees
its slot; either way it wakes one waiter of the key. Idle connections count against a global
cap (the run's concurrency): opening a connection when every slot is taken first aborts the
oldest idle connection of any key, so open connections never exceed the concurrency.
Only waiting in `acquire` yields to the event loop.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, Protocol, TypeVar


class PooledConnection(Protocol):
    """What the pool needs from a connection."""

    @property
    def closed(self) -> bool:
        """True once the connection can no longer be used (lost, aborted, unsolicited bytes)."""

    def abort(self) -> None:
        """Close at once (idempotent)."""


C = TypeVar("C", bound=PooledConnection)
Key = tuple[str, str]


class Pool(Generic[C]):
    """Keyed keep-alive pool (see module docstring)."""

    def __init__(self, per_host: int, limit: int) -> None:
        self.per_host = max(per_host, 1)
        self.limit = max(limit, 1)
        self._idle: dict[Key, list[C]] = {}
        self._idle_order: dict[C, Key] = {}  # every idle connection, oldest first
        self._open: dict[Key, int] = {}
        self._total = 0
        self._waiters: dict[Key, deque[asyncio.Future[None]]] = {}

    @property
    def open_connections(self) -> int:
        """Connections open now (busy or idle)."""
        return self._total

    async def acquire(self, key: Key) -> C | None:
        """An idle connection of ``key``, or None: a slot is reserved, the caller connects."""
        while True:
            idle = self._idle.get(key)
            while idle:
                conn = idle.pop()
                del self._idle_order[conn]
                if not conn.closed:
                    return conn
                self._forget(key)  # the server closed it while idle
            if self._open.get(key, 0) < self.per_host:
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
                    self._wake(key)  # pass on a wake-up this task can no longer use
                raise

    def release(self, key: Key, conn: C | None, reusable: bool) -> None:
        """Give back the slot acquired for ``key``: ``conn`` is kept idle if ``reusable``."""
        if conn is not None and reusable and not conn.closed:
            self._idle.setdefault(key, []).append(conn)
            self._idle_order[conn] = key
        else:
            if conn is not None:
                conn.abort()
            self._forget(key)
        self._wake(key)

    def close_all(self) -> None:
        """Abort every idle connection (end of run)."""
        for conn in list(self._idle_order):
            conn.abort()
        self._idle.clear()
        self._idle_order.clear()

    def _forget(self, key: Key) -> None:
        count = self._open.get(key, 0) - 1
        if count > 0:
            self._open[key] = count
        else:
            self._open.pop(key, None)
        self._total -= 1

    def _evict_oldest(self) -> None:
        conn, key = next(iter(self._idle_order.items()))
        del self._idle_order[conn]
        idle = self._idle[key]
        idle.remove(conn)
        if not idle:
            del self._idle[key]
        conn.abort()
        self._forget(key)

    def _wake(self, key: Key) -> None:
        waiters = self._waiters.get(key)
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                break
        if not waiters:
            self._waiters.pop(key, None)
