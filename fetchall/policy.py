"""Redirect and retry policy, written once for every engine. Pure: no I/O, no sleeping.

Strategy: `plan()` is a generator that *decides*; engines *do*. It yields `Attempt(request)` (the
engine performs one HTTP exchange and sends back an `Outcome`) or `Sleep(seconds)` (the engine
waits in its own style and sends back ``None``), and finally returns a `Final`. Blocking engines
drive it with a plain loop, callback engines step it from callbacks, coroutine engines with
``await``/``yield from``. The wall clock (for Retry-After dates) and randomness are injected.

Politeness towards a host goes through an optional `Pacer` (the runner's, over the limiter):
before every attempt after the first (retries, redirect hops) the plan asks it for a start slot
and sleeps until then, or ends if the pacer forbids the request; after every attempt it tells
the pacer what the host answered (429/503 and its Retry-After start a host-wide cooldown) and
when the request left (`Outcome.sent`: the host's spacing counts from then). A
``Retry-After`` longer than ``retry_after_cap`` is never shortened: the URL fails at once.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Protocol

from fetchall.caches import BoundedCache
from fetchall.errors import FetchError, HTTPStatusError, RedirectError
from fetchall.http.headers import Headers
from fetchall.pickling import rebuild_args
from fetchall.urls import Target, resolve_redirect

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
COOLDOWN_STATUSES = frozenset({429, 503})
"""Statuses that make the whole host wait (`Pacer.observe`), not only the URL that got them."""
CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
MAX_BACKOFF = 30.0


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request to make: the target and every header to send (Host included)."""

    target: Target
    headers: tuple[tuple[str, str], ...]
    method: str = "GET"
    body_limit: int | None = None
    """Read at most this many decoded body bytes and keep them as the whole body (robots.txt,
    RFC 9309 §2.5); None: the run's ``--max-size`` applies (a larger body is an error)."""

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        """Pickle through ``__init__``, in the compiled build too (fetchall/pickling.py)."""
        return rebuild_args(self)


_NO_HEADERS = Headers()


@dataclass(slots=True)
class Outcome:
    """What an engine reports after one attempt.

    ``body`` is an opaque handle to the saved, decoded body (engines only set it for a complete
    2xx response); ``error`` is set when the attempt failed before a usable response.
    """

    status: int | None = None
    reason: str = ""
    headers: Headers = _NO_HEADERS  # immutable, so one shared empty instance is enough
    body: object | None = None
    size: int = 0
    error: FetchError | None = None
    sent: float | None = None
    """When the request's first byte was handed to the socket (`time.monotonic`), or None if
    it never was: politeness counts a host's spacing from it (`Pacer.observe`)."""


@dataclass(frozen=True, slots=True)
class Attempt:
    """Step: perform ``request`` and send back its `Outcome`."""

    request: Request
    number: int

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        """Pickle through ``__init__``, in the compiled build too (fetchall/pickling.py)."""
        return rebuild_args(self)


@dataclass(frozen=True, slots=True)
class Sleep:
    """Step: wait ``seconds`` (engine's own way), then send back ``None``."""

    seconds: float

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        """Pickle through ``__init__``, in the compiled build too (fetchall/pickling.py)."""
        return rebuild_args(self)


Step = Attempt | Sleep


@dataclass(frozen=True, slots=True)
class Conditional:
    """Validators of an earlier fetch (``--refresh``): sent as ``If-None-Match`` /
    ``If-Modified-Since`` to ``url`` (where they came from) only; a 304 then ends the URL ok."""

    url: str
    etag: str | None = None
    last_modified: str | None = None

    def headers(self) -> tuple[tuple[str, str], ...]:
        """The conditional request headers."""
        pairs = []
        if self.etag is not None:
            pairs.append(("If-None-Match", self.etag))
        if self.last_modified is not None:
            pairs.append(("If-Modified-Since", self.last_modified))
        return tuple(pairs)

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        """Pickle through ``__init__``, in the compiled build too (fetchall/pickling.py)."""
        return rebuild_args(self)


@dataclass(frozen=True, slots=True)
class Resume:
    """Where a plan handed back at a redirect (`Final.handoff`) picks up again."""

    origin: tuple[str, str, int]  # of the URL's first request (credentials stay with it)
    visited: frozenset[str]
    attempts: int
    redirects: int

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        """Pickle through ``__init__``, in the compiled build too (fetchall/pickling.py)."""
        return rebuild_args(self)


