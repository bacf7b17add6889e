"""Engine ``select``: non-blocking sockets on a ``selectors`` event loop, driven by callbacks.

Strategy: a small callback event loop (`EventLoop`): a ``selectors.DefaultSelector`` (epoll,
kqueue, ...) whose registrations carry the callback to run when the descriptor is ready, a heap
of cancellable timers, and a ready queue of callbacks. Every started URL is a `JobState` whose
methods are named after the events that fire them: ``on_writable`` / ``on_readable`` (the
attempt's socket is ready: call `NonBlockingAttempt.step()`, then re-arm for what it wants
next, modifying the registration in place), ``on_timeout`` (the attempt's deadline timer:
`expire()`), ``on_backoff_done`` (a retry sleep ended). When an attempt ends, its outcome is
sent into the job's policy generator, which answers with the next step: another `Attempt`
(new socket, registration and deadline timer) or a `Sleep` (a timer) — or returns the `Final`.

The engine starts every job the limiter admits (``ctx.next_job()``) at start and again, through
the ready queue, whenever a job completes; ``ctx.complete`` runs in loop callbacks, i.e. in the
coordinating thread, one at a time. Starting jobs through the ready queue (never directly
from another job's callback) keeps the stack flat when many jobs end at once. The loop ends
when ``ctx.finished``. On Ctrl-C (or a bug) every in-flight attempt is aborted — temporary
files discarded, sockets closed — and the exception propagates.

Where it blocks: ``selector.select()`` (the only wait: until a socket is ready or the next
timer is due — a retry's backoff, an attempt's deadline, or `admit` again when the next host
waiting for its rate slot or a cooldown is due) and name lookups (``getaddrinfo``, once per
host per run; see `nonblocking`).
"""

from __future__ import annotations

import heapq
import itertools
import selectors
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from fetchall.engines.base import Job, RunContext
from fetchall.engines.nonblocking import NonBlockingAttempt
from fetchall.engines.resolver import DNSCache
from fetchall.policy import Attempt, Outcome, Sleep, Step

Callback = Callable[[], None]


@dataclass(order=True, slots=True)
class Timer:
    """A callback due at monotonic time ``when``; `EventLoop.cancel` makes it a no-op."""

    when: float
    seq: int
    callback: Callback = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def fire(self) -> None:
        """Run the callback unless cancelled."""
        if not self.cancelled:
            self.cancelled = True
            self.callback()


class EventLoop:
    """Readiness callbacks, timers and a ready queue over one selector."""

    def __init__(self) -> None:
        self.selector = selectors.DefaultSelector()
        self._timers: list[Timer] = []
        self._ready: deque[Callback] = deque()
        self._seq = itertools.count()
        self._cancelled = 0  # cancelled timers still in the heap (an upper bound)

    def call_soon(self, callback: Callback) -> None:
        """Run ``callback`` on the next pass of the loop."""
        self._ready.append(callback)

    def call_at(self, when: float, callback: Callback) -> Timer:
        """Run ``callback`` at monotonic time ``when`` (unless the timer is cancelled)."""
        timer = Timer(when, next(self._seq), callback)
        heapq.heappush(self._timers, timer)
        return timer

    def call_later(self, delay: float, callback: Callback) -> Timer:
        """Run ``callback`` after ``delay`` seconds (unless the timer is cancelled)."""
        return self.call_at(time.monotonic() + delay, callback)

    def cancel(self, timer: Timer) -> None:
        """Make ``timer`` a no-op. Heap entries go lazily; the heap is compacted when most of
        it is cancelled (deadline timers of finished attempts lie far in the future)."""
        if timer.cancelled:
            return
        timer.cancelled = True
        self._cancelled += 1
        if self._cancelled > 256 and self._cancelled * 2 > len(self._timers):
            self._timers = [t for t in self._timers if not t.cancelled]
            heapq.heapify(self._timers)
            self._cancelled = 0

    @property
    def idle(self) -> bool:
        """True when nothing is registered, scheduled or ready: `run_once` would wait forever."""
        return not self._ready and not self.selector.get_map() and not self._live_timers()

    def run_once(self) -> None:
        """Wait for the first socket event or due timer, then run what became ready."""
        timeout: float | None = None
        if self._ready:
            timeout = 0
        elif self._live_timers():
            timeout = max(0.0, self._timers[0].when - time.monotonic())
        for key, _ in self.selector.select(timeout):
            self._ready.append(key.data)
        now = time.monotonic()
        while self._timers and self._timers[0].when <= now:
            self._ready.append(heapq.heappop(self._timers).fire)
        for _ in range(len(self._ready)):  # callbacks added meanwhile wait for the next pass
            self._ready.popleft()()

    def close(self) -> None:
        """Close the selector."""
        self.selector.close()

    def _live_timers(self) -> bool:
        """True if any timer is pending; drops cancelled timers from the top of the heap."""
        timers = self._timers
        while timers and timers[0].cancelled:
            heapq.heappop(timers)
            self._cancelled = max(0, self._cancelled - 1)
        return bool(timers)


