"""URL parsing, normalisation, redirect resolution (fetchall.urls) and URL-list reading
(fetchall.urllists)."""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fetchall.errors import BadURLError, RedirectError, UsageError
from fetchall.urllists import STDIN_NAME, check_url_lists, read_url_lists
from fetchall.urls import (
    MAX_URL_LENGTH,
    BadLine,
    Target,
    UrlLine,
    parse_url,
    rebuild_target,
    resolve_redirect,
)

GOOD = [
    # (input, url, host, port, target)
    ("http://example.com", "http://example.com/", "example.com", 80, "/"),
    ("  HTTP://Example.COM:80/a\t", "http://example.com/a", "example.com", 80, "/a"),
    ("https://example.com:443/", "https://example.com/", "example.com", 443, "/"),
    ("https://example.com:8443/x", "https://example.com:8443/x", "example.com", 8443, "/x"),
    ("http://example.com:/x", "http://example.com/x", "example.com", 80, "/x"),
    ("http://h/a b?c d", "http://h/a%20b?c%20d", "h", 80, "/a%20b?c%20d"),
    ("http://h/ü?q=ü", "http://h/%C3%BC?q=%C3%BC", "h", 80, "/%C3%BC?q=%C3%BC"),
    ("http://h/%41%zz%", "http://h/%41%25zz%25", "h", 80, "/%41%25zz%25"),
    ("http://h/%0d%0a", "http://h/%0d%0a", "h", 80, "/%0d%0a"),
    ('http://h/<"x">{|}\\^`', "http://h/%3C%22x%22%3E%7B%7C%7D%5C%5E%60", "h", 80, None),
    ("http://h/a/./b/../c", "http://h/a/c", "h", 80, "/a/c"),
    ("http://h/a/b/..", "http://h/a/", "h", 80, "/a/"),
    ("http://h/../../x", "http://h/x", "h", 80, "/x"),
    ("http://h/%2e%2e/x", "http://h/%2e%2e/x", "h", 80, "/%2e%2e/x"),
    ("http://h/a#frag", "http://h/a", "h", 80, "/a"),
    ("http://h?q", "http://h/?q", "h", 80, "/?q"),
    ("http://h/x?", "http://h/x?", "h", 80, "/x?"),
    ("http://h#f", "http://h/", "h", 80, "/"),
    ("http://h/p?a=1&b=[2]", "http://h/p?a=1&b=[2]", "h", 80, "/p?a=1&b=[2]"),
    ("http://127.0.0.1:8080/x", "http://127.0.0.1:8080/x", "127.0.0.1", 8080, "/x"),
    ("http://[::1]:8080/x", "http://[::1]:8080/x", "::1", 8080, "/x"),
    ("http://[::1]/", "http://[::1]/", "::1", 80, "/"),
    ("http://[2001:DB8:0:0::1]/", "http://[2001:db8::1]/", "2001:db8::1", 80, "/"),
    ("http://bücher.example/", "http://xn--bcher-kva.example/", "xn--bcher-kva.example", 80, "/"),
    ("http://B%C3%BCcher.example/", "http://xn--bcher-kva.example/", None, 80, "/"),
    ("http://my_host.example/", "http://my_host.example/", "my_host.example", 80, "/"),
    ("http://example.com./", "http://example.com./", "example.com.", 80, "/"),
    ("http://1.2.3.4.example/", "http://1.2.3.4.example/", "1.2.3.4.example", 80, "/"),
    ("http://h/@x:y", "http://h/@x:y", "h", 80, "/@x:y"),
]


@pytest.mark.parametrize(("text", "url", "host", "port", "target"), GOOD)
def test_parse_good(text: str, url: str, host: str | None, port: int, target: str | None) -> None:
    t = parse_url(text)
    assert t.url == url
    if host is not None:
        assert t.host == host
    assert t.port == port
    if target is not None:
        assert t.target == target
    assert parse_url(t.url) == t  # normalisation is a fixed point


