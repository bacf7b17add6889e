"""The runner's politeness bookkeeping, driven by hand over a real limiter and a fake clock:
parking behind robots.txt, one robots.txt job per origin, refusals, Crawl-delay, cooldowns and
the robots.txt cache."""

from __future__ import annotations

import logging

import pytest

import fetchall.politeness as politeness_module
from fetchall.errors import CooldownError, HTTPStatusError, RobotsError
from fetchall.limits import HostLimiter
from fetchall.politeness import Item, Politeness
from fetchall.urls import Target, parse_url

pytestmark = pytest.mark.timeout(30)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def setup(
    *, robots: bool = True, interval: float = 0.0
) -> tuple[Politeness, HostLimiter[Item], Clock]:
    clock = Clock()
    limiter: HostLimiter[Item] = HostLimiter(50, 8, interval=interval)
    polite = Politeness(
        limiter, robots=robots, user_agent="fetchall/1.0", retry_after_cap=60.0, clock=clock
    )
    return polite, limiter, clock


def url(text: str) -> Target:
    return parse_url(text)


def pop_all(limiter: HostLimiter[Item], now: float) -> list[Item]:
    items = []
    while (popped := limiter.pop_ready(now)) is not None:
        items.append(popped[1])
    return items


def test_without_robots_urls_go_straight_to_the_limiter() -> None:
    polite, limiter, clock = setup(robots=False)
    assert polite.admit(url("http://a/x"), "http://a/x") is None
    assert [t.url for t, _ in pop_all(limiter, clock.now)] == ["http://a/x"]
    assert polite.robots_requests == 0 and polite.parked == 0


def test_urls_park_behind_one_robots_job_per_origin() -> None:
    polite, limiter, clock = setup()
    for i in range(100):
        assert polite.admit(url(f"http://a/{i}"), f"http://a/{i}") is None
    polite.admit(url("https://a/z"), "https://a/z")  # another origin: its own robots.txt
    assert polite.parked == 101 and polite.robots_requests == 2
    started = pop_all(limiter, clock.now)
    assert sorted(t.url for t, _ in started) == ["http://a/robots.txt", "https://a/robots.txt"]
    assert all(text is None for _, text in started)
    assert polite.host_status().robots_pending == 2


def test_robots_done_admits_the_allowed_and_refuses_the_rest() -> None:
    polite, limiter, clock = setup()
    for path in ("/public", "/private/1", "/private/2"):
        polite.admit(url(f"http://a{path}"), f"http://a{path}")
    [(robots, _)] = pop_all(limiter, clock.now)
    limiter.release(robots.host_key)
    refused = polite.robots_done(robots, 200, None, b"User-agent: *\nDisallow: /private/\n")
    assert [text for (_, text), _ in refused] == ["http://a/private/1", "http://a/private/2"]
    assert all(isinstance(error, RobotsError) for _, error in refused)
    assert str(refused[0][1]) == "disallowed by robots.txt: Disallow: /private/"
    assert [t.url for t, _ in pop_all(limiter, clock.now)] == ["http://a/public"]
    assert polite.parked == 0 and polite.robots_blocked == 2
    # known now: later URLs are decided at once, without another robots.txt request
    assert isinstance(polite.admit(url("http://a/private/3"), "x"), RobotsError)
    assert polite.admit(url("http://a/other"), "y") is None and polite.robots_requests == 1


def test_an_unreachable_robots_txt_refuses_the_whole_host() -> None:
    polite, limiter, clock = setup()
    polite.admit(url("http://a/x"), "http://a/x")
    [(robots, _)] = pop_all(limiter, clock.now)
    refused = polite.robots_done(robots, 503, HTTPStatusError("HTTP 503"), None)
    assert len(refused) == 1 and "unreachable (HTTP 503)" in str(refused[0][1])


def test_crawl_delay_becomes_the_host_interval_capped(caplog: pytest.LogCaptureFixture) -> None:
    polite, limiter, clock = setup(interval=0.5)
    polite.admit(url("http://a/x"), "x")
    polite.admit(url("http://b/x"), "x")
    polite.admit(url("http://c/x"), "x")
    robots = {t.host: t for t, _ in pop_all(limiter, clock.now)}
    polite.robots_done(robots["a"], 200, None, b"User-agent: *\nCrawl-delay: 2.5\n")
    polite.robots_done(robots["b"], 200, None, b"User-agent: *\nCrawl-delay: 0.1\n")
    with caplog.at_level(logging.WARNING, logger="fetchall"):
        polite.robots_done(robots["c"], 200, None, b"User-agent: *\nCrawl-delay: 600\n")
    assert "http://c:80" in caplog.text and "Crawl-delay: 600" in caplog.text
    for key in ("a:80", "b:80", "c:80"):
        limiter.release(key)  # the robots.txt jobs end
    assert len(pop_all(limiter, clock.now)) == 3  # the parked first pages start at once
    for host in ("a", "b", "c"):
        limiter.release(f"{host}:80")
        polite.admit(url(f"http://{host}/y"), "y")
    assert pop_all(limiter, clock.now + 0.4) == []
    assert [t.host for t, _ in pop_all(limiter, clock.now + 0.5)] == ["b"]  # rate wins: 0.5
    assert [t.host for t, _ in pop_all(limiter, clock.now + 2.5)] == ["a"]
    assert pop_all(limiter, clock.now + 59.9) == []
    assert [t.host for t, _ in pop_all(limiter, clock.now + 60)] == ["c"]


