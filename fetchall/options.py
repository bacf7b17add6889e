"""Fetch options: one validated, immutable record shared by the CLI, the API and every engine.

Strategy: `FetchOptions` holds plain values; `FetchOptions.validated()` checks every value before
anything is fetched and raises `UsageError` with a one-line message (the CLI maps that to exit 2).
`parse_size` / `parse_header` turn CLI strings into values.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from pathlib import Path

from fetchall import __version__
from fetchall.errors import InvalidRequestError, UsageError
from fetchall.http.request import validate_header

DEFAULT_USER_AGENT = f"fetchall/{__version__}"

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(text: str) -> int:
    """Parse ``"500"``, ``"64k"``, ``"10M"``, ``"1.5GiB"`` (binary multiples) into bytes."""
    match = _SIZE_RE.match(text)
    if not match:
        raise UsageError(f"invalid size {text!r} (examples: 500, 64k, 10M, 1.5G)")
    number, unit = float(match.group(1)), match.group(2).lower()
    size = int(number * _UNITS[unit])
    if size <= 0:
        raise UsageError(f"invalid size {text!r}: must be greater than zero")
    return size


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
    """Everything that shapes a run. Defaults are the CLI's defaults."""

    engine: str = "aiohttp"
    out: Path = Path("downloads")
    report: Path | None = None
    concurrency: int = 50
    per_host: int = 8
    timeout: float = 300.0
    connect_timeout: float = 10.0
    retries: int = 2
    retry_backoff: float = 0.5
    retry_after_cap: float = 60.0
    max_redirects: int = 10
    max_size: int | None = None
    headers: tuple[tuple[str, str], ...] = ()
    user_agent: str = DEFAULT_USER_AGENT
    insecure: bool = False
    cacert: Path | None = None
    resume: bool = False
    max_waiting: int = 10_000

    @property
    def report_path(self) -> Path:
        """Where the JSONL report goes (``OUT/report.jsonl`` unless set)."""
        return self.report if self.report is not None else self.out / "report.jsonl"

    def validated(self) -> FetchOptions:
        """Return self after checking every value; raise `UsageError` on the first bad one."""
        _positive_int("concurrency", self.concurrency)
        _positive_int("per-host", self.per_host)
        _non_negative_int("retries", self.retries)
        _non_negative_int("max-redirects", self.max_redirects)
        _positive_float("timeout", self.timeout)
        _positive_float("connect-timeout", self.connect_timeout)
        _non_negative_float("retry-backoff", self.retry_backoff)
        _non_negative_float("retry-after-cap", self.retry_after_cap)
        if self.max_size is not None:
            _positive_int("max-size", self.max_size)
        for name, value in self.headers:
            parse_header(f"{name}: {value}")
        if self.cacert is not None and not self.cacert.is_file():
            raise UsageError(f"--cacert: no such file: {self.cacert}")
        if self.insecure and self.cacert is not None:
            raise UsageError("--insecure and --cacert contradict each other")
        if not self.user_agent or "\r" in self.user_agent or "\n" in self.user_agent:
            raise UsageError("--user-agent must be a non-empty single line")
        from fetchall.engines import ENGINES

        if self.engine not in ENGINES:
            raise UsageError(f"unknown engine {self.engine!r} (choose from {', '.join(ENGINES)})")
        return self

    def with_changes(self, **changes: object) -> FetchOptions:
        """A copy with some fields replaced."""
        return replace(self, **changes)  # type: ignore[arg-type]


def _positive_int(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(f"--{name} must be a whole number >= 1, got {value!r}")


def _non_negative_int(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UsageError(f"--{name} must be a whole number >= 0, got {value!r}")


def _positive_float(name: str, value: float) -> None:
    if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise UsageError(f"--{name} must be a finite number of seconds > 0, got {value!r}")


def _non_negative_float(name: str, value: float) -> None:
    if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise UsageError(f"--{name} must be a finite number >= 0, got {value!r}")
