"""Pages → frontier entries: what a crawl does with each HTML page it fetched.

Strategy: the runner's `Saver` calls `Crawler.page` for every complete 2xx response of a crawl,
in the coordinating thread, with the body still on disk (before it is renamed into place, or
discarded under ``--spider``). An HTML page (by Content-Type) of depth d ≤ ``--depth`` is parsed
(`links.extract`, once: a callback's ``links()`` shares the parse); unless robots say nofollow
(meta or ``X-Robots-Tag``; with robots on), its callback stopped following, or a redirect took
it out of scope, each link gets depth d + 1 and the reason it is skipped or None (`Rules.skip`;
``rel=nofollow`` with robots on; the limits, counted in rows of the store); the links that pass
go into the `CrawlFrontier` in one batch, which keeps them for the next level. Requisites
(``--page-requisites``) of a page of depth ``--depth`` are still taken, one level past it.
A skipped URL is counted once, by its first reason, and written to ``--log-skipped``.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from fetchall.crawler.frontier import CrawlFrontier
from fetchall.crawler.links import Link, Page, extract, is_html, nofollow_header
from fetchall.crawler.scope import Rules
from fetchall.digests import DigestMap
from fetchall.errors import BadURLError
from fetchall.frontier import Entry
from fetchall.frontier.stored import StoreFrontier
from fetchall.http.headers import Headers
from fetchall.state.store import StateStore
from fetchall.urls import Target, UrlLine, rebuild_target
from fetchall.urls import parse_url as _parse_url

MAX_PARSE = 16 << 20
parse_url = lru_cache(maxsize=8192)(_parse_url)
"""`fetchall.urls.parse_url`, cached: a site's navigation links repeat on every page."""


@dataclass(frozen=True)
class CrawlSettings:
    """A crawl's options (``fetchall crawl``'s own; the fetch options apply as well)."""

    depth: int = 5
    scope: str = "host"
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    max_pages: int | None = None
    max_per_host: int | None = None
    spider: bool = False
    page_requisites: bool = False
    log_skipped: Path | None = None
    sitemaps: bool = False


class PageLinks:
    """One page's links, parsed at most once (shared by the crawler and a callback)."""

    def __init__(self, body_path: Path, url: str, requisites: bool) -> None:
        self._body_path = body_path
        self._url = url
        self._requisites = requisites
        self._page: Page | None = None

    @property
    def page(self) -> Page:
        """The parsed page (an unreadable body has no links)."""
        if self._page is None:
            try:
                with open(self._body_path, "rb") as stream:  # read(n) allocates n bytes first
                    body = stream.read(min(MAX_PARSE, os.fstat(stream.fileno()).st_size))
            except OSError:
                body = b""
            self._page = extract(body, self._url, requisites=self._requisites)
        return self._page


