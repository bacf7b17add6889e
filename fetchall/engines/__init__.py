"""The engine registry: one line per engine. Modules are imported lazily (aiohttp costs 0.2 s).

A new engine is one module with a class that has ``name`` and ``run(ctx)``, plus one line here.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from types import ModuleType
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from fetchall.engines.base import Engine


@dataclass(frozen=True, slots=True)
class EngineInfo:
    """What `fetchall engines` shows about an engine."""

    name: str
    factory: str
    io_model: str
    http: str
    concurrent: bool
    seed_step: str
    keep_alive: bool = False
    """The engine reuses connections: the policy asks for ``Connection: keep-alive``."""


ENGINES: dict[str, EngineInfo] = {
    info.name: info
    for info in (
        EngineInfo(
            "blocking",
            "fetchall.engines.blocking:BlockingEngine",
            "one blocking socket at a time, sequential",
            "hand-built HTTP/1.0",
            False,
            "sequential blocking requests",
        ),
        EngineInfo(
            "threads",
            "fetchall.engines.threads:ThreadsEngine",
            "blocking sockets in a thread pool (a thread per URL in flight, at most 512)",
            "hand-built HTTP/1.0",
            True,
            "thread pool",
        ),
        EngineInfo(
            "processes",
            "fetchall.engines.processes:ProcessesEngine",
            "blocking sockets in a forkserver process pool (4 workers per CPU at most)",
            "hand-built HTTP/1.0",
            True,
            "process pool",
        ),
        EngineInfo(
            "polling",
            "fetchall.engines.polling:PollingEngine",
            "non-blocking sockets, busy polling, sequential (the naive step)",
            "hand-built HTTP/1.0",
            False,
            "busy-poll non-blocking sockets",
        ),
        EngineInfo(
            "select",
            "fetchall.engines.select:SelectEngine",
            "non-blocking sockets, a selectors event loop with callbacks",
            "hand-built HTTP/1.0",
            True,
            "select callbacks",
        ),
        EngineInfo(
            "generator",
            "fetchall.engines.generator:GeneratorEngine",
            "generator coroutines (Future, Task, yield from) on our own selectors scheduler",
            "hand-built HTTP/1.0",
            True,
            "generator coroutines (Future/Task, yield from)",
        ),
        EngineInfo(
            "asyncio",
            "fetchall.engines.asyncio:AsyncioEngine",
            "asyncio.open_connection streams, one task per URL",
            "hand-built HTTP/1.0",
            True,
            "asyncio streams",
        ),
        EngineInfo(
            "aiohttp",
            "fetchall.engines.aiohttp:AiohttpEngine",
            "aiohttp.ClientSession, connector limits, keep-alive",
            "aiohttp's HTTP/1.1",
            True,
            "aiohttp ClientSession",
        ),
        EngineInfo(
            "keepalive",
            "fetchall.engines.keepalive:KeepaliveEngine",
            "asyncio Protocol, HTTP/1.1 persistent connections per host, optional pipelining "
            "(uvloop when installed)",
            "hand-built HTTP/1.1 keep-alive and pipelining",
            True,
            "beyond the seeds: connection reuse",
            keep_alive=True,
        ),
    )
}


def engine_module(name: str) -> ModuleType:
    """Import the module of the engine called ``name`` (a key of `ENGINES`)."""
    return import_module(ENGINES[name].factory.partition(":")[0])


def create_engine(name: str) -> Engine:
    """Instantiate the engine called ``name`` (a key of `ENGINES`)."""
    class_name = ENGINES[name].factory.partition(":")[2]
    return cast("Engine", getattr(engine_module(name), class_name)())