@dataclass(frozen=True, slots=True)
class Final:
    """How a URL ended: the last request, its outcome, and the error if it failed — or, with
    ``handoff``, where it must go on: ``request`` is the next hop, to be queued as a new job
    (`plan` with ``resume=handoff``) because the pacer said so (`Pacer.must_queue`)."""

    request: Request
    outcome: Outcome | None
    error: FetchError | None
    attempts: int
    redirects: int
    handoff: Resume | None = None

    @property
    def ok(self) -> bool:
        """True for a complete 2xx response."""
        return self.error is None and self.handoff is None

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        """Pickle through ``__init__``, in the compiled build too (fetchall/pickling.py)."""
        return rebuild_args(self)


@dataclass(frozen=True, slots=True, eq=False)
class PolicySettings:
    """The numbers the policy needs (taken from `FetchOptions` by the runner)."""

    retries: int = 2
    retry_backoff: float = 0.5
    retry_after_cap: float = 60.0
    max_redirects: int = 10
    user_agent: str = "fetchall"
    accept_encoding: str = "gzip, deflate"
    extra_headers: tuple[tuple[str, str], ...] = ()
    connection: str = "close"
    """The default ``Connection`` header: ``keep-alive`` for engines that reuse connections."""
    body_limit: int | None = None
    """`Request.body_limit` of every request of the plan."""

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        """Pickle through ``__init__``, in the compiled build too (fetchall/pickling.py)."""
        return rebuild_args(self)


class Pacer(Protocol):
    """Host-wide politeness consulted by `plan` (implemented by the runner over the limiter)."""

    def reserve(self, target: Target) -> float | FetchError:
        """Book a request start at ``target``'s host for a follow-up attempt: the seconds to
        wait first (0 = now), or the error that forbids the request."""

    def observe(
        self,
        target: Target,
        status: int | None,
        retry_after: float | None,
        sent: float | None = None,
    ) -> None:
        """Report what ``target``'s host answered (``status`` None: no response), with the
        seconds its ``Retry-After`` asked for, uncapped, and when the request left
        (`Outcome.sent`; None if it never did)."""

    def must_queue(self, target: Target) -> bool:
        """True if a redirect hop to ``target`` must be admitted like a new URL first (its
        origin's robots.txt is not known yet): the plan then ends with a handoff."""


def build_request(
    target: Target,
    settings: PolicySettings,
    *,
    credentials: bool = True,
    conditional: Conditional | None = None,
) -> Request:
    """The request for ``target``: default headers, then the user's (which override by name),
    then ``conditional``'s if it is for ``target``.

    With ``credentials=False`` (after a redirect to another origin) Authorization, Cookie and
    Proxy-Authorization from the user's headers are dropped.
    """
    key = (target.host_header, credentials, settings)
    headers = _HEADER_FIELDS.get(key)
    if headers is None:
        fields = _header_fields(target.host_header, settings, credentials)
        headers = _HEADER_FIELDS.remember(key, fields)
    if conditional is not None and conditional.url == target.url:
        headers += conditional.headers()
    return Request(target=target, headers=headers, body_limit=settings.body_limit)


_HEADER_FIELDS: BoundedCache[tuple[str, bool, PolicySettings], tuple[tuple[str, str], ...]] = (
    BoundedCache(4096)
)
"""`build_request`'s fields per (Host, credentials, settings): they depend on nothing else, and
one tuple shared by every request to a host lets `encode_request` reuse its encoded bytes."""


def _header_fields(
    host_header: str, settings: PolicySettings, credentials: bool
) -> tuple[tuple[str, str], ...]:
    user = [
        (k, v)
        for k, v in settings.extra_headers
        if credentials or k.lower() not in CREDENTIAL_HEADERS
    ]
    overridden = {k.lower() for k, _ in user}
    defaults = [
        ("Host", host_header),
        ("User-Agent", settings.user_agent),
        ("Accept", "*/*"),
        ("Accept-Encoding", settings.accept_encoding),
        ("Connection", settings.connection),
    ]
    return tuple([(k, v) for k, v in defaults if k.lower() not in overridden] + user)


