"""Hostile servers, part 1: HTTP/1.x framing and time — identical results on every engine.

Each case is a raw response (`hostile.Case`) with the body every engine must save, or the error
type (and a word of the message) every engine must report — never a file for an error. A whole
table is fetched in one run per engine.

Decided behaviours (README "HTTP behaviour every engine shares"):
- Bytes after a complete Content-Length or chunked body (or after a bodiless response) are
  discarded and the connection is not reused, whether they arrive with the body or later: RFC
  9112 §6.3 lets a user agent discard them and forbids treating them as a separate response;
  curl does the same ("Excess found ... ignored", connection closed).
- Content-Length is digits only; repeated values (fields or a list) must agree.
- A connection closed (FIN) inside the head, or after interim responses only, is a `protocol`
  error; closed before any byte, or reset (RST) at any point, is `connection_lost`; silence or
  a drip past ``--timeout`` is `timeout`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hostile import Case, bad, check_table, ok, then
from rawserver import RawConn, RawServer

pytestmark = pytest.mark.timeout(60)

OK_HEAD = b"HTTP/1.1 200 OK\r\n"
CHUNKED = OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\n"


def cl(value: bytes, body: bytes = b"hello") -> bytes:
    return OK_HEAD + b"Content-Length: " + value + b"\r\n\r\n" + body


def headers(count: int) -> bytes:
    return b"X-H: 1\r\n" * count  # short lines: the count, not the head size, is the limit


FRAMING: dict[str, Case] = {
    # -- truncated bodies (the server closes early) -------------------------------------------
    "cut-cl-after-pause": bad(then(cl(b"10", b"hel"), 0.1, b"lo"), "protocol", "content-length"),
    "cut-cl-empty-body": bad(cl(b"10", b""), "protocol", "content-length"),
    "cut-chunk-size-line": bad(CHUNKED + b"5\r\nhello\r\n1", "protocol", "chunk"),
    "cut-before-last-chunk": bad(CHUNKED + b"5\r\nhello\r\n", "protocol", "chunk"),
    "cut-chunk-crlf": bad(CHUNKED + b"5\r\nhello\r", "protocol", "chunk"),
    "cut-in-trailers": bad(CHUNKED + b"5\r\nhello\r\n0\r\nX-T: 1\r\n", "protocol", "chunk"),
    "cut-after-pause-chunked": bad(
        then(CHUNKED + b"5\r\nhel", 0.1, b"lo\r\n"), "protocol", "chunk"
    ),
    # -- bytes after the end of the body: discarded ------------------------------------------
    "excess-same-packet": ok(cl(b"2", b"okEXCESS"), b"ok"),
    "excess-is-a-response": ok(
        cl(b"2", b"ok" + cl(b"6", b"POISON") + b"HTTP/1.1 200 OK\r\n"), b"ok"
    ),
    "excess-after-chunked": ok(CHUNKED + b"2\r\nok\r\n0\r\n\r\nEXCESS\r\n\r\n", b"ok"),
    "excess-after-chunked-pause": ok(
        then(CHUNKED + b"2\r\nok\r\n0\r\n\r\n", 0.1, b"EXCESS"), b"ok"
    ),
    "excess-after-204": ok(b"HTTP/1.1 204 No Content\r\n\r\nEXCESS", b""),
    "excess-after-empty-cl": ok(cl(b"0", b"EXCESS"), b""),
    # -- Content-Length: digits only, duplicates must agree ----------------------------------
    "cl-plus": bad(cl(b"+5"), "protocol", "content-length"),
    "cl-minus": bad(cl(b"-1"), "protocol", "content-length"),
    "cl-two-numbers": bad(cl(b"5 5"), "protocol", "content-length"),
    "cl-hex": bad(cl(b"0x10", b"0123456789abcdef"), "protocol", "content-length"),
    "cl-list-differs": bad(cl(b"5,6"), "protocol", "content-length"),
    "cl-30-digits": bad(cl(b"1" * 30), "protocol", "content-length"),
    "cl-empty": bad(cl(b""), "protocol", "content-length"),
    "cl-decimal": bad(cl(b"5.0"), "protocol", "content-length"),
    "cl-fields-differ": bad(
        OK_HEAD + b"Content-Length: 5\r\nContent-Length: 4\r\n\r\nhello",
        "protocol",
        "content-length",
    ),
    "cl-fields-agree": ok(
        OK_HEAD + b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello", b"hello"
    ),
    "cl-list-agrees": ok(cl(b"5, 5"), b"hello"),
    "cl-leading-zeros": ok(cl(b"005"), b"hello"),
    "cl-whitespace-around": ok(OK_HEAD + b"Content-Length:  \t5 \t\r\n\r\nhello", b"hello"),
    # -- Transfer-Encoding ---------------------------------------------------------------------
    "te-and-cl-after": bad(
        OK_HEAD + b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        "protocol",
        "transfer-encoding",
    ),
    "te-unknown": bad(
        OK_HEAD + b"Transfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        "protocol",
        "transfer-encoding",
    ),
    "te-chunked-uppercase": ok(
        OK_HEAD + b"Transfer-Encoding: Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", b"abc"
    ),
    # -- chunk sizes, extensions, trailers -----------------------------------------------------
    "chunk-negative": bad(CHUNKED + b"-1\r\nhello\r\n0\r\n\r\n", "protocol", "chunk"),
    "chunk-0x-prefix": bad(CHUNKED + b"0x5\r\nhello\r\n0\r\n\r\n", "protocol", "chunk"),
    "chunk-empty-size": bad(CHUNKED + b"\r\nhello\r\n0\r\n\r\n", "protocol", "chunk"),
    "chunk-17-hex-digits": bad(
        CHUNKED + b"1" + b"0" * 16 + b"\r\nhello\r\n0\r\n\r\n", "protocol", "chunk"
    ),
    "chunk-huge-then-close": bad(CHUNKED + b"ffffffffffffff\r\nhello", "protocol", "chunk"),
    "chunk-data-longer": bad(CHUNKED + b"3\r\nhello\r\n0\r\n\r\n", "protocol", "chunk"),
    "chunk-ext-quoted": ok(CHUNKED + b'5;a="b;c";d\r\nhello\r\n0;e=f\r\n\r\n', b"hello"),
    "chunk-ext-bws": ok(CHUNKED + b"5 ;a=b\r\nhello\r\n0\r\n\r\n", b"hello"),
    # RFC 9112 §7.1.1 allows whitespace only before ";", and an extension needs a name: llhttp
    # rejects these too (lenient chunk lines are a request-smuggling primitive, §11.2)
    "chunk-size-trailing-space": bad(CHUNKED + b"5 \r\nhello\r\n0\r\n\r\n", "protocol", "chunk"),
    "chunk-size-trailing-tab": bad(CHUNKED + b"5\t\r\nhello\r\n0\r\n\r\n", "protocol", "chunk"),
    "chunk-ext-no-name": bad(CHUNKED + b"5;\r\nhello\r\n0\r\n\r\n", "protocol", "chunk"),
    "chunk-ext-space-no-name": bad(CHUNKED + b"5; \r\nhello\r\n0\r\n\r\n", "protocol", "chunk"),
    "chunk-ext-no-value": bad(CHUNKED + b"5;a=\r\nhello\r\n0\r\n\r\n", "protocol", "chunk"),
    "chunk-ext-open-quote": bad(CHUNKED + b'5;a="b\r\nhello\r\n0\r\n\r\n', "protocol", "chunk"),
    "chunk-last-trailing-space": bad(CHUNKED + b"5\r\nhello\r\n0 \r\n\r\n", "protocol", "chunk"),
    "chunk-ext-huge": bad(
        CHUNKED + b"5;" + b"a" * 70000 + b"\r\nhello\r\n0\r\n\r\n", "protocol", "chunk size line"
    ),
    "chunk-many-trailers": ok(
        CHUNKED + b"5\r\nhello\r\n0\r\nX-A: 1\r\nX-B: 2\r\nServer-Timing: x\r\n\r\n", b"hello"
    ),
    "chunk-leading-zeros": ok(CHUNKED + b"0005\r\nhello\r\n000\r\n\r\n", b"hello"),
    # -- status line ---------------------------------------------------------------------------
    "status-no-reason": ok(b"HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok", b"ok"),
    "status-empty-reason": ok(b"HTTP/1.1 200 \r\nContent-Length: 2\r\n\r\nok", b"ok"),
    "status-utf8-reason": ok(b"HTTP/1.1 200 \xc3\xa7a va\r\nContent-Length: 2\r\n\r\nok", b"ok"),
    "status-600": bad(b"HTTP/1.1 600 Odd\r\nContent-Length: 2\r\n\r\nok", "protocol", "status"),
    "status-two-digits": bad(
        b"HTTP/1.1 20 OK\r\nContent-Length: 2\r\n\r\nok", "protocol", "status"
    ),
    "status-http2": bad(b"HTTP/2 200 OK\r\nContent-Length: 2\r\n\r\nok", "protocol", "status"),
    "status-lowercase": bad(
        b"http/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", "protocol", "status"
    ),
    "status-http09": bad(b"<html>hello</html>", "protocol", "status"),
    "status-only-then-close": bad(b"HTTP/1.1 200 OK\r\n", "protocol", "head"),
    "status-101": bad(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n", "protocol", "101"
    ),
    # -- interim 1xx responses: skipped ---------------------------------------------------------
    "interim-several": ok(
        b"HTTP/1.1 100 Continue\r\n\r\n"
        + b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n" * 5
        + b"HTTP/1.1 102 Processing\r\n\r\n"
        + cl(b"2", b"ok"),
        b"ok",
    ),
    "interim-then-pause": ok(then(b"HTTP/1.1 100 Continue\r\n\r\n", 0.1, cl(b"2", b"ok")), b"ok"),
    "interim-only-then-close": bad(b"HTTP/1.1 100 Continue\r\n\r\n", "protocol", "head"),
    # -- bodiless statuses ----------------------------------------------------------------------
    "204-bogus-cl-and-bytes": ok(b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello", b""),
    "204-chunked": ok(b"HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n", b""),
    "304-bogus-cl": bad(
        b"HTTP/1.1 304 Not Modified\r\nContent-Length: 500\r\n\r\n", "http_status", "304"
    ),
    # -- line endings, folding, bytes ------------------------------------------------------------
    "lf-only": ok(b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok", b"ok"),
    "lf-only-chunked": ok(
        b"HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n2\nok\n0\nX-T: 1\n\n", b"ok"
    ),
    "mixed-endings": ok(b"HTTP/1.1 200 OK\nX-A: 1\r\nContent-Length: 2\n\r\nok", b"ok"),
    "obs-fold": ok(OK_HEAD + b"X-Folded: a\r\n  b\r\n\tc\r\nContent-Length: 2\r\n\r\nok", b"ok"),
    "fold-before-first-header": bad(
        OK_HEAD + b" X-A: 1\r\nContent-Length: 2\r\n\r\nok", "protocol", "fold"
    ),
    "latin1-header-value": ok(
        OK_HEAD + b"X-Name: caf\xe9 \xff\r\nContent-Length: 2\r\n\r\nok", b"ok"
    ),
    "utf8-header-value": ok(OK_HEAD + b"X-Name: caf\xc3\xa9\r\nContent-Length: 2\r\n\r\nok", b"ok"),
    "non-ascii-header-name": bad(
        OK_HEAD + b"X-Caf\xc3\xa9: 1\r\nContent-Length: 2\r\n\r\nok", "protocol", "header"
    ),
    "space-in-header-name": bad(
        OK_HEAD + b"X Bad: 1\r\nContent-Length: 2\r\n\r\nok", "protocol", "header"
    ),
    "space-before-colon": bad(OK_HEAD + b"Content-Length : 2\r\n\r\nok", "protocol", "header"),
    "nul-in-header-value": bad(
        OK_HEAD + b"X-A: a\x00b\r\nContent-Length: 2\r\n\r\nok", "protocol", "header"
    ),
    "cr-in-header-value": bad(
        OK_HEAD + b"X-A: a\rb\r\nContent-Length: 2\r\n\r\nok", "protocol", "header"
    ),
    "ctl-in-header-value": ok(
        OK_HEAD + b"X-A: a\x01\x7fb\tc\r\nContent-Length: 2\r\n\r\nok", b"ok"
    ),
    "ctl-in-reason": ok(b"HTTP/1.1 200 O\x01K\x7f\r\nContent-Length: 2\r\n\r\nok", b"ok"),
    "no-colon-line": bad(OK_HEAD + b"garbage\r\nContent-Length: 2\r\n\r\nok", "protocol", "header"),
    # -- head size and header count --------------------------------------------------------------
    "header-60k": ok(
        OK_HEAD + b"X-Big: " + b"a" * 60_000 + b"\r\nContent-Length: 2\r\n\r\nok", b"ok"
    ),
    "two-40k-headers": bad(
        OK_HEAD + (b"X-Big: " + b"a" * 40_000 + b"\r\n") * 2 + b"Content-Length: 2\r\n\r\nok",
        "protocol",
        "too large",
    ),
    "reason-100k": bad(b"HTTP/1.1 200 " + b"O" * 100_000 + b"\r\n\r\nok", "protocol", "too large"),
    "headers-200": ok(OK_HEAD + headers(199) + b"Content-Length: 2\r\n\r\nok", b"ok"),
    "headers-1000": bad(
        OK_HEAD + headers(1000) + b"Content-Length: 2\r\n\r\nok", "protocol", "headers"
    ),
    "headers-5000": bad(
        OK_HEAD + headers(5000) + b"Content-Length: 2\r\n\r\nok", "protocol", "headers"
    ),
}


def test_framing(engine: str, raw_server: RawServer, tmp_path: Path) -> None:
    _, problems = check_table(engine, raw_server, FRAMING, tmp_path)
    assert not problems, "\n".join(problems)


# -- time: slow, silent and resetting servers, with a small --timeout ---------------------------

TIMEOUT = 0.5
HANG_BOUND = 5 * TIMEOUT + 2  # seconds: a bound against hanging, not a timing assertion


def script(*steps: bytes | float | str) -> Callable[[RawConn], None]:
    """Bytes are sent, floats slept, ``"hang"`` waits for the client, ``"reset"`` sends RST,
    ``"drip"`` drips the next bytes one at a time (0.05 s apart)."""

    def run(conn: RawConn) -> None:
        drip = False
        for step in steps:
            if isinstance(step, bytes):
                if drip:
                    conn.drip(step, 0.05)
                else:
                    conn.send(step)
            elif isinstance(step, float):
                conn.sleep(step)
            elif step == "hang":
                conn.hang(HANG_BOUND + 5)
            elif step == "reset":
                conn.reset()
            drip = step == "drip"

    return run


HEAD_100 = OK_HEAD + b"Content-Length: 100\r\n\r\n"
TIME: dict[str, Case] = {
    "drip-head": bad(script("drip", HEAD_100 + b"x" * 100), "timeout", "timed out"),
    "drip-chunked": bad(script(CHUNKED, "drip", b"1\r\nx\r\n" * 100), "timeout", "timed out"),
    "drip-within-timeout": ok(script(cl(b"4", b"ok"), "drip", b"!!"), b"ok!!"),
    "silent": bad(script("hang"), "timeout", "timed out"),
    "head-then-stall": bad(script(HEAD_100 + b"x" * 10, "hang"), "timeout", "timed out"),
    "partial-head-then-stall": bad(script(OK_HEAD + b"X-A", "hang"), "timeout", "timed out"),
    "chunk-then-stall": bad(script(CHUNKED + b"5\r\nhello\r\n", "hang"), "timeout", "timed out"),
    "reset-before-answer": bad(script("reset"), "connection_lost", "reset by peer"),
    "reset-mid-head": bad(
        script(OK_HEAD + b"X-A: 1\r\n", 0.05, "reset"), "connection_lost", "reset by peer"
    ),
    "reset-mid-chunked": bad(
        script(CHUNKED + b"5\r\nhello\r\n", 0.05, "reset"), "connection_lost", "reset by peer"
    ),
    "close-mid-head": bad(script(OK_HEAD + b"X-A: 1\r\n", 0.05), "protocol", "head"),
    "close-mid-status-line": bad(script(b"HTTP/1.1 2", 0.05), "protocol", "head"),
    "close-before-answer": bad(script(0.05), "connection_lost", "without sending a response"),
}


def test_time(engine: str, raw_server: RawServer, tmp_path: Path) -> None:
    run, problems = check_table(engine, raw_server, TIME, tmp_path, timeout=TIMEOUT)
    assert not problems, "\n".join(problems)
    slow = [r for r in run.results if r.elapsed_ms > HANG_BOUND * 1000]
    assert not slow, f"not bounded by a small multiple of --timeout: {slow}"
