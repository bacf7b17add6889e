"""Fetch options: one validated, immutable record shared by the CLI, the API and every engine.

Strategy: `FetchOptions` holds plain values; `FetchOptions.validated()` checks every value before
anything is fetched and raises `UsageError` with a one-line message (the CLI maps that to exit 2).
`parse_size` / `parse_header` turn CLI strings into values.
"""

from __future__ import annotations

import math
import re
import ssl
from dataclasses import dataclass, replace
from pathlib import Path

from fetchall import __version__
from fetchall.errors import InvalidRequestError, UsageError
from fetchall.http.request import validate_header

DEFAULT_USER_AGENT = f"fetchall/{__version__}"

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}

MAX_CONCURRENCY = 100_000
"""Most requests in flight (and per host): each holds two descriptors (socket + temp file), and
far more than this cannot be open at once on any usual system; a larger value is a typo."""
MAX_SECONDS = 1_000_000.0
"""Longest timeout, backoff or Retry-After cap (about 11.6 days): event loops and socket
timeouts overflow on far larger values (epoll's limit is about 24.8 days)."""
MAX_COUNT = 1_000
"""Most retries and redirects: a larger number only ever comes from a typo."""
MAX_PIPELINE = 64
"""Most requests ``--pipeline`` may keep in flight on one connection."""


def parse_size(text: str) -> int:
    """Parse ``"500"``, ``"64k"``, ``"10M"``, ``"1.5GiB"`` (binary multiples) into bytes."""
    match = _SIZE_RE.match(text)
    if not match:
        raise UsageError(f"invalid size {text!r} (examples: 500, 64k, 10M, 1.5G)")
    from decimal import Decimal  # only --max-size needs it: not at start-up

    number, unit = Decimal(match.group(1)), match.group(2).lower()
    size = int(number * _UNITS[unit])  # exact: Decimal, not float, so "1" * 400 cannot overflow
    if size <= 0:
        raise UsageError(f"invalid size {text!r}: must be greater than zero")
    return size


