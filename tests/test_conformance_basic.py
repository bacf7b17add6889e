"""Conformance, part 1: saving, report fields, encodings and framing — on every engine."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import pytest
from fetchrun import fetch
from rawserver import RawConn, RawServer

from fetchall.server import ServerThread, body_bytes

pytestmark = pytest.mark.timeout(30)


def test_saves_body_and_reports_every_field(
    engine: str, server: ServerThread, tmp_path: Path
) -> None:
    url = server.url("/bytes/5000")
    run = fetch(engine, [url], tmp_path)
    result = run.one()
    assert result.ok and result.status == 200 and result.error is None
    assert run.saved(result) == body_bytes(5000) and result.bytes == 5000
    assert result.path == f"127.0.0.1_{server.port}/bytes/5000"
    assert result.final_url == url and result.attempts == 1 and result.redirects == 0
    assert result.content_type == "application/octet-stream" and result.engine == engine
    row = run.rows[0]
    assert list(row) == [
        "url", "final_url", "ok", "status", "error_type", "error", "path", "bytes",
        "content_type", "attempts", "redirects", "elapsed_ms", "engine", "unchanged",
    ]  # fmt: skip
    assert row["elapsed_ms"] >= 0 and run.summary.exit_code == 0


def test_large_body_streams_to_disk(engine: str, server: ServerThread, tmp_path: Path) -> None:
    run = fetch(engine, [server.url("/bytes/3000000?chunked=1")], tmp_path)
    assert run.saved(run.one()) == body_bytes(3_000_000)


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "deflate-raw", "br", "gzip,deflate"])
@pytest.mark.parametrize("chunked", ["0", "1"])
def test_content_encodings_are_decoded(
    engine: str, server: ServerThread, tmp_path: Path, encoding: str, chunked: str
) -> None:
    run = fetch(
        engine, [server.url(f"/bytes/70000?encoding={encoding}&chunked={chunked}")], tmp_path
    )
    result = run.one()
    assert result.ok, result
    assert run.saved(result) == body_bytes(70000) and result.bytes == 70000


def test_index_html_and_query_names(engine: str, server: ServerThread, tmp_path: Path) -> None:
    urls = [server.url("/redirect/0"), server.url("/json/1?a=1"), server.url("/json/1?a=2")]
    run = fetch(engine, urls, tmp_path)
    paths = [r.path for r in run.results]
    assert all(r.ok for r in run.results) and len(set(paths)) == 3
    query_path = run.by_url(urls[1]).path  # by URL: a concurrent engine finishes in any order
    assert query_path is not None and query_path.startswith(f"127.0.0.1_{server.port}/json/1_a=1_")


def test_directory_url_saved_as_index_html(
    engine: str, raw_server: RawServer, tmp_path: Path
) -> None:
    url = raw_server.route("/dir/", b"HTTP/1.0 200 OK\r\n\r\nindex")
    run = fetch(engine, [url], tmp_path)
    assert run.one().path == f"127.0.0.1_{raw_server.port}/dir/index.html"


def test_http_error_status_is_a_failed_row_without_file(
    engine: str, server: ServerThread, tmp_path: Path
) -> None:
    run = fetch(engine, [server.url("/status/404"), server.url("/status/500")], tmp_path)
    for result in run.results:
        assert not result.ok and result.error_type == "http_status" and result.path is None
    assert {r.status for r in run.results} == {404, 500}
    assert run.files() == [] and run.summary.exit_code == 1


RAW_CASES: dict[str, tuple[bytes, str | None, bytes | None]] = {
    # name: (response bytes, expected error_type or None for ok, expected saved body)
    "content-length": (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", None, b"hello"),
    "read-until-close": (b"HTTP/1.0 200 OK\r\n\r\nuntil close", None, b"until close"),
    "chunked-ext-trailers": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;name=val\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n",
        None,
        b"hello world",
    ),
    "te-and-cl": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\n\r\n",
        "protocol",
        None,
    ),
    "interim-1xx": (
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        None,
        b"ok",
    ),
    "204-no-body": (b"HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n", None, b""),
    "truncated-cl": (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort", "protocol", None),
    "truncated-chunked": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
        "protocol",
        None,
    ),
    "bad-chunk-size": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        "protocol",
        None,
    ),
    "conflicting-cl": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        "protocol",
        None,
    ),
    "bad-status-line": (b"HTTP/1.1 OK 200\r\nContent-Length: 2\r\n\r\nok", "protocol", None),
    "not-http": (b"SSH-2.0-OpenSSH_9.2\r\n", "protocol", None),
    "empty-reply": (b"", "connection_lost", None),
    "huge-head": (
        b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 200_000 + b"\r\nContent-Length: 2\r\n\r\nok",
        "protocol",
        None,
    ),
    "unknown-encoding": (
        b"HTTP/1.1 200 OK\r\nContent-Encoding: zstd-x\r\nContent-Length: 2\r\n\r\nok",
        "decoding",
        None,
    ),
    "corrupt-gzip": (
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 10\r\n\r\n\x1f\x8bnotgzip!",
        "decoding",
        None,
    ),
}


@pytest.mark.parametrize("case", sorted(RAW_CASES))
def test_framing_against_exact_bytes(
    engine: str, raw_server: RawServer, tmp_path: Path, case: str
) -> None:
    response, error_type, body = RAW_CASES[case]
    url = raw_server.route(f"/{case}", response)
    result = fetch(engine, [url], tmp_path).one()
    if error_type is None:
        assert result.ok, result
        assert (tmp_path / str(result.path)).read_bytes() == body
    else:
        assert not result.ok and result.error_type == error_type, result
        assert result.path is None and result.error


def test_bytes_after_the_body_are_ignored(
    engine: str, raw_server: RawServer, tmp_path: Path
) -> None:
    def excess(conn: RawConn) -> None:
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        conn.sleep(0.05)
        conn.send(b"EXCESS")

    run = fetch(engine, [raw_server.route("/excess", excess)], tmp_path)
    assert run.saved(run.one()) == b"ok"


def test_truncated_gzip_body_is_an_error(
    engine: str, raw_server: RawServer, tmp_path: Path
) -> None:
    packed = gzip.compress(b"x" * 10000)[:-12]
    head = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(packed)
    url = raw_server.route("/cut-gzip", head + packed)
    result = fetch(engine, [url], tmp_path).one()
    assert result.error_type == "decoding", result


def test_raw_deflate_from_raw_server(engine: str, raw_server: RawServer, tmp_path: Path) -> None:
    packer = zlib.compressobj(wbits=-15)
    packed = packer.compress(b"raw deflate " * 100) + packer.flush()
    head = b"HTTP/1.0 200 OK\r\nContent-Encoding: deflate\r\n\r\n"
    url = raw_server.route("/raw-deflate", head + packed)
    run = fetch(engine, [url], tmp_path)
    assert run.saved(run.one()) == b"raw deflate " * 100


def test_max_size_counts_decoded_bytes(engine: str, server: ServerThread, tmp_path: Path) -> None:
    urls = [
        server.url("/bytes/100000"),
        server.url("/bytes/100000?encoding=gzip"),
        server.url("/bytes/1000"),
    ]
    run = fetch(engine, urls, tmp_path, max_size=50_000)
    assert run.by_url(urls[0]).error_type == "too_large"
    assert run.by_url(urls[1]).error_type == "too_large"
    assert run.by_url(urls[2]).ok


def test_decompression_bomb_is_stopped(engine: str, raw_server: RawServer, tmp_path: Path) -> None:
    bomb = gzip.compress(b"\0" * 50_000_000, compresslevel=9)
    head = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(bomb)
    url = raw_server.route("/bomb", head + bomb)
    result = fetch(engine, [url], tmp_path, max_size=1_000_000).one()
    assert result.error_type == "too_large" and result.path is None
