"""A small synthetic website on two hosts (two ports) for crawls: `fetchall serve --site`,
`fetchall demo crawl` and the crawl conformance suite.

Strategy: two aiohttp apps, ``a`` and ``b``, each on its own `ServerThread`; a shared `SiteMap`
holds both base URLs (known once both listen), read at request time, so pages can link across
hosts. Every page is deterministic. Host ``a`` has: a home page linking to everything below; a
tree (about → team → team/alice), a ``docs/`` subtree (for ``prefix`` scope), a redirect (old →
moved), a non-HTML file, a broken link (404), two traps (a calendar that links to the next month
forever; a path that grows a repeated segment), a page under ``/private/`` (robots.txt disallows
it), a ``rel=nofollow`` link, a page with ``<meta name=robots content=nofollow>``, a link over
2,000 characters, page requisites (stylesheet, icon, image with srcset, script), robots.txt with
a ``Sitemap:`` line, and a sitemap index naming a plain and a gzipped sitemap. Host ``b`` links
back to ``a``, has two pages of its own and a redirect to ``a``'s ``docs/``. Every request is
counted by (host, path).
"""

from __future__ import annotations

import gzip
from collections import Counter
from dataclasses import dataclass, field

from aiohttp import web

LONG_QUERY = "q=" + "x" * 2100


@dataclass
class SiteMap:
    """Both hosts' base URLs and the requests each has seen."""

    a: str = ""
    b: str = ""
    requests: Counter[tuple[str, str]] = field(default_factory=Counter)


def _page(title: str, links: list[str], head: str = "", body: str = "") -> web.Response:
    anchors = "\n".join(f'<a href="{href}">{href[:40]}</a>' for href in links)
    html = (
        f"<!DOCTYPE html><html><head><title>{title}</title>{head}</head>"
        f"<body><h1>{title}</h1>\n{anchors}\n{body}</body></html>"
    )
    return web.Response(text=html, content_type="text/html")


def _home_a(site: SiteMap) -> web.Response:
    head = (
        '<link rel="stylesheet" href="/style.css"><link rel="icon" href="/favicon.ico">'
        '<script src="/app.js"></script>'
    )
    body = (
        '<img src="/logo.png" srcset="/logo-2x.png 2x, /logo-3x.png 3x">'
        '<a href="/nofollowed" rel="nofollow">nofollow</a>'
        '<a href="mailto:me@example.com">mail</a><a href="javascript:void(0)">js</a>'
        '<a href="#top">top</a><!-- <a href="/in-a-comment">hidden</a> -->'
        "<script>var x = '<a href=\"/in-a-script\">';</script>"
    )
    links = [
        "/about", "docs/", site.b + "/", "/file.txt", "/missing", "/old",
        "/calendar/2026/1", "/private/secret", "/meta-nofollow", "/loop/", "/long",
        "http://localhost:1/",
    ]  # fmt: skip
    return _page("Home A", links, head, body)


def _pages_a(site: SiteMap, path: str) -> web.StreamResponse:
    fixed: dict[str, list[str]] = {
        "/about": ["/", "/team"],
        "/team": ["/about", "/team/alice"],
        "/team/alice": ["/team"],
        "/docs/": ["a", "b", "../about"],
        "/docs/a": ["b", "c"],
        "/docs/b": [],
        "/docs/c": [],
        "/moved": ["/moved/next"],
        "/moved/next": [],
        "/nofollowed": [],
        "/hidden-by-meta": [],
        "/only-in-sitemap": ["/from-sitemap-page"],
        "/from-sitemap-page": [],
        "/private/secret": ["/private/deeper"],
    }
    if path in fixed:
        return _page(path.strip("/").replace("/", " ").title() or "Page", fixed[path])
    if path == "/":
        return _home_a(site)
    if path == "/meta-nofollow":
        return _page(
            "Meta", ["/hidden-by-meta"], '<meta name="ROBOTS" content="noindex, nofollow">'
        )
    if path == "/long":
        return _page("Long", ["/long?" + LONG_QUERY])
    if path.startswith("/calendar/"):
        year, month = (int(part) for part in path.split("/")[2:4])
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return _page(f"Calendar {path}", [f"/calendar/{year}/{month}"])
    if path.startswith("/loop/"):
        return _page("Loop", ["x/"])
    if path == "/old":
        raise web.HTTPMovedPermanently("/moved")
    return _files_a(site, path)


def _files_a(site: SiteMap, path: str) -> web.StreamResponse:
    if path == "/file.txt":
        return web.Response(text='not html <a href="/never">', content_type="text/plain")
    if path in ("/style.css", "/app.js", "/favicon.ico", "/logo.png", "/logo-2x.png"):
        return web.Response(body=b"requisite " + path.encode(), content_type="text/plain")
    if path == "/robots.txt":
        text = f"User-agent: *\nDisallow: /private/\n\nSitemap: {site.a}/sitemap-index.xml\n"
        return web.Response(text=text, content_type="text/plain")
    if path == "/sitemap-index.xml":
        return _xml(
            '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"<sitemap><loc>{site.a}/sitemap-pages.xml</loc></sitemap>"
            f"<sitemap><loc> {site.a}/sitemap-more.xml.gz </loc></sitemap></sitemapindex>"
        )
    if path == "/sitemap-pages.xml":
        return _urlset([f"{site.a}/only-in-sitemap", f"{site.a}/about", f"{site.b}/b2"])
    if path == "/sitemap-more.xml.gz":
        body = gzip.compress(_urlset_text([f"{site.a}/docs/c", "http://localhost:1/x"]))
        return web.Response(body=body, content_type="application/gzip")
    raise web.HTTPNotFound()


def _urlset_text(urls: list[str]) -> bytes:
    entries = "".join(f"<url><loc>{url}</loc></url>" for url in urls)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</urlset>'
    ).encode()


def _urlset(urls: list[str]) -> web.Response:
    return web.Response(body=_urlset_text(urls), content_type="application/xml")


def _xml(text: str) -> web.Response:
    return web.Response(text=text, content_type="application/xml")


def _pages_b(site: SiteMap, path: str) -> web.StreamResponse:
    if path == "/":
        return _page("Home B", [site.a + "/", "/b1"])
    if path == "/b1":
        return _page("B1", ["/b2"])
    if path == "/b2":
        return _page("B2", [])
    if path == "/go-a":
        raise web.HTTPMovedPermanently(site.a + "/docs/")
    raise web.HTTPNotFound()


def make_site_app(site: SiteMap, name: str) -> web.Application:
    """The app of host ``name`` (``"a"`` or ``"b"``)."""
    pages = _pages_a if name == "a" else _pages_b

    async def handle(request: web.Request) -> web.StreamResponse:
        site.requests[(name, request.path_qs)] += 1
        return pages(site, request.path)

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    return app
