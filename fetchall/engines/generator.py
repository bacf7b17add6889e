"""Engine ``generator``: generator coroutines on our own kernel (`kernel.py`); no asyncio.

Strategy: one kernel task per started job, plus a coordinating task. A job task drives its
policy generator with ``yield from`` (``Attempt`` → ``outcome = yield from fetch.attempt(request)``,
``Sleep`` → ``yield from sched.sleep(s)``); an attempt is straight-line code: ``yield from
connect`` (non-blocking ``connect_ex`` per resolved address, wait writable, check ``SO_ERROR``),
TLS handshake (``do_handshake`` looping on SSLWantRead/WantWrite), ``yield from send_all``
(partial sends), ``yield from receive`` into the shared `Exchange` until it needs no more bytes.
The coordinator admits jobs (`next_job`) at start and whenever one finishes, hands each `Final`
back (`complete`, one at a time, in this single thread) and returns once the context is finished.
Deadlines are absolute: ``--timeout`` bounds the whole attempt, ``--connect-timeout`` connect+TLS.

Where it yields: waiting for connect (writable), for each TLS handshake step, for a full send
buffer, before every ``recv`` (unless TLS already holds decrypted bytes), for retry backoff, and
the coordinator while no job has finished (and, when hosts wait for their rate slot or a
cooldown, no longer than until the next one is due). Where it blocks: only
``socket.getaddrinfo`` for a *name*; IP literals never reach the resolver (``AI_NUMERICHOST``
first) and names are cached per (host, port) for the run, so each name costs one blocking lookup
per run.

Ctrl-C: KeyboardInterrupt escapes `Scheduler.run`; every task is then cancelled (``finally``
blocks close sockets and discard temp files) before it is re-raised.
"""

from __future__ import annotations

import errno
import socket
import ssl
import time
from collections import deque
from functools import partial

from fetchall.engines.base import AttemptEnv, Job, PlanGen, RunContext
from fetchall.engines.exchange import READ_SIZE, Exchange
from fetchall.engines.kernel import Coro, Future, Scheduler, Task, WaitTimeout
from fetchall.engines.resolver import DNSCache, resolve
from fetchall.engines.translate import translate_exception
from fetchall.policy import Attempt, Final, Outcome, Request, Sleep
from fetchall.urls import Target

_IN_PROGRESS = frozenset({0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY})