def test_cooldown_is_counted_once_per_burst_and_calms() -> None:
    polite, limiter, clock = setup(robots=False)
    target = url("http://a/x")
    for _ in range(5):  # the answers of five requests that were in flight together
        polite.observe(target, 429, None)
    assert polite.cooldowns == 1 and limiter.cooldown_left("a:80", clock.now) == 0.5
    assert polite.host_status().cooling == 1
    clock.now += 1
    polite.observe(target, 503, 3.0)
    assert polite.cooldowns == 2 and limiter.cooldown_left("a:80", clock.now) == 3.0
    assert polite.reserve(target) == 3.0  # a retry waits for the end of it
    polite.observe(target, 200, None)
    clock.now += 10
    polite.observe(target, 429, None)
    assert limiter.cooldown_left("a:80", clock.now) == 0.5  # calm again: the backoff restarts


def test_a_late_send_pushes_the_next_start_of_its_host() -> None:
    """`observe` hands the attempt's send time to the limiter: the host's next start is an
    interval after the request left, not after it was started; without a pace, nothing."""
    polite, limiter, clock = setup(robots=False, interval=0.5)
    for i in range(2):
        assert polite.admit(url(f"http://a/{i}"), f"http://a/{i}") is None
    assert len(pop_all(limiter, clock.now)) == 1
    polite.observe(url("http://a/0"), 200, None, clock.now + 0.3)
    assert pop_all(limiter, clock.now + 0.5) == []
    assert len(pop_all(limiter, clock.now + 0.8)) == 1
    plain, plain_limiter, plain_clock = setup(robots=False)
    plain.admit(url("http://a/0"), "http://a/0")
    assert len(pop_all(plain_limiter, plain_clock.now)) == 1
    plain.observe(url("http://a/0"), 200, None, plain_clock.now + 0.3)
    plain.admit(url("http://a/1"), "http://a/1")
    assert len(pop_all(plain_limiter, plain_clock.now)) == 1


def test_cooldown_beyond_the_cap_refuses_the_host() -> None:
    polite, limiter, clock = setup(robots=False)
    for i in range(4):
        polite.admit(url(f"http://a/{i}"), f"http://a/{i}")
    polite.admit(url("http://b/0"), "http://b/0")
    popped = limiter.pop_ready(clock.now)
    assert popped is not None and popped[1][1] == "http://a/0"
    polite.observe(url("http://a/0"), 429, 99999999.0)
    assert polite.refusals_pending
    refused = polite.take_refused()
    assert [text for (_, text), _ in refused] == ["http://a/1", "http://a/2", "http://a/3"]
    error = refused[0][1]
    assert isinstance(error, CooldownError) and "99,999,999 s" in str(error)
    assert not polite.refusals_pending
    assert isinstance(polite.admit(url("http://a/9"), "x"), CooldownError)  # later ones too
    assert isinstance(polite.reserve(url("http://a/redirected")), CooldownError)
    assert [t.url for t, _ in pop_all(limiter, clock.now)] == ["http://b/0"]  # others go on


def test_a_cooldown_just_above_the_cap_ends_with_time() -> None:
    polite, _limiter, clock = setup(robots=False)
    polite.observe(url("http://a/0"), 503, 90.0)
    assert isinstance(polite.admit(url("http://a/1"), "x"), CooldownError)
    clock.now += 31  # 59 s left: within the cap, so new URLs wait instead
    assert polite.admit(url("http://a/2"), "y") is None


def test_a_drained_robots_job_resolves_its_parked_urls() -> None:
    polite, limiter, _clock = setup()
    polite.admit(url("http://a/1"), "http://a/1")  # parks behind a robots.txt job, not started
    polite.observe(url("http://a/elsewhere"), 429, 1e9)  # a redirect hop met a huge cooldown
    refused = polite.take_refused()
    assert [text for (_, text), _ in refused] == ["http://a/1"]
    assert polite.parked == 0 and limiter.waiting == 0


def test_redirect_hops_are_checked_against_known_robots_txt() -> None:
    polite, limiter, clock = setup()
    polite.admit(url("http://a/x"), "x")
    [(robots, _)] = pop_all(limiter, clock.now)
    polite.robots_done(robots, 200, None, b"User-agent: *\nDisallow: /no\n")
    assert isinstance(polite.reserve(url("http://a/no/1")), RobotsError)
    assert polite.reserve(url("http://a/yes")) == 0.0
    assert polite.reserve(url("http://unknown/no")) == 0.0  # never fetched: followed


def test_the_robots_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(politeness_module, "ROBOTS_CACHE_HOSTS", 2)
    polite, limiter, clock = setup()
    for host in ("a", "b", "c"):
        polite.admit(url(f"http://{host}/x"), "x")
    for robots, _ in pop_all(limiter, clock.now):
        limiter.release(robots.host_key)
        polite.robots_done(robots, 200, None, b"User-agent: *\nCrawl-delay: 3\n")
    assert polite.robots_requests == 3
    pop_all(limiter, clock.now)
    polite.admit(url("http://a/again"), "again")  # "a" was pushed out: fetched again
    assert polite.robots_requests == 4 and polite.parked == 1


def test_hops_to_origins_without_known_robots_txt_are_queued() -> None:
    polite, limiter, clock = setup()
    assert polite.must_queue(url("http://a/x"))
    polite.admit(url("http://a/x"), "x")
    assert polite.must_queue(url("http://a/y"))  # being fetched: still unknown
    [(robots, _)] = pop_all(limiter, clock.now)
    polite.robots_done(robots, 404, HTTPStatusError("HTTP 404"), None)
    assert not polite.must_queue(url("http://a/y"))
    assert polite.must_queue(url("https://a/y"))  # another scheme: another robots.txt
    assert not setup(robots=False)[0].must_queue(url("http://a/y"))