_NUMBER = r"(\d+(?:\.\d*)?|\.\d+)"
_RATE_RE = re.compile(rf"\s*{_NUMBER}\s*(?:/\s*{_NUMBER}?\s*([a-z]+))?\s*", re.IGNORECASE)
_RATE_UNITS = {"s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "hour": 3600.0}


def parse_rate(text: str) -> float:
    """Parse a request rate into starts per second: ``2``, ``0.5``, ``2/s``, ``30/m``,
    ``1/5s`` (one per 5 seconds), ``100/h``."""
    match = _RATE_RE.fullmatch(text)
    unit = (match.group(3) or "s").lower() if match else ""
    if not match or unit not in _RATE_UNITS:
        raise UsageError(f"invalid rate {text!r} (examples: 2, 0.5, 2/s, 30/m, 1/5s)")
    count = float(match.group(1))
    seconds = float(match.group(2) or 1) * _RATE_UNITS[unit]
    if count <= 0 or seconds <= 0:
        raise UsageError(f"invalid rate {text!r}: must be greater than zero")
    return count / seconds


def parse_header(text: str) -> tuple[str, str]:
    """Parse a ``-H "Name: value"`` option into a validated pair."""
    name, sep, value = text.partition(":")
    name, value = name.strip(), value.strip()
    if not sep or not name:
        raise UsageError(f"invalid header {text!r}: expected 'Name: value'")
    try:
        validate_header(name, value)
    except InvalidRequestError as exc:
        raise UsageError(f"invalid header {text!r}: {exc}") from None
    return name, value


@dataclass(frozen=True, slots=True)
class FetchOptions:
    """Everything that shapes a run. Defaults are the CLI's defaults; a field is the fetch
    command's option of the same name (``per_host`` is ``--per-host``, ``headers`` is
    ``--header``, ``use_state=False`` is ``--no-state``)."""

    engine: str = "aiohttp"
    """The I/O engine (``fetchall engines`` lists them)."""
    out: Path = Path("downloads")
    """The output directory."""
    report: Path | None = None
    """The JSONL report (default ``OUT/report.jsonl``)."""
    concurrency: int = 50
    """Requests in flight at most."""
    per_host: int = 8
    """Requests in flight per host (``host:port``) at most."""
    timeout: float = 300.0
    """Seconds for one whole attempt: connect, send and the complete body."""
    connect_timeout: float = 10.0
    """Seconds to connect (DNS, TCP, TLS handshake)."""
    retries: int = 2
    """Retries after the first attempt (connection errors, timeouts, 408/429/500/502/503/504)."""
    retry_backoff: float = 0.5
    """First retry delay in seconds; doubles per retry, jittered, at most 30 s."""
    retry_after_cap: float = 60.0
    """Longest ``Retry-After`` obeyed, in seconds; a longer one fails the host's URLs."""
    max_redirects: int = 10
    """Redirects followed at most."""
    max_size: int | None = None
    """Largest decoded body in bytes (None: no limit)."""
    headers: tuple[tuple[str, str], ...] = ()
    """Extra request headers as ``(name, value)`` pairs; they override default headers."""
    user_agent: str = DEFAULT_USER_AGENT
    """The User-Agent header (``fetchall/VERSION``)."""
    insecure: bool = False
    """Do not verify TLS certificates."""
    cacert: Path | None = None
    """Trust this CA bundle (PEM) instead of the system's CAs."""
    resume: bool = False
    """Continue the unfinished run of ``out`` from its state store."""
    max_waiting: int = 10_000
    """URLs taken from the frontier and waiting for a limiter slot, at most (no CLI option)."""
    pipeline: int = 1
    """HTTP/1.1 requests in flight per connection (``keepalive`` engine only)."""
    rate: float | None = None
    """Request starts per second per host at most (None: no limit)."""
    robots: bool = False
    """Obey robots.txt and its Crawl-delay (fetched once per origin; see the Politeness page)."""
    state: Path | None = None
    """The state store (default ``OUT/.fetchall/state.db``)."""
    items_file: Path | None = None
    """Where ``Response.emit`` writes its items (default ``OUT/items.jsonl``)."""
    use_state: bool = True
    """Keep the run's state (False: ``--no-state``, nothing to resume)."""
    sha256: bool = False
    """Keep the SHA-256 of every saved body in the state store (about 0.6 ms of CPU per MiB)."""
    fresh: bool = False
    """Start over even if the state holds an unfinished run."""
    refresh: bool = False
    """Fetch the URLs that are done again, conditionally (ETag / Last-Modified)."""
    retry_failed: bool = False
    """Fetch the URLs that failed again."""
    shared_out: bool = False
    """Other runs write into ``out`` at the same time (a cluster's workers, one run per shard):
    the temp dir is left in place at the end, for the coordinator to remove (no CLI option)."""

    @property
    def report_path(self) -> Path:
        """Where the JSONL report goes (``OUT/report.jsonl`` unless set)."""
        return self.report if self.report is not None else self.out / "report.jsonl"

    @property
    def state_path(self) -> Path | None:
        """Where the state store lives (None with ``--no-state``)."""
        if not self.use_state:
            return None
        return self.state if self.state is not None else self.out / ".fetchall" / "state.db"

    def validated(self) -> FetchOptions:
        """Return self after checking every value; raise `UsageError` on the first bad one."""
        _positive_int("concurrency", self.concurrency, MAX_CONCURRENCY)
        _positive_int("per-host", self.per_host, MAX_CONCURRENCY)
        _positive_int("pipeline", self.pipeline, MAX_PIPELINE)
        _non_negative_int("retries", self.retries, MAX_COUNT)
        _non_negative_int("max-redirects", self.max_redirects, MAX_COUNT)
        _positive_float("timeout", self.timeout)
        _positive_float("connect-timeout", self.connect_timeout)
        _non_negative_float("retry-backoff", self.retry_backoff)
        _non_negative_float("retry-after-cap", self.retry_after_cap)
        if self.max_size is not None:
            _positive_int("max-size", self.max_size)
        if self.rate is not None:
            _rate(self.rate)
        if not isinstance(self.robots, bool):
            raise UsageError(f"robots must be True or False, got {self.robots!r}")
        self._check_run_modes()
        for name, value in self.headers:
            parse_header(f"{name}: {value}")
        if self.cacert is not None:
            _check_cacert(self.cacert)
        if self.insecure and self.cacert is not None:
            raise UsageError("--insecure and --cacert contradict each other")
        try:
            validate_header("User-Agent", self.user_agent)
        except InvalidRequestError:
            raise UsageError(
                "--user-agent must be a single line without control characters"
            ) from None
        if not self.user_agent.strip():
            raise UsageError("--user-agent must not be empty")
        from fetchall.engines import ENGINES

        if self.engine not in ENGINES:
            raise UsageError(f"unknown engine {self.engine!r} (choose from {', '.join(ENGINES)})")
        if self.pipeline > 1 and not ENGINES[self.engine].keep_alive:
            raise UsageError(
                f"--pipeline needs an engine that keeps connections alive (keepalive), "
                f"not {self.engine}"
            )
        return self

    def _check_run_modes(self) -> None:
        continuing = [
            name
            for name, on in (
                ("--resume", self.resume),
                ("--refresh", self.refresh),
                ("--retry-failed", self.retry_failed),
            )
            if on
        ]
        if self.fresh and continuing:
            raise UsageError(f"--fresh starts over: it cannot go with {continuing[0]}")
        if not self.use_state:
            needs = continuing + (["--fresh"] if self.fresh else [])
            if needs:
                raise UsageError(f"{needs[0]} needs the state store: drop --no-state")
            if self.state is not None:
                raise UsageError("--state and --no-state contradict each other")

    def with_changes(self, **changes: object) -> FetchOptions:
        """A copy with some fields replaced."""
        return replace(self, **changes)  # type: ignore[arg-type]


def _positive_int(name: str, value: int, most: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(f"--{name} must be a whole number >= 1, got {value!r}")
    if most is not None and value > most:
        raise UsageError(f"--{name} must be at most {most}, got {value!r}")


def _non_negative_int(name: str, value: int, most: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UsageError(f"--{name} must be a whole number >= 0, got {value!r}")
    if value > most:
        raise UsageError(f"--{name} must be at most {most}, got {value!r}")


def _positive_float(name: str, value: float) -> None:
    if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise UsageError(f"--{name} must be a finite number of seconds > 0, got {value!r}")
    if value > MAX_SECONDS:
        raise UsageError(f"--{name} must be at most {MAX_SECONDS:.0f} seconds, got {value!r}")


def _non_negative_float(name: str, value: float) -> None:
    if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise UsageError(f"--{name} must be a finite number >= 0, got {value!r}")
    if value > MAX_SECONDS:
        raise UsageError(f"--{name} must be at most {MAX_SECONDS:.0f} seconds, got {value!r}")


def _rate(value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise UsageError(f"--rate must be a finite number of requests per second, got {value!r}")
    if value <= 0:
        raise UsageError(f"--rate must be greater than zero, got {value!r}")
    if 1 / value > MAX_SECONDS:
        raise UsageError(f"--rate must allow a request every {MAX_SECONDS:.0f} seconds at least")


def _check_cacert(path: Path) -> None:
    """Load the CA bundle now, so a wrong file is a usage error before anything is fetched."""
    if not path.is_file():
        problem = "not a regular file" if path.exists() else "no such file"
        raise UsageError(f"--cacert: {problem}: {path}")
    try:
        ssl.create_default_context(cafile=str(path))
    except (ssl.SSLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
        raise UsageError(f"--cacert {path}: not a usable PEM CA bundle ({reason})") from None
