"""The crawl's rules (`fetchall.crawler.scope`): scope, filters, traps, depth. Pure: no server."""

from __future__ import annotations

import pytest

from fetchall.crawler.scope import Rules, is_trap, prefix_of, registrable_domain
from fetchall.errors import UsageError
from fetchall.urls import parse_url

pytestmark = pytest.mark.timeout(10)


@pytest.mark.parametrize(
    ("host", "domain"),
    [
        ("example.com", "example.com"), ("a.b.example.com", "example.com"),
        ("example.co.uk", "example.co.uk"), ("www.example.co.uk", "example.co.uk"),
        ("co.uk", "co.uk"), ("user.github.io", "user.github.io"),
        ("foo.user.github.io", "user.github.io"), ("github.io", "github.io"),
        ("www.xn--85x722f.xn--55qx5d.cn", "xn--85x722f.xn--55qx5d.cn"),
        ("127.0.0.1", "127.0.0.1"), ("192.168.1.1", "192.168.1.1"), ("::1", "::1"),
        ("localhost", "localhost"), ("example.com.", "example.com"),
    ],
)  # fmt: skip
def test_registrable_domain(host: str, domain: str) -> None:
    assert registrable_domain(host) == domain


def rules(seeds: list[str], **settings: object) -> Rules:
    return Rules.build([parse_url(seed) for seed in seeds], **settings)  # type: ignore[arg-type]


CASES = [
    # (scope, seeds, link, in scope)
    ("host", ["http://a.test/x"], "http://a.test/other", True),
    ("host", ["http://a.test/x"], "http://a.test:8080/", False),
    ("host", ["http://a.test/x"], "https://a.test/", False),  # another port (443)
    ("host", ["http://a.test/x"], "http://www.a.test/", False),
    ("host", ["http://a.test/", "http://b.test/"], "http://b.test/z", True),
    ("domain", ["http://www.a.co.uk/"], "http://shop.a.co.uk:8080/", True),
    ("domain", ["http://www.a.co.uk/"], "http://b.co.uk/", False),
    ("domain", ["http://u1.github.io/"], "http://u2.github.io/", False),
    ("domain", ["http://127.0.0.1:1/"], "http://127.0.0.1:2/", True),
    ("domain", ["http://127.0.0.1:1/"], "http://localhost:1/", False),
    ("prefix", ["http://a.test/docs/intro.html"], "http://a.test/docs/deep/x", True),
    ("prefix", ["http://a.test/docs/intro.html"], "http://a.test/docs/", True),
    ("prefix", ["http://a.test/docs/intro.html"], "http://a.test/docsx", False),
    ("prefix", ["http://a.test/docs/intro.html"], "http://a.test/", False),
    ("prefix", ["http://a.test/docs/"], "http://b.test/docs/", False),
    ("any", ["http://a.test/"], "https://anything.test:9/", True),
]


@pytest.mark.parametrize(("scope", "seeds", "link", "inside"), CASES)
def test_scope(scope: str, seeds: list[str], link: str, inside: bool) -> None:
    assert rules(seeds, scope=scope).in_scope(parse_url(link)) is inside


def test_skip_reasons_in_order() -> None:
    r = rules(["http://a.test/"], include=[r"/keep"], exclude=[r"/keep/no"], depth=2)
    assert r.skip(parse_url("http://a.test/keep/x"), 2) is None
    assert r.skip(parse_url("http://a.test/keep/x"), 3) == "too-deep"
    assert r.skip(parse_url("http://a.test/other"), 1) == "excluded"  # no include matches
    assert r.skip(parse_url("http://a.test/keep/no"), 1) == "excluded"  # exclude wins
    assert r.skip(parse_url("http://b.test/keep/x"), 1) == "out-of-scope"
    assert r.skip(parse_url("http://a.test/keep/?" + "q" * 2000), 1) == "too-long"
    assert r.skip(parse_url("http://a.test/keep/a/a/a/a"), 1) == "trap"


@pytest.mark.parametrize(
    ("target", "trap"),
    [
        ("/a/a/a", False), ("/a/a/a/a", True), ("/a/b/a/b/a/b/a", True), ("/x/y/z/w/v", False),
        ("/a/a/a/?x=/a/a/a/a", False), ("/cal/2026/1/2/3/4/5", False), ("/", False),
    ],
)  # fmt: skip
def test_traps(target: str, trap: bool) -> None:
    assert is_trap(target) is trap


def test_prefix_of() -> None:
    assert prefix_of(parse_url("http://a.test:80/a/b.html?q")) == "http://a.test/a/"
    assert prefix_of(parse_url("http://a.test")) == "http://a.test/"
    assert prefix_of(parse_url("https://a.test:8443/x/y/")) == "https://a.test:8443/x/y/"


def test_bad_settings_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="--scope"):
        rules([], scope="planet")
    with pytest.raises(UsageError, match="--include: bad regular expression"):
        rules([], include=["("])
    with pytest.raises(UsageError, match="--depth"):
        rules([], depth=-1)


def test_seeds_added_later() -> None:
    for scope in ("host", "domain", "prefix"):
        r = rules(["http://a.test/"], scope=scope)
        assert not r.in_scope(parse_url("http://b.test/x"))
        r.add_seed(parse_url("http://b.test/"))
        assert r.in_scope(parse_url("http://b.test/x"))


@pytest.mark.parametrize(
    ("link", "inside"),
    [
        ("http://a.test/docs/", True), ("http://a.test/docs/x/y?z=/w", True),
        ("http://a.test/docs", False), ("http://a.test/doc/", False),
        ("http://a.test/?/docs/", False), ("http://a.test/other/docs/", False),
        ("http://b.test/api/v1/", True), ("http://b.test/api/", False),
    ],
)  # fmt: skip
def test_prefix_by_directory_levels(link: str, inside: bool) -> None:
    r = rules(["http://a.test/docs/index.html", "http://b.test/api/v1/"], scope="prefix")
    assert r.in_scope(parse_url(link)) is inside
