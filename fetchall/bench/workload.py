"""The work every engine of a bench gets: the user's URL files, or a generated list served by the
built-in server.

Strategy: `prepare_workload` is a context manager. With URL files it hands them over as they
are (absolute paths). Without, it starts `ServerThread` in this process on 127.0.0.1, port 0,
with the requested latency and jitter, writes ``count`` unique URLs
(``/bytes/{size}?i=N`` — unique, because a URL listed twice is fetched once) to a list file in
the bench directory, and stops the server on exit. The ideal wall time of a generated workload
is known: every request costs ``latency`` and at most ``min(concurrency, per-host, count)`` run
at once, so ``ceil(count / that) × latency``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fetchall.bench.presets import BenchConfig


@dataclass(frozen=True, slots=True)
class Workload:
    """The URL lists to give each child, and what the JSON says about them."""

    url_lists: tuple[Path, ...]
    count: int | None  # URLs per run when known (generated workloads)
    ideal_s: float | None
    info: dict[str, Any] = field(default_factory=dict)


def ideal_seconds(count: int, concurrency: int, per_host: int, latency: float) -> float:
    """``ceil(count / min(concurrency, per_host, count)) × latency`` (one host)."""
    width = max(1, min(concurrency, per_host, count))
    return math.ceil(count / width) * latency


def generated_urls(base_url: str, count: int, size: int) -> Iterator[str]:
    """``count`` distinct URLs of ``size``-byte bodies on the server at ``base_url``."""
    base = base_url.rstrip("/")
    for i in range(count):
        yield f"{base}/bytes/{size}?i={i}"


@contextmanager
def prepare_workload(config: BenchConfig, directory: Path) -> Iterator[Workload]:
    """Yield the workload of ``config`` (a validated config); list files go in ``directory``."""
    common: dict[str, Any] = {
        "concurrency": config.concurrency,
        "per_host": config.per_host,
        "engine_concurrency": dict(config.engine_concurrency),
        "engines": list(config.engines),
        "repeat": config.repeat,
        "retries": 0,
        "run_timeout_s": config.run_timeout,
        "preset": config.preset,
    }
    if not config.generated:
        files = tuple(path.resolve() for path in config.url_files)
        info = {
            "source": "url-files",
            "url_files": [str(path) for path in config.url_files],
            "server": None,
            "count": None,
            "size_bytes": None,
            "latency_s": None,
            "jitter_s": None,
            "ideal_s": None,
            **common,
        }
        yield Workload(files, None, None, info)
        return

    from fetchall.server import ServerThread

    per_host = config.per_host if config.per_host is not None else config.concurrency
    ideal = ideal_seconds(config.count, config.concurrency, per_host, config.latency)
    with ServerThread(
        host="127.0.0.1", port=0, latency=config.latency, jitter=config.jitter
    ) as srv:
        url_list = directory / "urls.txt"
        with open(url_list, "w", encoding="utf-8") as stream:
            for url in generated_urls(srv.base_url, config.count, config.size):
                stream.write(url + "\n")
        info = {
            "source": "builtin-server",
            "url_files": [],
            "server": srv.base_url,
            "count": config.count,
            "size_bytes": config.size,
            "latency_s": config.latency,
            "jitter_s": config.jitter,
            "ideal_s": ideal,
            **common,
        }
        yield Workload((url_list,), config.count, ideal, info)
