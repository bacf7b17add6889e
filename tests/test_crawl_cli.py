"""``fetchall crawl`` as a real subprocess (seeds as URLs, files and stdin; one-line errors; the
summary), a crawl interrupted and resumed, ``fetchall serve --site`` and ``fetchall demo
crawl``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fetchall.api import crawl
from fetchall.result import Result
from fetchall.server.thread import SiteThread

pytestmark = pytest.mark.timeout(60)


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fetchall", *args], capture_output=True, text=True, timeout=60,
        input=stdin, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip


@pytest.fixture(scope="module")
def site() -> Iterator[SiteThread]:
    with SiteThread() as running:
        yield running


def rows(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_crawl_command(site: SiteThread, tmp_path: Path) -> None:
    seeds = tmp_path / "seeds.txt"
    seeds.write_text(site.site.b + "/\n")
    out = tmp_path / "o"
    proc = cli("crawl", site.site.a + "/docs/", str(seeds), "-o", str(out), "--depth", "1",
               "-e", "threads", "--no-progress")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    report = rows(out / "report.jsonl")
    assert {(str(r["url"]).removeprefix(site.site.a), r["depth"]) for r in report} == {
        ("/docs/", 0), ("/docs/a", 1), ("/docs/b", 1), ("/about", 1), (site.site.b + "/", 0),
        ("/", 1), (site.site.b + "/b1", 1),
    }  # fmt: skip
    assert "links not followed:" in proc.stdout and "too-deep" in proc.stdout


def test_seeds_from_stdin_spider_and_no_state(site: SiteThread, tmp_path: Path) -> None:
    out = tmp_path / "o"
    proc = cli("crawl", "-", "-o", str(out), "--depth", "1", "--spider", "--no-state",
               "--no-progress", stdin=site.site.a + "/docs/\n")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = rows(out / "report.jsonl")
    assert len(report) == 4 and all(r["path"] is None for r in report)
    assert sorted(p.name for p in out.iterdir()) == ["report.jsonl"]  # no body, no state


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scope", "planet"], "--scope must be one of host, domain, prefix, any"),
        (["--depth", "-1"], "--depth must be 0 or more"),
        (["--max-pages", "0"], "max-pages must be 1 or more"),
        (["--max-per-host", "0"], "max-per-host must be 1 or more"),
        (["--include", "("], "--include: bad regular expression"),
        (["--exclude", "[z-a]"], "--exclude: bad regular expression"),
        (["--engine", "nope"], "engine"),
    ],
)
def test_bad_options_are_one_line(
    site: SiteThread, tmp_path: Path, args: list[str], message: str
) -> None:
    proc = cli("crawl", site.site.a + "/", "-o", str(tmp_path / "o"), *args)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert message in proc.stderr
    assert not (tmp_path / "o" / "report.jsonl").exists()


def test_bad_log_skipped_path_is_one_line(site: SiteThread, tmp_path: Path) -> None:
    out = tmp_path / "o"
    proc = cli("crawl", site.site.a + "/", "-o", str(out), "--log-skipped", "/nonexistent/x")
    assert proc.returncode == 2 and "--log-skipped /nonexistent/x" in proc.stderr
    assert "Traceback" not in proc.stderr
    again = cli("crawl", site.site.a + "/", "-o", str(out), "--depth", "0", "--no-progress")
    assert again.returncode == 0, again.stderr  # no half-started state left behind


def test_missing_seed_file(tmp_path: Path) -> None:
    proc = cli("crawl", str(tmp_path / "nope.txt"), "-o", str(tmp_path / "o"))
    assert proc.returncode == 2 and "cannot read URL list" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_interrupted_crawl_resumes_to_the_same_rows(site: SiteThread, tmp_path: Path) -> None:
    seed = [site.site.a + "/"]
    whole = crawl(seed, depth=4, engine="asyncio", out=tmp_path / "whole", retries=0)
    expected = {(r["url"], r["depth"], r["parent"]) for r in rows(tmp_path / "whole/report.jsonl")}
    assert whole.total == len(expected) > 20
    seen: list[Result] = []

    def stop_after_twelve(result: Result) -> None:
        seen.append(result)
        if len(seen) == 12:
            raise KeyboardInterrupt

    out = tmp_path / "o"
    first = crawl(seed, depth=4, engine="asyncio", out=out, retries=0, concurrency=2,
                  on_result=stop_after_twelve)  # fmt: skip
    assert first.interrupted
    second = crawl(seed, depth=4, engine="threads", out=out, retries=0, resume=True)
    assert not second.interrupted and second.resumed >= 10
    report = rows(out / "report.jsonl")
    assert len(report) == len(expected)  # one row per URL
    assert {(r["url"], r["depth"], r["parent"]) for r in report} == expected


def test_serve_site_and_demo_crawl(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "fetchall", "serve", "--site"], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("serving the demo site on http://127.0.0.1:")
        base = line.split()[5]
        proc2 = cli("crawl", base + "/", "-o", str(tmp_path / "s"), "--depth", "1",
                    "--no-progress")  # fmt: skip
        assert proc2.returncode == 1  # a 404 and a robots-blocked page, on purpose
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    assert proc.returncode == 130
    demo = subprocess.run(
        [sys.executable, "-m", "fetchall", "demo", "crawl", "-o", str(tmp_path / "d")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert demo.returncode == 1, demo.stderr
    assert "done: 23 URLs" in demo.stdout and "links not followed" in demo.stdout


def test_retry_failed_rewrites_the_report_with_depth_and_parent(
    site: SiteThread, tmp_path: Path
) -> None:
    seed = [site.site.a + "/"]
    crawl(seed, depth=2, engine="asyncio", out=tmp_path, retries=0)
    before = sorted(rows(tmp_path / "report.jsonl"), key=lambda r: str(r["url"]))
    again = crawl(seed, depth=2, engine="asyncio", out=tmp_path, retries=0, retry_failed=True)
    assert again.total == 1  # the 404 once more (robots-blocked rows are not retried)
    after = sorted(rows(tmp_path / "report.jsonl"), key=lambda r: str(r["url"]))
    keys = ("url", "depth", "parent", "ok", "status")
    assert [tuple(r[k] for k in keys) for r in after] == [tuple(r[k] for k in keys) for r in before]


def test_resumed_crawl_keeps_a_redirected_seed_in_scope(site: SiteThread, tmp_path: Path) -> None:
    seed = [site.site.b + "/go-a"]
    crawl(seed, depth=2, engine="asyncio", out=tmp_path / "whole", retries=0)
    expected = {(r["url"], r["depth"]) for r in rows(tmp_path / "whole/report.jsonl")}
    assert (site.site.a + "/team", 2) in expected  # /about's link, found through the redirect

    def stop_after_two(result: Result, seen: list[Result] = []) -> None:  # noqa: B006
        seen.append(result)
        if len(seen) == 2:
            raise KeyboardInterrupt

    out = tmp_path / "o"
    first = crawl(seed, depth=2, engine="asyncio", out=out, retries=0, concurrency=1,
                  on_result=stop_after_two)  # fmt: skip
    assert first.interrupted
    crawl(seed, depth=2, engine="asyncio", out=out, retries=0, resume=True)
    assert {(r["url"], r["depth"]) for r in rows(out / "report.jsonl")} == expected
