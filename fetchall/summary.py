"""`RunSummary`: the totals of one run, kept by the runner as rows are written, and the exit
status they imply."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from fetchall.result import Result


@dataclass
class RunSummary:
    """Totals of a run, as `fetch_all` returns them; ``exit_code`` is the CLI's exit status."""

    engine: str
    """The engine that ran."""
    ok: int = 0
    """Rows written with ``ok`` true in this run."""
    failed: int = 0
    """Rows written with ``ok`` false in this run (bad lines and interrupted URLs included)."""
    duplicates: int = 0
    """Input lines skipped because their URL was already listed."""
    resumed: int = 0
    """URLs that ended in an earlier run of the state (their rows are in the report)."""
    resumed_failed: int = 0
    """Of those, the ones that did not end ok (they count for the exit status)."""
    robots_blocked: int = 0
    """URLs not requested because robots.txt disallows them (or a redirect hop of theirs)."""
    robots_requests: int = 0
    """robots.txt requests made (one per origin, ``robots=True`` only)."""
    cooldowns: int = 0
    """Host cooldowns started by a 429 or 503 answer."""
    bytes: int = 0
    """Decoded body bytes of the ok rows."""
    elapsed: float = 0.0
    """Wall time of the run, in seconds."""
    interrupted: bool = False
    """The run was stopped by Ctrl-C or SIGTERM (exit status 130)."""
    by_status: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    """A crawl: links not followed, by reason (each URL counted once)."""
    items: int = 0
    """Items callbacks wrote with ``Response.emit`` (``DIR/items.jsonl``)."""
    workers: int = 0
    """``--cluster``: the Dask workers the run had (0 for a local run)."""
    """Rows per outcome: the HTTP status (``"200"``, ``"404"``) for ok rows and ``http_status``
    failures, else the error type (``"timeout"``, ``"bad_url"``...)."""

    def count(self, result: Result) -> None:
        """Count one report row: ok or failed, its bytes, its status (or error type)."""
        if result.ok:
            self.ok += 1
            self.bytes += result.bytes
        else:
            self.failed += 1
        label = str(result.status) if result.ok or result.error_type == "http_status" else None
        self.by_status[label or result.error_type or "error"] += 1

    @property
    def total(self) -> int:
        """Rows written (ok + failed)."""
        return self.ok + self.failed

    @property
    def requests_per_second(self) -> float:
        """Finished URLs per second of wall time."""
        return self.total / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def exit_code(self) -> int:
        """130 interrupted, 1 if any URL failed (in this run or an earlier one it continues),
        else 0."""
        if self.interrupted:
            return 130
        return 1 if self.failed or self.resumed_failed else 0
