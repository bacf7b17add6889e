"""The asyncio scheduling loop shared by the ``asyncio``, ``aiohttp`` and ``keepalive`` engines.

Strategy: one task per started job; the coordinating coroutine starts every job the limiter
admits, then sleeps on an `asyncio.Event` until a task finishes (which frees a slot) or, when
hosts wait for their rate slot or a cooldown, until the next one is due (a loop timer). Each task
drives its job's policy generator with ``await`` (attempts and `asyncio.sleep` for backoff),
frees its slot (`RunContext.release`) and leaves its `Final` to the coordinator, which starts
the jobs those slots admit, lets them run to their first wait (their requests go out), and only
then completes the finished ones (callbacks, files committed, rows written), one at a time on
the loop thread. So the servers work on the next requests while fetchall saves the last
responses; completing each job in its own task, before the next request left, cost 4-13% more
CPU per URL (benchmarks/RESULTS.md, issue 14). On cancellation (Ctrl-C) every task is cancelled
and awaited, so temp files are removed, and jobs already finished are completed.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from fetchall.engines.base import Job, RunContext, advance, delay_until
from fetchall.policy import Attempt, Final, Outcome, Request

AsyncAttempt = Callable[[Request], Awaitable[Outcome]]


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` to completion on uvloop when it is installed (the ``fast`` extra), else on
    the stdlib loop; ``FETCHALL_NO_UVLOOP=1`` forces the stdlib loop. Ctrl-C cancels ``main``
    and raises KeyboardInterrupt, as `asyncio.run` does."""
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    if not os.environ.get("FETCHALL_NO_UVLOOP"):
        try:
            import uvloop
        except ImportError:
            pass
        else:
            factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(main)


async def run_jobs(ctx: RunContext, attempt: AsyncAttempt) -> None:
    """Run every job of ``ctx`` concurrently within the limiter's bounds."""
    wake = asyncio.Event()
    tasks: set[asyncio.Task[None]] = set()
    bugs: list[BaseException] = []
    done: list[tuple[Job, Final]] = []  # plans finished, slots freed, not completed yet

    async def run_one(job: Job) -> None:
        try:
            plan = job.plan
            step = advance(plan, None)  # the plan, driven with await
            while not isinstance(step, Final):
                if isinstance(step, Attempt):
                    step = advance(plan, await attempt(step.request))
                else:
                    await asyncio.sleep(step.seconds)
                    step = advance(plan, None)
            ctx.release(job)  # the coordinator completes it once the next job started
            done.append((job, step))
        except (Exception, KeyboardInterrupt) as exc:
            # a bug, not a fetch failure, or a listener stopping the run as Ctrl-C would:
            # raised in the coordinator (a task keeping it would log "never retrieved")
            bugs.append(exc)
        finally:
            wake.set()

    loop = asyncio.get_running_loop()
    # No `await` inside `finally` or `except`: compiled by mypyc (2.4), a coroutine that awaits
    # there, awaited by another compiled coroutine (keepalive's), loses the exception it was
    # handling (a cancellation ended the run as if it had finished). So: keep it, stop, re-raise.
    stopped_by: BaseException | None = None
    try:
        while True:
            while (job := ctx.next_job()) is not None:
                task = loop.create_task(run_one(job))  # not asyncio.create_task: no getpid()
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            if done:
                await asyncio.sleep(0)  # the tasks just made run first: their requests go out
                _complete(ctx, done)
                if bugs:
                    raise bugs[0]
                continue  # completing may have freed hosts or handed back redirect hops
            if ctx.finished:
                break
            delay = delay_until(ctx.next_due())  # a host waiting for its rate or a cooldown
            if delay is None and not tasks:
                raise RuntimeError("asyncio scheduling stalled: nothing running, not finished")
            timer = None if delay is None else loop.call_later(delay, wake.set)
            await wake.wait()
            wake.clear()
            if timer is not None:
                timer.cancel()
            if bugs:
                raise bugs[0]
    except BaseException as exc:
        stopped_by = exc
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
    if stopped_by is not None:
        if not isinstance(stopped_by, Exception):  # Ctrl-C, not a bug: keep what finished
            _complete(ctx, done)
        raise stopped_by


def _complete(ctx: RunContext, done: list[tuple[Job, Final]]) -> None:
    """Complete the finished jobs in ``done``, in order, emptying it as it goes (what a
    failing `complete` leaves stays there)."""
    started = 0
    try:
        for job, final in done:
            started += 1
            ctx.complete(job, final)
    finally:
        del done[:started]
