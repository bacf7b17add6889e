"""The generator kernel alone: futures, tasks, ``yield from``, timers, fd waits, cancelling."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fetchall.engines.base import AttemptEnv
from fetchall.engines.generator import Fetcher
from fetchall.engines.kernel import Cancelled, Coro, Future, Scheduler, Task, WaitTimeout
from fetchall.engines.resolver import resolve
from fetchall.output.writer import OutputDir

pytestmark = pytest.mark.timeout(10)


@pytest.fixture
def sched() -> Iterator[Scheduler]:
    scheduler = Scheduler()
    yield scheduler
    scheduler.close()


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    with a, b:
        yield a, b


def waiting_fds(sched: Scheduler) -> int:
    return len(sched._selector.get_map())


def live_timers(sched: Scheduler) -> int:
    return sum(not timer.cancelled for _, _, timer in sched._timers)


# ------------------------------------------------------------------------------------ Future


def test_future_result_and_callbacks() -> None:
    future: Future[int] = Future()
    seen: list[Future[int]] = []
    future.add_done_callback(seen.append)
    assert not future.done() and seen == []
    with pytest.raises(RuntimeError):
        future.result()
    future.set_result(7)
    assert future.done() and future.result() == 7 and future.exception() is None
    assert seen == [future]
    future.add_done_callback(seen.append)  # already done: called at once
    assert seen == [future, future]
    with pytest.raises(RuntimeError):
        future.set_result(8)


def test_future_exception_cancel_and_removed_callback() -> None:
    failed: Future[int] = Future()
    failed.set_exception(ValueError("boom"))
    with pytest.raises(ValueError, match="boom"):
        failed.result()
    assert isinstance(failed.exception(), ValueError)

    cancelled: Future[int] = Future()
    calls: list[object] = []
    cancelled.add_done_callback(calls.append)
    cancelled.remove_done_callback(calls.append)
    assert cancelled.cancel() and cancelled.cancelled() and calls == []
    assert not cancelled.cancel()
    with pytest.raises(Cancelled):
        cancelled.result()


# -------------------------------------------------------------------------------------- Task


def test_task_send_throw_and_return_value(sched: Scheduler) -> None:
    good: Future[str] = Future()
    bad: Future[str] = Future()
    log: list[str] = []

    def body() -> Coro[int]:
        value = yield good
        log.append(value)
        try:
            yield bad
        except KeyError as exc:
            log.append(f"caught {exc.args[0]}")
        return 42

    task = sched.spawn(body())
    sched.call_at(time.monotonic() + 0.01, lambda: good.set_result("sent"))
    sched.call_at(time.monotonic() + 0.02, lambda: bad.set_exception(KeyError("thrown")))
    sched.run()
    assert log == ["sent", "caught thrown"] and task.result() == 42 and not sched.tasks


def test_yield_from_composition_and_join(sched: Scheduler) -> None:
    def leaf(n: int) -> Coro[int]:
        yield from sched.sleep(0)
        return n * 2

    def middle() -> Coro[int]:
        a = yield from leaf(1)
        b = yield from leaf(a)
        return a + b

    def parent() -> Coro[int]:
        child = sched.spawn(middle())
        value = yield from child.join()
        again = yield from child  # a done task is a value in hand
        return value + again

    task = sched.spawn(parent())
    sched.run()
    assert task.result() == 12


def test_yielding_something_else_is_a_type_error(sched: Scheduler) -> None:
    def body() -> Coro[str]:
        try:
            yield "not a future"  # type: ignore[misc]
        except TypeError as exc:
            return str(exc)
        return "no error"

    task = sched.spawn(body())
    sched.run()
    assert "must yield a Future" in task.result()


def test_exception_in_one_task_does_not_kill_others(sched: Scheduler) -> None:
    def broken() -> Coro[None]:
        yield from sched.sleep(0.01)
        raise ValueError("bug")

    def healthy() -> Coro[str]:
        yield from sched.sleep(0.03)
        return "fine"

    bad, good = sched.spawn(broken()), sched.spawn(healthy())
    sched.run()
    assert isinstance(bad.exception(), ValueError) and good.result() == "fine"


# -------------------------------------------------------------------------- timers and fds


def test_sleep_order_follows_deadlines(sched: Scheduler) -> None:
    woke: list[float] = []

    def sleeper(seconds: float) -> Coro[None]:
        yield from sched.sleep(seconds)
        woke.append(seconds)

    started = time.monotonic()
    for seconds in (0.06, 0.02, 0.04, 0.0):
        sched.spawn(sleeper(seconds))
    sched.run()
    assert woke == [0.0, 0.02, 0.04, 0.06]
    assert 0.06 <= time.monotonic() - started < 2


def test_wait_readable_on_a_socketpair(
    sched: Scheduler, pair: tuple[socket.socket, socket.socket]
) -> None:
    a, b = pair

    def reader() -> Coro[bytes]:
        yield from sched.wait_readable(a, time.monotonic() + 5)
        return a.recv(100)

    def writer() -> Coro[None]:
        yield from sched.sleep(0.02)
        yield from sched.wait_writable(b, time.monotonic() + 5)
        b.send(b"ping")

    task = sched.spawn(reader())
    sched.spawn(writer())
    sched.run()
    assert task.result() == b"ping" and waiting_fds(sched) == 0 and live_timers(sched) == 0


def test_wait_times_out_past_its_deadline(
    sched: Scheduler, pair: tuple[socket.socket, socket.socket]
) -> None:
    a, _ = pair

    def silent(delay: float) -> Coro[None]:
        yield from sched.wait_readable(a, time.monotonic() + delay)

    started = time.monotonic()
    task = sched.spawn(silent(0.05))
    sched.run()
    assert isinstance(task.exception(), WaitTimeout)
    assert isinstance(task.exception(), TimeoutError)
    assert 0.05 <= time.monotonic() - started < 2 and waiting_fds(sched) == 0

    expired = sched.spawn(silent(-1))  # a deadline already past fails without waiting
    sched.run()
    assert isinstance(expired.exception(), WaitTimeout)


def test_run_ends_when_tasks_are_done_and_detects_a_stall(sched: Scheduler) -> None:
    sched.run()  # nothing to do: returns at once
    never: Future[None] = Future()

    def stuck() -> Coro[None]:
        yield from never

    sched.spawn(stuck())
    with pytest.raises(RuntimeError, match="deadlock"):
        sched.run()


def test_run_until_stop_condition(sched: Scheduler) -> None:
    ticks: list[int] = []

    def ticker() -> Coro[None]:
        while True:
            ticks.append(1)
            yield from sched.sleep(0)

    sched.spawn(ticker())
    sched.run(until=lambda: len(ticks) >= 5)
    assert len(ticks) == 5 and len(sched.tasks) == 1
    sched.cancel_all()
    assert not sched.tasks


# ------------------------------------------------------------------------------ cancellation


def test_cancel_runs_finally_and_unregisters_the_fd(
    sched: Scheduler, pair: tuple[socket.socket, socket.socket]
) -> None:
    a, _ = pair
    log: list[str] = []

    def waiter() -> Coro[None]:
        try:
            yield from sched.wait_readable(a, time.monotonic() + 30)
            log.append("woke")
        finally:
            log.append("finally")

    def canceller(victim: Task[Any]) -> Coro[None]:
        yield from sched.sleep(0.01)
        assert waiting_fds(sched) == 1 and live_timers(sched) == 1
        victim.cancel()
        assert waiting_fds(sched) == 0 and live_timers(sched) == 0  # dropped at once

    task = sched.spawn(waiter())
    sched.spawn(canceller(task))
    started = time.monotonic()
    sched.run()
    assert log == ["finally"] and task.cancelled() and time.monotonic() - started < 2
    with pytest.raises(Cancelled):
        task.result()
    assert not task.cancel()  # already done


def test_cancel_before_start_and_cancel_of_a_sleep(sched: Scheduler) -> None:
    ran: list[str] = []

    def body() -> Coro[None]:
        ran.append("started")
        yield from sched.sleep(30)

    unstarted = sched.spawn(body())
    unstarted.cancel()
    sleeping = sched.spawn(body())
    sched.run(until=lambda: bool(ran))
    sleeping.cancel()
    sched.run()
    assert ran == ["started"] and unstarted.cancelled() and sleeping.cancelled()
    assert live_timers(sched) == 0


def test_cancelling_a_joiner_leaves_the_joined_task_running(sched: Scheduler) -> None:
    def worker() -> Coro[str]:
        yield from sched.sleep(0.02)
        return "done"

    def joiner(task: Task[str]) -> Coro[str]:
        return (yield from task.join())

    work = sched.spawn(worker())
    join = sched.spawn(joiner(work))
    sched.run(until=lambda: join._waiting is work)
    join.cancel()
    sched.run()
    assert join.cancelled() and work.result() == "done"


def test_keyboard_interrupt_escapes_run_then_cancel_all_unwinds(
    sched: Scheduler, pair: tuple[socket.socket, socket.socket]
) -> None:
    a, _ = pair
    cleaned: list[str] = []

    def blocked() -> Coro[None]:
        try:
            yield from sched.wait_readable(a)
        finally:
            cleaned.append("blocked")

    def interrupter() -> Coro[None]:
        yield from sched.sleep(0.01)
        raise KeyboardInterrupt

    sched.spawn(blocked())
    sched.spawn(interrupter())
    with pytest.raises(KeyboardInterrupt):
        sched.run()
    assert cleaned == [] and len(sched.tasks) == 1
    sched.cancel_all()
    assert cleaned == ["blocked"] and not sched.tasks and waiting_fds(sched) == 0


# ---------------------------------------- the generator engine's DNS bound (shared resolver)


def test_engine_resolver_skips_literals_and_caches_names(
    sched: Scheduler, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, int]] = []
    real = socket.getaddrinfo

    def spy(host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        calls.append((host, kwargs.get("flags", 0)))
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", spy)
    fetcher = Fetcher(sched, AttemptEnv(out=OutputDir(tmp_path), timeout=5, connect_timeout=2))
    for host in ("127.0.0.1", "::1", "localhost", "localhost"):
        assert resolve(host, 80, fetcher.dns)
    assert calls == [
        ("127.0.0.1", socket.AI_NUMERICHOST),
        ("::1", socket.AI_NUMERICHOST),
        ("localhost", socket.AI_NUMERICHOST),  # refused at once, never sent to a resolver
        ("localhost", 0),  # the one blocking lookup; the second "localhost" is cached
    ]
