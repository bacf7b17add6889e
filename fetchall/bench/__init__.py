"""``fetchall bench``: run engines on the same work, measure each in a fresh process, report.

Modules, one job each: `presets` (the config, engine list, presets), `workload` (URL files or a
generated list on the built-in server, the ideal time), `measure` (one child run: wall, CPU,
peak RSS, report figures), `session` (interleaved rounds, temp directories), `model` (results
and the ``fetchall-bench/1`` JSON), `report` (table, lines, JSON file), `plot` (PNG, optional
matplotlib), `progress` (the display while it runs).

    from fetchall.bench import build_config, run_bench
    report = run_bench(build_config(engines="blocking,asyncio", count=4, latency=0.01))
    print(report.to_json()["results"][0]["median"]["wall_s"])
"""

from fetchall.bench.model import SCHEMA, BenchReport, EngineResult, RunResult
from fetchall.bench.presets import PRESETS, BenchConfig, build_config, seed_preset
from fetchall.bench.session import BenchListener, run_bench

__all__ = [
    "PRESETS",
    "SCHEMA",
    "BenchConfig",
    "BenchListener",
    "BenchReport",
    "EngineResult",
    "RunResult",
    "build_config",
    "run_bench",
    "seed_preset",
]
