"""`RunSummary`: the totals of one run, kept by the runner as rows are written, and the exit
status they imply."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class RunSummary:
    """Totals of a run; ``exit_code`` follows the documented contract."""

    engine: str
    ok: int = 0
    failed: int = 0
    duplicates: int = 0
    resumed: int = 0
    """URLs that ended in an earlier run of the state (their rows are in the report)."""
    resumed_failed: int = 0
    """Of those, the ones that did not end ok (they count for the exit status)."""
    robots_blocked: int = 0
    robots_requests: int = 0
    cooldowns: int = 0
    bytes: int = 0
    elapsed: float = 0.0
    interrupted: bool = False
    by_status: Counter[str] = field(default_factory=Counter)

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
