"""The limiter: global and per-host bounds, no head-of-line blocking, fairness."""

from __future__ import annotations

import random

import pytest

from fetchall.limits import HostLimiter


def drain_ready(limiter: HostLimiter[int]) -> list[tuple[str, int]]:
    started = []
    while (popped := limiter.pop_ready()) is not None:
        started.append(popped)
    return started


def test_per_host_bound_and_no_head_of_line_blocking() -> None:
    limiter: HostLimiter[int] = HostLimiter(concurrency=10, per_host=2)
    for i in range(5):
        limiter.offer("slow", i)
    limiter.offer("fast", 100)
    started = drain_ready(limiter)
    assert [key for key, _ in started].count("slow") == 2
    assert ("fast", 100) in started
    assert limiter.active == 3 and limiter.waiting == 3


def test_global_bound() -> None:
    limiter: HostLimiter[int] = HostLimiter(concurrency=3, per_host=10)
    for i in range(10):
        limiter.offer(f"h{i}", i)
    assert len(drain_ready(limiter)) == 3
    assert not limiter.has_ready()
    limiter.release("h0")
    assert limiter.has_ready()
    assert limiter.pop_ready() == ("h3", 3)


def test_release_reopens_host_in_fifo_order() -> None:
    limiter: HostLimiter[int] = HostLimiter(concurrency=5, per_host=1)
    for i in range(3):
        limiter.offer("a", i)
    assert drain_ready(limiter) == [("a", 0)]
    limiter.release("a")
    assert drain_ready(limiter) == [("a", 1)]


def test_round_robin_between_hosts() -> None:
    limiter: HostLimiter[int] = HostLimiter(concurrency=1, per_host=5)
    for i in range(3):
        limiter.offer("a", i)
        limiter.offer("b", 10 + i)
    order = []
    for _ in range(6):
        popped = limiter.pop_ready()
        assert popped is not None
        order.append(popped[0])
        limiter.release(popped[0])
    assert order == ["a", "b", "a", "b", "a", "b"]


def test_release_without_running_job_is_a_bug() -> None:
    limiter: HostLimiter[int] = HostLimiter(concurrency=1, per_host=1)
    with pytest.raises(ValueError):
        limiter.release("nobody")


@pytest.mark.parametrize("seed", range(20))
def test_random_schedule_never_exceeds_bounds(seed: int) -> None:
    rng = random.Random(seed)
    limiter: HostLimiter[int] = HostLimiter(concurrency=4, per_host=2)
    running: list[str] = []
    offered = finished = 0
    for _ in range(500):
        if rng.random() < 0.5 and offered < 200:
            limiter.offer(f"h{rng.randrange(5)}", offered)
            offered += 1
        elif running and rng.random() < 0.5:
            key = running.pop(rng.randrange(len(running)))
            limiter.release(key)
            finished += 1
        else:
            popped = limiter.pop_ready()
            if popped is not None:
                running.append(popped[0])
        assert limiter.active == len(running) <= 4
        for key in set(running):
            assert running.count(key) == limiter.running(key) <= 2
    assert limiter.waiting + limiter.active + finished == offered