BAD = [
    ("example.com/x", "not a URL"),
    ("", "not a URL"),
    ("://h/", "not a URL"),
    ("mailto:a@b", "not a URL"),
    ("ht tp://h/", "not a URL"),
    ("ftp://h/x", "unsupported scheme 'ftp'"),
    ("FTP://h/x", "unsupported scheme 'FTP'"),
    ("file:///etc/passwd", "unsupported scheme 'file'"),
    ("http://", "missing host"),
    ("http:///x", "missing host"),
    ("http://:80/", "missing host"),
    ("http://h:0/", "bad port '0'"),
    ("http://h:99999/", "bad port '99999'"),
    ("http://h:65536/", "bad port '65536'"),
    ("http://h:abc/", "bad port 'abc'"),
    ("http://h:-1/", "bad port '-1'"),
    ("http://h:８０/", "bad port '８０'"),
    ("http://h:1:2/", "needs [brackets]"),
    ("http://h/a\r\nX-Evil: 1", "control character in URL"),
    ("http://h/a\x00b", "control character in URL"),
    ("http://h/a\x7fb", "control character in URL"),
    ("http://h\nx/", "control character in URL"),
    ("http://user:pw@h/", "credentials in URL are not supported"),
    ("http://user@h/", "credentials in URL are not supported"),
    ("http://a%0d%0ab/", "bad host 'a%0d%0ab': encoded control character"),
    ("http://a%ffb/", "bad host 'a%ffb': invalid percent-encoding"),
    ("http://exa mple.com/", "bad host 'exa mple.com'"),
    ("http://a..b/", "bad host 'a..b'"),
    ("http://a/b\\c/", None),  # backslash lands in the path, encoded: not an error
    ("http://h!x/", "bad host 'h!x'"),
    ("http://" + "a" * 64 + ".com/", "bad host"),
    ("http://127.1/", "bad host '127.1': not a valid IPv4 address"),
    ("http://010.0.0.1/", "not a valid IPv4 address"),
    ("http://256.0.0.1/", "not a valid IPv4 address"),
    ("http://0x7f.0.0.1/", "not a valid IPv4 address"),
    ("http://example.123/", "not a valid IPv4 address"),
    ("http://::1/", "bad host '::1': an IPv6 address needs [brackets]"),
    ("http://[::1/", "bad IPv6 literal '[::1': missing ']'"),
    ("http://[::g]/", "bad IPv6 literal '::g'"),
    ("http://[1.2.3.4]/", "bad IPv6 literal '1.2.3.4'"),
    ("http://[::1]x/", "bad IPv6 literal '[::1]x': junk after ']'"),
    ("http://[fe80::1%25eth0]/", "zone ids are not supported"),
    ("http://bü cher.example/", "bad host"),
    ("http://xn--.example/", None),
    ("http://" + "a" * MAX_URL_LENGTH, "URL too long"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_parse_bad(text: str, message: str | None) -> None:
    if message is None:
        # Not every odd input is an error; it must still come out safe.
        try:
            t = parse_url(text)
        except BadURLError:
            return
        assert " " not in t.target and "\\" not in t.target
        return
    with pytest.raises(BadURLError) as info:
        parse_url(text)
    assert message in str(info.value)
    assert "\n" not in str(info.value) and "\r" not in str(info.value)
    assert info.value.error_type == "bad_url"


def test_target_properties() -> None:
    plain = parse_url("http://Example.com/x?y")
    assert (plain.host_header, plain.host_key, plain.tls) == (
        "example.com",
        "example.com:80",
        False,
    )
    tls = parse_url("https://example.com:8443/")
    assert (tls.host_header, tls.host_key, tls.tls) == (
        "example.com:8443",
        "example.com:8443",
        True,
    )
    v6 = parse_url("https://[::1]/")
    assert (v6.host_header, v6.host_key, v6.scheme) == ("[::1]", "[::1]:443", "https")
    v6p = parse_url("http://[::1]:8080/")
    assert v6p.host_header == "[::1]:8080"


def test_host_key_is_the_same_given_or_derived() -> None:
    """`parse_url` and `rebuild_target` pass the host key in; a `Target` made without it
    derives the same one; it takes no part in equality (it follows from host and port)."""
    for url in ("http://a.test/", "https://a.test:8443/x", "http://[::1]:8080/", "https://[::1]/"):
        parsed = parse_url(url)
        bare = Target(parsed.url, parsed.scheme, parsed.host, parsed.port, parsed.target)
        rebuilt = rebuild_target(parsed.url, parsed.host_key)
        assert bare.host_key == parsed.host_key == rebuilt.host_key
        assert bare == parsed == rebuilt and hash(bare) == hash(parsed)


def test_a_bad_host_is_refused_every_time() -> None:
    """Hosts are cached once validated; a bad one is never cached, so it fails again."""
    for _ in range(3):
        with pytest.raises(BadURLError, match="bad host"):
            parse_url("http://exa mple.test/")
    assert parse_url("http://EXAMPLE.test/").host == parse_url("http://example.test/").host


def test_target_is_frozen() -> None:
    t = parse_url("http://h/")
    with pytest.raises(AttributeError):
        t.url = "x"  # type: ignore[misc]


def test_request_target_is_safe_on_a_request_line() -> None:
    t = parse_url("http://h/ a\u2028b\u00a0c?d e\u0085")
    assert t.target.isascii()
    assert all(0x20 < ord(ch) < 0x7F for ch in t.target)


@given(st.text(max_size=40), st.text(max_size=20))
def test_parse_is_idempotent_and_target_is_printable(path: str, query: str) -> None:
    try:
        t = parse_url(f"http://example.com/{path}?{query}")
    except BadURLError:
        return  # only raw control characters can fail here
    assert parse_url(t.url) == t
    assert all(0x20 < ord(ch) < 0x7F for ch in t.target)
    assert t.target.startswith("/")


# ------------------------------------------------------------------------------ redirects

BASE = parse_url("http://h.example/a/b/c?x=1")

REDIRECTS = [
    ("d", "http://h.example/a/b/d"),
    ("./d", "http://h.example/a/b/d"),
    ("../d", "http://h.example/a/d"),
    ("../../../../d", "http://h.example/d"),
    ("./", "http://h.example/a/b/"),
    ("/abs?q", "http://h.example/abs?q"),
    ("?y=2", "http://h.example/a/b/c?y=2"),
    ("#frag", "http://h.example/a/b/c?x=1"),
    ("//other.example/x", "http://other.example/x"),
    ("https://other.example:8443/p", "https://other.example:8443/p"),
    ("HTTPS://Other.Example/", "https://other.example/"),
    ("http:d", "http://h.example/a/b/d"),
    ("https:other.example/x", "https://other.example/x"),
    ("  /spaced  ", "http://h.example/spaced"),
    ("/a b", "http://h.example/a%20b"),
    ("d/../e", "http://h.example/a/b/e"),
]


@pytest.mark.parametrize(("location", "expected"), REDIRECTS)
def test_resolve_redirect(location: str, expected: str) -> None:
    assert resolve_redirect(BASE, location).url == expected


def test_redirect_keeps_port_and_ipv6() -> None:
    base = parse_url("http://[::1]:8080/dir/page")
    assert resolve_redirect(base, "next").url == "http://[::1]:8080/dir/next"
    assert resolve_redirect(base, "//[::1]:9/x").port == 9


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ("file:///etc/passwd", "refusing redirect to unsupported scheme 'file'"),
        ("ftp://h/x", "refusing redirect to unsupported scheme 'ftp'"),
        ("javascript:alert(1)", "refusing redirect to unsupported scheme 'javascript'"),
        ("data:text/html,hi", "refusing redirect to unsupported scheme 'data'"),
        ("", "empty Location"),
        ("http://", "missing host"),
        ("http://u:p@h/", "credentials"),
        ("http://h:99999/", "bad port"),
        ("//h:x/", "bad port"),
        ("/a\r\nX: y", "control character"),
    ],
)
def test_resolve_redirect_rejects(location: str, message: str) -> None:
    with pytest.raises(RedirectError) as info:
        resolve_redirect(BASE, location)
    assert message in str(info.value)
    assert info.value.error_type == "redirect"


