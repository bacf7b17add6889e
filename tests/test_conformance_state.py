"""Conformance, part 6: the state store on every engine — resume, ``--refresh`` with
ETag / Last-Modified and 304s, ``--retry-failed``, a list sorted by host, and URLs that end at
the same final URL."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from fetchrun import fetch, saved_files

from fetchall import Response
from fetchall.api import fetch_all
from fetchall.callbacks import CallbackRegistry
from fetchall.engines import ENGINES
from fetchall.result import Result
from fetchall.server import ServerThread, body_bytes

pytestmark = pytest.mark.timeout(90)


def report_rows(out: Path) -> dict[str, dict[str, object]]:
    rows = [json.loads(line) for line in (out / "report.jsonl").read_text().splitlines()]
    by_url = {str(row["url"]): row for row in rows}
    assert len(by_url) == len(rows), "one row per URL"
    return by_url


def test_resume_after_ctrl_c_fetches_the_rest_once(
    engine: str, server: ServerThread, tmp_path: Path
) -> None:
    urls = [server.url(f"/bytes/{100 + i}?latency=0.02") for i in range(40)]
    seen: list[Result] = []

    def stop_at_ten(result: Result) -> None:
        seen.append(result)
        if len(seen) == 10:
            raise KeyboardInterrupt

    first = fetch_all(urls, engine=engine, out=tmp_path, on_result=stop_at_ten, concurrency=4)
    assert first.interrupted
    second = fetch(engine, urls, tmp_path, resume=True, concurrency=4)
    assert second.summary.exit_code == 0 and second.summary.resumed >= 9
    rows = report_rows(tmp_path)
    assert set(rows) == set(urls)
    for i, url in enumerate(urls):
        assert (tmp_path / str(rows[url]["path"])).read_bytes() == body_bytes(100 + i)
    assert server.stats.requests < 40 + 4 + 1  # at most the URLs in flight fetched twice


def test_ctrl_c_while_a_url_is_saved_completes_that_url_first(
    engine: str, server: ServerThread, tmp_path: Path
) -> None:
    """A real Ctrl-C (SIGINT to this process) arrives while a URL is being saved (its callback
    runs, then its file is committed and its row written): that URL still ends whole, with its
    file and its row, before the run stops; no saved file lacks its row; `--resume` finishes
    the rest."""
    urls = [server.url(f"/bytes/{300 + i}?latency=0.02") for i in range(20)]
    signalled: list[str] = []

    def interrupt_once(resp: Response) -> None:
        if not signalled:
            signalled.append(resp.url)
            os.kill(os.getpid(), signal.SIGINT)

    callbacks = CallbackRegistry({"*": interrupt_once})  # type: ignore[dict-item]
    first = fetch_all(urls, engine=engine, out=tmp_path, callbacks=callbacks, concurrency=4)
    assert first.interrupted and len(signalled) == 1
    rows = report_rows(tmp_path)
    row = rows[signalled[0]]
    assert row["ok"] and (tmp_path / str(row["path"])).is_file(), row
    saved = {p.relative_to(tmp_path).as_posix() for p in saved_files(tmp_path)}
    assert saved == {str(r["path"]) for r in rows.values() if r["ok"]}
    second = fetch(engine, urls, tmp_path, resume=True, concurrency=4)
    assert second.summary.exit_code == 0
    assert set(report_rows(tmp_path)) == set(urls)


def test_refresh_asks_conditionally_and_keeps_unchanged_files(
    engine: str, server: ServerThread, tmp_path: Path
) -> None:
    names = {"both": "both", "etag": "etag", "date": "date", "none": "none"}
    urls = {n: server.url(f"/cached/{n}?validators={v}") for n, v in names.items()}
    first = fetch(engine, urls.values(), tmp_path)
    assert all(r.ok and r.status == 200 for r in first.results)
    server.versions.bump("etag")  # this one changed on the server
    server.stats.reset()
    again = fetch(engine, urls.values(), tmp_path, refresh=True)
    assert again.summary.exit_code == 0 and server.stats.requests == 4
    rows = report_rows(tmp_path)
    for name in ("both", "date"):  # unchanged: 304, the file kept as it was
        row = rows[urls[name]]
        assert row["status"] == 304 and row["ok"] and row["unchanged"] is True, row
        assert row["path"] == first.by_url(urls[name]).path
        assert row["bytes"] == len(f"{name} version 1\n")
        assert (tmp_path / str(row["path"])).read_text() == f"{name} version 1\n"
    changed = rows[urls["etag"]]
    assert changed["status"] == 200 and changed["unchanged"] is False
    assert (tmp_path / str(changed["path"])).read_text() == "etag version 2\n"
    plain = rows[urls["none"]]  # no validators stored: fetched again whole
    assert plain["status"] == 200 and plain["unchanged"] is False


def test_refresh_of_a_deleted_file_fetches_it_whole(
    engine: str, server: ServerThread, tmp_path: Path
) -> None:
    url = server.url("/cached/gone")
    first = fetch(engine, [url], tmp_path).one()
    (tmp_path / str(first.path)).unlink()
    again = fetch(engine, [url], tmp_path, refresh=True).one()
    assert again.status == 200 and not again.unchanged
    assert (tmp_path / str(again.path)).read_text() == "gone version 1\n"


def test_retry_failed_fetches_only_the_failed(
    engine: str, server: ServerThread, tmp_path: Path
) -> None:
    good = [server.url(f"/bytes/{i}") for i in range(1, 6)]
    flaky = server.url(f"/flaky/{engine}-rf/2")  # 503 first, then 200
    first = fetch(engine, [*good, flaky], tmp_path, retries=0)
    assert first.summary.exit_code == 1 and not first.by_url(flaky).ok
    before = server.stats.requests  # (a reset would forget the /flaky counter too)
    again = fetch(engine, [*good, flaky], tmp_path, retry_failed=True, retries=0)
    assert again.summary.exit_code == 0 and server.stats.requests == before + 1
    assert again.one().url == flaky and again.one().ok
    rows = report_rows(tmp_path)
    assert set(rows) == {*good, flaky} and all(row["ok"] for row in rows.values())


@pytest.fixture(scope="module")
def four_hosts() -> list[ServerThread]:
    servers = [ServerThread().start() for _ in range(4)]
    yield servers  # type: ignore[misc]
    for server in servers:
        server.stop()


def test_a_list_sorted_by_host_keeps_every_host_busy(
    engine: str, four_hosts: list[ServerThread], tmp_path: Path
) -> None:
    """60 URLs of each of 4 hosts, listed host after host: every host is fetched from early
    on (the frontier hands URLs out per host), not one host after the other."""
    for server in four_hosts:
        server.stats.reset()
    urls = [h.url(f"/bytes/{i}?latency=0.05") for h in four_hosts for i in range(1, 61)]
    run = fetch(engine, urls, tmp_path, concurrency=16, per_host=4)
    assert all(r.ok for r in run.results)
    firsts = [min(h.stats.start_times("/bytes/")) for h in four_hosts]
    lasts = [max(h.stats.start_times("/bytes/")) for h in four_hosts]
    if ENGINES[engine].concurrent:
        assert max(firsts) < min(lasts), "the last host started after the first was done"
        assert all(h.stats.max_active >= 2 for h in four_hosts)  # processes: 8 workers
    assert sum(h.stats.max_active for h in four_hosts) <= 16


def test_urls_ending_at_the_same_final_url_share_its_file(
    engine: str, server: ServerThread, tmp_path: Path
) -> None:
    final = server.url("/bytes/321")
    via = [server.url(f"/redirect-to?url={final}&from={i}") for i in range(3)]
    run = fetch(engine, [*via, final], tmp_path, concurrency=1)
    paths = {run.by_url(u).path for u in [*via, final]}
    assert len(paths) == 1 and all(run.by_url(u).ok for u in [*via, final])
    assert (tmp_path / str(paths.pop())).read_bytes() == body_bytes(321)
    assert server.stats.by_path["/bytes/321"] == 1  # fetched once


def test_sha256_of_saved_bodies_is_kept_only_when_asked(
    engine: str, server: ServerThread, tmp_path: Path
) -> None:
    """``sha256=True`` (``--sha256``) keeps each saved body's SHA-256 in the store, equal to the
    file's; by default none is computed (it costs about 0.6 ms of CPU per MiB)."""
    import hashlib
    import sqlite3

    urls = [server.url(f"/bytes/{n}") for n in (1, 70_000, 300_000)]
    for asked, out in ((True, tmp_path / "with"), (False, tmp_path / "without")):
        summary = fetch_all(urls, engine=engine, out=out, sha256=asked, concurrency=2)
        assert summary.ok == 3
        with sqlite3.connect(out / ".fetchall" / "state.db") as db:
            rows = db.execute("SELECT path, sha256 FROM urls").fetchall()
        assert len(rows) == 3
        for path, digest in rows:
            if asked:
                assert digest == hashlib.sha256((out / path).read_bytes()).digest(), path
            else:
                assert digest is None
