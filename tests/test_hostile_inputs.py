"""Hostile servers, part 1: redirects, retries and TLS — on every engine (issue 5).

Every case runs on every engine; exact bytes come from the raw server, counted and timed on the
server side. Names, URL lists and interruption live in test_hostile_names.py and
test_hostile_cli.py.
"""

from __future__ import annotations

import datetime
import itertools
import json
import random
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from email.utils import formatdate
from pathlib import Path

import pytest
import trustme
from fetchrun import fetch
from rawserver import RawConn, RawServer

from fetchall.policy import MAX_BACKOFF, backoff_delay, retry_after_seconds
from fetchall.server import ServerThread

pytestmark = pytest.mark.timeout(30)

OK = b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"


def redirect(location: bytes | None, status: int = 302) -> bytes:
    """A redirect response with ``location`` (None: no Location header at all)."""
    head = b"HTTP/1.0 %d Moved\r\n" % status
    if location is not None:
        head += b"Location: " + location + b"\r\n"
    return head + b"Content-Length: 0\r\n\r\n"


class Sequenced:
    """A raw-server script answering its n-th request with ``replies[n]`` (then the last one
    forever, or a callable driving the connection); records when each request arrived."""

    def __init__(self, *replies: bytes | Callable[[RawConn], None]) -> None:
        self.replies = replies
        self.times: list[float] = []
        self._hits = itertools.count()
        self._lock = threading.Lock()

    def __call__(self, conn: RawConn) -> None:
        with self._lock:
            n = next(self._hits)
            self.times.append(time.monotonic())
        reply = self.replies[min(n, len(self.replies) - 1)]
        if isinstance(reply, bytes):
            conn.send(reply)
        else:
            reply(conn)

    @property
    def hits(self) -> int:
        """Requests seen so far."""
        return len(self.times)

    def gaps(self) -> list[float]:
        """Seconds between consecutive requests (server side)."""
        return [b - a for a, b in itertools.pairwise(self.times)]


# ---------------------------------------------------------------------------------- redirects


def test_redirect_loops_are_refused(engine: str, raw_server: RawServer, tmp_path: Path) -> None:
    urls = {
        "self": raw_server.route("/self", redirect(b"/self")),
        "self-respelled": raw_server.route("/again", redirect(b"./x/../again#frag")),
        "self-absolute": raw_server.route(
            "/abs-self", redirect(raw_server.url("/abs-self").encode())
        ),
    }
    raw_server.route("/ping", redirect(b"pong"))
    urls["two-node"] = raw_server.route("/pong", redirect(b"/ping", 307))
    run = fetch(engine, urls.values(), tmp_path, max_redirects=20)
    for name, url in urls.items():
        result = run.by_url(url)
        assert result.error_type == "redirect" and "loop" in str(result.error), (name, result)
        assert result.redirects <= 1 and result.path is None, (name, result)
    assert run.files() == []


def test_long_redirect_chains(engine: str, server: ServerThread, tmp_path: Path) -> None:
    url = server.url("/redirect/50")
    capped = fetch(engine, [url], tmp_path / "capped", max_redirects=10).one()
    assert capped.error_type == "redirect" and "too many redirects" in str(capped.error)
    assert capped.redirects == 10 and capped.attempts == 11 and capped.path is None
    followed = fetch(engine, [url], tmp_path / "followed", max_redirects=60).one()
    assert followed.ok and followed.redirects == 50 and followed.attempts == 51, followed
    assert followed.final_url == server.url("/redirect/0")


