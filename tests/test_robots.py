"""robots.txt rules (pure): the RFC 9309 table on our parser, the same table on
``urllib.robotparser`` (why it is not used), Crawl-delay, the product token, the rule named in
the message, and what the robots.txt request's ending means."""

from __future__ import annotations

import urllib.robotparser

import pytest
from robots_cases import CASES, CRAWL_DELAYS, TOKEN

from fetchall.errors import ConnectError, FetchTimeoutError, HTTPStatusError, RedirectError
from fetchall.robots import RobotsRules, product_token, rules_for_fetch
from fetchall.urls import parse_url

pytestmark = pytest.mark.timeout(30)


def allowed(text: str, path: str) -> bool:
    rules = RobotsRules.parse(text.encode("utf-8"), TOKEN)
    return rules.check(parse_url(f"http://example.com{path}")) is None


@pytest.mark.parametrize(
    ("text", "path", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_rfc9309_table(text: str, path: str, expected: bool) -> None:
    assert allowed(text, path) is expected


def test_the_table_whole_and_with_crlf_gives_the_same_verdicts() -> None:
    for _, text, path, expected in CASES:
        assert allowed(text.replace("\n", "\r\n"), path) is expected


def urllib_allowed(text: str, path: str) -> bool:
    parser = urllib.robotparser.RobotFileParser()
    parser.parse(text.splitlines())
    return parser.can_fetch(TOKEN, f"http://example.com{path}")


def test_urllib_robotparser_gets_the_rfc_wrong() -> None:
    """The comparison the README quotes: urllib.robotparser of this Python misses a third of the
    table (first match instead of longest, no ``*``/``$``, no merged groups)."""
    wrong = {cid for cid, text, path, expected in CASES if urllib_allowed(text, path) != expected}
    assert len(CASES) - len(wrong) == 38, sorted(wrong)
    for must_fail in ("longest-allow-after-disallow", "star-in-middle", "dollar-end"):
        assert must_fail in wrong


@pytest.mark.parametrize(
    ("text", "delay"), [c[1:] for c in CRAWL_DELAYS], ids=[c[0] for c in CRAWL_DELAYS]
)
def test_crawl_delay(text: str, delay: float | None) -> None:
    assert RobotsRules.parse(text.encode(), TOKEN).crawl_delay == delay


@pytest.mark.parametrize(
    ("user_agent", "token"),
    [
        ("fetchall/0.1.0", "fetchall"),
        ("FooBot/2.1 (+https://example.com/bot)", "foobot"),
        ("my_crawler-x", "my_crawler-x"),
        ("Mozilla/5.0 (compatible; X)", "mozilla"),
        ("123bot", ""),
        ("", ""),
    ],
)
def test_product_token(user_agent: str, token: str) -> None:
    assert product_token(user_agent) == token


def test_message_names_the_deciding_rule() -> None:
    text = "User-agent: *\nDisallow: /private/\nDisallow: /*.gif$\nAllow: /private/ok\n"
    rules = RobotsRules.parse(text.encode(), "fetchall")
    check = lambda path: rules.check(parse_url(f"http://a{path}"))  # noqa: E731
    assert check("/private/x") == "disallowed by robots.txt: Disallow: /private/"
    assert check("/img/a.gif") == "disallowed by robots.txt: Disallow: /*.gif$"
    assert check("/private/ok") is None


def test_invalid_utf8_and_a_bom_do_not_break_parsing() -> None:
    body = b"\xef\xbb\xbfUser-agent: *\nDisallow: /\xff\xfe/\nDisallow: /x\n"
    rules = RobotsRules.parse(body, "fetchall")
    assert rules.check(parse_url("http://a/x")) is not None
    assert rules.check(parse_url("http://a/y")) is None


def test_hostile_wildcards_do_not_backtrack() -> None:
    rules = RobotsRules.parse(
        b"User-agent: *\nDisallow: /*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b\n", "x"
    )
    assert rules.check(parse_url("http://a/" + "a" * 5000)) is None  # returns at once


@pytest.mark.parametrize(
    ("status", "error", "verdict"),
    [
        (404, HTTPStatusError("HTTP 404"), "allow"),
        (401, HTTPStatusError("HTTP 401"), "allow"),
        (410, HTTPStatusError("HTTP 410"), "allow"),
        (304, HTTPStatusError("HTTP 304"), "allow"),
        (302, RedirectError("too many redirects (more than 5)"), "allow"),
        (None, RedirectError("redirect loop"), "allow"),
        (429, HTTPStatusError("HTTP 429"), "HTTP 429"),
        (500, HTTPStatusError("HTTP 500"), "HTTP 500"),
        (503, HTTPStatusError("HTTP 503"), "HTTP 503"),
        (None, FetchTimeoutError("timed out after 5s"), "timeout: timed out after 5s"),
        (None, ConnectError("connection refused"), "connect: connection refused"),
    ],
)
def test_how_the_robots_request_ended(status: int | None, error: Exception, verdict: str) -> None:
    rules = rules_for_fetch(status, error, None, "fetchall")  # type: ignore[arg-type]
    reason = rules.check(parse_url("http://a/anything"))
    if verdict == "allow":
        assert reason is None
    else:
        assert reason == f"robots.txt unreachable ({verdict}): the host is disallowed"


def test_a_2xx_body_is_parsed() -> None:
    rules = rules_for_fetch(200, None, b"User-agent: *\nDisallow: /x\n", "fetchall")
    assert rules.check(parse_url("http://a/x")) is not None
    assert rules.check(parse_url("http://a/y")) is None
