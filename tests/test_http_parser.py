"""Tests for the incremental HTTP/1.x response parser (fetchall.http.parser).

Every case of the byte table is fed whole, one byte at a time, and (for valid responses) whole
followed by trailing garbage; hypothesis checks split-invariance and that random input only ever
raises the documented errors.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fetchall.errors import ConnectionLostError, ProtocolError
from fetchall.http.fields import parse_fields, parse_section
from fetchall.http.headers import Headers
from fetchall.http.parser import Data, End, Event, Head, ResponseParser

GARBAGE = b"HTTP/1.1 999 garbage\r\n\r\nxyz"


def head(
    status: int = 200,
    headers: Iterable[tuple[str, str]] = (),
    reason: str = "OK",
    version: str = "HTTP/1.1",
) -> Head:
    return Head(status, reason, version, Headers(headers))


def normalise(events: list[Event]) -> list[Event]:
    """Merge consecutive Data events (and drop empty ones)."""
    out: list[Event] = []
    for event in events:
        if isinstance(event, Data):
            if not event.data:
                continue
            if out and isinstance(out[-1], Data):
                out[-1] = Data(out[-1].data + event.data)
                continue
        out.append(event)
    return out


def parse(pieces: Iterable[bytes], method: str = "GET", **kwargs: int) -> list[Event]:
    parser = ResponseParser(method=method, **kwargs)
    events: list[Event] = []
    for piece in pieces:
        events += parser.feed(piece)
    events += parser.feed(b"")
    return normalise(events)


def bytewise(raw: bytes) -> list[bytes]:
    return [raw[i : i + 1] for i in range(len(raw))]


@dataclass
class Case:
    id: str
    raw: bytes
    expect: list[Event] | type[Exception]
    method: str = "GET"
    until_close: bool = False  # framed by EOF: trailing garbage becomes body
    kwargs: dict[str, int] = field(default_factory=dict)


CL5 = [("Content-Length", "5")]

CASES = [
    # --- basics ---
    Case(
        "content-length",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        [head(headers=CL5), Data(b"hello"), End()],
    ),
    Case(
        "http-1.0",
        b"HTTP/1.0 404 Not Found\r\nContent-Length: 2\r\n\r\nno",
        [head(404, [("Content-Length", "2")], "Not Found", "HTTP/1.0"), Data(b"no"), End()],
    ),
    Case(
        "content-length-zero",
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        [head(headers=[("content-length", "0")]), End()],
    ),
    Case(
        "until-close",
        b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\nsome body",
        [head(headers=[("server", "x")], version="HTTP/1.0"), Data(b"some body"), End()],
        until_close=True,
    ),
    Case(
        "until-close-empty",
        b"HTTP/1.1 200 OK\r\n\r\n",
        [head(), End()],
        until_close=True,
    ),
    Case(
        "no-reason",
        b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
        [head(headers=[("content-length", "0")], reason=""), End()],
    ),
    Case(
        "empty-reason",
        b"HTTP/1.1 201 \r\nContent-Length: 0\r\n\r\n",
        [head(201, [("content-length", "0")], reason=""), End()],
    ),
    Case(
        "reason-latin1",
        b"HTTP/1.1 200 Tr\xe8s bien\r\nContent-Length: 0\r\n\r\n",
        [head(headers=[("content-length", "0")], reason="Très bien"), End()],
    ),
    Case(
        "lf-only",
        b"HTTP/1.1 200 OK\nContent-Length: 3\nX: y\n\nabc",
        [head(headers=[("content-length", "3"), ("x", "y")]), Data(b"abc"), End()],
    ),
    Case(
        "mixed-line-endings",
        b"HTTP/1.1 200 OK\r\nA: 1\nB: 2\r\n\nxyz",
        [head(headers=[("a", "1"), ("b", "2")]), Data(b"xyz"), End()],
        until_close=True,
    ),
    Case(
        "ows-stripped",
        b"HTTP/1.1 200 OK\r\nA:   spaced \t \r\nB:\r\nContent-Length: 0\r\n\r\n",
        [head(headers=[("a", "spaced"), ("b", ""), ("content-length", "0")]), End()],
    ),
    Case(
        "non-ascii-value",
        b"HTTP/1.1 200 OK\r\nX-Name: caf\xe9 \xff\r\nContent-Length: 0\r\n\r\n",
        [head(headers=[("x-name", "café ÿ"), ("content-length", "0")]), End()],
    ),
    Case(
        "obs-fold",
        b"HTTP/1.1 200 OK\r\nX-Long: one\r\n   two\r\n\tthree\r\nContent-Length: 0\r\n\r\n",
        [head(headers=[("x-long", "one two three"), ("content-length", "0")]), End()],
    ),
    # --- interim responses ---
    Case(
        "100-and-103-before-200",
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        [head(headers=[("content-length", "2")]), Data(b"ok"), End()],
    ),
    Case(
        "16-interim-ok",
        b"HTTP/1.1 102 Processing\r\n\r\n" * 16 + b"HTTP/1.1 204 No Content\r\n\r\n",
        [head(204, reason="No Content"), End()],
    ),
    Case("17-interim", b"HTTP/1.1 100 Continue\r\n\r\n" * 17, ProtocolError),
    Case("101", b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n", ProtocolError),
    Case("interim-then-eof", b"HTTP/1.1 100 Continue\r\n\r\n", ProtocolError),
    # --- bodiless responses ---
    Case(
        "head-with-content-length",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
        [head(headers=CL5), End()],
        method="HEAD",
    ),
    Case(
        "head-with-chunked",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        [head(headers=[("transfer-encoding", "chunked")]), End()],
        method="head",
    ),
    Case(
        "204-bogus-content-length",
        b"HTTP/1.1 204 No Content\r\nContent-Length: bogus\r\n\r\n",
        [head(204, [("content-length", "bogus")], "No Content"), End()],
    ),
    Case(
        "304-bogus-content-length",
        b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5, 6\r\n\r\n",
        [head(304, [("content-length", "5, 6")], "Not Modified"), End()],
    ),
    # --- Content-Length rules ---
    Case(
        "equal-duplicate-content-length",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5, 005\r\n\r\nhello",
        [head(headers=[*CL5, ("content-length", "5, 005")]), Data(b"hello"), End()],
    ),
    Case(
        "18-digit-content-length",
        b"HTTP/1.1 200 OK\r\nContent-Length: 000000000000000002\r\n\r\nhi",
        [head(headers=[("content-length", "000000000000000002")]), Data(b"hi"), End()],
    ),
    Case("cl-plus", b"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello", ProtocolError),
    Case("cl-inner-space", b"HTTP/1.1 200 OK\r\nContent-Length: 5 5\r\n\r\nhello", ProtocolError),
    Case("cl-hex", b"HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\nhello", ProtocolError),
    Case("cl-negative", b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nhello", ProtocolError),
    Case("cl-empty", b"HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\nhello", ProtocolError),
    Case("cl-list-conflict", b"HTTP/1.1 200 OK\r\nContent-Length: 5,6\r\n\r\nhello", ProtocolError),
    Case(
        "cl-headers-conflict",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        ProtocolError,
    ),
    Case(
        "cl-19-digits",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000000000000\r\n\r\nx",
        ProtocolError,
    ),
    Case(
        "truncated-content-length",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello",
        ProtocolError,
    ),
    # --- chunked ---
    Case(
        "chunked",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        [head(headers=[("transfer-encoding", "chunked")]), Data(b"hello world"), End()],
    ),
    Case(
        "chunked-extensions-and-trailers",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n"
        b"5;name=value\r\nhello\r\n"
        b'A ; a=1;b="x"\r\n0123456789\r\n'
        b"0000000000000001\r\nZ\r\n"
        b"0;last\r\nX-Checksum: abc\r\nX-Folded: a\r\n b\r\n\r\n",
        [
            head(headers=[("transfer-encoding", "Chunked")]),
            Data(b"hello0123456789Z"),
            End(),
        ],
    ),
    Case(
        "chunked-lf-only",
        b"HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n3\nabc\n0\n\n",
        [head(headers=[("transfer-encoding", "chunked")]), Data(b"abc"), End()],
    ),
    Case(
        "te-and-cl-is-an-error",  # RFC 9112 §6.3: possible smuggling; aiohttp refuses it too
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2\r\nhi\r\n0\r\n\r\n",
        ProtocolError,
    ),
    Case(
        "te-gzip-chunked",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        ProtocolError,
    ),
    Case(
        "te-identity",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\nContent-Length: 1\r\n\r\nx",
        ProtocolError,
    ),
    Case(
        "te-chunked-not-final",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
        ProtocolError,
    ),
    Case(
        "te-chunked-twice",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        ProtocolError,
    ),
    Case(
        "chunk-size-zz",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        ProtocolError,
    ),
    Case(
        "chunk-size-negative",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\nx\r\n0\r\n\r\n",
        ProtocolError,
    ),
    Case(
        "chunk-size-0x",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x1\r\nx\r\n0\r\n\r\n",
        ProtocolError,
    ),
    Case(  # RFC 9112 §7.1.1: whitespace only before ";" (llhttp agrees)
        "chunk-size-trailing-space",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1 \r\nx\r\n0\r\n\r\n",
        ProtocolError,
    ),
    Case(  # an extension needs a name
        "chunk-ext-no-name",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;\r\nx\r\n0\r\n\r\n",
        ProtocolError,
    ),
    Case(
        "chunk-ext-bws-name-value",
        b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1 ; a = "q\\"" ;b\r\nx\r\n0\r\n\r\n',
        [head(headers=[("transfer-encoding", "chunked")]), Data(b"x"), End()],
    ),
    Case(
        "chunk-size-17-digits",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n00000000000000001\r\nx\r\n0\r\n\r\n",
        ProtocolError,
    ),
    Case(
        "chunk-size-empty",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
        ProtocolError,
    ),
    Case(
        "chunk-missing-crlf",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n0\r\n\r\n",
        ProtocolError,
    ),
    Case(
        "chunk-cr-without-lf",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\rX0\r\n\r\n",
        ProtocolError,
    ),
    Case(
        "chunk-line-too-long",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;" + b"e" * 5000 + b"\r\nx\r\n",
        ProtocolError,
    ),
    Case(
        "truncated-chunked-data",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
        ProtocolError,
    ),
    Case(
        "truncated-chunked-no-last-chunk",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
        ProtocolError,
    ),
    Case(
        "truncated-chunked-trailers",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: y\r\n",
        ProtocolError,
    ),
    Case(
        "bad-trailer",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\n",
        ProtocolError,
    ),
    # --- bad heads ---
    Case("eof-with-nothing", b"", ConnectionLostError),
    Case("eof-mid-status-line", b"HTTP/1.1 200 O", ProtocolError),
    Case("eof-mid-head", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", ProtocolError),
    Case("http-0.9", b"<html><body>hello</body></html>\n", ProtocolError),
    Case("http-2", b"HTTP/2 200\r\n\r\n", ProtocolError),
    Case("http-1.2", b"HTTP/1.2 200 OK\r\n\r\n", ProtocolError),
    Case("lowercase-http", b"http/1.1 200 OK\r\n\r\n", ProtocolError),
    Case("status-600", b"HTTP/1.1 600 Nope\r\n\r\n", ProtocolError),
    Case("status-099", b"HTTP/1.1 099 Nope\r\n\r\n", ProtocolError),
    Case("status-2-digits", b"HTTP/1.1 20 OK\r\n\r\n", ProtocolError),
    Case("status-4-digits", b"HTTP/1.1 2000 OK\r\n\r\n", ProtocolError),
    Case("status-no-space", b"HTTP/1.1 200OK\r\n\r\n", ProtocolError),
    Case("leading-blank-line", b"\r\nHTTP/1.1 200 OK\r\n\r\n", ProtocolError),
    Case("obs-fold-first", b"HTTP/1.1 200 OK\r\n folded: x\r\n\r\n", ProtocolError),
    Case(
        "space-before-colon",
        b"HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\nhello",
        ProtocolError,
    ),
    Case("no-colon", b"HTTP/1.1 200 OK\r\nNoColonHere\r\n\r\n", ProtocolError),
    Case("empty-name", b"HTTP/1.1 200 OK\r\n: value\r\n\r\n", ProtocolError),
    Case("nul-in-value", b"HTTP/1.1 200 OK\r\nX: a\x00b\r\n\r\n", ProtocolError),
    Case("cr-in-value", b"HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", ProtocolError),
    Case(
        "huge-head",
        b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n",
        ProtocolError,
    ),
    Case(
        "thousands-of-headers",
        b"HTTP/1.1 200 OK\r\n" + b"A: b\r\n" * 3000 + b"\r\n",
        ProtocolError,
    ),
    Case(
        "limits-configurable",
        b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nContent-Length: 0\r\n\r\n",
        ProtocolError,
        kwargs={"max_headers": 2},
    ),
    Case(
        "head-exactly-at-limit",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
        [head(headers=[("content-length", "1")]), Data(b"x"), End()],
        kwargs={"max_head_bytes": 38},
    ),
    Case(
        "head-one-over-limit",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
        ProtocolError,
        kwargs={"max_head_bytes": 37},
    ),
]

VALID = [c for c in CASES if isinstance(c.expect, list)]
FRAMED = [c for c in VALID if not c.until_close]


def check(case: Case, pieces: list[bytes]) -> None:
    if isinstance(case.expect, list):
        assert parse(pieces, case.method, **case.kwargs) == case.expect
    else:
        with pytest.raises(case.expect):
            parse(pieces, case.method, **case.kwargs)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_whole(case: Case) -> None:
    check(case, [case.raw])


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_byte_at_a_time(case: Case) -> None:
    check(case, bytewise(case.raw))


@pytest.mark.parametrize("case", VALID, ids=lambda c: c.id)
def test_trailing_garbage(case: Case) -> None:
    assert isinstance(case.expect, list)
    parser = ResponseParser(method=case.method, **case.kwargs)
    events = parser.feed(case.raw + GARBAGE)
    events += parser.feed(b"")
    expect = list(case.expect)
    if case.until_close:
        assert isinstance(expect[0], Head)
        body = b"".join(e.data for e in expect if isinstance(e, Data))
        expect = [expect[0], Data(body + GARBAGE), End()]
    else:
        assert parser.trailing_bytes == len(GARBAGE)
    assert normalise(events) == expect
    assert parser.done


@pytest.mark.parametrize("case", FRAMED, ids=lambda c: c.id)
def test_trailing_garbage_in_later_feed(case: Case) -> None:
    parser = ResponseParser(method=case.method, **case.kwargs)
    parser.feed(case.raw)
    assert parser.done
    assert parser.feed(GARBAGE) == []
    assert parser.feed(b"more") == []
    assert parser.feed(b"") == []
    assert parser.trailing_bytes == len(GARBAGE) + 4


# --- messages and behaviour details -----------------------------------------------------------


def error_of(raw: bytes, method: str = "GET") -> str:
    with pytest.raises((ProtocolError, ConnectionLostError)) as info:
        parse([raw], method)
    return str(info.value)


def test_error_messages() -> None:
    assert error_of(b"") == "server closed the connection without sending a response"
    assert error_of(b"HTTP/1.1 200 OK\r\n") == "incomplete response head"
    assert error_of(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello") == (
        "body shorter than Content-Length: got 5 of 10 bytes"
    )
    assert error_of(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel") == (
        "incomplete chunked body"
    )
    assert error_of(b"<html>").startswith("bad status line: b'<html>'")
    assert error_of(b"HTTP/1.1 2000 OK\r\n\r\n").startswith("bad status line:")
    assert error_of(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: zz\r\n\r\n").startswith(
        "unsupported transfer-encoding: "
    )
    assert error_of(b"HTTP/1.1 200 OK\r\nContent-Length: 5,6\r\n\r\n").startswith(
        "conflicting Content-Length"
    )
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert error_of(chunked + b"zz\r\n").startswith("bad chunk size: ")
    assert error_of(chunked + b"1\r\nxy\r\n") == "bad chunk terminator"
    assert error_of(b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70000).startswith("response head too large")
    assert error_of(b"HTTP/1.1 200 OK\r\n" + b"A: b\r\n" * 300 + b"\r\n").startswith(
        "too many headers"
    )


def test_bad_status_line_message_is_short() -> None:
    message = error_of(b"X" * 10000)
    assert message.startswith("bad status line: b'XXX")
    assert len(message) < 80


def test_http09_detected_before_any_newline() -> None:
    parser = ResponseParser()
    with pytest.raises(ProtocolError, match="bad status line"):
        parser.feed(b"<!doctype html>")


def test_huge_head_detected_incrementally() -> None:
    parser = ResponseParser(max_head_bytes=1000)
    parser.feed(b"HTTP/1.1 200 OK\r\nX: ")
    with pytest.raises(ProtocolError, match="too large"):
        parser.feed(b"a" * 10_000_000)


def test_huge_head_detected_byte_by_byte_without_newline() -> None:
    parser = ResponseParser(max_head_bytes=100)
    parser.feed(b"HTTP/1.1 200 OK\r\n")
    with pytest.raises(ProtocolError, match="too large"):
        for _ in range(101):
            parser.feed(b"a")


def test_interim_heads_have_separate_limits() -> None:
    interim = b"HTTP/1.1 103 Early Hints\r\n" + b"Link: <x>\r\n" * 200 + b"\r\n"
    raw = interim * 3 + b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    assert parse([raw]) == [head(headers=[("content-length", "0")]), End()]
    too_many = b"HTTP/1.1 103 Early Hints\r\n" + b"Link: <x>\r\n" * 300 + b"\r\n"
    with pytest.raises(ProtocolError, match="too many headers"):
        parse([too_many + raw])


def test_trailer_limits() -> None:
    raw = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" + b"T: v\r\n" * 300 + b"\r\n"
    )
    with pytest.raises(ProtocolError, match="too many trailer fields"):
        parse([raw])
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: " + b"v" * 70000
    with pytest.raises(ProtocolError, match="trailer section too large"):
        parse([raw])


def test_body_bytes_are_emitted_immediately() -> None:
    parser = ResponseParser()
    events = parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
    assert events == [head(headers=[("content-length", "10")]), Data(b"abc")]
    assert parser.feed(b"de") == [Data(b"de")]
    assert not parser.done
    assert parser.feed(b"fghijKLM") == [Data(b"fghij"), End()]
    assert parser.done
    assert parser.trailing_bytes == 3


def test_chunked_data_is_emitted_before_the_chunk_ends() -> None:
    parser = ResponseParser()
    parser.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert parser.feed(b"a\r\n01234") == [Data(b"01234")]
    assert parser.feed(b"56789\r\n3\r\nabc\r\n") == [Data(b"56789abc")]
    assert parser.feed(b"0\r\n\r\n") == [End()]


def test_one_data_event_per_feed() -> None:
    chunks = b"".join(b"1\r\n%c\r\n" % c for c in b"abcdefgh")
    parser = ResponseParser()
    events = parser.feed(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"
    )
    assert events[1:] == [Data(b"abcdefgh"), End()]


def test_large_body_is_not_copied_when_fed_alone() -> None:
    parser = ResponseParser()
    parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n")
    piece = b"x" * 1000000
    events = parser.feed(piece)
    assert isinstance(events[0], Data)
    assert events[0].data is piece


def test_parser_refuses_to_continue_after_an_error() -> None:
    parser = ResponseParser()
    with pytest.raises(ProtocolError):
        parser.feed(b"garbage\r\n")
    with pytest.raises(ProtocolError):
        parser.feed(b"HTTP/1.1 200 OK\r\n\r\n")


def test_done_and_eof_after_end() -> None:
    parser = ResponseParser()
    assert not parser.done
    parser.feed(b"HTTP/1.1 204 No Content\r\n\r\n")
    assert parser.done
    assert parser.feed(b"") == []
    assert parser.trailing_bytes == 0


def test_head_header_values() -> None:
    [h, _] = parse([b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\n\r\n"], "HEAD")
    assert isinstance(h, Head)
    assert h.headers.get_all("Set-Cookie") == ["a=1", "b=2"]


def test_headers_lookups_with_and_without_repeated_names() -> None:
    headers = Headers([("A", "1"), ("B", "2"), ("a", "3"), ("C", "")])
    assert headers.get("a") == "1, 3" and headers.get_all("A") == ["1", "3"]
    assert headers.get("b") == "2" and headers.get_all("b") == ["2"]
    assert headers.get("c") == "" and headers.get_all("c") == [""]
    assert headers.get("d") is None and headers.get("d", "x") == "x" and headers.get_all("d") == []
    assert "A" in headers and "d" not in headers and 1 not in headers
    single = Headers([("Content-Type", "text/html")])
    assert single.get("content-type") == "text/html" and "CONTENT-TYPE" in single
    assert Headers().get("x") is None and "x" not in Headers()
    values = headers.get_all("a")
    values.append("changed")  # a copy: the headers are immutable
    assert headers.get_all("a") == ["1", "3"]


# --- property tests ---------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(VALID), st.data())
def test_random_splits_give_identical_events(case: Case, data: st.DataObject) -> None:
    raw = case.raw
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=12)))
    pieces = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
    pieces = [p for p in pieces if p]  # b"" would mean EOF
    assert parse(pieces, case.method, **case.kwargs) == case.expect


ALLOWED = (ProtocolError, ConnectionLostError)


def fuzz(pieces: list[bytes], method: str) -> None:
    with contextlib.suppress(*ALLOWED):
        parse(pieces, method)


PREFIXES = [
    b"",
    b"HTTP/1.1 200 OK\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 ",
]


@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from(PREFIXES),
    st.lists(st.binary(max_size=40), max_size=6),
    st.sampled_from(["GET", "HEAD"]),
)
def test_random_bytes_only_raise_protocol_errors(
    prefix: bytes, pieces: list[bytes], method: str
) -> None:
    fuzz([prefix, *pieces] if prefix else pieces, method)


ALPHABET = b"HTP/1.0 2045\r\n:;aZ-\t,chunkedContent-Length\x00\xff"


@settings(max_examples=500, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=30), max_size=8), st.data())
def test_random_protocolish_bytes(pieces: list[bytes], data: st.DataObject) -> None:
    made = [bytes(ALPHABET[b % len(ALPHABET)] for b in p) for p in pieces]
    fuzz([b"HTTP/1.1 200 OK\r\n", *made], data.draw(st.sampled_from(["GET", "HEAD"])))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(VALID), st.data())
def test_mutated_valid_responses(case: Case, data: st.DataObject) -> None:
    raw = bytearray(case.raw)
    if not raw:
        return
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    fuzz([bytes(raw)], case.method)


_NAME_BYTES = st.sampled_from([b"a", b"Z", b"-", b"_", b"!", b"~", b"1", b" ", b""])
_VALUE_BYTES = st.sampled_from(
    [b" ", b"\t", b"a", b"\xe9", b"\xff", b"(", b":", b"\x7f", b"\r", b"\x00"]
)


@st.composite
def _field_lines(draw: st.DrawFn) -> bytes:
    lines = []
    for _ in range(draw(st.integers(1, 5))):
        name = b"".join(draw(st.lists(_NAME_BYTES, max_size=4)))
        colon = b":" if draw(st.integers(0, 30)) else b""
        value = b"".join(draw(st.lists(_VALUE_BYTES, max_size=6)))
        lines.append(name + colon + value + (b"\r" if draw(st.booleans()) else b""))
    return b"\n".join(lines)


@settings(max_examples=400, deadline=None)
@given(_field_lines())
def test_fast_field_section_agrees_with_the_line_by_line_parser(section: bytes) -> None:
    """Where the one-regex fast path accepts a head, it gives exactly the careful path's fields,
    names lower-cased (a block never holds a blank line: the parser splits at the first one)."""
    block = b"HTTP/1.1 200 OK\r\n" + section
    if b"\n\n" in block or b"\n\r\n" in block:
        return
    fast = parse_section(block, block.find(b"\n") + 1)
    if fast is None:
        return
    assert fast == [(k.lower(), v) for k, v in parse_fields(block.split(b"\n"), 1)]


@pytest.mark.parametrize(
    "first",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
        b"HTTP/1.1 204 No Content\r\n\r\n",
    ],
    ids=["length", "chunked", "bodiless"],
)
def test_take_trailing_hands_over_the_next_response(first: bytes) -> None:
    """A pipelining client gets the bytes after the end, once, and can parse them as the
    next response; the first parser never looks at them."""
    second = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"
    parser = ResponseParser()
    events = parser.feed(first + second)
    assert isinstance(events[-1], End) and parser.trailing_bytes == len(second)
    assert parser.take_trailing() == second and parser.take_trailing() == b""
    nxt = ResponseParser()
    assert [e for e in nxt.feed(second) if isinstance(e, Data)] == [Data(b"abc")]
    assert nxt.done and nxt.take_trailing() == b""


def test_take_trailing_keeps_only_the_completing_feed() -> None:
    parser = ResponseParser()
    parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\no")
    parser.feed(b"kX")
    parser.feed(b"YZ")  # after the end: counted, not kept
    assert parser.trailing_bytes == 3 and parser.take_trailing() == b"X"