def backoff_delay(retry_number: int, base: float, rng: random.Random) -> float:
    """Exponential backoff with jitter: ``base * 2**(n-1)``, scaled by a factor in [0.5, 1.5),
    at most `MAX_BACKOFF` seconds (jitter included)."""
    delay = base * 2.0 ** min(retry_number - 1, 64)  # 2.0 ** 1024 would overflow
    return min(delay * (0.5 + rng.random()), MAX_BACKOFF)


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """Seconds asked for by a ``Retry-After`` header (delta-seconds or HTTP-date, relative to the
    wall-clock ``now``), uncapped (``inf`` for absurd numbers); None if absent or malformed."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # not "²" or "３", which isdigit() accepts
        return float(value) if len(value) < 300 else math.inf
    from email.utils import parsedate_to_datetime  # HTTP-dates are rare: not at start-up

    try:
        when: float = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return max(when - now, 0.0)


def describe_seconds(seconds: float) -> str:
    """``99999999`` → ``"99,999,999 s"``, for messages about waits."""
    return f"{seconds:,.0f} s" if seconds < 1e15 else "more than 10^15 s"


def plan(
    target: Target,
    settings: PolicySettings,
    *,
    rng: random.Random | None = None,
    now: Callable[[], float] = lambda: 0.0,
    pacer: Pacer | None = None,
    resume: Resume | None = None,
    conditional: Conditional | None = None,
) -> Generator[Step, Outcome | None, Final]:
    """Decide every attempt, sleep and redirect for one URL; see the module docstring. The
    first attempt starts at once (the limiter admitted it); ``pacer`` paces the others. With
    ``resume``, ``target`` is a redirect hop of a plan that handed it back. With
    ``conditional``, its URL is asked conditionally, and a 304 from it ends the plan ok."""
    rng = rng or random.Random()
    here = (target.scheme, target.host, target.port)
    origin = resume.origin if resume is not None else here
    request = build_request(target, settings, credentials=here == origin, conditional=conditional)
    visited = set(resume.visited) if resume is not None else {target.url}
    attempts = resume.attempts if resume is not None else 0
    redirects = resume.redirects if resume is not None else 0
    retries = 0
    admitted = True  # the limiter booked this start
    while True:
        if pacer is not None and not admitted:
            wait = pacer.reserve(request.target)
            if isinstance(wait, FetchError):
                return Final(request, None, wait, attempts, redirects)
            if wait > 0:
                yield Sleep(wait)
        admitted = False
        attempts += 1
        outcome = yield Attempt(request, attempts)
        assert outcome is not None, "engines must send an Outcome after an Attempt"
        error = outcome.error
        status = outcome.status if error is None else None
        asked = None
        if status in RETRY_STATUSES:
            asked = retry_after_seconds(outcome.headers.get("retry-after"), now())
        if pacer is not None:
            pacer.observe(request.target, status, asked, outcome.sent)
        if status in REDIRECT_STATUSES:
            try:
                next_target = _redirect_target(
                    request.target, outcome, visited, redirects, settings
                )
            except RedirectError as exc:
                return Final(request, outcome, exc, attempts, redirects)
            redirects += 1
            retries = 0
            visited.add(next_target.url)
            hop = (next_target.scheme, next_target.host, next_target.port)
            request = build_request(
                next_target, settings, credentials=hop == origin, conditional=conditional
            )
            if pacer is not None and pacer.must_queue(next_target):
                handoff = Resume(origin, frozenset(visited), attempts, redirects)
                return Final(request, outcome, None, attempts, redirects, handoff)
            continue
        retryable = (error is not None and error.retryable) or status in RETRY_STATUSES
        if retryable and retries < settings.retries:
            if asked is not None and asked > settings.retry_after_cap:
                return Final(
                    request, outcome, _too_long(outcome, asked, settings), attempts, redirects
                )
            retries += 1
            yield Sleep(
                asked if asked is not None else backoff_delay(retries, settings.retry_backoff, rng)
            )
            continue
        unchanged = (  # a 304 to the request that carried the validators
            status == 304
            and conditional is not None
            and request.target.url == conditional.url
            and bool(conditional.headers())
        )
        if status is not None and not 200 <= status < 300 and not unchanged:
            error = HTTPStatusError(f"HTTP {status} {outcome.reason}".rstrip())
        return Final(request, outcome, error, attempts, redirects)


def _too_long(outcome: Outcome, asked: float, settings: PolicySettings) -> HTTPStatusError:
    """The error of a URL whose server asked for a wait beyond the cap (not shortened)."""
    head = f"HTTP {outcome.status} {outcome.reason}".rstrip()
    return HTTPStatusError(
        f"{head}: Retry-After asks for {describe_seconds(asked)}, more than "
        f"--retry-after-cap {settings.retry_after_cap:g} s"
    )


def _redirect_target(
    current: Target,
    outcome: Outcome,
    visited: set[str],
    redirects: int,
    settings: PolicySettings,
) -> Target:
    locations = outcome.headers.get_all("location")
    location = locations[0].strip() if locations else ""
    if not location:
        raise RedirectError(f"HTTP {outcome.status} redirect without a Location header")
    if redirects >= settings.max_redirects:
        raise RedirectError(f"too many redirects (more than {settings.max_redirects})")
    target = resolve_redirect(current, location)
    if target.url in visited:
        raise RedirectError(f"redirect loop: {target.url} was already visited")
    return target
