"""Engine ``processes``: the `blocking` engine's exchange (`blocking_attempt`) in a process pool.

Strategy: generators do not pickle, so the parent (coordinating) process drives every job's
policy generator itself. Each `Attempt` becomes one task for a `ProcessPoolExecutor` worker,
which performs the exchange with blocking sockets, streams the body into a temp file under
``out/.fetchall-tmp/<worker pid>-...part`` and sends the `Outcome` back (a closed `BodyFile`
pickles as path + size; errors and headers pickle as they are). Each `Sleep` becomes a timer in
the parent (a heap of wake-up times). The parent waits in `concurrent.futures.wait` for the first
finished attempt or the next timer, and calls `complete` itself, so callbacks, commits and the
report stay in the parent, one at a time. Jobs are admitted through `next_job` only, so the
global, per-host and rate limits hold, and only while a worker is free, so an attempt starts
when its job is admitted (a retry may still wait for a worker). The pool starts all its workers
before the first request (`warm_up`), so no booked start waits for a process to start.

Pool size: ``min(concurrency, WORKERS_PER_CPU * usable CPUs)`` — the work is I/O-bound, so a
few processes per CPU overlap their waits, while each process costs ~20 MB and a start-up.
Start method: "forkserver". Plain fork is unsafe once the parent has threads (the executor's
manager thread, a progress thread, a test server's thread); "spawn" starts and imports a fresh
interpreter per worker (measured on 2 CPUs: ~0.5 s for 8 workers, every run). The fork server
starts once per parent process, preloading this module (~0.15 s), and then forks 8 workers in
~40 ms per run. As with any non-fork start method, each worker re-imports a *script's*
``__main__``: scripts using this engine through the API need ``if __name__ == "__main__":``.

Blocks in: workers in every socket call (DNS/connect, TLS handshake, sendall, recv); the parent
only in `concurrent.futures.wait` (bounded by the next timer or the next host due).

Ctrl-C / SIGTERM: workers ignore SIGINT and take SIGTERM's default action, so only the parent
reacts (a `KeyboardInterrupt`): it cancels queued attempts, terminates every worker (kills one
that is still alive after `TERMINATE_TIMEOUT`), removes the temp files named after the workers'
pids, and re-raises. A worker forked at the very instant of a terminal's Ctrl-C, before its
initializer runs, may die of it with a traceback on stderr; the parent's cleanup is the same.
At exit the fork server and the resource tracker are stopped too; if the parent is killed
outright (``kill -9``), each worker's watch thread sees it go and exits, and the fork server
and tracker follow.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from fetchall.engines.base import AttemptEnv, Job, RunContext, SleepTimers, delay_until
from fetchall.engines.sockets import blocking_attempt
from fetchall.errors import ConnectionLostError
from fetchall.policy import Attempt, Outcome, Request

WORKERS_PER_CPU = 4
"""Worker processes per usable CPU (at most; never more than ``--concurrency``)."""

WARM_UP_TIMEOUT = 30.0
"""How long the pool's start may take at most (a slower start just goes on lazily)."""

TERMINATE_TIMEOUT = 2.0
"""How long an interrupted run waits for terminated workers before killing them."""

_worker_env: AttemptEnv | None = None
"""In a worker process: the run's `AttemptEnv` (set once by the pool initializer)."""


def _init_worker(env: AttemptEnv) -> None:
    """Pool initializer: leave Ctrl-C to the parent, die on SIGTERM, remember the environment,
    and exit when the parent does (see `_exit_with_parent`)."""
    global _worker_env
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _worker_env = env
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(
            target=_exit_with_parent, args=(parent.sentinel,), name="parent-watch", daemon=True
        ).start()


def _exit_with_parent(sentinel: int) -> None:
    """Exit once the parent is gone (``kill -9``): a worker holds the write end of its own task
    queue, so it would never see the queue close, and it would keep the fork server alive."""
    multiprocessing.connection.wait([sentinel])
    os._exit(1)


def _attempt_in_worker(request: Request) -> Outcome:
    """Task run in a worker: one blocking attempt (never raises a `FetchError`)."""
    assert _worker_env is not None, "worker used without _init_worker"
    return blocking_attempt(request, _worker_env)


