"""The Python entry points: `fetch_all` and `crawl`. The CLI is a thin layer over them.

Strategy: build and validate `FetchOptions` (so bad values fail before any fetching), turn the
inputs (URL strings and/or URL-list files) into one lazy source, and hand it to the `Runner`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import fields
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fetchall.callbacks import Callback, CallbackRegistry, default_registry
from fetchall.cluster.shards import DEFAULT_SHARD_SIZE
from fetchall.errors import UsageError
from fetchall.fdlimit import raise_open_file_limit
from fetchall.inputsize import RunView
from fetchall.options import FetchOptions, parse_rate
from fetchall.result import Result
from fetchall.runner import Runner
from fetchall.summary import RunSummary
from fetchall.urllists import RawLine, check_url_lists, raw_strings, raw_url_lists

if TYPE_CHECKING:
    from fetchall.crawler.pages import Crawler

_OPTION_NAMES = frozenset(f.name for f in fields(FetchOptions))
_PATH_OPTIONS = ("out", "report", "cacert", "state", "items_file")


def fetch_all(
    urls: Iterable[str] = (),
    *,
    url_files: Sequence[str] = (),
    callbacks: CallbackRegistry | Mapping[str, Callback] | None = None,
    on_result: Callable[[Result], None] | None = None,
    on_start: Callable[[RunView], None] | None = None,
    options: FetchOptions | None = None,
    cluster: str | None = None,
    shard_size: int = DEFAULT_SHARD_SIZE,
    shard_retries: int = 2,
    **settings: Any,
) -> RunSummary:
    """Fetch every URL (from ``urls`` and the files in ``url_files``) and save the bodies.

    ``settings`` are `FetchOptions` fields (``engine="asyncio"``, ``out="downloads"``,
    ``concurrency=50``, ``per_host=8``, ``timeout=300``, ``retries=2``, ``max_size=10_000_000``,
    ``headers=[("Authorization", "Bearer x")]``, ``rate=2`` or ``rate="30/m"`` (request starts
    per second per host), ``robots=True`` ...). ``callbacks`` maps host patterns to
    functions (default: those registered with ``@on_host``). ``on_result`` is called with every
    `Result` as it is written to the report; ``on_start`` with the `Runner` before the first
    request (a progress display reads `Runner.host_status` from it). Returns a `RunSummary`;
    bad options raise `UsageError` before anything is fetched. The open-file soft limit is
    raised to what ``concurrency`` needs; if it cannot be, a warning goes to the ``fetchall``
    logger. ``cluster`` (``"local:N"``, ``"tcp://HOST:PORT"`` or a scheduler file) runs the
    fetch on Dask workers, in shards of whole hosts of at most ``shard_size`` URLs, each run
    again up to ``shard_retries`` times if its worker dies (the ``fetchall[dask]`` extra).
    """
    opts = build_options(options, settings)
    if cluster is None:
        return _run(opts, urls, url_files, callbacks, on_result, on_start)
    return _run_on_cluster(
        opts, urls, url_files, callbacks, on_result, on_start, cluster, shard_size, shard_retries
    )


def crawl(
    seeds: Iterable[str] = (),
    *,
    url_files: Sequence[str] = (),
    depth: int = 5,
    scope: str = "host",
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    max_pages: int | None = None,
    max_per_host: int | None = None,
    spider: bool = False,
    page_requisites: bool = False,
    sitemaps: bool = False,
    log_skipped: str | Path | None = None,
    callbacks: CallbackRegistry | Mapping[str, Callback] | None = None,
    on_result: Callable[[Result], None] | None = None,
    on_start: Callable[[RunView], None] | None = None,
    options: FetchOptions | None = None,
    **settings: Any,
) -> RunSummary:
    """Crawl from the ``seeds`` (URLs, and the URL-list files in ``url_files``): fetch them,
    follow the links of their HTML pages breadth first to ``depth``, within ``scope``
    (``"host"``, ``"domain"``, ``"prefix"`` or ``"any"``) and the ``include``/``exclude``
    regexes, at most ``max_pages`` rows in all and ``max_per_host`` per host. ``spider``
    saves no bodies; ``page_requisites`` also fetches images, scripts, stylesheets and icons;
    ``sitemaps`` adds the URLs of the seed hosts' sitemaps (robots.txt ``Sitemap:`` lines and
    ``/sitemap.xml``) at depth 1;
    ``log_skipped`` names a JSONL file for the links not followed. robots.txt is obeyed unless
    ``robots=False`` (given ``options``, its ``robots``). Every `fetch_all` keyword applies;
    callbacks get a `Response` with ``depth``, ``links()``, ``follow()``,
    ``stop_following()`` and ``emit()``. Returns the `RunSummary` (``skipped`` counts the
    links not followed, by reason).
    """
    from fetchall.crawler.pages import Crawler, CrawlSettings
    from fetchall.crawler.scope import Rules

    crawl_settings = CrawlSettings(
        depth=depth, scope=scope, include=tuple(include), exclude=tuple(exclude),
        max_pages=_limit(max_pages, "max_pages"), max_per_host=_limit(max_per_host, "max_per_host"),
        spider=spider, page_requisites=page_requisites, sitemaps=sitemaps,
        log_skipped=None if log_skipped is None else Path(log_skipped),
    )  # fmt: skip
    Rules.build((), scope=scope, include=include, exclude=exclude, depth=depth)  # validates
    if crawl_settings.log_skipped is not None:
        try:  # before the run: a bad path must not leave the state half-started
            with open(crawl_settings.log_skipped, "a", encoding="utf-8"):
                pass
        except OSError as exc:
            raise UsageError(f"--log-skipped {log_skipped}: {exc.strerror or exc}") from None
    if options is None:
        settings = {"robots": True, **settings}  # a crawl obeys robots.txt unless told not to
    opts = build_options(options, settings)
    crawler = Crawler(crawl_settings, robots=opts.robots)
    check_url_lists(url_files)
    with tempfile.TemporaryDirectory(prefix="fetchall-crawl-") as scratch:
        if not opts.use_state:  # --no-state: a store all the same, thrown away at the end
            opts = opts.with_changes(use_state=True, state=Path(scratch) / "state.db")
        if sitemaps:
            from fetchall.crawler.discovery import find_sitemap_urls

            seeds, url_files = find_sitemap_urls(seeds, url_files, opts, Path(scratch), crawler)
        return _run(opts, seeds, url_files, callbacks, on_result, on_start, crawler)


def _limit(value: int | None, name: str) -> int | None:
    if value is not None and (not isinstance(value, int) or value < 1):
        raise UsageError(f"{name.replace('_', '-')} must be 1 or more, got {value!r}")
    return value


def _run_on_cluster(
    opts: FetchOptions,
    urls: Iterable[str],
    url_files: Sequence[str],
    callbacks: CallbackRegistry | Mapping[str, Callback] | None,
    on_result: Callable[[Result], None] | None,
    on_start: Callable[[RunView], None] | None,
    cluster: str,
    shard_size: int,
    shard_retries: int,
) -> RunSummary:
    from fetchall.cluster.connect import parse_cluster
    from fetchall.cluster.driver import ClusterRun

    spec = parse_cluster(cluster)
    if shard_size < 1 or shard_retries < 0:
        raise UsageError("--shard-size must be 1 or more and --shard-retries 0 or more")
    check_url_lists(url_files)
    source = _source(urls, url_files)
    listeners = (on_result,) if on_result is not None else ()
    run = ClusterRun(
        opts, source, spec, callbacks=_registry(callbacks), listeners=listeners,
        shard_size=shard_size, shard_retries=shard_retries,
    )  # fmt: skip
    if on_start is not None:
        on_start(run)
    if not opts.use_state:  # --no-state: the coordinator keeps a store all the same
        with tempfile.TemporaryDirectory(prefix="fetchall-cluster-") as scratch:
            run.opts = run.opts.with_changes(use_state=True, state=Path(scratch) / "state.db")
            return run.run()
    return run.run()


def _run(
    opts: FetchOptions,
    urls: Iterable[str],
    url_files: Sequence[str],
    callbacks: CallbackRegistry | Mapping[str, Callback] | None,
    on_result: Callable[[Result], None] | None,
    on_start: Callable[[RunView], None] | None,
    crawler: Crawler | None = None,
) -> RunSummary:
    check_url_lists(url_files)
    raise_open_file_limit(opts.concurrency)
    registry = _registry(callbacks)
    if isinstance(urls, str):
        urls = [urls]
    source = _source(urls, url_files)
    listeners = (on_result,) if on_result is not None else ()
    # stdin or a generator may block when read: read it no further than needed
    may_block = "-" in url_files or not isinstance(urls, list | tuple | set | frozenset)
    runner = Runner(
        opts, source, callbacks=registry, listeners=listeners, source_may_block=may_block,
        crawler=crawler,
    )  # fmt: skip
    if on_start is not None:
        on_start(runner)
    return runner.run()


def _source(urls: Iterable[str], url_files: Sequence[str]) -> Iterator[RawLine]:
    """The run's input: the URL strings (one string is one URL), then the URL-list files."""
    return chain(raw_strings([urls] if isinstance(urls, str) else urls), raw_url_lists(url_files))


def build_options(base: FetchOptions | None, settings: Mapping[str, Any]) -> FetchOptions:
    """``base`` (or defaults) with ``settings`` applied, validated."""
    unknown = set(settings) - _OPTION_NAMES
    if unknown:
        raise UsageError(f"unknown option(s): {', '.join(sorted(unknown))}")
    changes = dict(settings)
    for name in _PATH_OPTIONS:
        if changes.get(name) is not None:
            changes[name] = Path(changes[name])
    if "headers" in changes:
        changes["headers"] = tuple(tuple(pair) for pair in changes["headers"])
    if isinstance(changes.get("rate"), str):
        changes["rate"] = parse_rate(changes["rate"])
    return (base or FetchOptions()).with_changes(**changes).validated()


def _registry(callbacks: CallbackRegistry | Mapping[str, Callback] | None) -> CallbackRegistry:
    if callbacks is None:
        return default_registry
    if isinstance(callbacks, CallbackRegistry):
        return callbacks
    return CallbackRegistry(callbacks)