class Fetcher:
    """One run's attempts: the scheduler, the attempt environment and the DNS cache."""

    def __init__(self, sched: Scheduler, env: AttemptEnv) -> None:
        self.sched = sched
        self.env = env
        self.dns: DNSCache = {}

    def drive(self, plan: PlanGen) -> Coro[Final]:
        """Drive a job's policy generator to its `Final`."""
        step = next(plan)
        while True:
            if isinstance(step, Attempt):
                reply: Outcome | None = yield from self.attempt(step.request)
            else:
                assert isinstance(step, Sleep)
                yield from self.sched.sleep(step.seconds)
                reply = None
            try:
                step = plan.send(reply)
            except StopIteration as stop:
                final: Final = stop.value
                return final

    def attempt(self, request: Request) -> Coro[Outcome]:
        """Perform one attempt; never raises a `FetchError` (cancellation does propagate)."""
        env = self.env
        exchange = Exchange(request, env.out, env.max_size)
        start = time.monotonic()
        deadline = start + env.timeout
        connect_deadline = min(deadline, start + env.connect_timeout)
        sock: socket.socket | None = None
        try:
            sock = yield from self.connect(request.target, connect_deadline)
            exchange.mark_sent()
            yield from self.send_all(sock, exchange.request_bytes(), deadline)
            yield from self.receive(sock, exchange, deadline)
            return exchange.finish()
        except Exception as exc:
            connected = sock is not None
            limit = env.timeout if connected else min(env.connect_timeout, env.timeout)
            error = translate_exception(exc, request.target, connected=connected, timeout=limit)
            return exchange.fail(error)
        except BaseException:
            exchange.discard()
            raise
        finally:
            if sock is not None:
                sock.close()

    def connect(self, target: Target, deadline: float) -> Coro[socket.socket]:
        """A connected socket (TLS established for https), trying each resolved address."""
        last: OSError | None = None
        for family, address in resolve(target.host, target.port, self.dns):
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.setblocking(False)
                code = sock.connect_ex(address)
                if code not in _IN_PROGRESS:
                    raise OSError(code, errno.errorcode.get(code, str(code)))
                if code:
                    yield from self.sched.wait_writable(sock, deadline)
                    code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if code:
                        raise OSError(code, errno.errorcode.get(code, str(code)))
            except WaitTimeout:  # the deadline covers every address: do not try the next
                sock.close()
                raise
            except OSError as exc:
                sock.close()
                last = exc
                continue
            except BaseException:
                sock.close()
                raise
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if target.tls:
                    return (yield from self.handshake(sock, target, deadline))
            except BaseException:
                sock.close()
                raise
            return sock
        raise last or OSError(f"no address for {target.host}")

    def handshake(
        self, sock: socket.socket, target: Target, deadline: float
    ) -> Coro[socket.socket]:
        """Wrap ``sock`` in TLS and finish the handshake without blocking."""
        tls = self.env.ssl_context().wrap_socket(
            sock, server_hostname=target.host, do_handshake_on_connect=False
        )
        try:
            while True:
                try:
                    tls.do_handshake()
                    return tls
                except ssl.SSLWantReadError:
                    yield from self.sched.wait_readable(tls, deadline)
                except ssl.SSLWantWriteError:
                    yield from self.sched.wait_writable(tls, deadline)
        except BaseException:
            tls.close()
            raise

    def send_all(self, sock: socket.socket, data: bytes, deadline: float) -> Coro[None]:
        """Send every byte, waiting whenever the send buffer is full."""
        view = memoryview(data)
        while view:
            try:
                view = view[sock.send(view) :]
            except (BlockingIOError, ssl.SSLWantWriteError):
                yield from self.sched.wait_writable(sock, deadline)
            except ssl.SSLWantReadError:
                yield from self.sched.wait_readable(sock, deadline)

    def receive(self, sock: socket.socket, exchange: Exchange, deadline: float) -> Coro[None]:
        """Read into ``exchange`` until it needs no more bytes (or EOF)."""
        pending = sock.pending if isinstance(sock, ssl.SSLSocket) else None
        while True:
            if pending is None or not pending():
                yield from self.sched.wait_readable(sock, deadline)
            try:
                data = sock.recv(READ_SIZE)
            except (BlockingIOError, ssl.SSLWantReadError):
                continue
            except ssl.SSLWantWriteError:
                yield from self.sched.wait_writable(sock, deadline)
                continue
            if exchange.feed(data) or not data:
                return


def coordinate(sched: Scheduler, ctx: RunContext, fetcher: Fetcher) -> Coro[None]:
    """Admit jobs, hand back finished ones, and return once the context is finished."""
    finished: deque[tuple[Job, Task[Final]]] = deque()
    running: set[Task[Final]] = set()
    wake: Future[None] = Future()

    def on_done(job: Job, task: Future[Final]) -> None:
        assert isinstance(task, Task)
        running.discard(task)
        finished.append((job, task))
        _wake(wake)

    try:
        while True:
            while finished:
                done_job, done_task = finished.popleft()
                ctx.complete(done_job, done_task.result())  # a job task's bug surfaces here
            while (job := ctx.next_job()) is not None:
                task = sched.spawn(fetcher.drive(job.plan))
                running.add(task)
                task.add_done_callback(partial(on_done, job))
            if ctx.finished:
                return
            if not finished:
                wake = Future()
                due = ctx.next_due()  # a host waiting for its rate slot or a cooldown
                timer = None if due is None else sched.call_at(due, partial(_wake, wake))
                try:
                    yield from wake
                finally:
                    if timer is not None:
                        timer.cancel()
    finally:
        for task in list(running):
            task.cancel()


def _wake(future: Future[None]) -> None:
    """Settle the coordinator's wake-up future (a finished job or a due host may come first)."""
    if not future.done():
        future.set_result(None)


class GeneratorEngine:
    """Generator coroutines on our own scheduler, hand-built HTTP/1.0."""

    name = "generator"

    def run(self, ctx: RunContext) -> None:
        """Run the kernel until every job is done; on Ctrl-C unwind every task, then re-raise."""
        sched = Scheduler()
        try:
            main = sched.spawn(coordinate(sched, ctx, Fetcher(sched, ctx.env)))
            try:
                sched.run()
            except BaseException:
                sched.cancel_all()
                raise
            main.result()
        finally:
            sched.close()
