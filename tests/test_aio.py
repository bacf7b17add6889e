"""The asyncio scheduling loop (`fetchall.engines.aio.run_jobs`) against a scripted run context:
when a finished job is completed relative to the job that takes its slot, and what happens to
finished jobs when the run stops."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from fetchall.engines.aio import run_jobs
from fetchall.engines.base import AttemptEnv, Job, PlanGen
from fetchall.policy import Attempt, Final, Outcome, Request
from fetchall.urls import Target, parse_url

pytestmark = pytest.mark.timeout(10)


def one_attempt(request: Request) -> PlanGen:
    """A plan of one attempt, whatever its outcome."""
    outcome = yield Attempt(request, 1)
    return Final(request, outcome, None, 1, 0)


@dataclass(eq=False)
class ScriptedJob:
    target: Target
    plan: PlanGen


@dataclass
class ScriptedRun:
    """A `RunContext` over ``names`` with ``concurrency`` slots; it logs what the loop does."""

    names: list[str]
    concurrency: int
    log: list[str] = field(default_factory=list)
    on_next_job: Callable[[int], None] | None = None  # (times next_job was called)
    complete_fails_for: str | None = None
    env: AttemptEnv = field(default=None)  # type: ignore[assignment]  # (unused)
    per_host: int = 1
    pipeline: int = 1
    running: int = 0  # slots taken (released at `release` or `complete`)
    active: dict[int, str] = field(default_factory=dict)  # started, not completed
    released: set[int] = field(default_factory=set)
    calls: int = 0

    def next_job(self) -> Job | None:
        self.calls += 1
        if self.on_next_job is not None:
            self.on_next_job(self.calls)
        if not self.names or self.running >= self.concurrency:
            return None
        name = self.names.pop(0)
        target = parse_url(f"http://127.0.0.1/{name}")
        job = ScriptedJob(target, one_attempt(Request(target, ())))
        self.running += 1
        self.active[id(job)] = name
        return job

    @property
    def finished(self) -> bool:
        return not self.names and not self.active

    def release(self, job: Job) -> None:
        self.log.append(f"release {self.active[id(job)]}")
        self.released.add(id(job))
        self.running -= 1

    def complete(self, job: Job, final: Final) -> None:
        name = self.active.pop(id(job))
        if id(job) not in self.released:
            self.running -= 1
        if name == self.complete_fails_for:
            raise RuntimeError(f"complete failed for {name}")
        self.log.append(f"complete {name}")

    def next_due(self) -> float | None:
        return None


def attempt_logging(run: ScriptedRun) -> Callable[[Request], object]:
    async def attempt(request: Request) -> Outcome:
        name = request.target.url.rsplit("/", 1)[1]
        run.log.append(f"send {name}")
        await asyncio.sleep(0)  # the response arrives later
        return Outcome(status=200)

    return attempt


def test_the_next_job_sends_before_the_finished_one_is_completed() -> None:
    run = ScriptedRun(["a", "b", "c"], concurrency=1)
    asyncio.run(run_jobs(run, attempt_logging(run)))  # type: ignore[arg-type]
    assert run.log == [
        "send a", "release a",
        "send b", "complete a", "release b",
        "send c", "complete b", "release c",
        "complete c",
    ]  # fmt: skip


def test_every_job_is_completed_once_with_more_slots_than_jobs() -> None:
    run = ScriptedRun([f"u{n}" for n in range(20)], concurrency=8)
    asyncio.run(run_jobs(run, attempt_logging(run)))  # type: ignore[arg-type]
    completed = [entry.split()[1] for entry in run.log if entry.startswith("complete")]
    assert sorted(completed) == sorted(f"u{n}" for n in range(20))
    assert not run.active and run.running == 0


def test_a_cancelled_run_still_completes_the_jobs_that_finished() -> None:
    run = ScriptedRun(["a", "b"], concurrency=1)

    def cancel_after_a_finished(calls: int) -> None:
        if "release a" in run.log and calls < 100:
            task = asyncio.current_task()
            assert task is not None
            task.cancel()  # (Ctrl-C cancels the run's main task this way)
            run.on_next_job = None

    run.on_next_job = cancel_after_a_finished
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(run_jobs(run, attempt_logging(run)))  # type: ignore[arg-type]
    assert "complete a" in run.log  # its download had finished: saved, not "interrupted"
    assert "complete b" not in run.log  # cancelled before its response: the runner's to report


def test_a_failing_complete_stops_the_run_with_its_error() -> None:
    run = ScriptedRun(["a", "b", "c"], concurrency=1, complete_fails_for="a")
    with pytest.raises(RuntimeError, match="complete failed for a"):
        asyncio.run(run_jobs(run, attempt_logging(run)))  # type: ignore[arg-type]
    assert not any(entry.startswith("complete") for entry in run.log)
