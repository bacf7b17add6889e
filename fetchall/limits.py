"""The limiter: global concurrency and per-host concurrency, one algorithm for every engine. Pure.

Strategy: jobs wait in one FIFO per host key; a round-robin queue holds the hosts that have waiting
jobs *and* a free per-host slot. `pop_ready()` takes the next job from the next such host, so a busy
host never blocks the others (no head-of-line blocking) and hosts are served fairly. All operations
are O(1). The limiter holds no clock and does no I/O; engines call it from their coordinating
thread.
"""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class HostLimiter(Generic[T]):
    """Admit jobs so that at most ``concurrency`` run in all and ``per_host`` per host key."""

    def __init__(self, concurrency: int, per_host: int) -> None:
        if concurrency < 1 or per_host < 1:
            raise ValueError("concurrency and per_host must be >= 1")
        self.concurrency = concurrency
        self.per_host = per_host
        self.active = 0
        self.waiting = 0
        self._queues: dict[str, deque[T]] = {}
        self._running: dict[str, int] = {}
        self._ready: deque[str] = deque()
        self._in_ready: set[str] = set()

    def offer(self, key: str, job: T) -> None:
        """Queue ``job`` for host ``key``."""
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = deque()
        queue.append(job)
        self.waiting += 1
        self._mark_ready(key)

    def has_ready(self) -> bool:
        """True if `pop_ready` would return a job now."""
        return self.active < self.concurrency and bool(self._ready)

    def pop_ready(self) -> tuple[str, T] | None:
        """Start the next admissible job (counting it as active), or None if none may start."""
        if self.active >= self.concurrency or not self._ready:
            return None
        key = self._ready.popleft()
        self._in_ready.discard(key)
        queue = self._queues[key]
        job = queue.popleft()
        self.waiting -= 1
        self.active += 1
        self._running[key] = self._running.get(key, 0) + 1
        if not queue:
            del self._queues[key]
        else:
            self._mark_ready(key)
        return key, job

    def release(self, key: str) -> None:
        """A job of host ``key`` finished: free its global and per-host slot."""
        running = self._running.get(key, 0)
        if running <= 0:
            raise ValueError(f"release() for host {key!r} with no running job")
        self.active -= 1
        if running == 1:
            del self._running[key]
        else:
            self._running[key] = running - 1
        self._mark_ready(key)

    def running(self, key: str) -> int:
        """How many jobs of host ``key`` are running."""
        return self._running.get(key, 0)

    def _mark_ready(self, key: str) -> None:
        if (
            key not in self._in_ready
            and key in self._queues
            and self._running.get(key, 0) < self.per_host
        ):
            self._ready.append(key)
            self._in_ready.add(key)
