"""The coordinator of ``--cluster``: plans shards by host and runs them on Dask workers.

Strategy: the coordinator is the state store's only writer. It imports the whole input into the
store (bad lines and duplicates handled as in a local run; a resumed run skips what was
imported), then plans shards from the store's queued URLs host by host (`shards.plan`) and
submits them to the cluster through a window of at most a few shards per worker, so the plan
never sits whole in memory. The chunks of a big host are chained: each is submitted with the
previous chunk's future as an argument, so Dask starts it only after that one ended. As shards
end, their rows are written to the report and recorded in the store (committed after each
shard; Ctrl-C waits until the shard being recorded is recorded whole, so no saved file is left
without its row). A shard whose worker died runs again elsewhere (``--shard-retries``: Dask's
retries and allowed failures); a shard that still fails gives each of its URLs a failed row
(``cluster``). Ctrl-C: a stop file tells running shards to stop, what they finished is
recorded, the rest are cancelled, the store is committed (the URLs that did not end stay queued
for ``--resume``) and the run ends interrupted. A lost scheduler ends the run with a one-line
error the same way (its shards' URLs stay queued; the stop file stops those still running).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fetchall.cluster.connect import ClusterSpec, connected
from fetchall.cluster.shards import Item, Shard, plan
from fetchall.cluster.worker import ShardResult, run_shard
from fetchall.errors import UsageError
from fetchall.frontier.stored import StoreFrontier
from fetchall.inputsize import RunProgress
from fetchall.interrupts import interrupts_held
from fetchall.options import FetchOptions
from fetchall.output.items import ITEMS_NAME, ItemsWriter
from fetchall.output.report import ReportWriter
from fetchall.output.writer import STATE_DIR, OutputDir
from fetchall.politeness import HostStatus
from fetchall.result import Result
from fetchall.state.modes import begin_run, finish_run, open_report
from fetchall.state.schema import finished_record
from fetchall.state.store import StateStore
from fetchall.summary import RunSummary
from fetchall.urllists import RawLine
from fetchall.urls import BadLine

if TYPE_CHECKING:
    from distributed import Client, Future

    from fetchall.callbacks import CallbackRegistry

WINDOW_PER_WORKER = 2
"""Shards placed on a worker and not ended: one running, the next queued behind it."""
TIMELINE = bool(os.environ.get("FETCHALL_CLUSTER_TIMELINE"))
"""Print each shard's worker and times to stderr as it ends (for benchmarks)."""
STOP_WAIT = 10.0
"""Seconds Ctrl-C waits for running shards to send back what they finished."""
POLL = 1.0
"""Seconds between looks at the client's connection while no shard ends."""


class _SchedulerLost(Exception):
    """The client lost the scheduler: its shards will never end."""


def _next_ended(client: Client, running: dict[Future[ShardResult], Any]) -> Future[ShardResult]:
    """The next of the ``running`` shards that ended, in the order they were placed.

    A client that loses the scheduler cancels all its futures at once (and closes after its
    reconnect timeout); Dask's ``as_completed`` then waited forever. A cancelled future here
    is that loss (the run cancels its own only after Ctrl-C): `_SchedulerLost`.
    """
    from distributed import wait

    while True:
        for future in running:
            if future.status == "cancelled":
                raise _SchedulerLost
            if future.done():
                return future
        if client.status in ("closing", "closed"):
            raise _SchedulerLost
        with contextlib.suppress(Exception):  # TimeoutError: look at the client again
            wait(list(running), timeout=POLL, return_when="FIRST_COMPLETED")