class Crawler:
    """Follows the links of a crawl's pages (see module docstring)."""

    def __init__(self, settings: CrawlSettings, *, robots: bool) -> None:
        self.settings = settings
        self.robots = robots
        self.rules = Rules.build((), scope=settings.scope, include=settings.include,
                                 exclude=settings.exclude, depth=settings.depth)  # fmt: skip
        self.skipped: Counter[str] = Counter()
        self._skipped_seen = DigestMap()
        self._log: IO[str] | None = None
        self._frontier: CrawlFrontier | None = None
        self.sitemap_urls: Path | None = None
        """A file of the sitemaps' URLs, one a line (`sitemaps.discover`): depth 1."""

    # ---- the run's start and end ----

    def frontier_class(self) -> type[CrawlFrontier]:
        """The frontier a crawl runs on."""
        return CrawlFrontier

    def attach(self, frontier: StoreFrontier, store: StateStore, *, resume: bool) -> None:
        """Crawl into ``frontier`` (made from `frontier_class`); a resumed crawl's scope is
        its store's seeds."""
        assert isinstance(frontier, CrawlFrontier)
        self._frontier = frontier
        frontier.on_seed = self.add_seed
        frontier.on_seeds_done = self._add_sitemap_urls
        if self.settings.max_per_host is not None:
            frontier.count_hosts()
        for url, host_key, final_url in store.seeds() if resume else ():
            self.add_seed(rebuild_target(url, host_key))
            if final_url is not None:  # a seed redirected out of scope brought its end in
                with contextlib.suppress(BadURLError):
                    self.add_seed(parse_url(final_url))
        path = self.settings.log_skipped
        if path is not None:
            self._log = open(path, "a" if resume else "w", encoding="utf-8")  # noqa: SIM115

    def add_seed(self, seed: Target) -> None:
        """Put a seed's host (domain, directory) in scope."""
        self.rules.add_seed(seed)

    def close(self) -> None:
        """Close the skipped-links log and the skipped set."""
        if self._log is not None:
            self._log.close()
            self._log = None
        self._skipped_seen.close()

    # ---- pages ----

    def links_for(self, body_path: Path, final: Target) -> PageLinks:
        """The lazily parsed links of a page saved at ``body_path``."""
        return PageLinks(body_path, final.url, self.settings.page_requisites)

    def wants(self, entry: Entry, content_type: str | None) -> bool:
        """Whether the page of ``entry`` is parsed for links."""
        return is_html(content_type) and entry.depth <= self.settings.depth

    def page(
        self, entry: Entry, final: Target, headers: Headers, links: PageLinks, *, follow: bool
    ) -> None:
        """Take the links of ``entry``'s page (``follow``: its callback did not stop it). A
        seed that redirects out of scope brings its final URL into scope (``http://example.com``
        → ``https://www.example.com/`` crawls the site)."""
        if entry.depth == 0 and entry.parent is None and not self.rules.in_scope(final):
            self.add_seed(final)
        if not follow or not self.rules.in_scope(final):
            return
        page = links.page
        if self.robots and (page.nofollow or nofollow_header(headers.get_all("x-robots-tag"))):
            for link in page.links:
                if not link.requisite:
                    self._skip(link.url, entry, "nofollow")
            return
        self._take(entry, page.links)

    def follow(self, entry: Entry, urls: Iterable[str]) -> None:
        """A callback's ``follow``: these URLs at the next depth (limits apply, scope not)."""
        lines = []
        for url in urls:
            try:
                target = parse_url(url)
            except BadURLError:
                self._skip(url, entry, "bad-url")
                continue
            lines.append(UrlLine(target, "", 0))
        self._admit(entry, lines, entry.depth + 1)

    # ---- internals ----

    def _add_sitemap_urls(self) -> None:
        """The sitemaps' URLs at depth 1, through the same rules as links (no parent)."""
        if self.sitemap_urls is None:
            return
        batch: list[UrlLine] = []
        with open(self.sitemap_urls, encoding="utf-8") as stream:
            for line in stream:
                url = line.strip()
                try:
                    target = parse_url(url)
                except BadURLError:
                    self._skip(url, None, "bad-url")
                    continue
                reason = self.rules.skip(target, 1)
                if reason is not None:
                    self._skip(target.url, None, reason)
                    continue
                batch.append(UrlLine(target, "", 0))
                if len(batch) >= 256:
                    self._admit(None, batch, 1)
                    batch = []
        self._admit(None, batch, 1)

    def _take(self, entry: Entry, links: list[Link]) -> None:
        depth = entry.depth + 1  # requisites: even one level past --depth
        seen: set[str] = set()
        lines: list[UrlLine] = []
        for link in links:
            if link.url in seen:
                continue
            seen.add(link.url)
            try:
                target = parse_url(link.url)
            except BadURLError:
                self._skip(link.url, entry, "bad-url")
                continue
            reason = self.rules.skip(target, 0 if link.requisite else depth)
            if reason is None and link.nofollow and self.robots:
                reason = "nofollow"
            if reason is not None:
                self._skip(target.url, entry, reason)
            else:
                lines.append(UrlLine(target, "", 0))
        self._admit(entry, lines, depth)

    def _admit(self, entry: Entry | None, lines: list[UrlLine], depth: int) -> None:
        """Store ``lines`` within ``--max-pages`` and ``--max-per-host`` (counted in rows)."""
        frontier = self._frontier
        assert frontier is not None
        settings = self.settings
        if settings.max_pages is None and settings.max_per_host is None:
            if lines:
                frontier.add_links(lines, depth, entry)
            return
        for line in lines:  # one at a time: only new URLs count against the limits
            reason = self._limit(frontier, line.target)
            if reason is None:
                frontier.add_links([line], depth, entry)
            elif not frontier.known(line.target.url):
                self._skip(line.target.url, entry, reason)

    def _limit(self, frontier: CrawlFrontier, target: Target) -> str | None:
        settings = self.settings
        if settings.max_pages is not None and frontier.rows_known >= settings.max_pages:
            return "max-pages"
        rows = frontier.host_rows
        limit = settings.max_per_host
        if limit is not None and rows is not None and rows[target.host_key] >= limit:
            return "max-per-host"
        return None

    def _skip(self, url: str, parent: Entry | None, reason: str) -> None:
        if not self._skipped_seen.add(hash(url)):
            return
        frontier = self._frontier
        if reason in ("too-deep", "nofollow", "max-pages", "max-per-host") and (
            frontier is not None and frontier.known(url)
        ):
            return  # reached another way: not skipped
        self.skipped[reason] += 1
        if self._log is not None:
            text = None if parent is None else parent.text
            row: dict[str, Any] = {"url": url, "parent": text, "reason": reason}
            self._log.write(json.dumps(row, ensure_ascii=False) + "\n")
