"""The limiter: global and per-host bounds, no head-of-line blocking, fairness."""

from __future__ import annotations

import itertools
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
    assert limiter.pop_ready() is None
    limiter.release("h0")
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


# ---- pace (rate, Crawl-delay) and cooldowns: time is given, never read ----


def test_interval_spaces_starts_of_a_host_without_holding_back_others() -> None:
    limiter: HostLimiter[int] = HostLimiter(concurrency=10, per_host=10, interval=0.5)
    for i in range(3):
        limiter.offer("slow", i)
    limiter.offer("other", 100)
    assert limiter.pop_ready(0.0) == ("slow", 0)
    assert limiter.pop_ready(0.0) == ("other", 100)  # another host is not held back
    assert limiter.pop_ready(0.1) is None  # no burst: the next start of "slow" is at 0.5
    assert limiter.next_due() == 0.5
    assert limiter.pop_ready(0.49) is None
    assert limiter.pop_ready(0.5) == ("slow", 1)
    assert limiter.next_due() == 1.0
    assert limiter.pop_ready(1.2) == ("slow", 2)  # late is fine; the next slot counts from here
    assert limiter.next_due() is None


def test_per_host_interval_overrides_and_can_be_reset() -> None:
    limiter: HostLimiter[int] = HostLimiter(concurrency=10, per_host=10, interval=0.1)
    limiter.set_interval("a", 2.0)
    for i in range(2):
        limiter.offer("a", i)
        limiter.offer("b", 10 + i)
    started = drain_ready(limiter)
    assert sorted(started) == [("a", 0), ("b", 10)]
    assert limiter.pop_ready(0.1) == ("b", 11)
    assert limiter.pop_ready(1.9) is None
    assert limiter.pop_ready(2.0) == ("a", 1)
    limiter.set_interval("a", None)  # back to the default 0.1
    limiter.offer("a", 2)
    limiter.offer("a", 3)
    assert limiter.pop_ready(2.05) is None  # booked at 2.0 with the old interval: due at 4.0
    assert limiter.pop_ready(4.0) == ("a", 2)
    assert limiter.next_due() == 4.1


def test_reserve_books_follow_up_starts_in_the_same_pace() -> None:
    limiter: HostLimiter[int] = HostLimiter(concurrency=10, per_host=10, interval=1.0)
    limiter.offer("a", 0)
    limiter.offer("a", 1)
    assert limiter.pop_ready(0.0) == ("a", 0)
    assert limiter.reserve("a", 0.2) == 1.0  # a retry of job 0 takes the next slot...
    assert limiter.pop_ready(1.0) is None  # ...so the queued job waits for the one after
    assert limiter.pop_ready(2.0) == ("a", 1)
    assert limiter.reserve("elsewhere", 5.0) == 5.0  # an unseen host (a redirect hop): at once


def test_sent_spaces_the_next_start_from_when_a_request_left() -> None:
    """A request that left late (a slow connect) pushes its host's next start to an interval
    after it; an early or repeated report never pulls a start forward; other hosts go on."""
    limiter: HostLimiter[int] = HostLimiter(concurrency=10, per_host=10, interval=0.5)
    for i in range(3):
        limiter.offer("a", i)
    limiter.offer("b", 100)
    assert limiter.paced
    assert limiter.pop_ready(0.0) == ("a", 0)
    limiter.sent("a", 0.3)  # job 0's first byte left 0.3 s after its start
    assert limiter.pop_ready(0.0) == ("b", 100)
    assert limiter.pop_ready(0.5) is None  # booked for 0.5 at the start, now 0.8
    assert limiter.next_due() == 0.8
    assert limiter.rate_limited(0.5) == 1
    assert limiter.pop_ready(0.8) == ("a", 1)
    limiter.sent("a", 0.8)  # at once: the booked 1.3 stands
    limiter.sent("a", 0.1)  # a late report of an early send: moves nothing back
    assert limiter.pop_ready(1.29) is None
    assert limiter.pop_ready(1.3) == ("a", 2)
    limiter.sent("b", 0.05)  # sent by a job already started: no effect on "b"'s empty queue
    limiter.offer("b", 101)
    assert limiter.pop_ready(0.56) == ("b", 101)  # 0.05 + 0.5


