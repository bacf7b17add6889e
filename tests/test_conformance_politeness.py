"""Conformance, part 5: politeness — per-host rate, host-wide cooldowns, robots.txt with
Crawl-delay — on every engine.

Spacing is always read from the *server's* clock (the start time it logged when a request's head
arrived), never from the client's. Hosts are five local servers (five ``host:port`` keys); the
tolerance on spacings (`SLACK`) absorbs the jitter between a request's start on the client and
its arrival at the server, and is far below the intervals asked for.

The servers run in this process, beside the client, so anything that stops the whole process
between a request's arrival and its logged start moves that start later, and the next gap looks
shorter by as much. Late in a full run, a full garbage collection of the test process's heap
takes 130–210 ms (measured in a fresh-clone CI run), which is more than `SLACK`: as ``timeit``
does, automatic garbage collection is off while each test here measures (`no_gc_pauses`).
"""

from __future__ import annotations

import gc
import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fetchrun import fetch
from relay import HoldFirstRelay

from fetchall.server import ServerThread

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(autouse=True)
def no_gc_pauses() -> Iterator[None]:
    """No automatic garbage collection during the test (see the module docstring); what the
    test leaves is collected by the next automatic collection after it."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


SLACK = 0.05
"""Seconds a server-side gap may fall short of the interval asked for (arrival jitter)."""


@pytest.fixture(scope="module")
def hosts_started() -> Iterator[list[ServerThread]]:
    servers = [ServerThread().start() for _ in range(5)]
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def hosts(hosts_started: list[ServerThread]) -> list[ServerThread]:
    """Five hosts (one port each), stats, /flaky counters and robots.txt reset for this test."""
    for server in hosts_started:
        server.stats.reset()
        server.robots.clear()
    return hosts_started


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(sorted(times))]


# ---------------------------------------------------------------------------------- --rate


def test_rate_spaces_each_host_and_runs_hosts_in_parallel(
    engine: str, hosts: list[ServerThread], tmp_path: Path
) -> None:
    per_host = 6
    urls = [h.url(f"/bytes/{100 + i}") for i in range(per_host) for h in hosts]
    run = fetch(engine, urls, tmp_path, rate="5/s", concurrency=50)
    assert all(r.ok for r in run.results), [r for r in run.results if not r.ok]
    firsts, lasts = [], []
    for host in hosts:
        times = host.stats.start_times("/bytes/")
        assert len(times) == per_host
        assert min(gaps(times)) >= 0.2 - SLACK, gaps(times)
        firsts.append(min(times))
        lasts.append(max(times))
    # all five hosts proceed together: about 25 starts/s in all (30 in about 1 s), not 5
    assert max(firsts) - min(firsts) < 0.3, firsts
    span = max(lasts) - min(firsts)
    assert 1.0 - SLACK <= span < 1.6, f"{len(urls) / span:.1f} starts/s"


def test_rate_counts_from_when_a_late_request_left(
    engine: str, tls_server: ServerThread, ca_file: Path, tmp_path: Path
) -> None:
    """The first request's TLS handshake is held up 0.3 s (a relay delays its ClientHello), so
    it leaves 0.3 s after its start. The second request of the host must still reach the server
    a whole interval (0.5 s) after the first, not 0.2 s after it: spacing counts from when a
    request left (`Outcome.sent`), not from when it was started."""
    tls_server.stats.reset()
    with HoldFirstRelay(tls_server.port, hold=0.3) as relay:
        urls = [relay.url("/bytes/301"), relay.url("/bytes/302")]
        started = time.monotonic()
        run = fetch(engine, urls, tmp_path, rate=2, cacert=ca_file)
    assert all(r.ok for r in run.results), run.results
    first, second = sorted(tls_server.stats.start_times("/bytes/"))
    assert first - started >= 0.3  # the hold took effect: the first request left late
    assert second - first >= 0.5 - SLACK, (first - started, second - first)


def test_rate_paces_retries_and_redirect_hops(
    engine: str, hosts: list[ServerThread], tmp_path: Path
) -> None:
    flaky, chain = hosts[0], hosts[1]
    urls = [flaky.url("/flaky/r/3?retry_after=0"), chain.url("/redirect/2")]
    run = fetch(engine, urls, tmp_path, rate=4, retries=2)
    assert all(r.ok for r in run.results), run.results
    retries = flaky.stats.start_times("/flaky/")
    hops = chain.stats.start_times("/redirect/")
    assert len(retries) == 3 and len(hops) == 3
    assert min(gaps(retries)) >= 0.25 - SLACK, gaps(retries)
    assert min(gaps(hops)) >= 0.25 - SLACK, gaps(hops)


# ------------------------------------------------------------------------------- cooldowns


@pytest.mark.parametrize(("status", "retry_after", "quiet"), [(429, "2", 2.0), (503, None, 0.4)])
def test_cooldown_stops_the_host_not_the_others(
    engine: str,
    hosts: list[ServerThread],
    tmp_path: Path,
    status: int,
    retry_after: str | None,
    quiet: float,
) -> None:
    """One request of host A gets 429 (Retry-After: 2) or 503 (no Retry-After: the backoff):
    no request to A starts before that has passed, host B goes on meanwhile, and A's URLs end
    ok once it recovers, the ones that only waited with one attempt each."""
    a, b = hosts[0], hosts[1]
    wait = f"&retry_after={retry_after}" if retry_after else ""
    busy = a.url(f"/flaky/cool/2?status={status}{wait}")
    slow = a.url("/bytes/10?latency=0.3")  # holds A's second slot while the cooldown starts
    rest = [a.url(f"/bytes/{20 + i}") for i in range(3)]
    others = [b.url(f"/bytes/{30 + i}?latency=0.1") for i in range(20)]
    run = fetch(
        engine, [busy, slow, *rest, *others], tmp_path,
        per_host=2, retries=1, retry_backoff=0.4, concurrency=50,
    )  # fmt: skip
    assert all(r.ok for r in run.results), [r for r in run.results if not r.ok]
    assert [run.by_url(u).attempts for u in (busy, slow, *rest)] == [2, 1, 1, 1, 1]
    t0 = a.stats.start_times(f"/flaky/cool/2?status={status}")[0]
    assert a.stats.requests == 6  # `busy` twice, `slow` and the three others once
    later = [t for t in a.stats.start_times("/") if t > t0 + 0.1]  # `slow` may overlap `busy`
    assert len(later) >= 4 and min(later) >= t0 + quiet - SLACK, (t0, later)
    during = [t for t in b.stats.start_times("/") if t0 + 0.1 < t < t0 + quiet - 0.1]
    assert during, "another host must keep starting requests during the cooldown"


def test_retry_after_beyond_cap_fails_the_hosts_waiting_urls_at_once(
    engine: str, hosts: list[ServerThread], tmp_path: Path
) -> None:
    a, b = hosts[0], hosts[1]
    busy = a.url("/flaky/long/2?status=429&retry_after=99999999")
    waiting = [a.url(f"/bytes/{40 + i}") for i in range(4)]
    others = [b.url(f"/bytes/{50 + i}") for i in range(4)]
    run = fetch(engine, [busy, *waiting, *others], tmp_path, per_host=1, retries=2)
    first = run.by_url(busy)
    assert first.status == 429 and first.error_type == "http_status" and first.attempts == 1
    assert "99,999,999 s" in str(first.error)
    for url in waiting:
        row = run.by_url(url)
        assert row.error_type == "cooldown" and row.status is None and row.attempts == 0, row
        assert "--retry-after-cap 60 s" in str(row.error)
    assert a.stats.requests == 1  # the others were never requested
    assert all(run.by_url(u).ok for u in others)
    assert run.summary.exit_code == 1 and run.summary.cooldowns == 1


# ------------------------------------------------------------------------------ robots.txt

ROBOTS = """\
User-agent: *
Disallow: /bytes/1
Allow: /bytes/12

