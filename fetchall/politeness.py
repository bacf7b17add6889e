"""Politeness at run time, for the runner: per-host pace and cooldowns (decided by the limiter)
and robots.txt (fetched through the engine, obeyed here). Called from the coordinating thread
only; its one I/O is reading a finished robots.txt body (at most 500 KiB) from its temp file.

Strategy: every new URL goes through `admit`. With ``--robots``, a URL whose origin (scheme,
host, port) has no known robots.txt is *parked*, and the first such URL puts one robots.txt job
at the front of its host's queue (`HostLimiter.offer_first`: it ignores the host's pace), so a
host gets exactly one robots.txt request however many of its URLs arrive at once. When that job
ends (`robots_done`), the rules are cached (least recently used first out, within a budget), a
Crawl-delay becomes the host's interval, and the parked URLs are admitted or refused. A refused
URL is returned as an error for the runner to report: it is never requested.

`Politeness` is also the plans' `Pacer`: a retry or redirect hop books its start through the
limiter (so the pace holds for every request, not only first attempts) and is refused if its
host is in a cooldown longer than ``--retry-after-cap`` or robots.txt disallows it; every
attempt's send time (`Outcome.sent`) pushes its host's next start to an interval after it. A 429/503
starts a host-wide cooldown; if its Retry-After exceeds the cap, the URLs waiting for that host
are handed back (`take_refused`) to fail at once instead of waiting — or being sent early.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from fetchall.errors import CooldownError, FetchError, RobotsError
from fetchall.frontier import Entry
from fetchall.limits import HostLimiter
from fetchall.output.bodyfile import BodyFile
from fetchall.policy import COOLDOWN_STATUSES, Final, Resume, describe_seconds
from fetchall.result import Result
from fetchall.robots import MAX_CRAWL_DELAY, RobotsRules, product_token, rules_for_fetch
from fetchall.urls import Target, parse_url


@dataclass(frozen=True, slots=True)
class Continuation:
    """A URL in flight whose redirect leads to an origin that must be admitted first (its
    robots.txt is not known yet): queued again at the hop, and picked up there by a new job."""

    entry: Entry  # the URL as the frontier handed it out
    resume: Resume
    started: float  # when its first job started (`time.monotonic`)


Item = tuple[Target, Entry | Continuation | None]
"""What waits in the limiter: a URL's target and its frontier `Entry` (or the `Continuation` of
one, at a redirect hop), or (None) an origin's robots.txt."""


def entry_of(item: Item) -> Entry | None:
    """The frontier entry an item stands for (None for a robots.txt job)."""
    entry = item[1]
    return entry.entry if isinstance(entry, Continuation) else entry


ROBOTS_CACHE_HOSTS = 10_000
ROBOTS_CACHE_BYTES = 2 * 1024 * 1024
"""The robots.txt cache keeps at most this many origins and bytes of robots.txt text; an origin
pushed out has its robots.txt fetched again if more of its URLs come."""

log = logging.getLogger("fetchall")


@dataclass(frozen=True, slots=True)
class HostStatus:
    """How many hosts are held back right now (for progress displays)."""

    cooling: int
    rate_limited: int
    robots_pending: int


def refusal_row(item: Item, error: FetchError, engine: str) -> Result:
    """The report row of a URL that was not requested (or whose redirect hop was not)."""
    target, entry = item
    if not isinstance(entry, Continuation):
        url = target.url if entry is None else entry.text
        return Result(url=url, engine=engine, error_type=error.error_type, error=str(error))
    return Result(
        url=entry.entry.text,
        engine=engine,
        final_url=target.url,
        error_type=error.error_type,
        error=str(error),
        attempts=entry.resume.attempts,
        redirects=entry.resume.redirects,
        elapsed_ms=round((time.monotonic() - entry.started) * 1000, 3),
    )


def origin_of(target: Target) -> str:
    """``scheme://host:port``: what one robots.txt covers."""
    return f"{target.scheme}://{target.host_key}"


