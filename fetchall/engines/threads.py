"""Engine ``threads``: blocking sockets (the `blocking` engine's exchange) run by a thread pool.

Strategy: the coordinating thread admits jobs through `RunContext.next_job` (so the global and
per-host limits hold) and hands each to a worker thread through a queue; the worker drives the
job's policy generator with plain blocking calls (`drive_sync` over `blocking_attempt`) and puts
the `Final` on a results queue; the coordinating thread takes it and calls `complete` (so
callbacks run there, one at a time). Workers are started lazily, one per job in flight, up to
``min(concurrency, MAX_THREADS)``, and reused.

Blocks in: workers in every socket call (DNS/connect, TLS handshake, sendall, recv) and in
`threading.Event.wait` for retry backoff; the coordinating thread only in the results queue.

Ctrl-C / SIGTERM (a `KeyboardInterrupt` in the coordinating thread): a stop flag is set, every
socket a worker has registered (through the `on_socket` hook) is shut down, which wakes a blocked
handshake/send/recv at once, backoff sleeps wake up, and a worker that sees the flag unwinds
(discarding its temp file) instead of starting another attempt. Workers are joined with a bounded
wait, then the interrupt is re-raised. DNS and connect cannot be woken (they are bounded by
``--connect-timeout``); a worker still in them is a daemon thread that will never write a file,
because registering its new socket after the stop aborts it.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
import time

from fetchall.engines.base import AttemptEnv, Job, RunContext, drive_sync
from fetchall.engines.sockets import blocking_attempt
from fetchall.output.writer import BodyFile
from fetchall.policy import Final, Outcome, Request

MAX_THREADS = 512
"""Worker threads at most, whatever ``--concurrency`` says (each costs a stack and a socket)."""

JOIN_TIMEOUT = 2.0
"""How long an interrupted run waits for its workers in total before giving up on them."""


class _Stopped(BaseException):
    """Raised inside a worker to unwind its job once the run is stopping (never escapes)."""


class _Pool:
    """Worker threads, their job and result queues, and the registry of sockets in use."""

    def __init__(self, env: AttemptEnv, size: int) -> None:
        self.env = env
        self.size = size
        self.in_flight = 0
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._results: queue.SimpleQueue[tuple[Job, Final | Exception]] = queue.SimpleQueue()
        self._workers: list[threading.Thread] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sockets: dict[int, socket.socket] = {}

    # ---- coordinating thread ----

    def submit(self, job: Job) -> None:
        """Hand ``job`` to a worker, starting a new one if every worker is busy."""
        self.in_flight += 1
        if self.in_flight > len(self._workers):
            worker = threading.Thread(
                target=self._work, name=f"fetchall-threads-{len(self._workers)}", daemon=True
            )
            worker.start()
            self._workers.append(worker)
        self._jobs.put(job)

    def next_result(self) -> tuple[Job, Final]:
        """Wait for a finished job; a worker's bug is re-raised here."""
        job, final = self._results.get()
        self.in_flight -= 1
        if isinstance(final, Exception):
            raise final
        return job, final

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
            self._jobs.put(None)
        deadline = time.monotonic() + JOIN_TIMEOUT
        for worker in self._workers:
            worker.join(max(0.0, deadline - time.monotonic()) if interrupted else None)
        while True:  # finished jobs nobody will complete: drop their temp files now
            try:
                _, final = self._results.get_nowait()
            except queue.Empty:
                break
            if not isinstance(final, Exception):
                _discard_body(final.outcome)

    # ---- worker threads ----

    def _work(self) -> None:
        """Worker loop: run jobs until the ``None`` sentinel or a stop."""
        key = threading.get_ident()

        def on_socket(sock: socket.socket | None) -> None:
            with self._lock:
                if sock is None:
                    self._sockets.pop(key, None)
                elif self._stop.is_set():
                    raise _Stopped
                else:
                    self._sockets[key] = sock

        def attempt(request: Request) -> Outcome:
            if self._stop.is_set():
                raise _Stopped
            outcome = blocking_attempt(request, self.env, on_socket)
            if self._stop.is_set():
                _discard_body(outcome)
                raise _Stopped
            return outcome

        def sleep(seconds: float) -> None:
            if self._stop.wait(seconds):
                raise _Stopped

        while (job := self._jobs.get()) is not None:
            try:
                final: Final | Exception = drive_sync(job.plan, attempt, sleep)
            except _Stopped:
                return
            except Exception as exc:  # a bug, not a fetch failure: surface it in the coordinator
                final = exc
            self._results.put((job, final))


def _discard_body(outcome: Outcome | None) -> None:
    if outcome is not None and isinstance(outcome.body, BodyFile):
        outcome.body.discard()


class ThreadsEngine:
    """Blocking sockets with hand-built HTTP/1.0, one worker thread per job in flight."""

    name = "threads"

    def run(self, ctx: RunContext) -> None:
        """Admit jobs and complete them in this thread; workers do the I/O."""
        pool = _Pool(ctx.env, max(1, min(ctx.concurrency, MAX_THREADS)))
        interrupted = True
        try:
            while True:
                while pool.in_flight < pool.size and (job := ctx.next_job()) is not None:
                    pool.submit(job)
                if ctx.finished:
                    break
                if pool.in_flight == 0:
                    raise RuntimeError("threads engine stalled: nothing running, not finished")
                job, final = pool.next_result()
                ctx.complete(job, final)
            interrupted = False
        finally:
            pool.close(interrupted=interrupted)