# ------------------------------------------------------------------------------ URL lists


def _write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_read_url_lists_comments_blank_and_line_numbers(tmp_path: Path) -> None:
    listing = _write(
        tmp_path / "a.txt",
        "# comment\n\n  http://h/1  \nftp://x/\n   # indented comment\r\nhttp://h/2",
    )
    entries = list(read_url_lists([listing]))
    assert [type(e) for e in entries] == [UrlLine, BadLine, UrlLine]
    first, bad, last = entries
    assert isinstance(first, UrlLine) and isinstance(bad, BadLine) and isinstance(last, UrlLine)
    assert (first.target.url, first.source, first.lineno, first.text) == (
        "http://h/1",
        listing,
        3,
        "http://h/1",
    )
    assert (bad.text, bad.lineno, str(bad.error)) == ("ftp://x/", 4, "unsupported scheme 'ftp'")
    assert (last.target.url, last.lineno) == ("http://h/2", 6)


def test_read_url_lists_several_files_and_stdin_in_order(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.txt", "http://a/1\nhttp://a/2\n")
    b = _write(tmp_path / "b.txt", "http://b/1\n")
    stdin = io.StringIO("# c\nhttp://s/1\nnot a url\n")
    entries = list(read_url_lists([a, "-", b], stdin=stdin))
    assert [(e.source, e.lineno) for e in entries] == [
        (a, 1),
        (a, 2),
        (STDIN_NAME, 2),
        (STDIN_NAME, 3),
        (b, 1),
    ]
    bad = entries[3]
    assert isinstance(bad, BadLine) and str(bad.error) == "not a URL"


def test_read_url_lists_is_lazy_on_a_stream() -> None:
    reads: list[int] = []
    inner = io.StringIO("http://h/first\n" + "http://h/x\n" * 100_000)

    class Counting:
        def readline(self, limit: int = -1) -> str:
            reads.append(1)
            return inner.readline(limit)

    entries = read_url_lists(["-"], stdin=Counting())  # type: ignore[arg-type]
    first = next(entries)
    assert isinstance(first, UrlLine) and first.target.url == "http://h/first"
    assert len(reads) == 1
    entries.close()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
@pytest.mark.timeout(10)
def test_read_url_lists_is_lazy_on_a_file(tmp_path: Path) -> None:
    """The first entry arrives while the writer still holds the rest back (a FIFO)."""
    fifo = tmp_path / "urls.fifo"
    os.mkfifo(fifo)
    more = threading.Event()

    def writer() -> None:
        with open(fifo, "w") as out:
            out.write("http://h/first\n")
            out.flush()
            more.wait(5)
            out.write("http://h/second\n")

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        entries = read_url_lists([str(fifo)])
        first = next(entries)
        assert isinstance(first, UrlLine) and first.target.url == "http://h/first"
        assert not more.is_set()
    finally:
        more.set()
    assert [e.lineno for e in entries] == [2]
    thread.join()


def test_undecodable_bytes_are_replaced(tmp_path: Path) -> None:
    path = tmp_path / "bin.txt"
    path.write_bytes(b"\xef\xbb\xbfhttp://h/caf\xe9\nhttp://b\xffad.example/\n")
    good, bad = list(read_url_lists([str(path)]))
    assert isinstance(good, UrlLine)
    assert good.target.url == "http://h/caf%EF%BF%BD"  # BOM skipped, byte replaced then encoded
    assert isinstance(bad, BadLine) and "bad host" in str(bad.error)


def test_bad_line_text_is_truncated_and_overlong_lines_bounded(tmp_path: Path) -> None:
    path = tmp_path / "long.txt"
    path.write_text(
        "x" * 5000 + "\n" + "http://h/" + "a" * (MAX_URL_LENGTH + 5000) + "\nhttp://h/ok\n"
    )
    short, huge, ok = list(read_url_lists([str(path)]))
    assert isinstance(short, BadLine) and len(short.text) == 200
    assert isinstance(huge, BadLine) and "too long" in str(huge.error) and huge.lineno == 2
    assert isinstance(ok, UrlLine) and ok.lineno == 3


def test_url_line_text_defaults_to_url() -> None:
    line = UrlLine(parse_url("http://H/"), "callback", 0)
    assert line.text == "http://h/"


def test_check_url_lists(tmp_path: Path) -> None:
    good = _write(tmp_path / "ok.txt", "")
    check_url_lists([good, "-"])
    with pytest.raises(UsageError, match=r"cannot read URL list .*missing\.txt: no such file"):
        check_url_lists([good, str(tmp_path / "missing.txt")])
    with pytest.raises(UsageError, match="is a directory"):
        check_url_lists([str(tmp_path)])


def test_read_missing_file_is_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read URL list"):
        list(read_url_lists([str(tmp_path / "nope.txt")]))


def test_target_constructor_fields() -> None:
    t = Target("http://h/", "http", "h", 80, "/")
    assert t == parse_url("http://h")