class JobState:
    """One started URL: its policy generator stepped from loop callbacks."""

    def __init__(
        self,
        job: Job,
        ctx: RunContext,
        loop: EventLoop,
        dns_cache: DNSCache,
        on_done: Callable[[JobState], None],
    ) -> None:
        self.job = job
        self.attempt: NonBlockingAttempt | None = None
        self._ctx = ctx
        self._loop = loop
        self._dns = dns_cache
        self._on_done = on_done
        self._timer: Timer | None = None
        self._sock: socket.socket | None = None  # the socket object currently registered
        self._fd = -1

    # ---- events ----

    def on_start(self) -> None:
        """The job was admitted: take the policy's first step."""
        self._next_step(next(self.job.plan))

    def on_writable(self) -> None:
        """The attempt's socket can be written (connect finished, or room to send)."""
        self._progress()

    def on_readable(self) -> None:
        """The attempt's socket has bytes (TLS handshake or response) or EOF."""
        self._progress()

    def on_timeout(self) -> None:
        """The attempt's deadline passed."""
        attempt = self.attempt
        if attempt is not None:
            attempt.expire()
            self._attempt_done(attempt)

    def on_backoff_done(self) -> None:
        """A retry sleep ended: the policy goes on."""
        self._timer = None
        self._send(None)

    def abort(self) -> None:
        """Interrupted: abort the attempt in flight (temp file, socket), cancel timers."""
        if self.attempt is not None:
            self.attempt.abort()
            self.attempt = None
        self._unwatch()
        self._cancel_timer()

    # ---- internals ----

    def _send(self, reply: Outcome | None) -> None:
        """Send the previous step's result into the policy generator and act on its answer."""
        try:
            step = self.job.plan.send(reply)
        except StopIteration as stop:
            self._ctx.complete(self.job, stop.value)
            self._on_done(self)
            return
        self._next_step(step)

    def _next_step(self, step: Step) -> None:
        if isinstance(step, Attempt):
            self.attempt = NonBlockingAttempt(step.request, self._ctx.env, self._dns)
            self._progress()
        else:
            assert isinstance(step, Sleep)
            self._timer = self._loop.call_later(step.seconds, self.on_backoff_done)

    def _progress(self) -> None:
        """Step the attempt; when it must wait, (re-)arm its registration and deadline."""
        attempt = self.attempt
        if attempt is None:  # a stale event for an attempt that already ended
            return
        if attempt.step():
            self._attempt_done(attempt)
            return
        self._watch(attempt)
        timer = self._timer
        if timer is None or timer.when != attempt.deadline:  # the deadline moves after connect
            self._cancel_timer()
            self._timer = self._loop.call_at(attempt.deadline, self.on_timeout)

    def _watch(self, attempt: NonBlockingAttempt) -> None:
        """Register the attempt's socket for what it wants (modify in place when possible)."""
        sock = attempt.sock
        assert sock is not None
        events = attempt.wants
        callback = self.on_readable if events == selectors.EVENT_READ else self.on_writable
        if sock is self._sock:
            self._loop.selector.modify(self._fd, events, callback)
            return
        # A new socket (next address: perhaps the same descriptor number, but the kernel forgot
        # the closed one's registration) or its TLS wrapper: register afresh.
        self._unwatch()
        self._sock, self._fd = sock, sock.fileno()
        self._loop.selector.register(self._fd, events, callback)

    def _unwatch(self) -> None:
        if self._sock is not None:
            self._loop.selector.unregister(self._fd)  # selectors ignore an already-closed fd
            self._sock, self._fd = None, -1

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._loop.cancel(self._timer)
            self._timer = None

    def _attempt_done(self, attempt: NonBlockingAttempt) -> None:
        self.attempt = None
        self._unwatch()
        self._cancel_timer()
        self._send(attempt.outcome)


class SelectEngine:
    """Non-blocking sockets, a selectors event loop and callbacks, hand-built HTTP/1.0."""

    name = "select"

    def __init__(self) -> None:
        self._dns: DNSCache = {}

    def run(self, ctx: RunContext) -> None:
        """Run the event loop until every job is done."""
        loop = EventLoop()
        jobs: set[JobState] = set()
        due_timer: Timer | None = None  # wakes `admit` when a waiting host becomes due

        def admit() -> None:
            nonlocal due_timer
            while (job := ctx.next_job()) is not None:
                state = JobState(job, ctx, loop, self._dns, on_done)
                jobs.add(state)
                loop.call_soon(state.on_start)
            due = ctx.next_due()
            if due is not None and (due_timer is None or due_timer.cancelled):
                due_timer = loop.call_at(due, admit)
            elif due is not None and due_timer is not None and due < due_timer.when:
                loop.cancel(due_timer)
                due_timer = loop.call_at(due, admit)

        def on_done(state: JobState) -> None:
            jobs.discard(state)
            loop.call_soon(admit)

        try:
            admit()
            while not ctx.finished:
                if loop.idle:
                    admit()
                    if loop.idle:
                        raise RuntimeError("select engine: no job in flight, yet not finished")
                loop.run_once()
        finally:
            for state in jobs:
                state.abort()
            loop.close()
