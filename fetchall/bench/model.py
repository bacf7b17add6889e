"""Bench results as data: a `RunResult` per child run, an `EngineResult` per engine, and the
whole `BenchReport`, with its stable JSON form (schema ``fetchall-bench/1``, see README).

Strategy: runs are stored raw; everything derived (medians, min–max, rates, speedup vs
``blocking``, the ratio to the ideal time) is computed from them on demand, so the JSON, the
table and the plot can never disagree. Medians are taken per field over the runs
(`statistics.median`) of the runs that completed — a timed-out or crashed run counts in the
failures only; a latency percentile a run could not measure (no rows) is null and left out.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import statistics
from dataclasses import dataclass, field
from typing import Any

SCHEMA = "fetchall-bench/1"
BASELINE = "blocking"
RUN_FIELDS: tuple[str, ...] = (
    "wall_s",
    "cpu_s",
    "max_rss_kib",
    "requests",
    "ok",
    "failed",
    "bytes",
    "p50_ms",
    "p95_ms",
    "p99_ms",
)
"""The measured fields of a run; `EngineResult.median` has each of them plus the rates."""
RATE_FIELDS: tuple[str, ...] = ("req_per_s", "mb_per_s")


@dataclass(frozen=True, slots=True)
class RunResult:
    """One engine run in one fresh child process."""

    engine: str
    round: int
    wall_s: float  # measured in the parent around the child (includes interpreter start-up)
    cpu_s: float  # user + system CPU of the child and the processes it waited for (0 if failed)
    max_rss_kib: int  # peak RSS of the child or its largest waited-for descendant (0 if failed)
    requests: int  # report rows
    ok: int
    failed: int  # failed rows, plus URLs that never got a row when the run itself failed
    bytes: int  # decoded body bytes saved
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    exit_code: int | None = None  # the child's exit status (negative: killed by that signal)
    error: str | None = None  # why the run itself failed (timeout, crash, no report), else None

    @property
    def req_per_s(self) -> float:
        """Report rows per second of wall time."""
        return self.requests / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def mb_per_s(self) -> float:
        """Decoded megabytes (10**6 bytes) saved per second of wall time."""
        return self.bytes / 1e6 / self.wall_s if self.wall_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of the run."""
        row: dict[str, Any] = {"round": self.round}
        row.update({name: getattr(self, name) for name in RUN_FIELDS})
        row.update(exit_code=self.exit_code, error=self.error)
        return row


@dataclass(slots=True)
class EngineResult:
    """Every run of one engine, with the settings it ran with."""

    engine: str
    concurrency: int
    per_host: int
    runs: list[RunResult] = field(default_factory=list)
    cluster: str | None = None
    """Run with ``--cluster`` this (``bench --cluster``), else one process."""

    @property
    def label(self) -> str:
        """The engine's name, with the cluster it ran on."""
        return self.engine if self.cluster is None else f"{self.engine} on {self.cluster}"

    @property
    def completed(self) -> list[RunResult]:
        """The runs that completed (a timed-out or crashed run's figures mean nothing)."""
        return [run for run in self.runs if run.error is None]

    def median(self) -> dict[str, float | None]:
        """Median of each run field and rate over the completed runs (None if there are none)."""
        medians: dict[str, float | None] = {}
        runs = self.completed
        for name in RUN_FIELDS + RATE_FIELDS:
            values = [getattr(run, name) for run in runs]
            present = [float(v) for v in values if v is not None]
            medians[name] = statistics.median(present) if present else None
        return medians

    @property
    def wall_min_s(self) -> float | None:
        """Fastest completed run's wall time."""
        return min((run.wall_s for run in self.completed), default=None)

    @property
    def wall_max_s(self) -> float | None:
        """Slowest completed run's wall time."""
        return max((run.wall_s for run in self.completed), default=None)

    @property
    def failed_runs(self) -> int:
        """Runs that did not complete (timeout, crash, no report)."""
        return sum(1 for run in self.runs if run.error is not None)

    @property
    def failed_requests(self) -> int:
        """Failed URLs over every run."""
        return sum(run.failed for run in self.runs)


@dataclass(slots=True)
class BenchReport:
    """A whole bench: the machine, the workload and one `EngineResult` per engine (in order)."""

    machine: dict[str, Any]
    workload: dict[str, Any]
    results: list[EngineResult]

    @property
    def ideal_s(self) -> float | None:
        """Ideal wall time of the generated workload (None for URL files)."""
        value = self.workload.get("ideal_s")
        return float(value) if isinstance(value, int | float) else None

    @property
    def all_ok(self) -> bool:
        """Every run completed and every URL of every run was ok."""
        return all(not r.failed_runs and not r.failed_requests for r in self.results)

    def baseline(self) -> EngineResult | None:
        """The ``blocking`` engine's result, if it ran."""
        return next((r for r in self.results if r.engine == BASELINE and not r.cluster), None)

    def speedup(self, result: EngineResult) -> float | None:
        """Median wall time of ``blocking`` divided by this engine's (None if unknown)."""
        base = self.baseline()
        if base is None:
            return None
        base_wall, wall = base.median()["wall_s"], result.median()["wall_s"]
        return base_wall / wall if base_wall is not None and wall else None

    def x_ideal(self, result: EngineResult) -> float | None:
        """This engine's median wall time as a multiple of the ideal time (None if unknown)."""
        ideal, wall = self.ideal_s, result.median()["wall_s"]
        return wall / ideal if ideal and wall is not None else None

    def to_json(self) -> dict[str, Any]:
        """The ``fetchall-bench/1`` document (see README "Comparing engines")."""
        return {
            "schema": SCHEMA,
            "machine": self.machine,
            "workload": self.workload,
            "results": [
                {
                    "engine": r.engine,
                    "cluster": r.cluster,
                    "concurrency": r.concurrency,
                    "per_host": r.per_host,
                    "runs": [run.to_dict() for run in r.runs],
                    "median": r.median(),
                    "wall_min_s": r.wall_min_s,
                    "wall_max_s": r.wall_max_s,
                    "failed_runs": r.failed_runs,
                    "speedup_vs_blocking": self.speedup(r),
                    "x_ideal": self.x_ideal(r),
                }
                for r in self.results
            ],
        }


def machine_info() -> dict[str, Any]:
    """CPU count, Python version and implementation, platform and the date (UTC, ISO 8601)."""
    return {
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
