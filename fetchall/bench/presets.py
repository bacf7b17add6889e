"""What a bench run is asked to do: `BenchConfig`, the engine-list parser and the presets.

Strategy: one frozen record holds every knob; `BenchConfig.validated()` checks all of them (and
resolves ``all`` to the registered engines) before anything starts, raising `UsageError` with a
one-line message. A preset is just a function returning a `BenchConfig`; explicit settings are
applied on top of it (`build_config`), so ``--preset seed --engines blocking,asyncio`` works.
Per-engine concurrency (the seed's pools sized to the CPU count) lives in
``engine_concurrency``; every other engine gets ``concurrency``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from fetchall.errors import UsageError

MAX_COUNT = 1_000_000
MAX_REPEAT = 1000
MAX_LATENCY = 300.0
MAX_SIZE = 1 << 30  # what the built-in server serves at most


@dataclass(frozen=True, slots=True)
class BenchConfig:
    """Every setting of a bench run. Defaults are the CLI's defaults."""

    engines: tuple[str, ...] = ("all",)
    url_files: tuple[Path, ...] = ()
    count: int = 100
    latency: float = 0.1
    jitter: float = 0.0
    size: int = 1024
    concurrency: int = 50
    per_host: int | None = None  # None: the engine's concurrency (bench targets one host)
    engine_concurrency: Mapping[str, int] = field(default_factory=dict, hash=False)
    repeat: int = 1
    run_timeout: float = 600.0
    workdir: Path | None = None
    preset: str | None = None
    cluster: str | None = None
    """Also run each engine (but ``processes``) with ``--cluster`` this, side by side."""

    @property
    def generated(self) -> bool:
        """True when the workload is generated on the built-in server (no URL files)."""
        return not self.url_files

    def concurrency_for(self, engine: str) -> int:
        """The ``-c`` given to ``engine`` (a preset may size some engines differently)."""
        return self.engine_concurrency.get(engine, self.concurrency)

    def per_host_for(self, engine: str) -> int:
        """The ``--per-host`` given to ``engine``: ``per_host``, or its concurrency if unset."""
        return self.per_host if self.per_host is not None else self.concurrency_for(engine)

    def validated(self) -> BenchConfig:
        """Return a copy with ``all`` resolved; raise `UsageError` on the first bad value."""
        engines = resolve_engines(self.engines)
        _int_in("count", self.count, 1, MAX_COUNT)
        _int_in("size", self.size, 1, MAX_SIZE)
        _int_in("concurrency", self.concurrency, 1, 100_000)
        if self.per_host is not None:
            _int_in("per-host", self.per_host, 1, 100_000)
        for name, value in self.engine_concurrency.items():
            _int_in(f"concurrency of {name}", value, 1, 100_000)
        _int_in("repeat", self.repeat, 1, MAX_REPEAT)
        _seconds("latency", self.latency, MAX_LATENCY, allow_zero=True)
        _seconds("jitter", self.jitter, MAX_LATENCY, allow_zero=True)
        _seconds("run-timeout", self.run_timeout, 7 * 24 * 3600.0, allow_zero=False)
        for path in self.url_files:
            if str(path) == "-":
                raise UsageError("bench reads URL lists from files, not '-' (stdin)")
            if not path.is_file() or not os.access(path, os.R_OK):
                raise UsageError(f"cannot read URL list {path}")
        if self.workdir is not None and not self.workdir.is_dir():
            raise UsageError(f"--workdir: no such directory: {self.workdir}")
        if self.cluster is not None:
            from fetchall.cluster.connect import parse_cluster

            parse_cluster(self.cluster)
        return replace(self, engines=engines)


def resolve_engines(names: tuple[str, ...]) -> tuple[str, ...]:
    """``("all",)`` → every registered engine; otherwise check each name (order kept)."""
    from fetchall.engines import ENGINES

    if names == ("all",):
        return tuple(ENGINES)
    if not names:
        raise UsageError("--engines: give 'all' or a comma-separated list of engines")
    chosen: list[str] = []
    for name in names:
        if name not in ENGINES:
            raise UsageError(f"unknown engine {name!r} (choose from all, {', '.join(ENGINES)})")
        if name not in chosen:
            chosen.append(name)
    return tuple(chosen)


def parse_engines(text: str) -> tuple[str, ...]:
    """``"all"`` or ``"blocking, asyncio"`` → a tuple of names (checked by `validated`)."""
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    return ("all",) if names == ("all",) else names


def seed_preset(cpu_count: int | None = None) -> BenchConfig:
    """The seed experiment: 20 URLs, 0.5 s latency, every engine; concurrency 20 for the
    event-loop engines, and thread/process pools sized to the CPU count, as in the seed."""
    cpus = cpu_count if cpu_count is not None else (os.cpu_count() or 1)
    return BenchConfig(
        engines=("all",),
        count=20,
        latency=0.5,
        concurrency=20,
        engine_concurrency={"threads": cpus, "processes": cpus},
        preset="seed",
    )


def latency_preset() -> BenchConfig:
    """Latency-bound work: 1,000 URLs, 100 ms latency, concurrency 100, every engine."""
    return BenchConfig(engines=("all",), count=1000, latency=0.1, concurrency=100, preset="latency")


PRESETS: dict[str, Callable[[], BenchConfig]] = {"seed": seed_preset, "latency": latency_preset}
"""Preset name → builder."""


def build_config(preset: str | None = None, **settings: Any) -> BenchConfig:
    """The preset's config (or the defaults) with every non-None setting applied on top.

    Raises `UsageError` for an unknown preset, an unknown setting, or URL files with a preset
    (a preset builds its own workload).
    """
    if preset is None:
        base = BenchConfig()
    elif preset in PRESETS:
        base = PRESETS[preset]()
    else:
        raise UsageError(f"unknown preset {preset!r} (choose from {', '.join(PRESETS)})")
    known = {f.name for f in fields(BenchConfig)}
    unknown = set(settings) - known
    if unknown:
        raise UsageError(f"unknown bench setting(s): {', '.join(sorted(unknown))}")
    changes = {key: value for key, value in settings.items() if value is not None}
    if preset is not None and changes.get("url_files"):
        raise UsageError(f"--preset {preset} builds its own workload: give no URL files")
    if changes.get("url_files"):
        server_only = sorted({"count", "latency", "jitter", "size"} & set(changes))
        if server_only:
            flags = ", ".join(f"--{name}" for name in server_only)
            raise UsageError(f"{flags} only apply to the built-in server, not to URL files")
        changes["url_files"] = tuple(Path(p) for p in changes["url_files"])
    if isinstance(changes.get("engines"), str):
        changes["engines"] = parse_engines(changes["engines"])
    return replace(base, **changes)


def _int_in(name: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise UsageError(f"--{name} must be a whole number from {low} to {high}, got {value!r}")


def _seconds(name: str, value: float, high: float, *, allow_zero: bool) -> None:
    ok = isinstance(value, int | float) and math.isfinite(value) and value <= high
    ok = ok and (value >= 0 if allow_zero else value > 0)
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise UsageError(f"--{name} must be a finite number of seconds {bound}, at most {high:g}")