def test_sent_reaches_hosts_the_limiter_forgot_and_skips_unpaced_ones() -> None:
    limiter: HostLimiter[int] = HostLimiter(concurrency=10, per_host=1, interval=1.0)
    limiter.sent("hop", 5.0)  # a redirect hop's host, not (or no longer) known
    limiter.offer("hop", 0)
    assert limiter.pop_ready(5.9) is None
    assert limiter.pop_ready(6.0) == ("hop", 0)
    plain: HostLimiter[int] = HostLimiter(concurrency=10, per_host=1)
    assert not plain.paced
    plain.offer("a", 0)
    assert plain.pop_ready(0.0) == ("a", 0)
    plain.sent("a", 0.5)
    plain.sent("never-seen", 0.5)
    plain.release("a")
    plain.offer("a", 1)
    assert plain.pop_ready(0.5) == ("a", 1)
    assert list(plain._hosts) == ["a"]  # no state kept for the unseen host
    plain.set_interval("slow", 2.0)  # a Crawl-delay makes the limiter paced
    assert plain.paced


def test_cooldown_with_server_given_length() -> None:
    limiter: HostLimiter[int] = HostLimiter(concurrency=10, per_host=10)
    limiter.offer("a", 0)
    limiter.offer("b", 10)
    assert limiter.cool_down("a", 0.0, 2.0) == 2.0
    assert limiter.cooldown_left("a", 0.5) == 1.5
    assert limiter.pop_ready(0.5) == ("b", 10)
    assert limiter.pop_ready(1.0) is None
    assert limiter.next_due() == 2.0
    assert limiter.cooling(1.0) == 1 and limiter.rate_limited(1.0) == 0
    assert limiter.pop_ready(2.0) == ("a", 0)
    assert limiter.cooling(2.0) == 0
    assert limiter.reserve("a", 2.5) == 2.5


def test_cooldown_without_length_doubles_until_calm() -> None:
    limiter: HostLimiter[int] = HostLimiter(concurrency=10, per_host=10, backoff=0.5)
    assert limiter.cool_down("a", 0.0) == 0.5
    assert limiter.cool_down("a", 0.2) == 0.5  # a burst of answers during it: not a new one
    assert limiter.cool_down("a", 1.0) == 2.0  # the next cooldown: 1 s
    assert limiter.cool_down("a", 3.0) == 5.0  # 2 s
    limiter.calm("a")
    assert limiter.cool_down("a", 10.0) == 10.5  # from the start again


def test_cooldown_backoff_is_capped() -> None:
    limiter: HostLimiter[int] = HostLimiter(concurrency=1, per_host=1, backoff=1, max_backoff=3)
    now = 0.0
    lengths = []
    for _ in range(6):
        until = limiter.cool_down("a", now)
        lengths.append(until - now)
        now = until
    assert lengths == [1.0, 2.0, 3.0, 3.0, 3.0, 3.0]


def test_a_longer_cooldown_is_kept() -> None:
    limiter: HostLimiter[int] = HostLimiter(concurrency=1, per_host=1)
    limiter.cool_down("a", 0.0, 100.0)
    assert limiter.cool_down("a", 1.0, 2.0) == 100.0


def test_offer_first_goes_ahead_and_ignores_the_pace() -> None:
    limiter: HostLimiter[str] = HostLimiter(concurrency=10, per_host=10, interval=5.0)
    limiter.offer("a", "page1")
    assert limiter.pop_ready(0.0) == ("a", "page1")
    limiter.offer("a", "page2")
    assert limiter.pop_ready(1.0) is None
    limiter.offer_first("a", "robots")
    assert limiter.pop_ready(1.0) == ("a", "robots")  # not paced, not booked
    assert limiter.pop_ready(4.9) is None
    assert limiter.pop_ready(5.0) == ("a", "page2")


def test_offer_first_still_counts_against_the_slots() -> None:
    limiter: HostLimiter[str] = HostLimiter(concurrency=1, per_host=1)
    limiter.offer("a", "page")
    assert limiter.pop_ready(0.0) == ("a", "page")
    limiter.offer_first("b", "robots")
    assert limiter.pop_ready(0.0) is None
    limiter.release("a")
    assert limiter.pop_ready(0.0) == ("b", "robots")


