"""``fetchall crawl SEED...``: the crawl command. Every ``fetch`` option applies, so its
parameters are ``fetch``'s (read from its signature, robots.txt on by default) plus the crawl's
own; the run goes through the same path as ``fetch`` (`fetchall.cli_run`)."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated, Any

import typer

from fetchall.cli import app, fetch
from fetchall.errors import UsageError

_CRAWL_OPTIONS: dict[str, tuple[Any, Any]] = {
    "depth": (
        Annotated[int, typer.Option(help="Follow links this many levels from the seeds.")], 5,
    ),
    "scope": (
        Annotated[str, typer.Option(help="host, domain (Public Suffix List), prefix, any.")],
        "host",
    ),
    "include": (
        Annotated[list[str] | None, typer.Option(help="Follow only matching URLs (regex).")],
        None,
    ),
    "exclude": (
        Annotated[list[str] | None, typer.Option(help="Never follow matching URLs (regex).")],
        None,
    ),
    "max_pages": (
        Annotated[int | None, typer.Option(help="Rows (URLs requested) in all, seeds included.")],
        None,
    ),
    "max_per_host": (
        Annotated[int | None, typer.Option(help="Rows (URLs requested) per host.")], None,
    ),
    "spider": (
        Annotated[bool, typer.Option("--spider", help="Save no bodies: check links only.")], False,
    ),
    "page_requisites": (
        Annotated[
            bool,
            typer.Option("--page-requisites", "-p", help="Also fetch images, scripts, CSS, icons."),
        ],
        False,
    ),
    "sitemaps": (
        Annotated[
            bool, typer.Option("--sitemaps", help="Add the URLs of the seed hosts' sitemaps.")
        ],
        False,
    ),
    "log_skipped": (
        Annotated[Path | None, typer.Option(help="Write the links not followed here (JSONL).")],
        None,
    ),
}  # fmt: skip


def crawl(**params: Any) -> None:
    """Crawl from SEED URLs (or URL-list files): follow links by depth and scope."""
    from fetchall.cli_run import run_command

    seeds: list[str] = params.pop("seeds")
    if params.pop("cluster") is not None:
        raise UsageError("crawl does not run on --cluster (yet): run it without --cluster")
    params.pop("shard_size")
    params.pop("shard_retries")
    crawl_settings = {name: params.pop(name) for name in _CRAWL_OPTIONS}
    crawl_settings["include"] = tuple(crawl_settings["include"] or ())
    crawl_settings["exclude"] = tuple(crawl_settings["exclude"] or ())
    urls = [seed for seed in seeds if "://" in seed]
    files = [seed for seed in seeds if "://" not in seed]
    raise typer.Exit(run_command(params, url_files=files, urls=urls, crawl_settings=crawl_settings))


def _signature() -> inspect.Signature:
    """``fetch``'s parameters with SEED... first and robots.txt on, then the crawl's own."""
    fetched = inspect.signature(fetch, eval_str=True).parameters
    seeds = inspect.Parameter(
        "seeds",
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        annotation=Annotated[
            list[str],
            typer.Argument(help="Seed URLs, or URL-list files ('-' = stdin).", show_default=False),
        ],
    )
    params = [seeds]
    for name, param in fetched.items():
        if name == "url_files":
            continue
        params.append(param.replace(default=True) if name == "robots" else param)
    for name, (annotation, default) in _CRAWL_OPTIONS.items():
        params.append(
            inspect.Parameter(
                name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default
            )
        )
    return inspect.Signature(params)


crawl.__signature__ = _signature()  # type: ignore[attr-defined]
crawl.__annotations__ = {p.name: p.annotation for p in crawl.__signature__.parameters.values()}  # type: ignore[attr-defined]
app.command(name="crawl")(crawl)