User-agent: otherbot
Disallow: /
"""


def test_robots_disallowed_urls_are_never_requested(
    engine: str, hosts: list[ServerThread], tmp_path: Path
) -> None:
    a = hosts[0]
    a.robots.serve(ROBOTS)
    urls = [a.url(p) for p in ("/bytes/5", "/bytes/100", "/bytes/12", "/bytes/120", "/json/1")]
    run = fetch(engine, urls, tmp_path, robots=True)
    assert {u for u in urls if run.by_url(u).ok} == {
        a.url(p) for p in ("/bytes/5", "/bytes/12", "/bytes/120", "/json/1")
    }
    blocked = run.by_url(a.url("/bytes/100"))
    assert blocked.error_type == "robots" and blocked.status is None and blocked.attempts == 0
    assert blocked.error == "disallowed by robots.txt: Disallow: /bytes/1"
    assert "/bytes/100" not in a.stats.by_path
    assert a.stats.by_path["/robots.txt"] == 1
    assert run.summary.exit_code == 1
    assert run.summary.robots_blocked == 1 and run.summary.robots_requests == 1


def test_robots_off_by_default_fetches_no_robots_txt(
    engine: str, hosts: list[ServerThread], tmp_path: Path
) -> None:
    a = hosts[0]
    a.robots.serve("User-agent: *\nDisallow: /\n")
    run = fetch(engine, [a.url("/bytes/7")], tmp_path)
    assert run.one().ok and "/robots.txt" not in a.stats.by_path


def test_one_robots_request_for_many_urls(
    engine: str, hosts: list[ServerThread], tmp_path: Path
) -> None:
    a = hosts[0]
    a.robots.serve("User-agent: *\nDisallow: /json/\n")
    urls = [a.url(f"/bytes/{i}") for i in range(1, 1001)]
    run = fetch(engine, urls, tmp_path, robots=True, concurrency=50)
    assert all(r.ok for r in run.results) and len(run.results) == 1000
    assert a.stats.by_path["/robots.txt"] == 1


def test_crawl_delay_spaces_requests_and_robots_txt_does_not_count(
    engine: str, hosts: list[ServerThread], tmp_path: Path
) -> None:
    a = hosts[0]
    a.robots.serve("User-agent: fetchall\nCrawl-delay: 0.3\n")
    run = fetch(engine, [a.url(f"/bytes/{60 + i}") for i in range(4)], tmp_path, robots=True)
    assert all(r.ok for r in run.results)
    pages = a.stats.start_times("/bytes/")
    assert min(gaps(pages)) >= 0.3 - SLACK, gaps(pages)
    robots_at = a.stats.start_times("/robots.txt")[0]
    assert min(pages) - robots_at < 0.25  # the robots.txt request booked no interval


@pytest.mark.parametrize(
    ("status", "allowed"), [(404, True), (403, True), (500, False), (503, False), (429, False)]
)
def test_robots_status_decides_for_the_whole_host(
    engine: str, hosts: list[ServerThread], tmp_path: Path, status: int, allowed: bool
) -> None:
    a = hosts[0]
    a.robots.serve("User-agent: *\nDisallow: /\n", status=status)
    urls = [a.url(f"/bytes/{70 + i}") for i in range(3)]
    run = fetch(engine, urls, tmp_path, robots=True)
    assert all(r.ok is allowed for r in run.results), run.results
    if not allowed:
        assert all(r.error_type == "robots" for r in run.results)
        assert f"robots.txt unreachable (HTTP {status})" in str(run.results[0].error)
        assert set(a.stats.by_path) == {"/robots.txt"}


def test_robots_network_error_disallows_the_host(engine: str, tmp_path: Path) -> None:
    from test_conformance_policy import dead_port

    url = f"http://127.0.0.1:{dead_port()}/page"
    result = fetch(engine, [url], tmp_path, robots=True).one()
    assert result.error_type == "robots" and "connect" in str(result.error)


def test_robots_redirect_is_followed(
    engine: str, hosts: list[ServerThread], tmp_path: Path
) -> None:
    a, b = hosts[0], hosts[1]
    b.robots.serve("User-agent: *\nDisallow: /bytes/2\n")
    a.robots.serve("moved\n", status=301, location=b.url("/robots.txt"))
    urls = [a.url("/bytes/1"), a.url("/bytes/2")]
    run = fetch(engine, urls, tmp_path, robots=True)
    assert run.by_url(urls[0]).ok
    assert run.by_url(urls[1]).error_type == "robots"  # B's rules, reached from A's robots.txt
    assert "/bytes/2" not in a.stats.by_path


def test_robots_redirect_loop_means_no_robots_txt(
    engine: str, hosts: list[ServerThread], tmp_path: Path
) -> None:
    a = hosts[0]
    a.robots.serve("loop\n", status=302, location="/robots.txt")
    result = fetch(engine, [a.url("/bytes/9")], tmp_path, robots=True).one()
    assert result.ok, result


def test_huge_robots_txt_is_read_up_to_500_kib(
    engine: str, hosts: list[ServerThread], tmp_path: Path
) -> None:
    a = hosts[0]
    padding = ("# " + "x" * 1000 + "\n") * 700  # about 700 KiB of comments
    a.robots.serve(f"User-agent: *\nDisallow: /json/\n{padding}Disallow: /bytes/\n")
    run = fetch(engine, [a.url("/json/1"), a.url("/bytes/3")], tmp_path, robots=True)
    assert run.by_url(a.url("/json/1")).error_type == "robots"
    assert run.by_url(a.url("/bytes/3")).ok  # its rule lies beyond 500 KiB: not read


def test_redirect_hop_to_a_new_origin_obeys_its_robots_txt(
    engine: str, hosts: list[ServerThread], tmp_path: Path
) -> None:
    """A redirect to an origin whose robots.txt is unknown goes back through admission: its
    robots.txt is fetched first and a disallowed hop is never requested."""
    a, b = hosts[0], hosts[1]
    b.robots.serve("User-agent: *\nDisallow: /json/\n")
    blocked = a.url(f"/redirect-to?url={b.url('/json/1')}")
    allowed = a.url(f"/redirect-to?url={b.url('/bytes/5')}")
    run = fetch(engine, [blocked, allowed], tmp_path, robots=True)
    row = run.by_url(blocked)
    assert row.error_type == "robots" and row.status is None, row
    assert row.final_url == b.url("/json/1") and row.redirects == 1 and row.attempts == 1
    assert row.error == "disallowed by robots.txt: Disallow: /json/"
    good = run.by_url(allowed)
    assert good.ok and good.final_url == b.url("/bytes/5") and good.redirects == 1
    assert good.attempts == 2
    assert "/json/1" not in b.stats.by_path
    assert b.stats.by_path["/robots.txt"] == 1 and a.stats.by_path["/robots.txt"] == 1
