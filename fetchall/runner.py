"""The runner: reads URL sources lazily, dedupes, admits jobs through politeness and the
limiter, and turns each engine's `Final` into a saved file and one report row.

Strategy: engines pull work (`next_job`) and push results (`complete`), always from the
coordinating thread, so callbacks, the output directory and the report need no locks. The source
is pulled only while the limiter has room and nothing is ready, so memory grows with concurrency
(plus a bounded waiting buffer), never with the length of the URL list. When hosts wait for their
rate slot or a cooldown, `next_due` tells the engine when to ask again. Rate, cooldowns and
robots.txt are `fetchall.politeness`'s; a robots.txt job comes back here like any job and is
handed over to it. Ctrl-C: the engine's in-flight work unwinds, their temp files are removed,
in-flight URLs get an ``interrupted`` row, and the report is closed.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from itertools import count

from fetchall.callbacks import CallbackRegistry, Response, decide_path
from fetchall.digests import DigestMap
from fetchall.engines import ENGINES, create_engine
from fetchall.engines.base import AttemptEnv, Job, PlanGen
from fetchall.errors import (
    BadURLError,
    CallbackError,
    FetchError,
    InterruptedFetchError,
    OutputError,
)
from fetchall.http.decoders import accept_encoding
from fetchall.limits import HostLimiter
from fetchall.options import FetchOptions
from fetchall.output.paths import url_to_relpath
from fetchall.output.report import ReportWriter
from fetchall.output.writer import BodyFile, OutputDir
from fetchall.policy import MAX_BACKOFF, Final, PolicySettings, Resume, plan
from fetchall.politeness import Continuation, HostStatus, Item, Politeness, refusal_row
from fetchall.result import Result
from fetchall.resume import PreviousRun, aside_path
from fetchall.robots import BODY_LIMIT
from fetchall.summary import RunSummary
from fetchall.urls import BadLine, Target, UrlLine, parse_url

Source = Iterator[UrlLine | BadLine]
ResultListener = Callable[[Result], None]


@dataclass(slots=True, eq=False)
class _Job:
    target: Target
    key: str
    text: str | None  # None: the robots.txt of the target's origin (no report row)
    plan: PlanGen
    started: float


class Runner:
    """Drives one engine over URL sources; see module docstring."""

    def __init__(
        self,
        opts: FetchOptions,
        source: Source,
        *,
        callbacks: CallbackRegistry | None = None,
        listeners: tuple[ResultListener, ...] = (),
    ) -> None:
        self.opts = opts
        self.concurrency = opts.concurrency
        self.per_host = opts.per_host
        self.pipeline = opts.pipeline
        self.out = OutputDir(opts.out)
        self.env = AttemptEnv(
            out=self.out,
            timeout=opts.timeout,
            connect_timeout=opts.connect_timeout,
            max_size=opts.max_size,
            insecure=opts.insecure,
            cacert=opts.cacert,
        )
        self.summary = RunSummary(engine=opts.engine)
        self._source = source
        self._extra: deque[str] = deque()
        self._source_drained = False
        self._seen = DigestMap()  # hash(url) of every URL taken; flat memory (digests.py)
        self._previous: PreviousRun | None = None  # --resume
        self._limiter: HostLimiter[Item] = HostLimiter(
            opts.concurrency,
            opts.per_host,
            interval=1.0 / opts.rate if opts.rate else 0.0,
            backoff=opts.retry_backoff,
            max_backoff=MAX_BACKOFF,
        )
        self._polite = Politeness(
            self._limiter,
            robots=opts.robots,
            user_agent=opts.user_agent,
            retry_after_cap=opts.retry_after_cap,
        )
        self._active: dict[int, _Job] = {}
        self._handed_off: dict[int, Item] = {}  # redirect hops queued as new jobs, by id
        self._callbacks = callbacks or CallbackRegistry()
        self._listeners = listeners
        self._settings = PolicySettings(
            retries=opts.retries,
            retry_backoff=opts.retry_backoff,
            retry_after_cap=opts.retry_after_cap,
            max_redirects=opts.max_redirects,
            user_agent=opts.user_agent,
            accept_encoding=accept_encoding(),
            extra_headers=opts.headers,
            connection="keep-alive" if ENGINES[opts.engine].keep_alive else "close",
        )
        # RFC 9309 §2.3.1.2, §2.5: five redirects, the first 500 KiB
        self._robots_settings = replace(self._settings, max_redirects=5, body_limit=BODY_LIMIT)
        self._rng = random.Random()
        self._ids = count()
        self._report: ReportWriter | None = None

    # ---- the engine-facing contract (engines.base.RunContext) ----

    def next_job(self) -> _Job | None:
        """A job that may start now, or None (see `HostLimiter`; `next_due` says when to ask
        again if hosts wait for time)."""
        polite = self._polite
        if polite.refusals_pending:
            self._emit_refused(polite.take_refused())
        limiter = self._limiter
        now = time.monotonic()
        while (popped := limiter.pop_ready(now)) is None:
            if not (
                limiter.active < self.concurrency
                and limiter.waiting + polite.parked < self.opts.max_waiting
                and self._pull_one()
            ):
                return None
        key, (target, entry) = popped
        if isinstance(entry, Continuation):  # a redirect hop handed back (`complete`)
            del self._handed_off[id(entry)]
            text: str | None = entry.text
            resume: Resume | None = entry.resume
            started = entry.started
        else:
            text, resume, started = entry, None, now
        robots = text is None
        job = _Job(
            target=target,
            key=key,
            text=text,
            plan=plan(
                target,
                self._robots_settings if robots else self._settings,
                rng=self._rng,
                now=time.time,
                pacer=None if robots else polite,
                resume=resume,
            ),
            started=started,
        )
        self._active[id(job)] = job
        return job

    def next_due(self) -> float | None:
        """When (`time.monotonic`) a host waiting for its rate slot or the end of a cooldown
        becomes due, or None: engines with nothing else to wait for sleep until then."""
        return self._limiter.next_due()

    @property
    def finished(self) -> bool:
        """Nothing running, nothing waiting, and every source drained."""
        limiter = self._limiter
        return (
            limiter.active == 0
            and limiter.waiting == 0
            and self._source_drained
            and not self._extra
            and self._polite.parked == 0
            and not self._polite.refusals_pending
        )

    def complete(self, job: Job, final: Final) -> None:
        """Save (or not) the body, write the row, free the slot."""
        assert isinstance(job, _Job)
        del self._active[id(job)]
        self._limiter.release(job.key)
        if job.text is None:
            self._emit_refused(self._polite.robots_finished(job.target, final))
        elif final.handoff is not None:
            self._hand_off(job.text, final, job.started)
        else:
            self._emit(self._result_for(job, final))

    def host_status(self) -> HostStatus:
        """Hosts held back right now by cooldowns, rates and robots.txt (for progress)."""
        return self._polite.host_status()

    # ---- running ----

    def run(self) -> RunSummary:
        """Run the chosen engine to the end (or to Ctrl-C) and return the summary."""
        engine = create_engine(self.opts.engine)
        if self.opts.resume:
            self._previous = PreviousRun.load(self.opts.report_path, self.out.root)
        started = time.monotonic()
        self._reserve_report_path()
        self._report = ReportWriter(self.opts.report_path)
        try:
            if self._previous is not None:
                self._previous.copy_rows(self._report)
            engine.run(self)
        except KeyboardInterrupt:
            self.summary.interrupted = True
        finally:
            self._finish_interrupted()
            self.out.remove_temps()
            self._seen.close()
            if self._previous is not None:
                self._previous.close()
            self._report.close()
            self.summary.elapsed = time.monotonic() - started
            polite = self._polite
            self.summary.robots_blocked = polite.robots_blocked
            self.summary.robots_requests = polite.robots_requests
            self.summary.cooldowns = polite.cooldowns
        return self.summary

    def _reserve_report_path(self) -> None:
        """Keep callback-chosen paths from overwriting a report that lives inside DIR."""
        root = self.out.root.resolve()
        for path in (self.opts.report_path, aside_path(self.opts.report_path)):
            report = path.resolve()
            if report.is_relative_to(root):
                self.out.reserve(report.relative_to(root).as_posix())

    def enqueue(self, url: str) -> None:
        """Add a URL to this run (from a callback); deduplicated like input lines."""
        self._extra.append(url)

    # ---- internals ----

    def _pull_one(self) -> bool:
        """Move one entry from the sources into the limiter; False when they are drained."""
        if self._extra:
            text = self._extra.popleft()
            entry: UrlLine | BadLine = _parse_entry(text, "callback", 0)
        elif self._source_drained:
            return False
        else:
            next_entry = next(self._source, None)
            if next_entry is None:
                self._source_drained = True
                return bool(self._extra)
            entry = next_entry
        if isinstance(entry, BadLine):
            self._emit_bad_line(entry)
            return True
        target = entry.target
        digest = hash(target.url)
        if not self._seen.add(digest):
            self.summary.duplicates += 1
            return True
        if self._previous is not None and target.url in self._previous:
            self.summary.resumed += 1
            return True
        refusal = self._polite.admit(target, entry.text)
        if refusal is not None:
            self._emit_refused([((target, entry.text), refusal)])
        return True

    def _result_for(self, job: _Job, final: Final) -> Result:
        assert job.text is not None
        outcome = final.outcome
        result = Result(
            url=job.text,
            engine=self.opts.engine,
            final_url=final.request.target.url,
            attempts=final.attempts,
            redirects=final.redirects,
            elapsed_ms=round((time.monotonic() - job.started) * 1000, 3),
        )
        if outcome is not None:
            result.status = outcome.status
            result.content_type = outcome.headers.get("content-type")
        error = final.error
        body = outcome.body if outcome is not None else None
        if error is None and isinstance(body, BodyFile):
            try:
                result.path = self._save(job.target.url, final, body)
                result.bytes = body.size if result.path is not None else 0
                result.ok = True
            except FetchError as exc:
                error = exc
        elif isinstance(body, BodyFile):
            body.discard()
        if error is not None:
            result.error_type, result.error = error.error_type, str(error)
        return result

    def _save(self, url: str, final: Final, body: BodyFile) -> str | None:
        """Run the host's callback (if any), then commit the body where it says."""
        target = final.request.target
        relpath = url_to_relpath(target)
        callback = self._callbacks.match(target.host)
        if callback is not None:
            outcome = final.outcome
            assert outcome is not None and outcome.status is not None
            response = Response(
                url=url,
                final_url=target.url,
                status=outcome.status,
                reason=outcome.reason,
                headers=outcome.headers,
                host=target.host,
                body_path=body.path,
                size=body.size,
                enqueue=self.enqueue,
            )
            try:
                decided = decide_path(callback, response, relpath)
            except CallbackError:
                body.discard()
                raise
            if decided is None:  # SKIP
                body.discard()
                return None
            relpath = decided
        try:
            return self.out.commit(body, relpath, target.url)
        except OutputError:
            raise
        except OSError as exc:
            body.discard()
            raise OutputError(f"cannot save {relpath}: {exc}") from None

    def _emit_bad_line(self, entry: BadLine) -> None:
        where = f"{entry.source}:{entry.lineno}" if entry.lineno else entry.source
        result = Result(
            url=entry.text,
            engine=self.opts.engine,
            error_type=entry.error.error_type,
            error=f"{where}: {entry.error}",
        )
        self._emit(result)

    def _hand_off(self, text: str, final: Final, started: float) -> None:
        """Queue a URL's next redirect hop as a new job (through robots.txt first)."""
        assert final.handoff is not None
        entry = Continuation(text, final.handoff, started)
        target = final.request.target
        self._handed_off[id(entry)] = (target, entry)
        refusal = self._polite.admit(target, entry)
        if refusal is not None:
            self._emit_refused([((target, entry), refusal)])

    def _emit_refused(self, refused: list[tuple[Item, FetchError]]) -> None:
        """Rows for URLs that were not requested (robots.txt, a cooldown beyond the cap) —
        or whose redirect hop was not."""
        for item, error in refused:
            self._handed_off.pop(id(item[1]), None)
            self._emit(refusal_row(item, error, self.opts.engine))

    def _emit(self, result: Result) -> None:
        summary = self.summary
        if result.ok:
            summary.ok += 1
            summary.bytes += result.bytes
        else:
            summary.failed += 1
        label = str(result.status) if result.ok or result.error_type == "http_status" else None
        summary.by_status[label or result.error_type or "error"] += 1
        assert self._report is not None
        self._report.write(result)
        for listener in self._listeners:
            listener(result)

    def _finish_interrupted(self) -> None:
        """Give every in-flight URL an ``interrupted`` row (a redirect hop waiting in the queue
        is in flight too)."""
        error = InterruptedFetchError("interrupted before this URL finished")
        for job in list(self._active.values()):
            job.plan.close()
            if job.text is None:  # robots.txt: no row of its own
                continue
            result = Result(
                url=job.text,
                engine=self.opts.engine,
                error_type=error.error_type,
                error=str(error),
                elapsed_ms=round((time.monotonic() - job.started) * 1000, 3),
            )
            self._emit(result)
        self._active.clear()
        self._emit_refused([(item, error) for item in list(self._handed_off.values())])


def _parse_entry(text: str, source: str, lineno: int) -> UrlLine | BadLine:
    try:
        return UrlLine(target=parse_url(text), source=source, lineno=lineno)
    except BadURLError as exc:
        return BadLine(text=text[:200], source=source, lineno=lineno, error=exc)
