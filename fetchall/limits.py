"""The limiter: global concurrency, per-host concurrency, per-host rate and cooldowns — one
algorithm for every engine. Pure: it is given ``now`` (monotonic seconds) and never reads a clock.

Strategy: jobs wait in one FIFO per host key. A host with waiting jobs and a free per-host slot is
*listed*: in a round-robin deque while it is due, or in a heap keyed by the time it becomes due
(its next rate slot, or the end of its cooldown). `pop_ready(now)` moves hosts that became due
from the heap to the deque and takes the next job of the next host, so a busy, slow or
rate-limited host never blocks the others (no head-of-line blocking) and due hosts are served
fairly. `next_due()` tells engines when to ask again (they wait with their own timers).

A host's *pace*: ``interval`` seconds at least between two request starts (``1/--rate``, or a
robots.txt Crawl-delay), kept as ``next_start`` — every start books the next one, whether it is a
job leaving the queue (`pop_ready`) or a follow-up attempt of a running job (`reserve`: retries,
redirect hops), so no burst ever passes; and when a request actually left (`sent`) pushes the
next start to one interval after that, so a request held up between its start and its first
byte (a slow connect) does not reach the server just before the next one. A *cooldown*
(`cool_down`: a 429/503) makes the host wait until a given time; without a server-given length,
consecutive cooldowns double from ``backoff`` up to ``max_backoff``. Jobs offered with
`offer_first` (robots.txt) go before the host's queue and ignore its pace. Host state is dropped
once the host is idle and its timing lies in the past, so memory follows the hosts in play, not
the hosts ever seen. Every operation is O(1) or O(log hosts); engines call it from their
coordinating thread only.
"""

from __future__ import annotations

import heapq
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")

_UNLISTED, _READY, _TIMED = 0, 1, 2


class _Host(Generic[T]):
    """One host key's queue, slots and timing."""

    __slots__ = (
        "cooldown_until",
        "first",
        "interval",
        "listed",
        "next_start",
        "queue",
        "running",
        "strikes",
    )

    def __init__(self, interval: float) -> None:
        self.queue: deque[T] = deque()
        self.running = 0
        self.first = 0  # jobs at the front of the queue that ignore the pace (offer_first)
        self.listed = _UNLISTED
        self.interval = interval
        self.next_start = 0.0
        self.cooldown_until = 0.0
        self.strikes = 0  # consecutive cooldowns without a server-given length

    def due(self) -> float:
        """When this host's next paced start may happen."""
        return max(self.next_start, self.cooldown_until)


