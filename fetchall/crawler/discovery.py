"""``--sitemaps``: finding a crawl's sitemap URLs before it starts, through the run's engine.

Strategy: the seeds (URLs, URL-list files; standard input is saved to a scratch file first, so
the crawl can read it again) give the origins; `sitemaps.discover` fetches their robots.txt and
sitemaps with `fetch_all` — the same engine, timeouts, headers and TLS settings, robots.txt
obeyed as the crawl obeys it, into a scratch directory, no state — and writes the page URLs to a
scratch file that the crawler adds at depth 1 once the seeds are imported. Ctrl-C here stops
the crawl before it starts.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from fetchall.callbacks import CallbackRegistry
from fetchall.crawler.pages import Crawler
from fetchall.crawler.sitemaps import discover
from fetchall.errors import BadURLError
from fetchall.options import FetchOptions
from fetchall.result import Result
from fetchall.urllists import raw_strings, raw_url_lists
from fetchall.urls import parse_url


def find_sitemap_urls(
    seeds: Iterable[str],
    url_files: Sequence[str],
    opts: FetchOptions,
    scratch: Path,
    crawler: Crawler,
) -> tuple[list[str], list[str]]:
    """Discover the sitemaps' URLs into ``scratch`` and hand them to ``crawler``; the seeds and
    URL-list files the crawl reads instead (stdin saved to a file)."""
    seeds = [seeds] if isinstance(seeds, str) else list(seeds)
    files = list(url_files)
    if "-" in files:
        saved = scratch / "stdin-seeds.txt"
        with open(saved, "w", encoding="utf-8") as out:
            shutil.copyfileobj(sys.stdin, out)
        files = [str(saved) if name == "-" else name for name in files]
    origins = []
    for _, _, text, _ in (*raw_strings(seeds), *raw_url_lists(files)):
        try:
            target = parse_url(text)
        except BadURLError:
            continue
        origins.append(target.url[: len(target.url) - len(target.target)])
    found = scratch / "sitemap-urls.txt"
    fetched = [0]

    def fetch(urls: list[str], robots: bool) -> dict[str, Path]:
        from fetchall.api import fetch_all

        fetched[0] += 1
        out = scratch / f"sitemaps-{fetched[0]}"
        saved: dict[str, Path] = {}

        def keep(result: Result) -> None:
            if result.ok and result.path is not None:
                saved[result.url] = out / result.path

        summary = fetch_all(
            urls, options=_scratch_options(opts, out, robots), callbacks=CallbackRegistry(),
            on_result=keep,
        )  # fmt: skip
        if summary.interrupted:
            raise KeyboardInterrupt
        return saved

    with open(found, "w", encoding="utf-8") as out:
        discover(origins, fetch, robots=opts.robots, out=out)
    crawler.sitemap_urls = found
    return seeds, files


def _scratch_options(opts: FetchOptions, out: Path, robots: bool) -> FetchOptions:
    return opts.with_changes(
        out=out, report=out / "report.jsonl", use_state=False, state=None, robots=robots,
        resume=False, fresh=False, refresh=False, retry_failed=False,
    ).validated()  # fmt: skip