def pool_size(concurrency: int) -> int:
    """How many worker processes a run with ``concurrency`` uses (see module docstring)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(concurrency, WORKERS_PER_CPU * (cpus or 1)))


def _mp_context() -> multiprocessing.context.BaseContext:
    """The forkserver context; its server (started once per process) preloads this module."""
    global _helpers_stopped_at_exit
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["__main__", __name__])
    if not _helpers_stopped_at_exit:
        _helpers_stopped_at_exit = True
        atexit.register(_stop_helpers)
    return context


_helpers_stopped_at_exit = False


def _stop_helpers() -> None:
    """At exit: stop multiprocessing's fork server and resource tracker and wait for them.
    Left alone, each notices the end of this process by itself, but only after it: fetchall
    would exit with two of its processes still alive for a moment (a process manager sees
    orphans). Private API (stdlib tests use it), so any failure is ignored."""
    from multiprocessing import forkserver, resource_tracker

    gc.collect()  # finalize dead pools' semaphores first: the tracker would report them leaked
    for helper in (forkserver._forkserver, resource_tracker._resource_tracker):
        with contextlib.suppress(Exception):
            helper._stop()  # type: ignore[union-attr]


class _Pool:
    """A `ProcessPoolExecutor` that is replaced if a worker dies, and tracks every worker pid."""

    def __init__(self, env: AttemptEnv, size: int) -> None:
        self.env = env
        self.size = size
        self.pids: set[int] = set()
        self._executor = self._new_executor()

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self.size, _mp_context(), initializer=_init_worker, initargs=(self.env,)
        )

    def warm_up(self) -> None:
        """Start the fork server and the workers before the first request, so that no attempt
        waits for a process to start (a booked rate slot would otherwise slip)."""
        ready = [self._executor.submit(os.getpid) for _ in range(self.size)]
        wait(ready, timeout=WARM_UP_TIMEOUT)
        self.pids.update(self._executor._processes)

    def submit(self, request: Request) -> Future[Outcome]:
        """Queue one attempt; a broken pool (a worker died) is replaced first."""
        try:
            future = self._executor.submit(_attempt_in_worker, request)
        except BrokenProcessPool:
            self.close(interrupted=True)
            self._executor = self._new_executor()
            future = self._executor.submit(_attempt_in_worker, request)
        self.pids.update(self._executor._processes)  # workers start on demand, in submit
        return future

    def close(self, *, interrupted: bool) -> None:
        """Shut the pool down; if ``interrupted``, terminate the workers (bounded wait)."""
        # No public way to reach the workers before Python 3.14 (terminate_workers).
        workers = list(self._executor._processes.values())
        self.pids.update(p.pid for p in workers if p.pid is not None)
        if not interrupted:
            self._executor.shutdown(wait=True)
            return
        self._executor.shutdown(wait=False, cancel_futures=True)
        for process in workers:
            process.terminate()
        deadline = time.monotonic() + TERMINATE_TIMEOUT
        for process in workers:
            process.join(max(0.0, deadline - time.monotonic()))
        for process in workers:
            if process.is_alive():
                process.kill()
                process.join(1.0)


def _outcome_of(future: Future[Outcome]) -> Outcome:
    """The attempt's outcome; a dead worker is this attempt's (retryable) error, not the run's."""
    try:
        return future.result()
    except BrokenProcessPool:
        return Outcome(error=ConnectionLostError("a worker process died during this request"))


class ProcessesEngine:
    """Blocking sockets with hand-built HTTP/1.0 in worker processes; plans run in the parent."""

    name = "processes"

    def run(self, ctx: RunContext) -> None:
        """Drive every job's plan here; attempts run in the pool, sleeps are parent timers."""
        pool = _Pool(ctx.env, pool_size(ctx.concurrency))
        pending: dict[Future[Outcome], Job] = {}
        timers = SleepTimers()

        def advance(job: Job, reply: Outcome | None) -> None:
            """Send ``reply`` into the job's plan and act on its next step."""
            try:
                step = job.plan.send(reply)
            except StopIteration as stop:
                ctx.complete(job, stop.value)
                return
            if isinstance(step, Attempt):
                pending[pool.submit(step.request)] = job
            else:
                timers.add(job, step.seconds)

        interrupted = True
        try:
            pool.warm_up()
            while True:
                while len(pending) < pool.size and (job := ctx.next_job()) is not None:
                    advance(job, None)
                if ctx.finished:
                    break
                due = ctx.next_due() if len(pending) < pool.size else None
                timeout = delay_until(due, timers.next_at())
                if not pending and timeout is None:
                    raise RuntimeError("processes engine stalled: nothing running, not finished")
                done, _ = wait(pending, timeout=timeout, return_when=FIRST_COMPLETED)
                for future in [f for f in pending if f in done]:  # in submission order
                    advance(pending.pop(future), _outcome_of(future))
                while (woken := timers.pop_due()) is not None:
                    advance(woken, None)
            interrupted = False
        finally:
            pool.close(interrupted=interrupted)
            ctx.env.out.remove_temps(pool.pids)  # every result was committed or discarded