class Politeness:
    """Rate, cooldowns and robots.txt for one run (see module docstring)."""

    def __init__(
        self,
        limiter: HostLimiter[Item],
        *,
        robots: bool,
        user_agent: str,
        retry_after_cap: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limiter = limiter
        self.robots = robots
        self.token = product_token(user_agent)
        self.cap = retry_after_cap
        self.clock = clock
        self.parked = 0  # URLs waiting for their origin's robots.txt
        self.robots_blocked = 0  # URLs refused by robots.txt (their own or a redirect hop's)
        self.robots_requests = 0  # robots.txt requests queued (one per origin, cache misses)
        self.cooldowns = 0  # host cooldowns started (429/503)
        self._rules: OrderedDict[str, RobotsRules] = OrderedDict()
        self._rules_bytes = 0
        self._parked: dict[str, list[Item]] = {}
        self._exhausted: list[str] = []  # host keys cooling beyond the cap, to drain
        self._cooled = False  # any cooldown yet? (else no clock reading per URL)
        self.already_saved: Callable[[str], bool] = lambda url: False
        """Whether this run saved a URL already (the runner sets it when it has a store)."""

    # ---- admission (runner) ----

    def admit(self, target: Target, text: Entry | Continuation) -> FetchError | None:
        """Queue a new URL (or a redirect hop handed back) in the limiter, park it behind its
        robots.txt, or return why it must not be requested."""
        key = target.host_key
        refusal = self._cooldown_refusal(key)
        if refusal is not None:
            return refusal
        if self.robots:
            origin = origin_of(target)
            rules = self._rules.get(origin)
            if rules is None:
                self._park(origin, target, text)
                return None
            self._rules.move_to_end(origin)
            why = rules.check(target)
            if why is not None:
                self.robots_blocked += 1
                return RobotsError(why)
        self.limiter.offer(key, (target, text))
        return None

    @property
    def refusals_pending(self) -> bool:
        """True if hosts went into a cooldown beyond the cap and `take_refused` has work."""
        return bool(self._exhausted)

    def take_refused(self) -> list[tuple[Item, FetchError]]:
        """The waiting URLs of hosts whose cooldown exceeds the cap, removed from the limiter,
        each with its error (a robots.txt job among them resolves its parked URLs too)."""
        refused: list[tuple[Item, FetchError]] = []
        while self._exhausted:
            key = self._exhausted.pop()
            for item in self.limiter.drain(key):
                error = self._cooldown_refusal(key) or CooldownError(f"{key} is cooling down")
                if item[1] is None:
                    refused += self.robots_done(item[0], None, error, None)
                else:
                    refused.append((item, error))
        return refused

    def robots_done(
        self,
        robots_target: Target,
        status: int | None,
        error: FetchError | None,
        body: bytes | None,
    ) -> list[tuple[Item, FetchError]]:
        """An origin's robots.txt request ended: cache its rules, apply its Crawl-delay, admit
        its parked URLs; returns the ones refused, each with its error."""
        origin = origin_of(robots_target)
        rules = rules_for_fetch(status, error, body, self.token)
        self._remember(origin, rules)
        self._apply_crawl_delay(origin, robots_target.host_key, rules.crawl_delay)
        parked = self._parked.pop(origin, [])
        self.parked -= len(parked)
        refused: list[tuple[Item, FetchError]] = []
        for target, text in parked:
            assert text is not None
            refusal = self.admit(target, text)
            if refusal is not None:
                refused.append(((target, text), refusal))
        return refused

    def robots_finished(self, robots_target: Target, final: Final) -> list[tuple[Item, FetchError]]:
        """`robots_done` for a finished robots.txt job: reads (and removes) its body file."""
        outcome = final.outcome
        body_file = outcome.body if outcome is not None else None
        body: bytes | None = None
        if isinstance(body_file, BodyFile):
            try:
                if final.error is None:
                    with open(body_file.path, "rb") as f:
                        body = f.read()
            except OSError as exc:
                log.warning(f"cannot read robots.txt of {origin_of(robots_target)}: {exc}")
            finally:
                body_file.discard()
        status = outcome.status if outcome is not None else None
        error = final.error
        if body is None and error is None:
            error = RobotsError("robots.txt body could not be read")
        return self.robots_done(robots_target, status, error, body)

    # ---- the plans' Pacer ----

    def reserve(self, target: Target) -> float | FetchError:
        """Book a follow-up request start (see `fetchall.policy.Pacer`)."""
        key = target.host_key
        refusal = self._cooldown_refusal(key)
        if refusal is not None:
            return refusal
        if self.robots:
            rules = self._rules.get(origin_of(target))
            why = rules.check(target) if rules is not None else None
            if why is not None:
                self.robots_blocked += 1
                return RobotsError(why)
        now = self.clock()
        return self.limiter.reserve(key, now) - now

    def must_queue(self, target: Target) -> bool:
        """A redirect hop to an origin whose robots.txt is not known (or being fetched) goes
        back through `admit`, so robots.txt is fetched and obeyed for it too; so does a hop to
        a URL this run saved already (`already_saved`: the runner shares that file)."""
        if self.robots and origin_of(target) not in self._rules:
            return True
        return self.already_saved(target.url)

    def observe(
        self,
        target: Target,
        status: int | None,
        retry_after: float | None,
        sent: float | None = None,
    ) -> None:
        """A host answered: 429/503 start (or extend) its cooldown; anything else calms it.
        ``sent`` (when the request left) pushes the host's next start to an interval after it
        (`HostLimiter.sent`)."""
        if sent is not None and self.limiter.paced:
            self.limiter.sent(target.host_key, sent)
        if status in COOLDOWN_STATUSES:
            key = target.host_key
            self._cooled = True
            now = self.clock()
            if self.limiter.cooldown_left(key, now) == 0.0:
                self.cooldowns += 1
            self.limiter.cool_down(key, now, retry_after)
            if retry_after is not None and retry_after > self.cap:
                self._exhausted.append(key)
        elif status is not None and self._cooled:  # no cooldown yet: nothing to calm
            self.limiter.calm(target.host_key)

    # ---- status ----

    def host_status(self) -> HostStatus:
        """Hosts cooling down, waiting for their rate, or waiting for robots.txt."""
        now = self.clock()
        limiter = self.limiter
        return HostStatus(limiter.cooling(now), limiter.rate_limited(now), len(self._parked))

    # ---- internals ----

    def _cooldown_refusal(self, key: str) -> CooldownError | None:
        if not self._cooled:
            return None
        left = self.limiter.cooldown_left(key, self.clock())
        if left <= self.cap:
            return None
        return CooldownError(
            f"not requested: {key} asked for a pause of {describe_seconds(left)} "
            f"(Retry-After), more than --retry-after-cap {self.cap:g} s"
        )

    def _park(self, origin: str, target: Target, text: Entry | Continuation) -> None:
        waiting = self._parked.get(origin)
        if waiting is None:
            waiting = self._parked[origin] = []
            robots_target = parse_url(f"{target.scheme}://{target.host_header}/robots.txt")
            self.limiter.offer_first(target.host_key, (robots_target, None))
            self.robots_requests += 1
        waiting.append((target, text))
        self.parked += 1

    def _remember(self, origin: str, rules: RobotsRules) -> None:
        """Cache ``rules``; push out the least recently used beyond the budget."""
        old = self._rules.pop(origin, None)
        if old is not None:
            self._rules_bytes -= old.size
        self._rules[origin] = rules
        self._rules_bytes += rules.size
        while len(self._rules) > 1 and (
            len(self._rules) > ROBOTS_CACHE_HOSTS or self._rules_bytes > ROBOTS_CACHE_BYTES
        ):
            gone, dropped = self._rules.popitem(last=False)
            self._rules_bytes -= dropped.size
            if dropped.crawl_delay is not None:
                self.limiter.set_interval(gone.split("://", 1)[1], None)

    def _apply_crawl_delay(self, origin: str, key: str, delay: float | None) -> None:
        if delay is None:
            return
        if delay > MAX_CRAWL_DELAY:
            log.warning(
                f"robots.txt of {origin} asks for Crawl-delay: {delay:g}; "
                f"waiting {MAX_CRAWL_DELAY:g} s between its requests instead"
            )
            delay = MAX_CRAWL_DELAY
        self.limiter.set_interval(key, max(delay, self.limiter.interval))