def test_redirect_location_forms_are_resolved(
    engine: str, raw_server: RawServer, tmp_path: Path
) -> None:
    port = raw_server.port
    cases = {  # start path, Location sent, request-target the follow-up must arrive at
        "relative": ("/r/a/b", b"c", "/r/a/c"),
        "absolute-path": ("/ap", b"/ap-target", "/ap-target"),
        "dot-dot": ("/d1/d2/page", b"../up", "/d1/up"),
        "dot-dot-above-root": ("/e1/page", b"../../../../root", "/root"),
        "protocol-relative": ("/pr", b"//127.0.0.1:%d/pr-target" % port, "/pr-target"),
        "absolute": ("/full", raw_server.url("/full-target").encode(), "/full-target"),
        "query-only": ("/qo", b"?page=2", "/qo?page=2"),
        "spaces": ("/sp", b"/sp ace/a  b", "/sp%20ace/a%20%20b"),
        "non-ascii": ("/na", "/caf\u00e9/\u65e5".encode(), "/caf%C3%A9/%E6%97%A5"),
        "latin-1-byte": ("/l1", b"/caf\xe9", "/caf%E9"),
        "padded": ("/pad", b"   /pad-target   ", "/pad-target"),
    }
    urls = {}
    for name, (start, location, target) in cases.items():
        urls[name] = raw_server.route(start, redirect(location, 301))
        body = name.encode()
        raw_server.route(
            target, b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        )
    run = fetch(engine, urls.values(), tmp_path)
    for name, url in urls.items():
        result = run.by_url(url)
        assert result.ok and result.redirects == 1, (name, result)
        assert result.final_url == raw_server.url(cases[name][2]), (name, result)
        assert run.saved(result) == name.encode(), name


@pytest.mark.parametrize(
    "location",
    [
        b"file:///etc/passwd",
        b"FILE:///etc/passwd",
        b"ftp://127.0.0.1/x",
        b"javascript:alert(1)",
        b"data:text/html,<script>alert(1)</script>",
        b"gopher://127.0.0.1:70/1",
        b"mailto:root@localhost",
        b"http://",
        b"http://127.0.0.1:0/x",
        b"http://[::1/x",
        b"http://user:pw@127.0.0.1/x",
    ],
)
def test_redirect_to_unusable_location_is_refused(
    engine: str, raw_server: RawServer, tmp_path: Path, location: bytes
) -> None:
    url = raw_server.route("/go", redirect(location))
    result = fetch(engine, [url], tmp_path).one()
    assert result.error_type == "redirect" and result.path is None, result
    assert result.attempts == 1 and result.status in (301, 302, 303, 307, 308)
    assert len(raw_server.requests) == 1  # nothing else was requested


@pytest.mark.parametrize("location", [None, b"", b"   "], ids=["missing", "empty", "blank"])
def test_redirect_without_usable_location(
    engine: str, raw_server: RawServer, tmp_path: Path, location: bytes | None
) -> None:
    url = raw_server.route("/nowhere", redirect(location, 303))
    result = fetch(engine, [url], tmp_path).one()
    assert result.error_type == "redirect" and "Location" in str(result.error), result
    assert result.status == 303 and result.path is None


def test_redirect_to_https_with_cacert(
    engine: str, raw_server: RawServer, tls_server: ServerThread, ca_file: Path, tmp_path: Path
) -> None:
    secure = tls_server.url("/headers")
    url = raw_server.route("/upgrade", redirect(secure.encode(), 301))
    creds = [("Authorization", "Bearer secret"), ("X-Kept", "yes")]
    run = fetch(engine, [url], tmp_path, cacert=ca_file, headers=creds)
    result = run.one()
    assert result.ok and result.final_url == secure and result.redirects == 1, result
    sent = {k.lower(): v for k, v in json.loads(run.saved(result)).items()}
    assert "authorization" not in sent and sent["x-kept"] == "yes"  # another origin


# ------------------------------------------------------------------------------------ retries


@pytest.mark.parametrize("status", [503, 429])
def test_retry_after_seconds_is_honoured(
    engine: str, raw_server: RawServer, tmp_path: Path, status: int
) -> None:
    script = Sequenced(b"HTTP/1.0 %d Slow Down\r\nRetry-After: 1\r\n\r\n" % status, OK)
    url = raw_server.route("/busy", script)
    result = fetch(engine, [url], tmp_path, retries=2, retry_after_cap=5.0).one()
    assert result.ok and result.attempts == 2 and script.hits == 2, result
    assert script.gaps()[0] >= 0.95  # the asked 1 s, not the 0.01 s backoff


