"""Running a whole bench: every chosen engine on the same workload, round after round.

Strategy: validate the config first (nothing starts on a bad value), make one bench directory
(under ``--workdir`` or the system temp dir), prepare the workload, then run the engines
interleaved — A B C, A B C, ... — so a noisy neighbour hurts every engine alike. Each run writes
into a directory of its own that is never reused, and the bench directory is deleted only at
the very end (deleting thousands of files right before a timed run slows the next one down on
ext4). A listener is told when each run starts and finishes (progress display).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Protocol

from fetchall.bench.measure import RunSettings, measure_run
from fetchall.bench.model import BenchReport, EngineResult, RunResult, machine_info
from fetchall.bench.presets import BenchConfig
from fetchall.bench.workload import prepare_workload


class BenchListener(Protocol):
    """Told about each run (e.g. `fetchall.bench.progress.BenchProgress`)."""

    def run_started(self, engine: str, round_no: int, rounds: int, index: int, total: int) -> None:
        """Run ``index`` of ``total`` (1-based) starts: ``engine`` in round ``round_no``."""

    def run_finished(self, run: RunResult) -> None:
        """A run has been measured."""


def run_bench(config: BenchConfig, listener: BenchListener | None = None) -> BenchReport:
    """Run every engine of ``config`` ``config.repeat`` times (interleaved) and measure each run.

    Raises `UsageError` on a bad config before anything starts.
    """
    config = config.validated()
    machine = machine_info()
    root = Path(tempfile.mkdtemp(prefix="fetchall-bench-", dir=config.workdir))
    try:
        with prepare_workload(config, root) as workload:
            results = []
            for name in config.engines:
                c, per_host = config.concurrency_for(name), config.per_host_for(name)
                results.append(EngineResult(name, c, per_host))
                if config.cluster is not None and name != "processes":  # cannot run on Dask
                    results.append(EngineResult(name, c, per_host, cluster=config.cluster))
            total = len(results) * config.repeat
            index = 0
            for round_no in range(1, config.repeat + 1):
                for result in results:
                    index += 1
                    if listener is not None:
                        listener.run_started(result.label, round_no, config.repeat, index, total)
                    settings = RunSettings(
                        result.engine, result.concurrency, result.per_host, config.run_timeout,
                        result.cluster,
                    )  # fmt: skip
                    run = measure_run(
                        settings,
                        workload.url_lists,
                        root
                        / f"run-{index:04d}-{result.engine}{'-cluster' if result.cluster else ''}",
                        round_no=round_no,
                        expected=workload.count,
                    )
                    result.runs.append(run)
                    if listener is not None:
                        listener.run_finished(run)
            info = dict(workload.info)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return BenchReport(machine=machine, workload=info, results=results)
