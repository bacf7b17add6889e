"""Link extraction (`fetchall.crawler.links`) over hand-written malformed HTML: what a browser
would follow, and nothing it would not (comments, scripts, textarea, template, svg...)."""

from __future__ import annotations

from urllib.parse import urldefrag, urljoin

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fetchall.crawler.links import extract, is_html, nofollow_header, resolve, srcset_urls

pytestmark = pytest.mark.timeout(10)

PAGE = "http://h.test/dir/page.html"

CASES: list[tuple[str, bytes, list[str]]] = [
    ("plain", b'<a href="/x">x</a>', ["http://h.test/x"]),
    ("relative", b'<a href="y">y</a><a href="../z">z</a>', [
        "http://h.test/dir/y", "http://h.test/z"]),
    ("unclosed tags", b"<div><p><a href=/a>a<a href=/b>b<table><tr><td><a href=/c>c", [
        "http://h.test/a", "http://h.test/b", "http://h.test/c"]),
    ("upper-case tags and attributes", b"<A HREF='/UP'>x</A><AREA Href=/area>", [
        "http://h.test/UP", "http://h.test/area"]),
    ("unquoted value", b"<a href=/u?a=1&b=2>x</a>", ["http://h.test/u?a=1&b=2"]),
    ("entities", b'<a href="/e?a=1&amp;b=2&lt;">x</a><a href="/f?x=1&copy=3">y</a>', [
        "http://h.test/e?a=1&b=2<", "http://h.test/f?x=1&copy=3"]),
    ("whitespace around and inside", b'<a href="\n\t /w/ \n">x</a><a href="/a\nb">y</a>', [
        "http://h.test/w/", "http://h.test/ab"]),
    ("base href", b'<head><base href="http://other.test/base/"></head><a href="rel">x</a>', [
        "http://other.test/base/rel"]),
    ("first base wins", b'<base href="/one/"><base href="/two/"><a href=x>x</a>', [
        "http://h.test/one/x"]),
    ("relative base", b'<base href="sub/"><a href=x>x</a>', ["http://h.test/dir/sub/x"]),
    ("comments hide links", b'<!-- <a href="/c1"> --><!--> <a href="/after">', [
        "http://h.test/after"]),
    ("scripts hide links", b"<script>document.write('<a href=\"/s\">')</script><a href=/t>", [
        "http://h.test/t"]),
    ("textarea and title hold text", b"<title><a href=/t1></title><textarea><a href=/t2>"
     b"</textarea><a href=/ok>", ["http://h.test/ok"]),
    ("noscript is text (scripting on)", b"<noscript><a href=/ns></noscript><a href=/y>", [
        "http://h.test/y"]),
    ("template content is not in the DOM", b"<template><a href=/tpl></template>", []),
    ("svg and math links are not HTML links", b"<svg><a href=/svg></a></svg><a href=/h>", [
        "http://h.test/h"]),
    ("frames", b'<frameset><frame src="/f1"></frameset>', ["http://h.test/f1"]),
    ("iframe", b'<iframe src="/i1"></iframe>', ["http://h.test/i1"]),
    ("other schemes dropped", b'<a href="mailto:a@b">m</a><a href="javascript:x()">j</a>'
     b'<a href="tel:1">t</a><a href="data:text/html,x">d</a><a href="ftp://h/x">f</a>', []),
    ("fragments dropped", b'<a href="#top">t</a><a href="/p#s">p</a>', [
        "http://h.test/dir/page.html", "http://h.test/p"]),
    ("empty href is the page", b'<a href="">self</a>', ["http://h.test/dir/page.html"]),
    ("a without href", b"<a name=x>x</a><a>y</a>", []),
    ("repeated attribute: the first wins", b"<a href=/first href=/second>x</a>", [
        "http://h.test/first"]),
    ("a/href", b"<a/href=/slash>x</a>", ["http://h.test/slash"]),
    ("NUL in a value", b'<a href="/n\x00ul">x</a>', ["http://h.test/n%EF%BF%BDul"]),
    ("absolute, other host", b'<a href="HTTPS://Other.Test:443/x">x</a>', [
        "HTTPS://Other.Test:443/x"]),
    ("protocol-relative", b'<a href="//cdn.test/lib">x</a>', ["http://cdn.test/lib"]),
    ("images are not links", b'<img src="/i.png"><script src="/s.js"></script>', []),
]  # fmt: skip


