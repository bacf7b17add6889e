"""Hostile input, part 3: URL-list lines through the Python API — each bad line a clear row
naming where it came from, each good line fetched safely — on every engine (issue 5). The same
lines through the CLI (file:line) are in test_hostile_cli.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fetchrun import fetch
from rawserver import RawConn, RawServer

from fetchall.urls import parse_url

pytestmark = pytest.mark.timeout(30)

BAD_LINES = {  # line -> a word the error message must contain
    "not a url": "not a URL",
    "www.example.com/page": "not a URL",
    "javascript:alert(1)": "not a URL",
    "ftp://127.0.0.1/x": "unsupported scheme",
    "file:///etc/passwd": "unsupported scheme",
    "gopher://127.0.0.1/": "unsupported scheme",
    "http:///path": "missing host",
    "http://:80/x": "missing host",
    "http://127.0.0.1:0/x": "bad port",
    "http://127.0.0.1:65536/x": "bad port",
    "http://127.0.0.1:abc/x": "bad port",
    "http://127.0.0.1:-1/x": "bad port",
    "http://exa mple.com/x": "bad host",
    "http://[::1/x": "IPv6",
    "http://[zz::1]/x": "IPv6",
    "http://[fe80::1%25eth0]/x": "zone",
    "http://::1/x": "brackets",
    "http://[::1]junk/x": "IPv6",
    "http://\u00fc..example/x": "internationalized",
    "http://xn--\u00fc.example/x": "internationalized",
    "http://\u2488example/x": "dot",
    "http://user:pw@127.0.0.1/x": "credentials",
    "http://127.0.0.1/a\rX-Evil: 1": "control character",
    "http://127.0.0.1/a\nX-Evil: 1": "control character",
    "http://127.0.0.1/a\x00b": "control character",
}


def echo(conn: RawConn) -> None:
    """200 with the request-target as the body."""
    body = conn.path.encode("latin-1")
    conn.send(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))


def test_bad_lines_are_rows_naming_their_place(
    engine: str, raw_server: RawServer, tmp_path: Path
) -> None:
    raw_server.route("*", echo)
    good = raw_server.url("/good")
    lines = ["# a comment", "", good, *BAD_LINES]
    run = fetch(engine, lines, tmp_path)
    assert len(run.results) == 1 + len(BAD_LINES) and run.summary.exit_code == 1
    assert run.by_url(good).ok
    for lineno, line in enumerate(lines, 1):
        if line in BAD_LINES:
            result = run.by_url(line.strip())
            assert result.error_type == "bad_url" and result.attempts == 0, result
            assert str(result.error).startswith(f"<api>:{lineno}: "), result
            assert BAD_LINES[line] in str(result.error), result
            assert result.path is None and result.final_url is None
    assert len(raw_server.requests) == 1  # only the good line reached the network
    assert b"X-Evil" not in raw_server.requests[0]


def test_encoded_crlf_never_becomes_a_header(
    engine: str, raw_server: RawServer, tmp_path: Path
) -> None:
    raw_server.route("*", echo)
    urls = [
        raw_server.url("/inj%0d%0aX-Evil:%201"),
        raw_server.url("/q?a=%0D%0AX-Evil:%202%0D%0A%0D%0A"),
        raw_server.url("/%0aX-Evil:%203%0d"),
        raw_server.url("/sp ace/x y"),
    ]
    run = fetch(engine, urls, tmp_path)
    assert all(r.ok for r in run.results), run.results
    heads = raw_server.requests
    assert len(heads) == len(urls)
    for head in heads:
        lines = head.split(b"\r\n")
        assert head.count(b"\r\n\r\n") == 1 and head.endswith(b"\r\n\r\n"), head
        assert not any(line.lower().startswith(b"x-evil") for line in lines), head
        assert b"\n" not in head.replace(b"\r\n", b"") and b"\r" not in head.replace(b"\r\n", b"")
        assert b" " not in lines[0].split(b" ", 1)[1].rsplit(b" ", 1)[0], lines[0]
    targets = {head.split(b" ")[1] for head in heads}
    assert b"/inj%0d%0aX-Evil:%201" in targets and b"/sp%20ace/x%20y" in targets


@pytest.fixture
def raw_server_v6() -> Iterator[RawServer]:
    """A raw server on ::1 (fails, not skips, without IPv6 loopback)."""
    with RawServer("::1") as server:
        yield server


def test_ipv6_literals(engine: str, raw_server_v6: RawServer, tmp_path: Path) -> None:
    raw_server_v6.route("*", echo)
    port = raw_server_v6.port
    urls = [f"http://[::1]:{port}/six", f"http://[0:0:0:0:0:0:0:1]:{port}/long-form"]
    run = fetch(engine, urls, tmp_path)
    for url in urls:
        result = run.by_url(url)
        assert result.ok and result.final_url == parse_url(url).url, result
        assert result.path is not None and result.path.startswith(f"[__1]_{port}/")
    hosts = {
        line for h in raw_server_v6.requests for line in h.split(b"\r\n")[1:] if b"ost:" in line
    }
    assert hosts == {b"Host: [::1]:%d" % port}


def test_internationalized_host_is_sent_in_ascii(
    engine: str, raw_server: RawServer, tmp_path: Path
) -> None:
    raw_server.route("*", echo)
    # Fullwidth letters: IDNA maps them to "localhost", the one name that resolves here.
    url = f"http://\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54:{raw_server.port}/idn"
    result = fetch(engine, [url], tmp_path).one()
    assert result.ok and result.final_url == f"http://localhost:{raw_server.port}/idn", result
    (head,) = raw_server.requests
    assert b"\r\nHost: localhost:%d\r\n" % raw_server.port in head
    assert head.isascii()


def test_idna_conversion_at_the_url_layer() -> None:
    target = parse_url("http://B\u00fccher.example:8080/st\u00fcck?q=\u00e9")
    assert target.host == "xn--bcher-kva.example"
    assert target.host_header == "xn--bcher-kva.example:8080"
    assert target.url == "http://xn--bcher-kva.example:8080/st%C3%BCck?q=%C3%A9"
    assert parse_url("http://\u2603.example/").host == "xn--n3h.example"
    assert parse_url("http://a\u3002b\uff0e\u00fc/").host == "a.b.xn--tda"  # IDNA dots


def test_duplicate_lines_are_fetched_once(
    engine: str, raw_server: RawServer, tmp_path: Path
) -> None:
    raw_server.route("*", echo)
    url = raw_server.url("/dup")
    spellings = [
        url,
        url,
        "  " + url + "  ",
        url + "#fragment",
        url.replace("http://", "HTTP://"),
        url.replace("/dup", "/./x/../dup"),
    ]
    run = fetch(engine, spellings, tmp_path)
    assert len(run.results) == 1 and run.results[0].ok
    assert run.summary.duplicates == len(spellings) - 1
    assert len(raw_server.requests) == 1
