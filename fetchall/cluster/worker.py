"""What a Dask worker runs: one shard, fetched by the ordinary runner in the worker's process.

Strategy: `run_shard` is the task function. It fetches the shard's URLs with `fetch_all` and the
run's options, except that the worker keeps no state (the coordinator is the only writer of the
state store) and writes its report to a private temporary file: the rows go back to the
coordinator as the task's result, keyed by the coordinator's row ids. Bodies go straight into
the shared output directory: temporary names are unique per process (pid, counter, random), and
each file is renamed into place when complete, at a name derived from its URL, so a shard that
runs again (its worker was killed) rewrites the same files and never duplicates one; a shard
leaves the shared temp dir in place when it ends (``shared_out``: the other workers are still
writing into it), and the coordinator removes it at the end of the run. The task
blocks its worker's one thread until the shard ends. A stop file the coordinator writes when
interrupted makes a running shard stop at its next result (a Dask cancel cannot stop a running
task), so nothing keeps writing into the output directory after the coordinator has gone.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fetchall.callbacks import Callback, CallbackRegistry, CallbackResult, Response
from fetchall.cluster.shards import Shard
from fetchall.result import Result

STOP_POLL = 0.5
"""Seconds between looks at the stop file."""


@dataclass
class ShardResult:
    """What a shard sends back: a row per URL it ended, and the worker's counts."""

    shard: int
    rows: list[tuple[int, Result]] = field(default_factory=list)
    interrupted: bool = False
    robots_blocked: int = 0
    robots_requests: int = 0
    cooldowns: int = 0
    worker: str = ""
    items: list[str] = field(default_factory=list)
    """The JSON lines callbacks emitted (the coordinator writes them to ``DIR/items.jsonl``)."""
    started: float = 0.0
    ended: float = 0.0
    """Wall-clock times (``time.time``) of the shard's fetch on its worker."""


def run_shard(
    shard: Shard,
    settings: dict[str, Any],
    callbacks: CallbackRegistry,
    stop_file: str,
    previous: object = None,
) -> ShardResult:
    """Fetch ``shard`` with the run's ``settings`` (`FetchOptions` fields) and ``callbacks``
    (pickled by value with the task); ``previous`` is the result of the chunk before it (only
    waited for: Dask starts this task once it exists)."""
    from fetchall.api import fetch_all

    registry = callbacks.wrapped(_without_enqueue)
    by_text = {item.text: item.row_id for item in shard.items}
    result = ShardResult(
        shard.id, worker=f"{os.uname().nodename}:{os.getpid()}", started=time.time()
    )
    watch = _StopWatch(Path(stop_file))

    def collect(row: Result) -> None:
        row_id = by_text.get(row.url)
        if row_id is not None:
            result.rows.append((row_id, row))
        if watch.stopped():
            raise KeyboardInterrupt

    with tempfile.TemporaryDirectory(prefix="fetchall-shard-") as scratch:
        shard_settings = {
            **settings, "use_state": False, "state": None, "resume": False, "fresh": False,
            "shared_out": True,
            "refresh": False, "retry_failed": False, "report": Path(scratch) / "report.jsonl",
            "items_file": Path(scratch) / "items.jsonl",
        }  # fmt: skip
        summary = fetch_all(
            [item.text for item in shard.items], callbacks=registry, on_result=collect,
            **shard_settings,
        )  # fmt: skip
        with contextlib.suppress(FileNotFoundError):
            result.items = (Path(scratch) / "items.jsonl").read_text("utf-8").splitlines(True)
    result.ended = time.time()
    result.interrupted = summary.interrupted
    result.robots_blocked = summary.robots_blocked
    result.robots_requests = summary.robots_requests
    result.cooldowns = summary.cooldowns
    return result


def _refuse_enqueue(url: str) -> None:
    raise RuntimeError(
        "enqueue/follow is not available under --cluster (a shard holds whole hosts, planned "
        "by the coordinator): list the URL in the input instead"
    )


def _without_enqueue(callback: Callback) -> Callback:
    """``callback`` with `Response.enqueue` refused: a URL it added would be fetched on this
    worker with no row, no state and no per-host sharding."""

    def guarded(response: Response) -> CallbackResult:
        response._enqueue = _refuse_enqueue
        return callback(response)

    return guarded


class _StopWatch:
    """Whether the coordinator's stop file exists, looked at most every `STOP_POLL` s."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._next = 0.0
        self._stopped = False

    def stopped(self) -> bool:
        """True once, when the stop file is first seen (the run then stops like a Ctrl-C)."""
        now = time.monotonic()
        if self._stopped or now < self._next:
            return False
        self._next = now + STOP_POLL
        self._stopped = self.path.exists()
        return self._stopped