@pytest.mark.parametrize(("html", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_links(html: bytes, expected: list[str]) -> None:
    urls = [link.url for link in extract(html, PAGE).links]
    if "n%EF%BF%BDul" in "".join(expected):  # U+FFFD: quoted by the normaliser, not here
        assert urls == ["http://h.test/n\ufffdul"]
        return
    assert urls == expected


def test_requisites() -> None:
    html = (
        b'<link rel="stylesheet" href="/s.css"><link rel="ICON" href="/i.ico">'
        b'<link rel="alternate" href="/feed"><link rel="shortcut icon" href="/fav.ico">'
        b'<img src="/a.png" srcset="/b.png 2x, /c,d.png 3x"><script src="/j.js"></script>'
        b'<a href="/page">p</a>'
    )
    page = extract(html, PAGE, requisites=True)
    assert [(link.url, link.requisite) for link in page.links] == [
        ("http://h.test/s.css", True), ("http://h.test/i.ico", True),
        ("http://h.test/fav.ico", True), ("http://h.test/a.png", True),
        ("http://h.test/b.png", True), ("http://h.test/c,d.png", True),
        ("http://h.test/j.js", True), ("http://h.test/page", False),
    ]  # fmt: skip
    assert [link.url for link in extract(html, PAGE).links] == ["http://h.test/page"]


@pytest.mark.parametrize(
    ("srcset", "urls"),
    [
        ("a.png", ["a.png"]),
        ("a.png 1x, b.png 2x", ["a.png", "b.png"]),
        ("a.png,b.png", ["a.png,b.png"]),
        ("a.png, b.png", ["a.png", "b.png"]),
        ("a.png 100w (x, y), b.png 2x", ["a.png", "b.png"]),
        ("  ,, a.png 1x ,", ["a.png"]),
        ("", []),
    ],
)
def test_srcset(srcset: str, urls: list[str]) -> None:
    assert srcset_urls(srcset) == urls


def test_nofollow() -> None:
    page = extract(b'<a href=/a rel="external NoFollow">a</a><a href=/b>b</a>', PAGE)
    assert [(link.url, link.nofollow) for link in page.links] == [
        ("http://h.test/a", True),
        ("http://h.test/b", False),
    ]
    assert not page.nofollow
    assert extract(b'<meta name="Robots" content="noindex, NOFOLLOW">', PAGE).nofollow
    assert extract(b'<meta name="robots" content="none">', PAGE).nofollow
    assert not extract(b'<meta name="googlebot" content="nofollow">', PAGE).nofollow
    assert nofollow_header(["noindex, nofollow"]) and nofollow_header(["none"])
    assert not nofollow_header(["googlebot: nofollow"]) and not nofollow_header([])


def test_charset_and_title() -> None:
    html = '<meta charset="windows-1251"><title> Привет\n мир </title><a href="/п">x</a>'
    page = extract(html.encode("windows-1251"), PAGE)
    assert page.title == "Привет мир"
    assert [link.url for link in page.links] == ["http://h.test/п"]


def test_garbage_does_not_crash() -> None:
    for body in (b"", b"\x00\xff\xfe" * 1000, b"<" * 10_000, b"<a href='" + b"x" * 100_000):
        extract(body, PAGE)
    bad_base = extract(b'<base href="http://[::1"><a href=x>x</a><a href="http://[::2">y</a>', PAGE)
    # the bad base is ignored; a bad absolute link is kept as written (the crawl's URL parser
    # rejects it: a ``bad-url`` skip)
    assert [link.url for link in bad_base.links] == ["http://h.test/dir/x", "http://[::2"]


@pytest.mark.parametrize(
    ("content_type", "html"),
    [
        ("text/html", True), ("text/html; charset=utf-8", True), ("TEXT/HTML", True),
        ("application/xhtml+xml", True), ("text/plain", False), (None, False), ("", False),
        ("application/json", False),
    ],
)  # fmt: skip
def test_is_html(content_type: str | None, html: bool) -> None:
    assert is_html(content_type) is html


BASES = [
    "http://h.test/dir/page.html", "https://H.test:8443/a/b?q=1#f", "http://[::1]:80/x",
    "http://h.test", "http://h.test?x", "http://u@h.test/p", "http://h.test/a/./b",
]  # fmt: skip


@given(
    base=st.sampled_from(BASES),
    prefix=st.sampled_from(["", "/", "//", "http://", "https://", "HTTP://", "http://x", "../"]),
    rest=st.text(alphabet="/.?#a:;@%\t\n \\[]é", max_size=12),
)
def test_resolve_is_urljoin(base: str, prefix: str, rest: str) -> None:
    """The fast paths of `resolve` give what urljoin (then dropping the fragment) gives."""
    value = prefix + rest
    try:
        expected = urldefrag(urljoin(base, value))[0]
    except ValueError:
        return
    assert resolve(base, value) == expected
