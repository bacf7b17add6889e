"""Crawl conformance: every case on every engine, against the two-host synthetic site
(`fetchall.server.site`). The set of ``(host, path, depth, ok)`` rows must be exactly the
breadth-first one, whatever the engine and the concurrency."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fetchrun import FAST, Run, assert_clean

from fetchall.api import crawl
from fetchall.callbacks import CallbackRegistry, Response
from fetchall.result import Result
from fetchall.server.thread import SiteThread

pytestmark = pytest.mark.timeout(60)

Row = tuple[str, str, int, bool]

# host scope, robots on, from a:/ — by depth
LEVELS: list[set[Row]] = [
    {("a", "/", 0, True)},
    {
        ("a", "/about", 1, True), ("a", "/docs/", 1, True), ("a", "/file.txt", 1, True),
        ("a", "/missing", 1, False), ("a", "/old", 1, True),
        ("a", "/calendar/2026/1", 1, True), ("a", "/private/secret", 1, False),
        ("a", "/meta-nofollow", 1, True), ("a", "/loop/", 1, True), ("a", "/long", 1, True),
    },
    {
        ("a", "/team", 2, True), ("a", "/docs/a", 2, True), ("a", "/docs/b", 2, True),
        ("a", "/moved/next", 2, True), ("a", "/calendar/2026/2", 2, True),
        ("a", "/loop/x/", 2, True),
    },
    {
        ("a", "/team/alice", 3, True), ("a", "/docs/c", 3, True),
        ("a", "/calendar/2026/3", 3, True), ("a", "/loop/x/x/", 3, True),
    },
    {("a", "/calendar/2026/4", 4, True), ("a", "/loop/x/x/x/", 4, True)},
    {("a", "/calendar/2026/5", 5, True)},  # /loop/x/x/x/x/: a trap
]  # fmt: skip


def upto(depth: int) -> set[Row]:
    return set().union(*LEVELS[: depth + 1])


@pytest.fixture(scope="module")
def site_server() -> Iterator[SiteThread]:
    with SiteThread() as site:
        yield site


@pytest.fixture
def site(site_server: SiteThread) -> SiteThread:
    site_server.site.requests.clear()
    return site_server


def run_crawl(site: SiteThread, engine: str, out: Path, seeds: list[str], **settings: Any) -> Run:
    results: list[Result] = []
    summary = crawl(seeds, engine=engine, out=out, on_result=results.append, **{**FAST, **settings})
    run = Run(summary, results, out)
    assert_clean(run)
    return run


def rows_of(site: SiteThread, run: Run) -> set[Row]:
    found = set()
    for row in run.rows:
        url = str(row["url"])
        host = "a" if url.startswith(site.site.a) else "b" if url.startswith(site.site.b) else url
        base = {"a": site.site.a, "b": site.site.b}.get(host, "")
        found.add((host, url[len(base) :] if base else "", int(row["depth"]), bool(row["ok"])))
    return found


@pytest.mark.parametrize("concurrency", [1, 20])
def test_depth_levels_are_the_same_on_every_engine(
    site: SiteThread, engine: str, tmp_path: Path, concurrency: int
) -> None:
    run = run_crawl(site, engine, tmp_path, [site.site.a + "/"], depth=3, concurrency=concurrency)
    assert rows_of(site, run) == upto(3)
    by_url = {row["url"]: row for row in run.rows}
    assert by_url[site.site.a + "/docs/c"]["parent"] == site.site.a + "/docs/a"
    assert by_url[site.site.a + "/"]["parent"] is None
    assert by_url[site.site.a + "/old"]["final_url"] == site.site.a + "/moved"
    assert run.summary.skipped == {"out-of-scope": 2, "nofollow": 2, "too-long": 1, "too-deep": 2}
    assert site.site.requests[("b", "/robots.txt")] == 0  # b is out of scope: never asked
    assert max(site.site.requests.values()) == 1  # each URL requested once


def test_depth_zero_and_traps_end(site: SiteThread, engine: str, tmp_path: Path) -> None:
    seed = [site.site.a + "/"]
    assert rows_of(site, run_crawl(site, engine, tmp_path / "0", seed, depth=0)) == upto(0)
    run = run_crawl(site, engine, tmp_path / "9", seed, depth=9)
    rows = rows_of(site, run)
    assert upto(5) < rows
    assert ("a", "/loop/x/x/x/x/", 5, True) not in rows and run.summary.skipped["trap"] == 1
    assert {path for _, path, depth, _ in rows if depth > 5} == {
        f"/calendar/2026/{month}" for month in range(6, 10)
    }  # the calendar goes on, to --depth


def test_scopes(site: SiteThread, engine: str, tmp_path: Path) -> None:
    a, b = site.site.a, site.site.b
    run = run_crawl(site, engine, tmp_path / "any", [a + "/"], depth=2, scope="any")
    extra = {("b", "/", 1, True), ("b", "/b1", 2, True), ("http://localhost:1/", "", 1, False)}
    assert rows_of(site, run) == upto(2) | extra
    run = run_crawl(site, engine, tmp_path / "domain", [a + "/"], depth=2, scope="domain")
    assert rows_of(site, run) == upto(2) | (extra - {("http://localhost:1/", "", 1, False)})
    run = run_crawl(site, engine, tmp_path / "prefix", [a + "/docs/"], depth=5, scope="prefix")
    assert rows_of(site, run) == {
        ("a", "/docs/", 0, True), ("a", "/docs/a", 1, True), ("a", "/docs/b", 1, True),
        ("a", "/docs/c", 2, True),
    }  # fmt: skip
    two_seeds = [a + "/docs/", b + "/"]
    run = run_crawl(site, engine, tmp_path / "two", two_seeds, depth=1)
    assert rows_of(site, run) == {
        ("a", "/docs/", 0, True), ("a", "/docs/a", 1, True), ("a", "/docs/b", 1, True),
        ("a", "/about", 1, True), ("b", "/", 0, True), ("a", "/", 1, True),
        ("b", "/b1", 1, True),
    }  # fmt: skip


def test_include_exclude_and_limits(site: SiteThread, engine: str, tmp_path: Path) -> None:
    a = site.site.a
    run = run_crawl(
        site, engine, tmp_path / "ie", [a + "/"], depth=3, include=[r"/(docs|team|about)"],
        exclude=[r"/docs/b"],
    )  # fmt: skip
    assert rows_of(site, run) == {
        ("a", "/", 0, True), ("a", "/about", 1, True), ("a", "/docs/", 1, True),
        ("a", "/team", 2, True), ("a", "/docs/a", 2, True), ("a", "/team/alice", 3, True),
        ("a", "/docs/c", 3, True),
    }  # fmt: skip
    run = run_crawl(site, engine, tmp_path / "max", [a + "/"], depth=9, max_pages=7)
    assert len(run.rows) == 7 and run.summary.skipped["max-pages"] > 0
    assert {row["depth"] for row in run.rows} == {0, 1}
    run = run_crawl(
        site, engine, tmp_path / "per", [a + "/", site.site.b + "/"], depth=9, scope="domain",
        max_per_host=3,
    )  # fmt: skip
    hosts = [rows_of(site, run)]
    assert sum(1 for host, *_ in hosts[0] if host == "a") == 3
    assert sum(1 for host, *_ in hosts[0] if host == "b") == 3


def test_robots_off_follows_nofollow(site: SiteThread, engine: str, tmp_path: Path) -> None:
    run = run_crawl(site, engine, tmp_path, [site.site.a + "/"], depth=2, robots=False)
    assert rows_of(site, run) == upto(2) - {("a", "/private/secret", 1, False)} | {
        ("a", "/private/secret", 1, True), ("a", "/private/deeper", 2, False),
        ("a", "/nofollowed", 1, True), ("a", "/hidden-by-meta", 2, True),
    }  # fmt: skip
    assert site.site.requests[("a", "/robots.txt")] == 0


def test_spider_saves_nothing(site: SiteThread, engine: str, tmp_path: Path) -> None:
    run = run_crawl(site, engine, tmp_path, [site.site.a + "/"], depth=2, spider=True)
    assert rows_of(site, run) == upto(2)
    assert all(row["path"] is None for row in run.rows) and run.files() == []
    broken = [row for row in run.rows if row["status"] == 404]
    assert [(row["url"], row["parent"]) for row in broken] == [
        (site.site.a + "/missing", site.site.a + "/")
    ]
    assert max(site.site.requests.values()) == 1  # one GET per URL


def test_page_requisites(site: SiteThread, engine: str, tmp_path: Path) -> None:
    run = run_crawl(site, engine, tmp_path, [site.site.a + "/"], depth=0, page_requisites=True)
    assert rows_of(site, run) == upto(0) | {
        ("a", "/style.css", 1, True), ("a", "/favicon.ico", 1, True), ("a", "/app.js", 1, True),
        ("a", "/logo.png", 1, True), ("a", "/logo-2x.png", 1, True),
        ("a", "/logo-3x.png", 1, False),
    }  # fmt: skip


def test_callbacks_in_a_crawl(site: SiteThread, engine: str, tmp_path: Path) -> None:
    a = site.site.a

    def page(resp: Response) -> None:
        resp.emit({"url": resp.url, "depth": resp.depth, "links": len(resp.links())})
        if resp.url == a + "/":
            resp.stop_following()
            resp.follow(a + "/team")  # followed anyway, at depth 1
            resp.follow(site.site.b + "/b2")  # out of scope, but a script's choice

    registry = CallbackRegistry({"127.0.0.1": page})
    run = run_crawl(site, engine, tmp_path, [a + "/"], depth=2, callbacks=registry)
    assert rows_of(site, run) == {
        ("a", "/", 0, True), ("a", "/team", 1, True), ("b", "/b2", 1, True),
        ("a", "/about", 2, True), ("a", "/team/alice", 2, True),
    }  # fmt: skip
    items = [json.loads(line) for line in (tmp_path / "items.jsonl").read_text().splitlines()]
    assert len(items) == run.summary.items == 5
    home = next(item for item in items if item["url"] == a + "/")
    assert home["depth"] == 0 and home["links"] == 14


def test_sitemaps(site: SiteThread, engine: str, tmp_path: Path) -> None:
    """robots.txt names a sitemap index (a plain and a gzipped sitemap); their URLs enter at
    depth 1 through scope and filters; /sitemap.xml (404 here) is tried too."""
    log = tmp_path / "skipped.jsonl"
    run = run_crawl(
        site, engine, tmp_path / "o", [site.site.a + "/"], depth=2, sitemaps=True,
        log_skipped=log,
    )  # fmt: skip
    rows = rows_of(site, run)
    assert rows == upto(2) - {("a", "/docs/c", 3, True)} | {
        ("a", "/only-in-sitemap", 1, True), ("a", "/docs/c", 1, True),
        ("a", "/from-sitemap-page", 2, True),
    }  # fmt: skip
    skipped = [json.loads(line) for line in log.read_text().splitlines()]
    assert {"url": site.site.b + "/b2", "parent": None, "reason": "out-of-scope"} in skipped
    requests = site.site.requests
    for path in ("/sitemap-index.xml", "/sitemap-pages.xml", "/sitemap-more.xml.gz"):
        assert requests[("a", path)] == 1
    assert requests[("a", "/sitemap.xml")] == 1
    assert requests[("a", "/robots.txt")] == 2  # for the Sitemap: lines, then for the crawl
    no_robots = run_crawl(
        site, engine, tmp_path / "n", [site.site.a + "/"], depth=0, sitemaps=True, robots=False
    )
    assert rows_of(site, no_robots) == upto(0)  # no robots.txt read: only /sitemap.xml (404)


def test_a_seed_redirected_to_another_host_brings_it_into_scope(
    site: SiteThread, engine: str, tmp_path: Path
) -> None:
    run = run_crawl(site, engine, tmp_path, [site.site.b + "/go-a"], depth=1)
    assert rows_of(site, run) == {
        ("b", "/go-a", 0, True), ("a", "/docs/a", 1, True), ("a", "/docs/b", 1, True),
        ("a", "/about", 1, True),
    }  # fmt: skip
    assert run.rows[0]["final_url"] == site.site.a + "/docs/"
