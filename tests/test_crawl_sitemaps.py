"""Sitemap reading (`fetchall.crawler.sitemaps`): urlsets, indexes, gzip, text sitemaps, and the
hostile ones (a DOCTYPE, entity bombs, a gzip bomb, too many URLs, broken XML)."""

from __future__ import annotations

import gzip
import io
import zlib
from pathlib import Path

import pytest

from fetchall.crawler.sitemaps import (
    MAX_URLS,
    Sitemap,
    discover,
    read_sitemap,
    sitemaps_in_robots,
)

pytestmark = pytest.mark.timeout(30)

NS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'


def urlset(*urls: str, ns: str = NS) -> bytes:
    body = "".join(f"<url><loc>{u}</loc><lastmod>2026-01-01</lastmod></url>" for u in urls)
    return f'<?xml version="1.0" encoding="UTF-8"?><urlset {ns}>{body}</urlset>'.encode()


def read(tmp_path: Path, data: bytes) -> Sitemap:
    path = tmp_path / "sitemap"
    path.write_bytes(data)
    return read_sitemap(path)


def test_urlset(tmp_path: Path) -> None:
    got = read(tmp_path, urlset("http://a/1", " \n http://a/2 \t", "http://a/3?x=1&amp;y=2"))
    assert not got.index and got.error is None
    assert got.urls == ["http://a/1", "http://a/2", "http://a/3?x=1&y=2"]


def test_no_namespace_or_another_prefix(tmp_path: Path) -> None:
    assert read(tmp_path, urlset("http://a/1", ns="")).urls == ["http://a/1"]
    prefixed = (
        b'<s:urlset xmlns:s="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<s:url><s:loc>http://a/p</s:loc></s:url></s:urlset>"
    )
    assert read(tmp_path, prefixed).urls == ["http://a/p"]


@pytest.mark.parametrize("prefix", [b"\xef\xbb\xbf", b"\r\n", b"  ", b"\xef\xbb\xbf\n"])
def test_xml_after_a_bom_or_whitespace(tmp_path: Path, prefix: bytes) -> None:
    assert read(tmp_path, prefix + urlset("http://a/1")).urls == ["http://a/1"]


@pytest.mark.parametrize("encoding", ["utf-7", "shift_jis", "bogus-xyz"])
def test_encodings_expat_cannot_read_end_the_file(tmp_path: Path, encoding: str) -> None:
    data = f'<?xml version="1.0" encoding="{encoding}"?>'.encode() + urlset("http://a/1")[38:]
    got = read(tmp_path, data)
    assert got.urls == [] and got.error


def test_index(tmp_path: Path) -> None:
    data = (
        f"<sitemapindex {NS}><sitemap><loc>http://a/s1.xml</loc></sitemap>"
        "<sitemap><loc>http://a/s2.xml.gz</loc></sitemap></sitemapindex>"
    ).encode()
    got = read(tmp_path, data)
    assert got.index and got.urls == ["http://a/s1.xml", "http://a/s2.xml.gz"]


def test_loc_elsewhere_is_ignored(tmp_path: Path) -> None:
    data = f"<urlset {NS}><loc>http://a/top</loc><url><x><loc>http://a/deep</loc></x></url>"
    assert read(tmp_path, (data + "</urlset>").encode()).urls == []


def test_gzip_by_magic_bytes(tmp_path: Path) -> None:
    assert read(tmp_path, gzip.compress(urlset("http://a/z"))).urls == ["http://a/z"]


def test_text_sitemap(tmp_path: Path) -> None:
    got = read(tmp_path, b"http://a/1\r\n\nnot a url\nhttps://a/2")
    assert got.urls == ["http://a/1", "https://a/2"]


def test_doctype_and_entities_are_refused(tmp_path: Path) -> None:
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        b"<urlset><url><loc>&lol2;</loc></url></urlset>"
    )
    got = read(tmp_path, laughs)
    assert got.urls == [] and "DOCTYPE" in (got.error or "")
    external = b'<!DOCTYPE u SYSTEM "http://127.0.0.1:1/x.dtd"><urlset></urlset>'
    assert "DOCTYPE" in (read(tmp_path, external).error or "")


def test_gzip_bomb_stops_at_the_cap(tmp_path: Path) -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    out = io.BytesIO()
    out.write(compressor.compress(b"<urlset><url><loc>http://a/1</loc></url>"))
    block = b" " * (1 << 20)
    for _ in range(80):  # 80 MiB of whitespace inside the root element
        out.write(compressor.compress(block))
    out.write(compressor.flush())
    assert len(out.getvalue()) < 200_000
    got = read(tmp_path, out.getvalue())
    assert got.urls == ["http://a/1"] and "MiB" in (got.error or "")


def test_too_many_urls(tmp_path: Path) -> None:
    got = read(tmp_path, urlset(*(f"http://a/{n}" for n in range(MAX_URLS + 10))))
    assert len(got.urls) == MAX_URLS and "URLs" in (got.error or "")


def test_broken_xml_keeps_what_came_before(tmp_path: Path) -> None:
    got = read(tmp_path, urlset("http://a/1")[:-20] + b"<oops")
    assert got.urls == ["http://a/1"] and "bad XML" in (got.error or "")
    assert "not a sitemap" in (read(tmp_path, b"<html><a href=x></html>").error or "")
    assert read_sitemap(tmp_path / "missing").error is not None


def test_sitemaps_in_robots(tmp_path: Path) -> None:
    path = tmp_path / "robots.txt"
    path.write_bytes(
        b"User-agent: *\nDisallow:\nSITEMAP: http://a/s.xml\n  sitemap:http://a/t.xml\n"
    )
    assert sitemaps_in_robots(path) == ["http://a/s.xml", "http://a/t.xml"]


def test_discover_follows_indexes_and_bounds(tmp_path: Path) -> None:
    files = {
        "http://a/robots.txt": b"Sitemap: http://a/index.xml\n",
        "http://a/index.xml": (
            f"<sitemapindex {NS}><sitemap><loc>http://a/pages.xml</loc></sitemap>"
            "<sitemap><loc>http://a/index.xml</loc></sitemap></sitemapindex>"
        ).encode(),
        "http://a/pages.xml": urlset("http://a/p1", "http://a/p2"),
        "http://a/sitemap.xml": urlset("http://a/p3"),
    }
    asked: list[tuple[list[str], bool]] = []

    def fetch(urls: list[str], robots: bool) -> dict[str, Path]:
        asked.append((urls, robots))
        saved = {}
        for n, url in enumerate(urls):
            if url in files:
                path = tmp_path / f"{len(asked)}-{n}"
                path.write_bytes(files[url])
                saved[url] = path
        return saved

    out = io.StringIO()
    assert discover(["http://a", "http://a"], fetch, robots=True, out=out) == 3
    assert sorted(out.getvalue().split()) == ["http://a/p1", "http://a/p2", "http://a/p3"]
    assert asked[0] == (["http://a/robots.txt"], False)
    assert sum(url == "http://a/index.xml" for urls, _ in asked for url in urls) == 1
    asked.clear()
    discover(["http://a"], fetch, robots=False, out=io.StringIO())
    assert all("robots.txt" not in url for urls, _ in asked for url in urls)
