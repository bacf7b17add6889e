"""What the built-in test server saw, and what tests set it to serve: `ServerStats` (thread-safe
counters and a bounded log of request start times, read from any thread), `RobotsFile` (the
``/robots.txt`` answer) and `Versions` (of the ``/cached/NAME`` bodies).
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from dataclasses import dataclass

MAX_LOGGED_STARTS = 100_000
"""Request starts kept in `ServerStats.starts` (the oldest are dropped beyond this)."""


@dataclass
class RobotsFile:
    """The server's ``/robots.txt``: ``status``, ``text`` and an optional ``Location`` (404 and
    empty by default)."""

    status: int = 404
    text: str = ""
    location: str | None = None

    def serve(self, text: str, status: int = 200, location: str | None = None) -> None:
        """Answer ``/robots.txt`` with ``status``, ``text`` (and ``location``) from now on."""
        self.status, self.text, self.location = status, text, location

    def clear(self) -> None:
        """Back to 404."""
        self.serve("", 404)


class Versions:
    """Versions of the ``/cached/NAME`` bodies (1 until bumped): what a changed page is."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._versions: dict[str, int] = {}

    def get(self, name: str) -> int:
        """The current version of ``name``."""
        with self._lock:
            return self._versions.get(name, 1)

    def bump(self, name: str) -> None:
        """Change the body (and validators) of ``name``."""
        with self._lock:
            self._versions[name] = self._versions.get(name, 1) + 1

    def clear(self) -> None:
        """Every name back to version 1."""
        with self._lock:
            self._versions.clear()


class ServerStats:
    """Thread-safe counters of what the server saw; readable from any thread.

    `reset()` also forgets the `/flaky` counters, so each test can reuse keys.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0  # requests received since the last reset
        self.active = 0  # requests in flight right now
        self.max_active = 0  # peak simultaneous in-flight requests since the last reset
        self.connections = 0  # TCP connections accepted since the last reset
        self.starts: deque[tuple[float, str]] = deque(maxlen=MAX_LOGGED_STARTS)
        """(``time.monotonic()`` when the head arrived, path with query) of each request."""
        self._by_path: Counter[str] = Counter()
        self._flaky: Counter[str] = Counter()

    def start_times(self, prefix: str = "") -> list[float]:
        """Server-side start times of the requests whose path (with query) starts with
        ``prefix``, in order."""
        with self._lock:
            return [when for when, path in self.starts if path.startswith(prefix)]

    @property
    def by_path(self) -> Counter[str]:
        """A snapshot: request count per path (without query)."""
        with self._lock:
            return Counter(self._by_path)

    def reset(self) -> None:
        """Zero the counters (peak restarts at the current in-flight count)."""
        with self._lock:
            self.requests = 0
            self.max_active = self.active
            self.connections = 0
            self.starts.clear()
            self._by_path.clear()
            self._flaky.clear()

    def request_started(self, path: str, path_qs: str | None = None) -> None:
        """Record the start of one request (``path`` without query, ``path_qs`` with it)."""
        now = time.monotonic()
        with self._lock:
            self.starts.append((now, path if path_qs is None else path_qs))
            self.requests += 1
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self._by_path[path] += 1

    def request_finished(self) -> None:
        """Record the end of one request."""
        with self._lock:
            self.active -= 1

    def connection_accepted(self) -> None:
        """Record one accepted TCP connection."""
        with self._lock:
            self.connections += 1

    def flaky_hit(self, key: str) -> int:
        """Count one request for a /flaky key; return how many it has had (1 for the first)."""
        with self._lock:
            self._flaky[key] += 1
            return self._flaky[key]
