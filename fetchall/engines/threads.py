"""Engine ``threads``: blocking sockets (the `blocking` engine's exchange) run by a thread pool.

Strategy: the coordinating thread admits jobs through `RunContext.next_job` (so the global,
per-host and rate limits hold) and steps every job's policy generator itself, as the
``processes`` engine does: each `Attempt` is handed to a worker thread through a queue (the
worker performs it with `blocking_attempt` and puts the `Outcome` on a results queue), each
`Sleep` becomes a timer in a heap. The coordinating thread waits on the results queue for the
first outcome, the next timer or the next host due (`next_due`), steps the plans, and calls
`complete` (so callbacks run there, one at a time). Workers are started lazily, one per attempt
in flight, and reused; jobs are admitted while fewer than ``min(concurrency, MAX_THREADS)``
attempts are in flight (a job sleeping until its retry holds no thread).

Blocks in: workers in every socket call (DNS/connect, TLS handshake, sendall, recv); the
coordinating thread only in the results queue (bounded by the next timer or due host).

Ctrl-C / SIGTERM (a `KeyboardInterrupt` in the coordinating thread): a stop flag is set, every
socket a worker has registered (through the `on_socket` hook) is shut down, which wakes a blocked
handshake/send/recv at once, and a worker that sees the flag unwinds (discarding its temp file)
instead of returning an outcome. Workers are joined with a bounded wait, then the interrupt is
re-raised. DNS and connect cannot be woken (they are bounded by ``--connect-timeout``); a worker
still in them is a daemon thread that will never write a file, because registering its new
socket after the stop aborts it.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
import time

from fetchall.engines.base import (
    AttemptEnv,
    Job,
    RunContext,
    SleepTimers,
    advance,
    delay_until,
)
from fetchall.engines.sockets import blocking_attempt
from fetchall.output.bodyfile import BodyFile
from fetchall.policy import Attempt, Final, Outcome, Request

MAX_THREADS = 512
"""Worker threads at most, whatever ``--concurrency`` says (each costs a stack and a socket)."""

JOIN_TIMEOUT = 2.0
"""How long an interrupted run waits for its workers in total before giving up on them."""


class _Stopped(BaseException):
    """Raised inside a worker to unwind its job once the run is stopping (never escapes)."""


class _Pool:
    """Worker threads, their attempt and outcome queues, and the registry of sockets in use."""

    def __init__(self, env: AttemptEnv, size: int) -> None:
        self.env = env
        self.size = size
        self.in_flight = 0
        self._attempts: queue.SimpleQueue[tuple[Job, Request] | None] = queue.SimpleQueue()
        self._outcomes: queue.SimpleQueue[tuple[Job, Outcome | Exception]] = queue.SimpleQueue()
        self._workers: list[threading.Thread] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sockets: dict[int, socket.socket] = {}

    # ---- coordinating thread ----

    def submit(self, job: Job, request: Request) -> None:
        """Hand one attempt to a worker, starting a new one if every worker is busy."""
        self.in_flight += 1
        if self.in_flight > len(self._workers):
            worker = threading.Thread(
                target=self._work, name=f"fetchall-threads-{len(self._workers)}", daemon=True
            )
            worker.start()
            self._workers.append(worker)
        self._attempts.put((job, request))

    def next_outcome(self, timeout: float | None) -> tuple[Job, Outcome] | None:
        """Wait up to ``timeout`` seconds (None: no bound) for a performed attempt; a worker's
        bug is re-raised here."""
        try:
            job, outcome = self._outcomes.get(timeout=timeout)
        except queue.Empty:
            return None
        self.in_flight -= 1
        if isinstance(outcome, Exception):
            raise outcome
        return job, outcome

    def close(self, *, interrupted: bool) -> None:
        """Stop every worker (interrupting in-flight work if ``interrupted``) and join them."""
        if interrupted:
            with self._lock:
                self._stop.set()
                sockets = list(self._sockets.values())
            for sock in sockets:
                with contextlib.suppress(OSError):  # already closed by its worker: nothing to do
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)
        for _ in self._workers:
            self._attempts.put(None)
        deadline = time.monotonic() + JOIN_TIMEOUT
        for worker in self._workers:
            worker.join(max(0.0, deadline - time.monotonic()) if interrupted else None)
        while True:  # performed attempts nobody will step: drop their temp files now
            try:
                _, outcome = self._outcomes.get_nowait()
            except queue.Empty:
                break
            if not isinstance(outcome, Exception):
                _discard_body(outcome)

    # ---- worker threads ----

    def _work(self) -> None:
        """Worker loop: perform attempts until the ``None`` sentinel or a stop."""
        key = threading.get_ident()

        def on_socket(sock: socket.socket | None) -> None:
            with self._lock:
                if sock is None:
                    self._sockets.pop(key, None)
                elif self._stop.is_set():
                    raise _Stopped
                else:
                    self._sockets[key] = sock

        while (task := self._attempts.get()) is not None:
            job, request = task
            if self._stop.is_set():
                return
            try:
                outcome: Outcome | Exception = blocking_attempt(request, self.env, on_socket)
            except _Stopped:
                return
            except Exception as exc:  # a bug, not a fetch failure: surface it in the coordinator
                outcome = exc
            if self._stop.is_set():
                if not isinstance(outcome, Exception):
                    _discard_body(outcome)
                return
            self._outcomes.put((job, outcome))


def _discard_body(outcome: Outcome | None) -> None:
    if outcome is not None and isinstance(outcome.body, BodyFile):
        outcome.body.discard()


class ThreadsEngine:
    """Blocking sockets with hand-built HTTP/1.0, one worker thread per attempt in flight."""

    name = "threads"

    def run(self, ctx: RunContext) -> None:
        """Admit jobs and step their plans in this thread; workers do the I/O."""
        pool = _Pool(ctx.env, max(1, min(ctx.concurrency, MAX_THREADS)))
        timers = SleepTimers()

        def step(job: Job, reply: Outcome | None) -> None:
            result = advance(job.plan, reply)
            if isinstance(result, Final):
                ctx.complete(job, result)
            elif isinstance(result, Attempt):
                pool.submit(job, result.request)
            else:
                timers.add(job, result.seconds)

        interrupted = True
        try:
            while True:
                while pool.in_flight < pool.size and (job := ctx.next_job()) is not None:
                    step(job, None)
                if ctx.finished:
                    break
                due = ctx.next_due() if pool.in_flight < pool.size else None
                timeout = delay_until(due, timers.next_at())
                if pool.in_flight == 0 and timeout is None:
                    raise RuntimeError("threads engine stalled: nothing running, not finished")
                performed = pool.next_outcome(timeout)
                if performed is not None:
                    step(*performed)
                while (woken := timers.pop_due()) is not None:
                    step(woken, None)
            interrupted = False
        finally:
            pool.close(interrupted=interrupted)
