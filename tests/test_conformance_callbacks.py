"""Conformance, part 4: callbacks, URL-list input rows, duplicates and output safety."""

from __future__ import annotations

from pathlib import Path

import pytest
from fetchrun import FAST, Run, fetch
from rawserver import RawServer

import fetchall.digests
from fetchall import SKIP, Response
from fetchall.api import fetch_all
from fetchall.callbacks import CallbackRegistry
from fetchall.result import Result
from fetchall.server import ServerThread, body_bytes

pytestmark = pytest.mark.timeout(30)


def fetch_with(engine: str, urls: list[str], out: Path, callbacks: dict[str, object]) -> Run:
    results: list[Result] = []
    summary = fetch_all(
        urls,
        engine=engine,
        out=out,
        callbacks=CallbackRegistry(callbacks),  # type: ignore[arg-type]
        on_result=results.append,
        **FAST,
    )
    return Run(summary, results, out)


def test_callback_chooses_path_skips_and_fails(
    engine: str, server: ServerThread, tmp_path: Path
) -> None:
    seen: list[tuple[str, int, int]] = []

    def on_json(resp: Response) -> str | object | None:
        seen.append((resp.host, resp.status, resp.size))
        ident = resp.json()["id"]
        if ident == "skip":
            return SKIP
        if ident == "boom":
            raise RuntimeError("bad page")
        if ident == "escape":
            return "../outside.json"
        return f"api/{ident}.json"

    urls = [server.url(f"/json/{name}") for name in ("7", "skip", "boom", "escape")]
    run = fetch_with(engine, urls, tmp_path, {"127.0.0.1": on_json})
    assert len(seen) == 4 and all(status == 200 for _, status, _ in seen)
    kept = run.by_url(urls[0])
    assert kept.ok and kept.path == "api/7.json" and (tmp_path / "api/7.json").is_file()
    skipped = run.by_url(urls[1])
    assert skipped.ok and skipped.path is None
    boom = run.by_url(urls[2])
    assert boom.error_type == "callback" and "bad page" in str(boom.error)
    escape = run.by_url(urls[3])
    assert escape.error_type == "callback" and not (tmp_path.parent / "outside.json").exists()
    assert run.files() == ["api/7.json"]


def test_wildcard_callback_enqueues_more_urls(
    engine: str, server: ServerThread, tmp_path: Path
) -> None:
    def crawl(resp: Response) -> None:
        if "/links/" in resp.url:
            for i in range(3):
                resp.enqueue(server.url(f"/json/{i}"))
            resp.enqueue(resp.url)  # a duplicate is fetched once
        return None

    run = fetch_with(engine, [server.url("/links/3")], tmp_path, {"*": crawl})
    assert sorted(r.url for r in run.results) == sorted(
        [server.url("/links/3")] + [server.url(f"/json/{i}") for i in range(3)]
    )
    assert all(r.ok for r in run.results)


def test_bad_lines_and_duplicates(engine: str, server: ServerThread, tmp_path: Path) -> None:
    good = server.url("/bytes/10")
    lines = ["# a comment", good, "not a url", "ftp://x/y", "http://", good, "http://h:99999/"]
    run = fetch(engine, lines, tmp_path)
    assert len(run.results) == 5 and run.summary.duplicates == 1
    bad = [r for r in run.results if not r.ok]
    assert {r.error_type for r in bad} == {"bad_url"} and len(bad) == 4
    assert all(r.error and "<api>:" in r.error for r in bad)


def test_paths_stay_inside_output_dir(engine: str, server: ServerThread, tmp_path: Path) -> None:
    out = tmp_path / "out"
    urls = [
        server.url("/json/..%2F..%2Fescape"),
        server.url("/json/%2e%2e"),
        server.url("/json/" + "n" * 400),
    ]
    run = fetch(engine, urls, out)
    assert all(r.ok for r in run.results), run.results
    for result in run.results:
        saved = (out / str(result.path)).resolve()
        assert saved.is_relative_to(out.resolve())
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


@pytest.mark.parametrize("order", ["file-first", "dir-first"])
def test_file_and_directory_conflict(
    engine: str, raw_server: RawServer, tmp_path: Path, order: str
) -> None:
    urls = [
        raw_server.route("/a", b"HTTP/1.0 200 OK\r\n\r\nfile a"),
        raw_server.route("/a/b", b"HTTP/1.0 200 OK\r\n\r\nfile a/b"),
    ]
    if order == "dir-first":
        urls.reverse()
    run = fetch(engine, urls, tmp_path, concurrency=1)
    assert len({r.path for r in run.results}) == 2
    assert run.saved(run.by_url(raw_server.url("/a"))) == b"file a"
    assert run.saved(run.by_url(raw_server.url("/a/b"))) == b"file a/b"


def test_same_body_bytes_everywhere(engine: str, server: ServerThread, tmp_path: Path) -> None:
    urls = [server.url(f"/bytes/{n}") for n in (0, 1, 65536, 65537, 262145)]
    run = fetch(engine, urls, tmp_path, concurrency=2)
    for url, n in zip(urls, (0, 1, 65536, 65537, 262145), strict=True):
        assert run.saved(run.by_url(url)) == body_bytes(n)


def test_callback_sees_input_and_final_url(
    engine: str, server: ServerThread, tmp_path: Path
) -> None:
    seen: list[tuple[str, str, str | None]] = []

    def record(resp: Response) -> None:
        seen.append((resp.url, resp.final_url, resp.headers.get("content-type")))
        with resp.open() as body:
            assert body.read(4) == body_bytes(4)
        return None

    url = server.url("/redirect/2")
    run = fetch_with(engine, [url], tmp_path, {"127.0.0.1": record})
    assert run.one().ok
    assert seen == [(url, server.url("/redirect/0"), "application/octet-stream")]


def test_dedupe_and_claims_past_the_memory_limit(
    engine: str, server: ServerThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the in-memory part of the seen-set and the claims limited to 3 entries (the rest
    spills to SQLite), duplicates are still dropped and every distinct URL saved once."""
    monkeypatch.setattr(fetchall.digests, "DEFAULT_LIMIT", 3)
    urls = [server.url(f"/bytes/{n}") for n in range(1, 13)]
    run = fetch(engine, urls + urls[::-1], tmp_path)
    assert len(run.results) == 12 and run.summary.duplicates == 12
    assert all(r.ok for r in run.results)
    assert sorted(r.bytes for r in run.results) == list(range(1, 13))
    assert len({r.path for r in run.results}) == 12
