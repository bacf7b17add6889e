"""What every engine shares: the `Engine` protocol, the per-attempt environment, the job contract,
and the plain-loop driver of the policy generator.

Strategy: the runner owns the URL source, the limiter, callbacks, output and report; it hands an
engine a `RunContext`. An engine loops: take startable jobs (`next_job`), drive each job's policy
generator (`Attempt` → do one exchange, `Sleep` → wait) in its own I/O style, and hand the `Final`
back (`complete`) — always from the coordinating thread.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
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


def drive_sync(
    plan: PlanGen,
    attempt: Callable[[Request], Outcome],
    sleep: Callable[[float], None],
) -> Final:
    """Drive a policy generator with blocking calls (used by blocking/threads/processes)."""
    step = advance(plan, None)
    while not isinstance(step, Final):
        if isinstance(step, Attempt):
            step = advance(plan, attempt(step.request))
        else:
            sleep(step.seconds)
            step = advance(plan, None)
    return step
