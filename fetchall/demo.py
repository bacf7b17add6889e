"""``fetchall demo``: the built-in server and the demo list (``fetch``), or the two-host demo
site crawled from its home page (``crawl``), with the progress display and the summary."""

from __future__ import annotations

import sys
from pathlib import Path

from fetchall.api import crawl, fetch_all
from fetchall.errors import UsageError
from fetchall.inputsize import InputSize
from fetchall.progress import ProgressView, print_summary
from fetchall.server import ServerThread, demo_urls
from fetchall.server.thread import SiteThread


def demo_fetch(url_list: Path, engine: str, out: Path, latency: float) -> int:
    """Fetch the demo list from the built-in server; the exit status."""
    try:
        template = url_list.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UsageError(f"cannot read demo list {url_list}: {exc.strerror or exc}") from None
    with ServerThread(latency=latency) as server:
        print(f"fetchall demo: built-in server on {server.base_url}", file=sys.stderr)
        urls = list(demo_urls(server.base_url, template))
        with ProgressView(inputs=InputSize(urls=urls)) as view:
            summary = fetch_all(
                urls, engine=engine, out=out, on_result=view, on_start=view.watch,
                retry_backoff=0.1, fresh=True,
            )  # fmt: skip
    print_summary(summary, view, str(out), str(out / "report.jsonl"))
    return summary.exit_code


def demo_crawl(engine: str, out: Path) -> int:
    """Crawl the demo site (depth 3, its sitemaps too); the exit status (1: the site has a
    broken link and a page robots.txt disallows, on purpose)."""
    with SiteThread() as site:
        print(f"fetchall demo: demo site on {site.site.a} and {site.site.b}", file=sys.stderr)
        seeds = [site.site.a + "/"]
        with ProgressView(inputs=InputSize(urls=None)) as view:
            summary = crawl(
                seeds, depth=3, sitemaps=True, engine=engine, out=out, on_result=view,
                on_start=view.watch, retry_backoff=0.1, fresh=True,
            )  # fmt: skip
    print_summary(summary, view, str(out), str(out / "report.jsonl"))
    return summary.exit_code
