"""Hostile servers, part 2: hostile names — every saved file inside DIR, distinct URLs in
distinct files, the server's naming hints ignored — on every engine (issue 5)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fetchrun import Run, fetch
from rawserver import RawConn, RawServer

from fetchall.urls import parse_url

pytestmark = pytest.mark.timeout(30)

HOSTILE_PATHS = [
    "/a/../../etc/passwd",
    "/..%2f..%2fetc%2fpasswd",
    "/%2e%2e/%2e%2e/etc/shadow",
    "/%2E%2E%2F%2E%2E%2Fboot",
    "/%2e%2e",
    "/.%2e/x",
    "/dir%2Fwith%2Fslashes",
    "/dir/with/slashes",
    "/back%5C..%5C..%5Cslash",
    "/nul%00byte",
    "/nul%00byte.txt",
    "/ctl%01%07%1b[31m%7f",
    "/newline%0a%0dname",
    "/tab%09name",
    "/nel%C2%85name",
    "/bidi%E2%80%AEtxt.exe",
    "/bad-utf8%ff%fe",
    "/%41",
    "/A",
    "/.hidden",
    "/...",
    "/trailing.",
    "/ space",
    "/.fetchall-tmp/x",
    "/" + "a" * 5000,
    "/" + "b" * 5000 + ".html",
    "/" + "\u00e9" * 2500,
    "/" + "%2e" * 1500,
    "/" + "d/" * 700 + "deep",
    "/q",
    "/q?",
    "/q?x=1",
    "/q?x=2",
    "/q?x=1&y=../../etc/passwd",
    "/q?%00%0d%0a",
    "/Case",
    "/case",
    "/CASE",
    "/",
    "/index.html",
    "/dir/",
    "/dir/index.html",
    "/dir",
]


def echo(conn: RawConn) -> None:
    """200 with the request-target as the body: each file must hold its own URL's answer."""
    body = conn.path.encode("latin-1")
    conn.send(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))


def assert_contained(run: Run, root: Path) -> None:
    """Every file under ``root`` (the whole tmp tree) is inside the output dir, no symlinks,
    every ok row has its own file and each file holds its own URL's body."""
    out = run.out.resolve()
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            assert not path.is_symlink(), path
            if path.is_file():
                assert path.resolve().is_relative_to(out), f"outside the output dir: {path}"
    saved = [r.path for r in run.results if r.ok]
    assert all(saved) and len(set(saved)) == len(saved), "two URLs share a file"
    for result in run.results:
        assert result.ok, result
        assert run.saved(result) == parse_url(result.url).target.encode(), result.url
        assert result.path is not None
        parts = result.path.split("/")
        assert ".." not in parts and "." not in parts and not result.path.startswith("/")
        assert all(0 < len(p.encode()) <= 255 for p in parts), result.path
        assert len(result.path.encode()) <= 1024, len(result.path)


def test_hostile_paths_stay_inside_and_distinct(
    engine: str, raw_server: RawServer, tmp_path: Path
) -> None:
    raw_server.route("*", echo)
    urls = [raw_server.url(p) for p in HOSTILE_PATHS]
    assert len({parse_url(u).url for u in urls}) == len(urls), "inputs must be distinct URLs"
    out = tmp_path / "nested" / "out"
    run = fetch(engine, urls, out)
    assert len(run.results) == len(urls)
    assert_contained(run, tmp_path)
    port = raw_server.port
    by = {p: run.by_url(raw_server.url(p)).path for p in HOSTILE_PATHS}
    assert by["/dir/with/slashes"] == f"127.0.0.1_{port}/dir/with/slashes"
    assert by["/a/../../etc/passwd"] == f"127.0.0.1_{port}/etc/passwd"


@pytest.mark.parametrize("order", [("/x", "/x/y"), ("/x/y", "/x")], ids=["file-first", "dir-first"])
def test_file_needed_as_directory(
    engine: str, raw_server: RawServer, tmp_path: Path, order: tuple[str, str]
) -> None:
    raw_server.route("*", echo)
    urls = [raw_server.url(p) for p in order]
    out = tmp_path / "out"
    run = fetch(engine, urls, out, concurrency=1, per_host=1)  # in this order
    assert_contained(run, tmp_path)
    first = run.by_url(urls[0]).path
    assert first == f"127.0.0.1_{raw_server.port}{order[0]}"  # the first one keeps its name
    again = fetch(engine, list(reversed(urls)), out, concurrency=1, per_host=1)  # a later run
    assert_contained(again, tmp_path)


def test_content_disposition_is_never_trusted(
    engine: str, raw_server: RawServer, tmp_path: Path
) -> None:
    dispositions = [
        b'attachment; filename="../../etc/passwd"',
        b"attachment; filename*=UTF-8''..%2F..%2F..%2Fevil.sh",
        b'inline; filename="/tmp/absolute"',
        b'attachment; filename="..\\\\..\\\\win.ini"',
    ]
    urls = []
    for i, disposition in enumerate(dispositions):
        body = b"cd%d" % i
        urls.append(
            raw_server.route(
                f"/download/{i}",
                b"HTTP/1.0 200 OK\r\nContent-Disposition: %s\r\nContent-Length: %d\r\n\r\n%s"
                % (disposition, len(body), body),
            )
        )
    out = tmp_path / "a" / "b" / "out"
    run = fetch(engine, urls, out)
    for i, url in enumerate(urls):
        result = run.by_url(url)
        assert result.path == f"127.0.0.1_{raw_server.port}/download/{i}", result
        assert run.saved(result) == b"cd%d" % i
    everything = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    assert all(p == "a" or p.startswith(("a/b", "a/b/out")) for p in everything), everything
    assert not Path("/tmp/absolute").exists()