class ClusterRun:
    """One ``--cluster`` run (see module docstring); `run` returns the summary."""

    def __init__(
        self,
        opts: FetchOptions,
        source: Iterator[RawLine],
        cluster: ClusterSpec,
        *,
        callbacks: CallbackRegistry,
        listeners: tuple[Callable[[Result], None], ...] = (),
        shard_size: int,
        shard_retries: int,
    ) -> None:
        if opts.engine == "processes":
            raise UsageError(
                "--cluster cannot use the processes engine (Dask workers are daemonic and "
                "cannot start processes): use threads, asyncio, aiohttp, keepalive, select, "
                "generator, polling or blocking"
            )
        self.opts = opts.with_changes(out=opts.out.resolve())
        self.summary = RunSummary(engine=opts.engine)
        self._source = source
        self._cluster = cluster
        self._callbacks = callbacks
        self._listeners = listeners
        self._shard_size = shard_size
        self._shard_retries = shard_retries
        self._in_flight = 0
        self._store: StateStore | None = None
        self._report: ReportWriter | None = None
        self._frontier: StoreFrontier | None = None
        self._items_out = ItemsWriter(
            self.opts.items_file or self.opts.out / ITEMS_NAME, append=opts.resume
        )

    # ---- what a progress display reads (like a `Runner`) ----

    def progress(self) -> RunProgress:
        """Rows known (the input is imported first) and URLs in running shards."""
        frontier = self._frontier
        if frontier is None:
            return RunProgress(0, None, False, 0)
        return RunProgress(frontier.rows_known, frontier.position, True, self._in_flight)

    def host_status(self) -> HostStatus:
        """Hosts are held back on the workers: not seen here."""
        return HostStatus(0, 0, 0)

    # ---- running ----

    def run(self) -> RunSummary:
        """Import, plan, run the shards, record; the summary."""
        opts = self.opts
        state_path = opts.state_path
        assert state_path is not None
        out = OutputDir(opts.out)
        started = time.monotonic()
        store = self._store = StateStore.open(state_path)
        try:
            start = begin_run(
                store, out=opts.out, resume=opts.resume, fresh=opts.fresh,
                refresh=opts.refresh, retry_failed=opts.retry_failed,
            )  # fmt: skip
            out.remove_stale_temps()
            self.summary.resumed, self.summary.resumed_failed = start.carried, start.carried_failed
            self._report = open_report(store, start, opts.report_path)
            complete = self._run(store)
            finish_run(store, complete=complete)
        finally:
            out.remove_temps(pids=())  # the temp dir the shards left, if it is empty
            self._items_out.close()
            if self._report is not None:
                self._report.close()
            store.close()
        self.summary.elapsed = time.monotonic() - started
        return self.summary

    def _run(self, store: StateStore) -> bool:
        assert self._report is not None
        frontier = self._frontier = StoreFrontier(
            store, self._source, self._emit_bad_line, per_host=self.opts.per_host,
            concurrency=self.opts.concurrency, engine=self.opts.engine, report=self._report,
        )  # fmt: skip
        try:
            frontier.import_all()
        except KeyboardInterrupt:
            self.summary.interrupted = True
        self.summary.duplicates = frontier.duplicates
        self._commit()
        if self.summary.interrupted:
            return False
        stop_file = self.opts.out / STATE_DIR / f"cluster-stop-{uuid.uuid4().hex}"
        stop_file.parent.mkdir(parents=True, exist_ok=True)
        try:
            timeout, retries = self.opts.connect_timeout, self._shard_retries
            with connected(self._cluster, timeout, retries) as (client, workers):
                self.summary.workers = workers
                self._run_shards(client, stop_file)
        except KeyboardInterrupt:
            self.summary.interrupted = True
        finally:
            self._commit()
            with contextlib.suppress(OSError):
                stop_file.unlink()
        return not self.summary.interrupted

    def _run_shards(self, client: Client, stop_file: Path) -> None:
        """Keep every worker at `WINDOW_PER_WORKER` shards (one running, the next queued on
        it, so it never waits for the coordinator), placing each shard ourselves: left to
        itself, Dask put a new shard behind a busy worker while another sat idle (measured:
        1.6 s idle of 14 s). A chunk goes where the chunk before it went (its dependency);
        ``allow_other_workers`` lets a shard whose worker died run elsewhere."""
        assert self._store is not None
        shards = plan(self._hosts(self._store), self._shard_size)
        settings = self._settings()
        running: dict[Future[ShardResult], tuple[Shard, str]] = {}
        load: dict[str, int] = {}  # worker address -> its shards running or queued
        last: tuple[int, Future[ShardResult], str] | None = None  # chunks come in a row
        held: Shard | None = None  # a chunk waiting for room on its predecessor's worker
        run_id = stop_file.name.rsplit("-", 1)[-1][:12]
        try:
            while True:
                for address in client.scheduler_info(n_workers=-1).get("workers", {}):
                    load.setdefault(address, 0)
                while (shard := held or next(shards, None)) is not None:
                    held = None
                    previous = None
                    if last is not None and shard.after == last[0]:
                        previous, address = last[1], last[2]
                    else:
                        address = min(load, key=load.__getitem__, default="")
                    if load.get(address, 0) >= WINDOW_PER_WORKER:
                        held = shard
                        break
                    future = client.submit(
                        run_shard, shard, settings, self._callbacks, str(stop_file), previous,
                        pure=False, retries=self._shard_retries,
                        key=f"fetchall-{run_id}-shard-{shard.id}",
                        workers=[address] if address else None, allow_other_workers=True,
                    )  # fmt: skip
                    load[address] = load.get(address, 0) + 1
                    running[future] = (shard, address)
                    last = (shard.id, future, address)
                    self._in_flight += len(shard.items)
                if not running:
                    return
                future = _next_ended(client, running)
                with interrupts_held():  # a shard is recorded whole, or not at all
                    shard, address = running.pop(future)
                    load[address] -= 1
                    self._in_flight -= len(shard.items)
                    self._shard_ended(future, shard)
        except KeyboardInterrupt:
            self._stop(client, {f: shard for f, (shard, _) in running.items()}, stop_file)
            raise
        except _SchedulerLost:
            stop_file.touch()  # shards still running on live workers stop at their next URL
            raise UsageError(
                f"--cluster {self._cluster}: lost the Dask scheduler; the URLs that did not end "
                "stay queued for --resume"
            ) from None

    def _stop(self, client: Client, running: dict[Future[ShardResult], Shard], stop: Path) -> None:
        """Ctrl-C: the stop file makes running shards stop at their next result and send back
        what ended (up to `STOP_WAIT` seconds; a second Ctrl-C stops the wait, and what ended
        by then is still recorded); the rest are cancelled. Their URLs that did not end stay
        queued for ``--resume``."""
        from distributed import wait

        stop.touch()
        with contextlib.suppress(Exception, KeyboardInterrupt):
            wait(list(running), timeout=STOP_WAIT)
        with interrupts_held():
            for future, shard in list(running.items()):
                if future.done():
                    del running[future]
                    self._shard_ended(future, shard)
            client.cancel(list(running))

    def _shard_ended(self, future: Future[ShardResult], shard: Shard) -> None:
        try:
            ended: ShardResult = future.result()
        except Exception as exc:  # the shard failed for good (its worker died too often...)
            error = f"shard lost after {self._shard_retries} retries: {type(exc).__name__}: {exc}"
            for item in shard.items:
                self._emit(item, Result(url=item.text, engine=self.opts.engine,
                                        error_type="cluster", error=error[:500]))  # fmt: skip
            self._commit()
            return
        if TIMELINE:
            print(f"shard {shard.id} {len(shard.items)} {ended.worker} {ended.started:.3f} "
                  f"{ended.ended:.3f} got {time.time():.3f}", file=sys.stderr)  # fmt: skip
        for line in ended.items:
            self._items_out.write_line(line)
        self.summary.items += len(ended.items)
        items = {item.row_id: item for item in shard.items}
        for row_id, row in ended.rows:
            if row.error_type != "interrupted":  # stopped in flight: stays queued
                self._emit(items[row_id], row)
        summary = self.summary
        summary.robots_blocked += ended.robots_blocked
        summary.robots_requests += ended.robots_requests
        summary.cooldowns += ended.cooldowns
        self._commit()

    # ---- rows ----

    def _emit(self, item: Item, result: Result) -> None:
        assert self._store is not None and self._report is not None
        self.summary.count(result)
        self._report.write(result)
        self._store.record(finished_record(item.row_id, item.url, result, self.opts.engine))
        for listener in self._listeners:
            listener(result)

    def _emit_bad_line(self, line: BadLine) -> None:
        assert self._report is not None
        error_type, error = line.error.error_type, line.message
        result = Result(line.text, self.opts.engine, error_type=error_type, error=error)
        self.summary.count(result)
        self._report.write(result)
        for listener in self._listeners:
            listener(result)

    def _commit(self) -> None:
        if self._store is not None and self._report is not None and self._frontier is not None:
            self._report.flush()
            self._store.commit(imported=self._frontier.imported, report_offset=self._report.size)

    # ---- planning ----

    def _hosts(self, store: StateStore) -> Iterator[tuple[str, int, Iterator[Item]]]:
        for host, count in store.queued_hosts():
            yield host, count, self._items(store, host)

    @staticmethod
    def _items(store: StateStore, host: str) -> Iterator[Item]:
        after = 0
        while rows := store.queued(host, after, 1000):
            for row in rows:
                yield Item(row.id, row.text, row.url)
            after = rows[-1].id

    def _settings(self) -> dict[str, Any]:
        """The run's options for the workers (the output directory absolute)."""
        from dataclasses import fields

        opts = self.opts
        return {f.name: getattr(opts, f.name) for f in fields(opts)}
