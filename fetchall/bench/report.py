"""Rendering a `BenchReport`: the rich table, the workload and machine lines, the JSON file.

Strategy: pure formatting over `BenchReport` (which derives every figure), so the table and the
JSON always agree. Missing figures (no ``blocking`` run, no ideal for URL files, a run without
rows) show as ``—`` in the table and ``null`` in the JSON. The plot lives in `plot` because it
needs the optional matplotlib.
"""

from __future__ import annotations

import json
from pathlib import Path

from rich.table import Table

from fetchall.bench.model import BASELINE, BenchReport, EngineResult

DASH = "—"


def _num(value: float | None, digits: int) -> str:
    return DASH if value is None else f"{value:,.{digits}f}"


def _ratio(value: float | None) -> str:
    return DASH if value is None else f"{value:.2f}×"


def human_size(n: float) -> str:
    """``1536`` → ``"1.5 KiB"``."""
    for unit in ("B", "KiB", "MiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def wall_cell(result: EngineResult) -> str:
    """``"1.52"`` for one run, ``"1.52 (1.50–1.60)"`` for several."""
    wall = result.median()["wall_s"]
    if wall is None:
        return DASH
    if len(result.runs) < 2 or result.wall_min_s is None or result.wall_max_s is None:
        return f"{wall:.2f}"
    return f"{wall:.2f} ({result.wall_min_s:.2f}–{result.wall_max_s:.2f})"


def concurrency_cell(result: EngineResult) -> str:
    """The ``-c`` the engine ran with, or ``seq`` for a sequential engine (it ignores ``-c``)."""
    from fetchall.engines import ENGINES

    info = ENGINES.get(result.engine)
    return "seq" if info is not None and not info.concurrent else str(result.concurrency)


def failures_cell(result: EngineResult) -> str:
    """Failed URLs over all runs, plus how many runs did not complete."""
    text = str(result.failed_requests)
    if result.failed_runs:
        text += f" ({result.failed_runs} run{'s' if result.failed_runs > 1 else ''} failed)"
    return text


def render_table(report: BenchReport) -> Table:
    """One row per engine: medians over its runs (the ``× ideal`` column only when known)."""
    table = Table(title="fetchall bench", title_justify="left")
    table.add_column("engine")
    table.add_column("c", justify="right")
    table.add_column("wall s (min–max)", justify="right")
    table.add_column("req/s", justify="right")
    table.add_column("MB/s", justify="right")
    table.add_column("p50/p95/p99 ms", justify="right")
    table.add_column("CPU s", justify="right")
    table.add_column("peak RSS MiB", justify="right")
    table.add_column("failures", justify="right")
    table.add_column(f"speedup vs {BASELINE}", justify="right")
    ideal = report.ideal_s is not None
    if ideal:
        table.add_column("× ideal", justify="right")
    for result in report.results:
        median = result.median()
        rss = median["max_rss_kib"]
        latency = "/".join(_num(median[key], 0) for key in ("p50_ms", "p95_ms", "p99_ms"))
        row = [
            result.label,
            concurrency_cell(result),
            wall_cell(result),
            _num(median["req_per_s"], 1),
            _num(median["mb_per_s"], 2),
            latency,
            _num(median["cpu_s"], 2),
            _num(None if rss is None else rss / 1024, 1),
            failures_cell(result),
            _ratio(report.speedup(result)),
        ]
        if ideal:
            row.append(_ratio(report.x_ideal(result)))
        table.add_row(*row)
    return table


def workload_line(report: BenchReport) -> str:
    """One line: what every engine fetched, with which limits, how often."""
    w = report.workload
    if w.get("source") == "builtin-server":
        what = (
            f"{w['count']} URLs × {human_size(w['size_bytes'])} from the built-in server on "
            f"{w['server']} (latency {w['latency_s']:g} s, jitter {w['jitter_s']:g} s)"
        )
    else:
        what = "URL files " + ", ".join(w.get("url_files") or [])
    per_engine = w.get("engine_concurrency") or {}
    limits = f"concurrency {w['concurrency']}"
    shown = [f"{name} {c}" for name, c in per_engine.items() if name in w.get("engines", [])]
    if shown:
        limits += f" ({', '.join(shown)})"
    per_host = w.get("per_host")
    limits += ", per-host " + (str(per_host) if per_host is not None else "= concurrency")
    rounds = w["repeat"]
    line = f"workload: {what}; {limits}; {rounds} round{'s' if rounds != 1 else ''}"
    line += " interleaved" if rounds != 1 else ""
    line += f"; retries 0; a fresh process per run (timeout {w['run_timeout_s']:g} s)"
    if w.get("preset"):
        line += f"; preset {w['preset']}"
    if report.ideal_s is not None:
        line += f"; ideal {report.ideal_s:.2f} s"
    return line


def machine_line(report: BenchReport) -> str:
    """One line: CPU count, Python, platform, date."""
    m = report.machine
    return (
        f"machine: {m.get('cpu_count')} CPUs, {m.get('implementation')} {m.get('python')}, "
        f"{m.get('platform')}, {m.get('date')}"
    )


def write_json(report: BenchReport, path: Path) -> None:
    """Write the ``fetchall-bench/1`` document to ``path`` (UTF-8, indented)."""
    path.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
