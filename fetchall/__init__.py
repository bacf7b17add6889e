"""fetchall: download URL lists concurrently through interchangeable I/O engines.

Python API::

    from fetchall import fetch_all, on_host, Response, SKIP

    @on_host("api.example.com")
    def keep_json(resp: Response):
        return f"api/{resp.json()['id']}.json"

    summary = fetch_all(["https://api.example.com/items/1"], engine="asyncio", out="downloads")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fetchall import build

__version__ = "0.1.0"

build.choose()  # the mypyc-compiled modules, if built, unless FETCHALL_PURE=1 or stale

__all__ = [
    "SKIP",
    "Callback",
    "CallbackRegistry",
    "CallbackResult",
    "FetchOptions",
    "Response",
    "Result",
    "RunSummary",
    "UsageError",
    "__version__",
    "crawl",
    "fetch_all",
    "on_host",
]

_LAZY = {
    "SKIP": "fetchall.callbacks",
    "Callback": "fetchall.callbacks",
    "CallbackRegistry": "fetchall.callbacks",
    "CallbackResult": "fetchall.callbacks",
    "Response": "fetchall.callbacks",
    "on_host": "fetchall.callbacks",
    "FetchOptions": "fetchall.options",
    "Result": "fetchall.result",
    "RunSummary": "fetchall.summary",
    "UsageError": "fetchall.errors",
    "fetch_all": "fetchall.api",
    "crawl": "fetchall.api",
}

if TYPE_CHECKING:
    from fetchall.api import crawl, fetch_all
    from fetchall.callbacks import (
        SKIP,
        Callback,
        CallbackRegistry,
        CallbackResult,
        Response,
        on_host,
    )
    from fetchall.errors import UsageError
    from fetchall.options import FetchOptions
    from fetchall.result import Result
    from fetchall.summary import RunSummary


def __getattr__(name: str) -> Any:
    """Import public names lazily, so ``import fetchall`` stays cheap."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'fetchall' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(module), name)
