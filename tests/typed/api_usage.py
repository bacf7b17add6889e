"""The public API as a user's script uses it, checked with ``mypy --strict`` (``make typecheck``)
against the installed package, so the types users see (``py.typed``) stay precise. Never run.
"""

from __future__ import annotations

from pathlib import Path

from fetchall import (
    SKIP,
    Callback,
    CallbackRegistry,
    CallbackResult,
    FetchOptions,
    Response,
    Result,
    RunSummary,
    UsageError,
    __version__,
    fetch_all,
    on_host,
)


@on_host("api.example.com")
def keep_json(resp: Response) -> str | None:
    """Save JSON under its id, let everything else take its default path."""
    if resp.content_type != "application/json":
        return None
    item: object = resp.json()
    assert isinstance(item, dict)
    resp.enqueue(f"https://api.example.com/items/{item['id']}/related")
    return f"api/{item['id']}.json"


def drop_empty(resp: Response) -> CallbackResult:
    """Skip empty bodies (SKIP is the sentinel a callback returns to save nothing)."""
    return SKIP if resp.size == 0 else None


def report(result: Result) -> None:
    status: int | None = result.status
    path: str | None = result.path
    print(result.url, result.ok, status, path, result.error_type)


def main() -> int:
    handlers: dict[str, Callback] = {"*.example.org": keep_json, "*.example.net": drop_empty}
    registry = CallbackRegistry(handlers)
    registry.add("cdn.example.com", drop_empty)
    options = FetchOptions(engine="asyncio", out=Path("downloads"), concurrency=20, per_host=4)
    try:
        summary: RunSummary = fetch_all(
            ["https://example.com/"],
            url_files=["urls.txt"],
            callbacks=registry,
            on_result=report,
            options=options,
        )
        again = fetch_all(iter(["https://example.com/a"]), engine="keepalive", rate="30/m")
    except UsageError as exc:
        print(f"bad options: {exc}")
        return 2
    print(__version__, summary.ok, summary.failed, summary.total, again.bytes)
    return summary.exit_code