class HostLimiter(Generic[T]):
    """Admit jobs so that at most ``concurrency`` run in all and ``per_host`` per host key, each
    host starting requests at most every ``interval`` seconds (see module docstring)."""

    def __init__(
        self,
        concurrency: int,
        per_host: int,
        *,
        interval: float = 0.0,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
    ) -> None:
        if concurrency < 1 or per_host < 1:
            raise ValueError("concurrency and per_host must be >= 1")
        if interval < 0 or backoff < 0 or max_backoff < 0:
            raise ValueError("interval and backoffs must be >= 0")
        self.concurrency = concurrency
        self.per_host = per_host
        self.interval = interval
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.active = 0
        self.waiting = 0
        self._hosts: dict[str, _Host[T]] = {}
        self._intervals: dict[str, float] = {}  # per-host overrides (Crawl-delay)
        self._ready: deque[str] = deque()
        self._timed: list[tuple[float, str]] = []  # (due, key) of listed hosts not yet due
        self._cooling: list[tuple[float, str]] = []  # (until, key): cooldowns, for `cooling`
        self._lingering: set[str] = set()  # idle hosts whose timing still matters
        self._sweep_at = 1024
        self._now = 0.0  # the latest ``now`` seen (for forgetting idle hosts)
        self._timing = interval > 0  # any pace or cooldown yet? (else skip the due checks)
        self.paced = interval > 0
        """Whether any host has a pace (an interval > 0): else `sent` has nothing to do."""

    # ---- queueing ----

    def offer(self, key: str, job: T) -> None:
        """Queue ``job`` for host ``key``."""
        host = self._hosts.get(key) or self._new_host(key)
        host.queue.append(job)
        self.waiting += 1
        if host.listed == _UNLISTED and host.running < self.per_host:
            self._list(key, host)

    def offer_first(self, key: str, job: T) -> None:
        """Queue ``job`` before every other job of ``key``; it ignores the host's pace (not its
        concurrency slots) and does not book a rate slot: for robots.txt requests."""
        host = self._hosts.get(key) or self._new_host(key)
        host.queue.appendleft(job)
        host.first += 1
        self.waiting += 1
        if host.listed == _TIMED:  # it may start now: move it to the round robin
            host.listed = _UNLISTED
        if host.listed == _UNLISTED and host.running < self.per_host:
            self._list(key, host)

    def pop_ready(self, now: float = 0.0) -> tuple[str, T] | None:
        """Start the next admissible job at time ``now`` (counting it as active, booking its
        host's next rate slot), or None if none may start now (see `next_due`)."""
        if self.active >= self.concurrency:
            return None
        self._now = now
        timed = self._timed
        if timed and timed[0][0] <= now:
            self._promote(now)
        ready = self._ready
        hosts = self._hosts
        while ready:
            key = ready.popleft()
            host = hosts[key]
            host.listed = _UNLISTED
            if not host.queue or host.running >= self.per_host:
                if not host.queue and not host.running:  # drained while listed
                    self._retire(key, host)
                continue
            if host.first:
                host.first -= 1
            elif self._timing:
                due = host.due()
                if due > now:
                    self._wait_until(key, host, due)
                    continue
                if host.interval:
                    host.next_start = now + host.interval
            job = host.queue.popleft()
            self.waiting -= 1
            self.active += 1
            host.running += 1
            if host.queue and host.running < self.per_host:
                if host.first or host.due() <= now:
                    self._list(key, host)
                else:
                    self._wait_until(key, host, host.due())
            return key, job
        return None

    def release(self, key: str) -> None:
        """A job of host ``key`` finished: free its global and per-host slot."""
        host = self._hosts.get(key)
        if host is None or host.running <= 0:
            raise ValueError(f"release() for host {key!r} with no running job")
        self.active -= 1
        host.running -= 1
        if host.queue:
            if host.listed == _UNLISTED:
                self._list(key, host)
        elif host.running == 0:
            self._retire(key, host)

    def drain(self, key: str) -> list[T]:
        """Remove and return every job waiting for ``key`` (e.g. to fail them at once)."""
        host = self._hosts.get(key)
        if host is None or not host.queue:
            return []
        jobs = list(host.queue)
        host.queue.clear()
        host.first = 0
        self.waiting -= len(jobs)
        if host.running == 0:
            self._retire(key, host)
        return jobs

    def running(self, key: str) -> int:
        """How many jobs of host ``key`` are running."""
        host = self._hosts.get(key)
        return host.running if host is not None else 0

    def next_due(self) -> float | None:
        """The earliest time a waiting host becomes due (a rate slot or a cooldown's end), or
        None if no host waits for time or no slot is free (a finishing job frees one). Exact
        once `pop_ready` returned None (it sorts the hosts it passes over); engines wait until
        then, or until a job finishes."""
        if self.active >= self.concurrency:
            return None  # nothing may start before a job finishes, whatever is due
        timed = self._timed
        while timed:
            due, key = timed[0]
            host = self._hosts.get(key)
            if host is not None and host.listed == _TIMED:
                return due
            heapq.heappop(timed)  # stale: the host left the heap for the round robin
        return None

    # ---- pace and cooldowns ----

    def set_interval(self, key: str, seconds: float | None) -> None:
        """Space the request starts of ``key`` by ``seconds`` instead of the default (robots.txt
        Crawl-delay) until changed again; None: back to the default."""
        if seconds is None:
            self._intervals.pop(key, None)
            seconds = self.interval
        elif seconds < 0:
            raise ValueError("interval must be >= 0")
        else:
            self._intervals[key] = seconds
        self._timing = self._timing or seconds > 0
        self.paced = self.paced or seconds > 0
        host = self._hosts.get(key)
        if host is not None:
            host.interval = seconds

    def reserve(self, key: str, now: float) -> float:
        """Book a request start of ``key`` outside the queue (a running job's retry or redirect
        hop) and return the earliest time it may happen (``now`` if at once)."""
        host = self._hosts.get(key) or self._new_host(key)
        self._now, self._timing = now, True
        start = max(now, host.due())
        host.next_start = start + host.interval
        self._settle(key, host)
        return start

    def sent(self, key: str, at: float) -> None:
        """A request of ``key`` left at ``at`` (its first byte was handed to the socket): the
        host's next start is one interval after that at the earliest. Spacing then holds
        between requests as they leave, not only as they are granted: a request held up by a
        slow connect or TLS handshake pushes the next one back instead of arriving just before
        it. A ``sent`` that comes after the next start was granted cannot move that start."""
        host = self._hosts.get(key)
        if host is None:
            if not self._intervals.get(key, self.interval):
                return  # an unpaced host that is gone: nothing to remember
            host = self._new_host(key)
        start = at + host.interval  # (an interval > 0 has set ``_timing`` already)
        if host.interval and start > host.next_start:
            host.next_start = start  # a listed host re-checks its due time when it comes up
        self._settle(key, host)

    def cool_down(self, key: str, now: float, seconds: float | None = None) -> float:
        """Host ``key`` answered 429/503: no start before ``now + seconds``; without
        ``seconds`` (no Retry-After) the host's backoff, which doubles with every cooldown
        until `calm`. Returns the end of the cooldown (a later one already set is kept)."""
        host = self._hosts.get(key) or self._new_host(key)
        self._now, self._timing = now, True
        if seconds is None:
            if host.cooldown_until > now:  # one of a burst: the answers of requests in flight
                return host.cooldown_until
            host.strikes += 1
            seconds = min(self.backoff * 2.0 ** min(host.strikes - 1, 64), self.max_backoff)
        until = now + seconds
        if until > host.cooldown_until:
            host.cooldown_until = until
            self._prune_cooling(now)  # the heap follows the hosts cooling, not all cooldowns
            heapq.heappush(self._cooling, (until, key))
        self._settle(key, host)
        return host.cooldown_until

    def calm(self, key: str) -> None:
        """Host ``key`` answered normally: its next cooldown starts from ``backoff`` again."""
        host = self._hosts.get(key)
        if host is not None:
            host.strikes = 0

    def cooldown_left(self, key: str, now: float) -> float:
        """Seconds until ``key``'s cooldown ends (0 if it has none)."""
        host = self._hosts.get(key)
        return max(0.0, host.cooldown_until - now) if host is not None else 0.0

    def cooling(self, now: float) -> int:
        """How many hosts are in a cooldown at ``now``."""
        self._prune_cooling(now)
        return len({key for _, key in self._cooling})

    def rate_limited(self, now: float) -> int:
        """How many hosts have a job and a free slot but wait for their rate slot (cooldowns
        excluded) at ``now``."""
        count = 0
        for key in {key for _, key in self._timed}:
            host = self._hosts.get(key)
            if host is not None and host.listed == _TIMED and host.cooldown_until <= now:
                count += host.next_start > now
        return count

    # ---- internals ----

    def _new_host(self, key: str) -> _Host[T]:
        host: _Host[T] = _Host(self._intervals.get(key, self.interval))
        self._hosts[key] = host
        return host

    def _list(self, key: str, host: _Host[T]) -> None:
        """Put a host with waiting jobs and a free slot in the round robin."""
        host.listed = _READY
        self._ready.append(key)

    def _wait_until(self, key: str, host: _Host[T], due: float) -> None:
        host.listed = _TIMED
        heapq.heappush(self._timed, (due, key))

    def _promote(self, now: float) -> None:
        """Move the hosts whose due time has come from the heap to the round robin."""
        timed = self._timed
        while timed and timed[0][0] <= now:
            _, key = heapq.heappop(timed)
            host = self._hosts.get(key)
            if host is not None and host.listed == _TIMED:
                self._list(key, host)  # pop_ready re-checks: its due time may have moved

    def _prune_cooling(self, now: float) -> None:
        heap = self._cooling
        while heap and heap[0][0] <= now:
            heapq.heappop(heap)

    def _settle(self, key: str, host: _Host[T]) -> None:
        """A host touched outside the queue (reserve, cooldown): drop it again if idle."""
        if not host.queue and host.running == 0:
            self._retire(key, host)

    def _retire(self, key: str, host: _Host[T]) -> None:
        """An idle host: forget it, unless its timing still matters (it lingers until swept).
        A host still listed is retired when it comes up (`pop_ready`)."""
        if host.listed != _UNLISTED:
            return
        if self._remembered(host):
            self._lingering.add(key)
            if len(self._lingering) >= self._sweep_at:
                self._sweep()
        else:
            del self._hosts[key]

    def _remembered(self, host: _Host[T]) -> bool:
        """Whether an idle host's state still matters: a start or cooldown end in the future,
        or cooldown strikes younger than ``max_backoff`` (consecutive cooldowns keep growing)."""
        now = self._now
        return host.due() > now or (
            host.strikes > 0 and now - host.cooldown_until < self.max_backoff
        )

    def _sweep(self) -> None:
        """Forget lingering idle hosts whose state no longer matters (amortised: the next sweep
        waits until twice as many linger)."""
        for key in list(self._lingering):
            host = self._hosts.get(key)
            if host is None or host.queue or host.running or host.listed != _UNLISTED:
                self._lingering.discard(key)  # in play again: retired anew when idle
            elif not self._remembered(host):
                del self._hosts[key]
                self._lingering.discard(key)
        self._sweep_at = max(1024, 2 * len(self._lingering))