def test_retry_after_http_date_waits_until_then(
    engine: str, raw_server: RawServer, tmp_path: Path
) -> None:
    def busy(conn: RawConn) -> None:
        when = formatdate(time.time() + 2, usegmt=True).encode()  # 1-2 s from now
        conn.send(b"HTTP/1.0 503 Busy\r\nRetry-After: " + when + b"\r\n\r\n")

    script = Sequenced(busy, OK)
    url = raw_server.route("/busy", script)
    started = time.monotonic()
    result = fetch(engine, [url], tmp_path, retries=1, retry_after_cap=5.0).one()
    assert result.ok and result.attempts == 2 and script.hits == 2, result
    assert script.gaps()[0] >= 0.95  # waited for the date (at least 1 s away)
    assert time.monotonic() - started < 10  # a bound against hanging


@pytest.mark.parametrize(
    "value",
    [b"99999999999999999999999999999999", b"Fri, 31 Dec 9999 23:59:59 GMT", b"1"],
    ids=["huge-seconds", "far-date", "just-above-the-cap"],
)
def test_retry_after_beyond_the_cap_is_not_shortened(
    engine: str, raw_server: RawServer, tmp_path: Path, value: bytes
) -> None:
    script = Sequenced(b"HTTP/1.0 429 No\r\nRetry-After: " + value + b"\r\n\r\n", OK)
    url = raw_server.route("/busy", script)
    started = time.monotonic()
    result = fetch(engine, [url], tmp_path, retries=1, retry_after_cap=0.3).one()
    assert not result.ok and result.attempts == 1 and script.hits == 1, result
    assert result.status == 429 and "--retry-after-cap 0.3 s" in str(result.error)
    assert time.monotonic() - started < 10  # a bound against hanging


def test_delays_stay_bounded_for_any_input() -> None:
    rng = random.Random(0)
    for n in (1, 6, 64, 1025, 10**6):  # 2.0 ** 1024 would overflow
        assert 0 < backoff_delay(n, 0.5, rng) <= MAX_BACKOFF
    assert backoff_delay(1, 1e300, rng) == MAX_BACKOFF
    assert retry_after_seconds("\xb2", 0) is None  # "²".isdigit() is True
    assert retry_after_seconds("9" * 5000, 0) == float("inf")
    assert retry_after_seconds("Fri, 31 Dec 9999 23:59:59 GMT", 0) == 253402300799.0


GARBAGE_RETRY_AFTER = {
    "word": b"soon",
    "negative": b"-5",
    "fraction": b"1.5",
    "hex": b"0x10",
    "superscript-2": b"\xb2",  # str.isdigit() says yes, float() says no
    "fullwidth-3": b"\xef\xbc\x93",
    "bad-date": b"Mon, 99 Foo 2020 xx",
    "empty": b"",
}


@pytest.mark.parametrize("value", list(GARBAGE_RETRY_AFTER.values()), ids=list(GARBAGE_RETRY_AFTER))
def test_garbage_retry_after_falls_back_to_backoff(
    engine: str, raw_server: RawServer, tmp_path: Path, value: bytes
) -> None:
    script = Sequenced(b"HTTP/1.0 503 No\r\nRetry-After: " + value + b"\r\n\r\n", OK)
    url = raw_server.route("/busy", script)
    started = time.monotonic()
    result = fetch(engine, [url], tmp_path, retries=1, retry_after_cap=20).one()
    assert result.ok and result.attempts == 2, result
    assert time.monotonic() - started < 10  # misread as a delay, it would wait the 20 s cap


