"""What every engine shares: the `Engine` protocol, the per-attempt environment, the job contract,
and the driver of the sequential engines.

Strategy: the runner owns the URL source, the limiter, callbacks, output and report; it hands an
engine a `RunContext`. An engine loops: take startable jobs (`next_job`), drive each job's policy
generator (`Attempt` → do one exchange, `Sleep` → wait) in its own I/O style, and hand the `Final`
back (`complete`) — always from the coordinating thread. Policy generators are stepped in the
coordinating thread too (they consult the limiter for retries and redirect hops). When
`next_job` has nothing while hosts wait for their rate slot or a cooldown, the engine waits —
with its own timer, never spinning — until `next_due` or until a job of its own finishes.
"""

from __future__ import annotations

import heapq
import ssl
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Protocol

from fetchall.output.writer import OutputDir
from fetchall.policy import Attempt, Final, Outcome, Request, Step
from fetchall.urls import Target

PlanGen = Generator[Step, Outcome | None, Final]


@dataclass
class AttemptEnv:
    """Everything one attempt needs; picklable (the TLS context is built lazily per process)."""

    out: OutputDir
    timeout: float
    connect_timeout: float
    max_size: int | None = None
    insecure: bool = False
    cacert: Path | None = None
    _ssl: ssl.SSLContext | None = field(default=None, repr=False, compare=False)

    def ssl_context(self) -> ssl.SSLContext:
        """The client TLS context: verified by default, ``cacert`` trusted, or unverified."""
        if self._ssl is None:
            if self.insecure:
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            else:
                cafile = str(self.cacert) if self.cacert else None
                ctx = ssl.create_default_context(cafile=cafile)
            self._ssl = ctx
        return self._ssl

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state["_ssl"] = None
        return state


class Job(Protocol):
    """A started URL, as an engine sees it."""

    target: Target
    plan: PlanGen


class RunContext(Protocol):
    """The runner, as an engine sees it. Call every method from the coordinating thread."""

    env: AttemptEnv
    concurrency: int
    per_host: int
    pipeline: int  # requests in flight per connection (engines that keep connections alive)

    def next_job(self) -> Job | None:
        """A job that may start now (counted as active), or None."""

    @property
    def finished(self) -> bool:
        """True when nothing is running, nothing waits, and the URL source is drained."""

    def complete(self, job: Job, final: Final) -> None:
        """Hand back a finished job (runs callbacks, saves, reports, frees its slot)."""

    def release(self, job: Job) -> None:
        """Free the slot of ``job``, whose plan is done, before its `complete` (for an engine
        that starts the jobs a finished one made room for before completing it)."""

    def next_due(self) -> float | None:
        """When (`time.monotonic`) `next_job` may have a job it cannot give now (a host waiting
        for its rate slot or a cooldown's end), or None."""


class Engine(Protocol):
    """An engine: moves bytes and schedules; nothing else."""

    name: str

    def run(self, ctx: RunContext) -> None:
        """Fetch every job the context hands out, until it is finished."""


def advance(plan: PlanGen, reply: Outcome | None) -> Step | Final:
    """Send ``reply`` into a policy generator (``None`` to start it, or after a `Sleep`):
    the next step, or the `Final` once the plan is done. Every engine steps plans with this."""
    try:
        return plan.send(reply)
    except StopIteration as stop:
        final: Final = stop.value
        return final


class SleepTimers:
    """Jobs whose plan said `Sleep`, each until its wake-up time: for engines that step every
    plan from one loop (``blocking``, ``polling``, ``threads``, ``processes``)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Job]] = []
        self._order = count()

    def add(self, job: Job, seconds: float) -> None:
        """Wake ``job`` in ``seconds``."""
        heapq.heappush(self._heap, (time.monotonic() + seconds, next(self._order), job))

    def next_at(self) -> float | None:
        """The earliest wake-up time (monotonic), or None if no job sleeps."""
        return self._heap[0][0] if self._heap else None

    def pop_due(self) -> Job | None:
        """A job whose wake-up time has come (earliest first), or None."""
        heap = self._heap
        if heap and heap[0][0] <= time.monotonic():
            return heapq.heappop(heap)[2]
        return None


def run_sequential(
    ctx: RunContext,
    attempt: Callable[[Request], Outcome],
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Drive every job with one exchange at a time (``blocking``, ``polling``): an `Attempt` is
    performed at once with ``attempt``; a job that must wait (`Sleep`: retry backoff, its
    host's rate slot or cooldown) is set aside on a timer, so other jobs go on meanwhile. With
    nothing to do, ``sleep`` until the next timer or the next host due."""
    timers = SleepTimers()
    while True:
        job = timers.pop_due() or ctx.next_job()
        if job is None:
            if ctx.finished:
                return
            delay = delay_until(ctx.next_due(), timers.next_at())
            if delay is None:
                raise RuntimeError("engine stalled: no job to start, none due, yet not finished")
            sleep(delay)
            continue
        step = advance(job.plan, None)  # the start of a plan, or the end of its Sleep
        while isinstance(step, Attempt):
            step = advance(job.plan, attempt(step.request))
        if isinstance(step, Final):
            ctx.complete(job, step)
        else:
            timers.add(job, step.seconds)


def delay_until(due: float | None, timer: float | None = None) -> float | None:
    """Seconds from now to the earlier of ``due`` and ``timer`` (monotonic times), or None."""
    times = [t for t in (due, timer) if t is not None]
    return max(0.0, min(times) - time.monotonic()) if times else None