def test_drain_hands_back_every_waiting_job() -> None:
    limiter: HostLimiter[int] = HostLimiter(concurrency=10, per_host=1, interval=1.0)
    for i in range(4):
        limiter.offer("a", i)
    assert limiter.pop_ready(0.0) == ("a", 0)
    assert limiter.drain("a") == [1, 2, 3]
    assert limiter.waiting == 0 and limiter.drain("a") == [] and limiter.drain("nobody") == []
    limiter.release("a")
    assert limiter.pop_ready(5.0) is None and limiter.next_due() is None


def test_idle_hosts_are_forgotten_once_their_timing_is_past() -> None:
    limiter: HostLimiter[int] = HostLimiter(concurrency=100, per_host=1, interval=1.0)
    for i in range(3000):
        limiter.offer(f"h{i}", i)
        assert limiter.pop_ready(float(i)) == (f"h{i}", i)
        limiter.release(f"h{i}")
    # each host lingered one second after its start; the sweeps dropped the old ones
    assert len(limiter._hosts) < 2100
    plain: HostLimiter[int] = HostLimiter(concurrency=100, per_host=1)
    for i in range(100):
        plain.offer(f"h{i}", i)
        assert plain.pop_ready() is not None
        plain.release(f"h{i}")
    assert not plain._hosts  # no timing at all: forgotten at once


@pytest.mark.parametrize("seed", range(20))
def test_random_paced_schedule_holds_every_bound_and_ends(seed: int) -> None:
    """Random offers, releases, cooldowns, retries and send reports on a simulated clock:
    per-host spacing (from starts and from reported sends), slot bounds and cooldowns always
    hold, and advancing to `next_due` always makes progress."""
    rng = random.Random(seed)
    interval = rng.choice([0.0, 0.3, 1.0])
    limiter: HostLimiter[int] = HostLimiter(concurrency=4, per_host=2, interval=interval)
    now = 0.0
    starts: dict[str, list[float]] = {}
    running: list[str] = []
    left: dict[str, float] = {}  # the latest reported send of each host (`sent`)
    offered = finished = 0
    for _ in range(3000):
        action = rng.random()
        if action < 0.05 and running:  # a running request left (now, or a while ago)
            key = rng.choice(running)
            at = max(0.0, now - rng.choice([0.0, 0.1, 0.4]))
            limiter.sent(key, at)
            left[key] = max(left.get(key, at), at)
        elif action < 0.3 and offered < 150:
            limiter.offer(f"h{rng.randrange(4)}", offered)
            offered += 1
        elif action < 0.5 and running:
            key = running.pop(rng.randrange(len(running)))
            limiter.release(key)
            finished += 1
        elif action < 0.55 and running:
            key = rng.choice(running)
            start = limiter.reserve(key, now)  # a retry of a running job
            assert start >= now and start >= left.get(key, -interval) + interval - 1e-9
            starts.setdefault(key, []).append(start)
        elif action < 0.58:
            limiter.cool_down(f"h{rng.randrange(4)}", now, rng.choice([None, 0.5, 2.0]))
        else:
            popped = limiter.pop_ready(now)
            if popped is not None:
                key = popped[0]
                assert limiter.cooldown_left(key, now) == 0.0
                assert now >= left.get(key, -interval) + interval - 1e-9  # spaced from sends
                running.append(key)
                starts.setdefault(key, []).append(now)
            else:
                due = limiter.next_due()
                now = max(now, due) if due is not None and rng.random() < 0.5 else now + 0.05
        assert limiter.active == len(running) <= 4
        for key in set(running):
            assert running.count(key) == limiter.running(key) <= 2
    while running:  # finish: release everything and run the rest to the end
        limiter.release(running.pop())
        finished += 1
    for _ in range(1000):
        popped = limiter.pop_ready(now)
        if popped is not None:
            starts.setdefault(popped[0], []).append(now)
            limiter.release(popped[0])
            finished += 1
            continue
        due = limiter.next_due()
        if due is None:
            break
        assert due > now  # progress: something becomes due later
        now = due
    assert limiter.waiting == 0 and limiter.active == 0 and finished == offered
    for times in starts.values():
        times.sort()
        assert all(b - a >= interval - 1e-9 for a, b in itertools.pairwise(times))