def test_flaky_server_succeeds_on_nth_attempt(
    engine: str, raw_server: RawServer, tmp_path: Path
) -> None:
    fails = [b"HTTP/1.0 %d Nope\r\nContent-Length: 4\r\n\r\nnope" % s for s in (503, 429, 502)]
    script = Sequenced(*fails, b"HTTP/1.0 200 OK\r\nContent-Length: 6\r\n\r\nfourth")
    url = raw_server.route("/flaky", script)
    run = fetch(engine, [url], tmp_path, retries=3)
    result = run.one()
    assert result.ok and result.attempts == 4 and script.hits == 4, result
    assert run.saved(result) == b"fourth" and run.rows[0]["attempts"] == 4


def test_attempts_count_every_hop_and_retry(
    engine: str, raw_server: RawServer, tmp_path: Path
) -> None:
    script = Sequenced(b"HTTP/1.0 500 Oops\r\n\r\n", OK)
    raw_server.route("/then-flaky", script)
    url = raw_server.route("/hop", redirect(b"/then-flaky"))
    result = fetch(engine, [url], tmp_path, retries=2).one()
    assert result.ok and result.attempts == 3 and result.redirects == 1, result


def test_too_few_retries_reports_every_attempt(
    engine: str, raw_server: RawServer, tmp_path: Path
) -> None:
    script = Sequenced(b"HTTP/1.0 503 No\r\n\r\n", b"HTTP/1.0 503 No\r\n\r\n", OK)
    url = raw_server.route("/flaky", script)
    run = fetch(engine, [url], tmp_path, retries=1)
    result = run.one()
    assert result.error_type == "http_status" and result.status == 503, result
    assert result.attempts == 2 == run.rows[0]["attempts"] and script.hits == 2


def test_connection_reset_twice_then_answer(
    engine: str, raw_server: RawServer, tmp_path: Path
) -> None:
    script = Sequenced(RawConn.reset, RawConn.reset, OK)
    url = raw_server.route("/resets", script)
    run = fetch(engine, [url], tmp_path, retries=2)
    result = run.one()
    assert result.ok and result.attempts == 3 and script.hits == 3, result
    assert run.saved(result) == b"ok"


def test_connection_closed_after_keep_alive_is_not_an_attempt(
    engine: str, raw_server: RawServer, tmp_path: Path
) -> None:
    def answer_then_close_later(conn: RawConn) -> None:
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        conn.sleep(0.3)  # a pooling client may send its next request on this connection

    urls = [raw_server.route(f"/ka{i}", answer_then_close_later) for i in range(3)]
    run = fetch(engine, urls, tmp_path, retries=0, concurrency=1, per_host=1)
    assert all(r.ok and r.attempts == 1 for r in run.results), run.results


# ---------------------------------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def expired_server(tls_ca: trustme.CA) -> Iterator[ServerThread]:
    """An HTTPS server whose certificate (from the trusted test CA) expired yesterday."""
    now = datetime.datetime.now(datetime.UTC)
    cert = tls_ca.issue_cert(
        "127.0.0.1",
        not_before=now - datetime.timedelta(days=30),
        not_after=now - datetime.timedelta(days=1),
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    with ServerThread(ssl_context=context) as server:
        yield server


def test_expired_certificate_is_refused(
    engine: str, expired_server: ServerThread, ca_file: Path, tmp_path: Path
) -> None:
    run = fetch(engine, [expired_server.url("/bytes/10")], tmp_path, cacert=ca_file, retries=1)
    result = run.one()
    assert result.error_type == "tls" and "expired" in str(result.error).lower(), result
    assert result.attempts == 1 and run.files() == []  # a TLS failure is not retried


def test_https_to_a_plain_http_server_is_a_tls_error(
    engine: str, server: ServerThread, tmp_path: Path
) -> None:
    url = f"https://127.0.0.1:{server.port}/bytes/10"
    started = time.monotonic()
    result = fetch(engine, [url], tmp_path, timeout=5, connect_timeout=5).one()
    assert result.error_type == "tls" and result.path is None, result
    assert time.monotonic() - started < 4  # an answer, not a hang until a timeout
