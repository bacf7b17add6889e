"""Running ``fetchall fetch`` and ``fetchall crawl`` from their parsed options: settings → API
call, with the progress display and the summary. Kept apart from `fetchall.cli` (the option
declarations) so the two commands share one path."""

from __future__ import annotations

import contextlib
import gc
import sys
from collections.abc import Sequence
from typing import Any

from fetchall.api import build_options, crawl, fetch_all
from fetchall.callbacks import CallbackRegistry, load_callbacks_file
from fetchall.inputsize import InputSize
from fetchall.options import DEFAULT_USER_AGENT, parse_header, parse_rate, parse_size
from fetchall.progress import ProgressView, print_summary

_DIRECT = (
    "engine", "out", "report", "concurrency", "per_host", "timeout", "connect_timeout",
    "retries", "retry_backoff", "retry_after_cap", "max_redirects", "robots", "insecure",
    "cacert", "resume", "pipeline", "fresh", "refresh", "retry_failed", "state", "sha256",
)  # fmt: skip


def settings_of(params: dict[str, Any]) -> dict[str, Any]:
    """`FetchOptions` settings from a command's parsed options."""
    settings = {name: params[name] for name in _DIRECT}
    rate, max_size, user_agent = params["rate"], params["max_size"], params["user_agent"]
    settings.update(
        rate=parse_rate(rate) if rate is not None else None,
        max_size=parse_size(max_size) if max_size is not None else None,
        headers=tuple(parse_header(h) for h in params["header"] or ()),
        user_agent=user_agent if user_agent is not None else DEFAULT_USER_AGENT,
        use_state=not params["no_state"],
    )
    return settings


def _freeze_startup_objects(engine: str) -> None:
    """Import the engine's module, then move every object made so far (modules, classes, the
    CLI's) out of the garbage collector's reach (`gc.freeze`): the collections a long run
    makes then scan only what the run itself creates. Only in the program's own process
    (`fetchall.cli.IN_PROGRAM`: a test's or an embedding program's objects are not ours to
    freeze); the API never does this."""
    from fetchall import cli

    if not cli.IN_PROGRAM:
        return

    from fetchall.engines import ENGINES, engine_module

    if engine in ENGINES:
        with contextlib.suppress(ImportError):  # a missing extra: the run says so itself
            engine_module(engine)
    gc.freeze()


def run_command(
    params: dict[str, Any],
    *,
    url_files: Sequence[str],
    urls: Sequence[str] = (),
    crawl_settings: dict[str, Any] | None = None,
) -> int:
    """Run a fetch (or, with ``crawl_settings``, a crawl) and print its summary; the exit
    status."""
    quiet = params["quiet"]
    opts = build_options(None, settings_of(params))
    callbacks = params["callbacks"]
    registry = load_callbacks_file(callbacks) if callbacks else CallbackRegistry()
    if opts.insecure and not quiet:
        print("fetchall: warning: --insecure: TLS certificates are NOT verified", file=sys.stderr)
    shown = not (quiet or params["no_progress"])
    _freeze_startup_objects(opts.engine)
    inputs = InputSize(url_files, urls=urls)
    with ProgressView(enabled=shown, inputs=inputs) as view:
        common: dict[str, Any] = dict(
            url_files=url_files, options=opts, callbacks=registry, on_result=view,
            on_start=view.watch,
        )  # fmt: skip
        if crawl_settings is None:
            cluster = dict(
                cluster=params["cluster"], shard_size=params["shard_size"],
                shard_retries=params["shard_retries"],
            )  # fmt: skip
            summary = fetch_all(urls, **common, **cluster)
        else:
            summary = crawl(urls, **common, **crawl_settings)
    if not quiet:
        print_summary(summary, view, str(opts.out), str(opts.report_path))
    return summary.exit_code
