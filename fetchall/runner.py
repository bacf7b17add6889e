"""The runner: takes URLs from a frontier, admits them through politeness and the limiter, and
turns each engine's `Final` into a saved file and one report row.

Strategy: engines pull work (`next_job`) and push results (`complete`), always from the
coordinating thread, so callbacks, the output directory, the report and the state store need no
locks. The frontier is asked for a URL only while the limiter has room and nothing is ready, so
memory grows with concurrency, never with the length of the URL list; with the state store
(default) the frontier hands URLs out per host and records how each ended (`fetchall.frontier`,
`fetchall.state`), without it (``--no-state``) it reads the lists in order. When hosts wait for
their rate slot or a cooldown, or the store wants a commit, `next_due` tells the engine when to
ask again. Rate, cooldowns and robots.txt are `fetchall.politeness`'s; a robots.txt job comes
back here like any job and is handed over to it; saving a body and building its row is
`fetchall.saving`'s. A crawl (`fetchall.crawler`) swaps in its level-by-level frontier and
takes each page's links as the body is saved; its rows carry depth and parent. Ctrl-C: the
engine's in-flight work unwinds, their temp files are removed, the state is committed, in-flight
URLs get an ``interrupted`` row (they stay queued in the state, for ``--resume``), and the
report is closed; a URL being completed (file committed, row written and recorded) is completed
first.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from fetchall.callbacks import CallbackRegistry
from fetchall.engines import ENGINES, create_engine
from fetchall.engines.base import AttemptEnv, Job, PlanGen
from fetchall.errors import FetchError, InterruptedFetchError
from fetchall.frontier import Entry, Frontier
from fetchall.frontier.listed import ListFrontier
from fetchall.frontier.stored import StoreFrontier
from fetchall.http.decoders import accept_encoding
from fetchall.inputsize import RunProgress
from fetchall.interrupts import SectionHold
from fetchall.limits import HostLimiter
from fetchall.options import FetchOptions
from fetchall.output.items import ITEMS_NAME, ItemsWriter
from fetchall.output.report import ReportWriter
from fetchall.output.writer import OutputDir
from fetchall.policy import MAX_BACKOFF, Final, PolicySettings, plan
from fetchall.politeness import Continuation, HostStatus, Item, Politeness, entry_of, refusal_row
from fetchall.result import Result
from fetchall.robots import BODY_LIMIT
from fetchall.saving import Saver, conditional_for
from fetchall.state.modes import RunStart, begin_run, finish_run, open_report
from fetchall.state.schema import StateError
from fetchall.state.store import StateStore
from fetchall.summary import RunSummary
from fetchall.urllists import RawLine
from fetchall.urls import BadLine, Target

if TYPE_CHECKING:  # the crawl's modules (and selectolax) are imported only by a crawl
    from fetchall.crawler.pages import Crawler

Source = Iterator[RawLine]
ResultListener = Callable[[Result], None]


@dataclass(slots=True, eq=False)
class _Job:
    target: Target
    key: str
    entry: Entry | None  # None: the robots.txt of the target's origin (no report row)
    plan: PlanGen
    started: float
    released: bool = False  # its slot was freed before its `complete` (`release`)


class Runner:
    """Drives one engine over URL sources; see module docstring."""

    def __init__(
        self,
        opts: FetchOptions,
        source: Source,
        *,
        callbacks: CallbackRegistry | None = None,
        listeners: tuple[ResultListener, ...] = (),
        source_may_block: bool = False,
        crawler: Crawler | None = None,
    ) -> None:
        """``crawler``: a crawl (`fetchall.crawler`); it needs the state store."""
        self.opts = opts
        self.concurrency = opts.concurrency
        self.per_host = opts.per_host
        self.pipeline = opts.pipeline
        self.out = OutputDir(opts.out, digest=opts.use_state and opts.sha256)
        self.env = AttemptEnv(
            out=self.out, timeout=opts.timeout, connect_timeout=opts.connect_timeout,
            max_size=opts.max_size, insecure=opts.insecure, cacert=opts.cacert,
        )  # fmt: skip
        self.summary = RunSummary(engine=opts.engine)
        self._source = source
        self._source_is_at_rest = not source_may_block  # files and lists: read ahead freely
        self._store: StateStore | None = None
        self._store_broken = False  # a StateError: never touch the store again
        self._frontier: Frontier = ListFrontier(iter(()), self._emit_bad_line)  # until `run`
        self._limiter: HostLimiter[Item] = HostLimiter(
            opts.concurrency, opts.per_host, interval=1.0 / opts.rate if opts.rate else 0.0,
            backoff=opts.retry_backoff, max_backoff=MAX_BACKOFF,
        )  # fmt: skip
        self._polite = Politeness(
            self._limiter, robots=opts.robots, user_agent=opts.user_agent,
            retry_after_cap=opts.retry_after_cap,
        )  # fmt: skip
        self._active: dict[int, _Job] = {}
        self._handed_off: dict[int, Item] = {}  # redirect hops queued as new jobs, by id
        self._crawler = crawler
        items_file = opts.items_file or self.out.root / ITEMS_NAME
        self._items = ItemsWriter(items_file, append=opts.resume)
        self._saver = Saver(
            self.out, callbacks or CallbackRegistry(), opts.engine, self.enqueue,
            crawler=crawler, items=self._items,
        )  # fmt: skip
        self._listeners = listeners
        self._settings = PolicySettings(
            retries=opts.retries, retry_backoff=opts.retry_backoff,
            retry_after_cap=opts.retry_after_cap, max_redirects=opts.max_redirects,
            user_agent=opts.user_agent, accept_encoding=accept_encoding(),
            extra_headers=opts.headers,
            connection="keep-alive" if ENGINES[opts.engine].keep_alive else "close",
        )  # fmt: skip
        # RFC 9309 §2.3.1.2, §2.5: five redirects, the first 500 KiB
        self._robots_settings = replace(self._settings, max_redirects=5, body_limit=BODY_LIMIT)
        self._rng = random.Random()
        self._report: ReportWriter | None = None
        self._hold = SectionHold()

    # ---- the engine-facing contract (engines.base.RunContext) ----

    def next_job(self) -> _Job | None:
        """A job that may start now, or None (see `HostLimiter`; `next_due` says when to ask
        again if hosts wait for time)."""
        polite = self._polite
        if polite.refusals_pending:
            self._emit_refused(polite.take_refused())
        limiter = self._limiter
        now = time.monotonic()
        self._frontier.checkpoint(now)  # a commit may be due (`next_due` woke the engine)
        while (popped := limiter.pop_ready(now)) is None:
            if not (
                limiter.active < self.concurrency
                and limiter.waiting + polite.parked < self.opts.max_waiting
                and self._pull_one()
            ):
                return None
        key, (target, entry) = popped
        resume = conditional = None
        started = now
        if isinstance(entry, Continuation):  # a redirect hop handed back (`complete`)
            del self._handed_off[id(entry)]
            resume, started, entry = entry.resume, entry.started, entry.entry
        elif entry is not None and entry.final_url is not None:
            conditional = conditional_for(entry, self.out.root)  # --refresh
        robots = entry is None
        job = _Job(
            target=target,
            key=key,
            entry=entry,
            plan=plan(
                target,
                self._robots_settings if robots else self._settings,
                rng=self._rng,
                now=time.time,
                pacer=None if robots else polite,
                resume=resume,
                conditional=conditional,
            ),
            started=started,
        )
        self._active[id(job)] = job
        return job

    def next_due(self) -> float | None:
        """When (`time.monotonic`) a host waiting for its rate slot or a cooldown becomes due,
        or the state store wants a commit, or None: engines with nothing else to wait for
        sleep until then."""
        due, frontier_due = self._limiter.next_due(), self._frontier.next_due()
        if due is None or (frontier_due is not None and frontier_due < due):
            return frontier_due
        return due

    @property
    def finished(self) -> bool:
        """Nothing running or still to complete, nothing waiting, and the frontier exhausted."""
        limiter = self._limiter
        return (
            limiter.active == 0
            and not self._active
            and limiter.waiting == 0
            and self._frontier.exhausted
            and self._polite.parked == 0
            and not self._polite.refusals_pending
        )

    def complete(self, job: Job, final: Final) -> None:
        """Save (or not) the body, write the row, free the slot: whole, or not at all (a
        Ctrl-C meanwhile is raised at the end, `SectionHold`)."""
        assert isinstance(job, _Job)
        with self._hold:
            del self._active[id(job)]
            self.release(job)  # (a no-op if the engine released it already)
            if job.entry is None:
                self._emit_refused(self._polite.robots_finished(job.target, final))
            elif final.handoff is not None:
                self._hand_off(job.entry, final, job.started)
            else:
                self._emit(self._saver.result(job.entry, final, job.started), job.entry)

    def release(self, job: Job) -> None:
        """Free the slot of ``job``, whose plan is done, before its `complete`."""
        assert isinstance(job, _Job)
        if not job.released:
            job.released = True
            self._limiter.release(job.key)

    def host_status(self) -> HostStatus:
        """Hosts held back right now by cooldowns, rates and robots.txt (for progress)."""
        return self._polite.host_status()

    def progress(self) -> RunProgress:
        """How far the input is read and how many requests run (for progress)."""
        frontier = self._frontier
        return RunProgress(
            frontier.rows_known, frontier.position, frontier.input_done, self._limiter.active
        )

    # ---- running ----

    def run(self) -> RunSummary:
        """Run the chosen engine to the end (or to Ctrl-C) and return the summary. A state
        store that cannot be used or written raises `StateError` (after cleaning up)."""
        engine = create_engine(self.opts.engine)
        started = time.monotonic()
        self._reserve_report_path()
        start = self._open_state()
        try:
            self._report = open_report(
                self._store, start, self.opts.report_path, crawl=self._crawler is not None
            )
        except BaseException:
            if self._store is not None:
                self._store.abandon()  # nothing happened: the state stays as it was
            raise
        try:
            self._frontier = self._make_frontier()
            engine.run(self)
        except KeyboardInterrupt:
            self.summary.interrupted = True
        except StateError:
            self._store_broken = True
            raise
        finally:
            try:
                self._finish(started)
            finally:
                self._hold.remove()
        return self.summary

    def _open_state(self) -> RunStart:
        """Open the state store (unless ``--no-state``) and start this run over it."""
        path = self.opts.state_path
        if path is None:
            return RunStart()
        self._store = store = StateStore.open(path)
        try:
            opts = self.opts
            start = begin_run(
                store, out=opts.out, resume=opts.resume, fresh=opts.fresh,
                refresh=opts.refresh, retry_failed=opts.retry_failed,
            )  # fmt: skip
        except BaseException:
            store.close()
            raise
        self.out.remove_stale_temps()  # of a killed run: nobody else writes here (the lock)
        self.summary.resumed, self.summary.resumed_failed = start.carried, start.carried_failed
        return start

    def _make_frontier(self) -> Frontier:
        if self._store is None:
            assert self._crawler is None, "a crawl needs the state store"
            return ListFrontier(self._source, self._emit_bad_line)
        assert self._report is not None
        self._polite.already_saved = lambda url: self._frontier.saved(url, hop=True) is not None
        kind = StoreFrontier if self._crawler is None else self._crawler.frontier_class()
        frontier = kind(
            self._store, self._source, self._emit_bad_line,
            per_host=self.per_host, concurrency=self.concurrency, engine=self.opts.engine,
            report=self._report, read_ahead=self._source_is_at_rest,
        )  # fmt: skip
        if self._crawler is not None:
            self._crawler.attach(frontier, self._store, resume=self.opts.resume)
        return frontier

    def _finish(self, started: float) -> None:
        """Interrupted rows, temp files, the state's last commit, the report; the summary."""
        try:
            self._finish_interrupted()
            self.out.remove_temps(keep_dir=self.opts.shared_out)
            self._items.close()
            if self._crawler is not None:
                self._crawler.close()
                self.summary.skipped = self._crawler.skipped
            self._frontier.close()
            if self._store is not None and not self._store_broken:
                complete = not self.summary.interrupted and self.finished
                finish_run(self._store, complete=complete)
        finally:
            if self._store is not None:
                self._store.close()
            if self._report is not None:
                self._report.close()
        summary = self.summary
        summary.elapsed = time.monotonic() - started
        summary.duplicates = self._frontier.duplicates
        summary.items = self._items.count
        polite = self._polite
        summary.robots_blocked = polite.robots_blocked
        summary.robots_requests = polite.robots_requests
        summary.cooldowns = polite.cooldowns

    def _reserve_report_path(self) -> None:
        """Keep callback-chosen paths from overwriting a report that lives inside DIR."""
        root = self.out.root.resolve()
        report = self.opts.report_path.resolve()
        if report.is_relative_to(root):
            self.out.reserve(report.relative_to(root).as_posix())
        self.out.reserve(ITEMS_NAME)

    def enqueue(self, url: str) -> None:
        """Add a URL to this run (from a callback); deduplicated like input lines."""
        self._frontier.add(url)

    # ---- internals ----

    def _pull_one(self) -> bool:
        """Admit one URL from the frontier; False if it has none to give now."""
        frontier = self._frontier
        entry = frontier.pull()
        if entry is None:
            return False
        saved = frontier.saved(entry.target.url)  # reached already, as another URL's end
        if saved is not None:
            self._emit(self._saver.shared(entry, saved, time.monotonic()), entry)
            return True
        refusal = self._polite.admit(entry.target, entry)
        if refusal is not None:
            self._emit_refused([((entry.target, entry), refusal)])
        return True

    def _emit_bad_line(self, entry: BadLine) -> None:
        result = Result(
            url=entry.text,
            engine=self.opts.engine,
            error_type=entry.error.error_type,
            error=entry.message,
        )
        self._emit(result)

    def _hand_off(self, entry: Entry, final: Final, started: float) -> None:
        """Queue a URL's next redirect hop as a new job (through robots.txt first)."""
        handoff = final.handoff
        assert handoff is not None
        target = final.request.target
        saved = self._frontier.saved(target.url, hop=True)
        if saved is not None:  # this run saved that URL already: share its file
            result = self._saver.shared(entry, saved, started, final.attempts, final.redirects)
            self._emit(result, entry)
            return
        continuation = Continuation(entry, handoff, started)
        self._handed_off[id(continuation)] = (target, continuation)
        refusal = self._polite.admit(target, continuation)
        if refusal is not None:
            self._emit_refused([((target, continuation), refusal)])

    def _emit_refused(self, refused: list[tuple[Item, FetchError]]) -> None:
        """Rows for URLs that were not requested (robots.txt, a cooldown beyond the cap) —
        or whose redirect hop was not."""
        for item, error in refused:
            self._handed_off.pop(id(item[1]), None)
            self._emit(refusal_row(item, error, self.opts.engine), entry_of(item))

    def _emit(self, result: Result, entry: Entry | None = None) -> None:
        """Count and report; the frontier records ``entry``'s end (rows without an entry — bad
        lines, interrupted URLs — are not recorded here); tell the listeners."""
        self.summary.count(result)
        if self._crawler is not None and entry is not None:
            result.depth, result.parent = entry.depth, entry.parent
        assert self._report is not None
        self._report.write(result)
        if entry is not None:
            self._frontier.finished(entry, result)
        for listener in self._listeners:
            listener(result)

    def _finish_interrupted(self) -> None:
        """Give every in-flight URL an ``interrupted`` row (a redirect hop waiting in the queue
        is in flight too), after the state's last commit: they stay queued in it."""
        if not self._store_broken:
            self._frontier.checkpoint(time.monotonic(), force=True)
        error = InterruptedFetchError("interrupted before this URL finished")
        for job in list(self._active.values()):
            job.plan.close()
            if job.entry is None:  # robots.txt: no row of its own
                continue
            result = Result(
                url=job.entry.text,
                engine=self.opts.engine,
                error_type=error.error_type,
                error=str(error),
                elapsed_ms=round((time.monotonic() - job.started) * 1000, 3),
            )
            if self._crawler is not None:
                result.depth, result.parent = job.entry.depth, job.entry.parent
            self._emit(result)
        self._active.clear()
        for item in list(self._handed_off.values()):  # rows, not recorded: still queued
            self._emit(refusal_row(item, error, self.opts.engine))
        self._handed_off.clear()
