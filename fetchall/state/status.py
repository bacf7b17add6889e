"""``fetchall status [DIR]``: what a run's state store says, while the run goes on or after.

Strategy: a read-only SQLite connection beside the writer (WAL lets it read the last commit while
the run writes the next). Totals per state and per error type come from the ``counts`` table and
the rate from the ``progress`` snapshots the writer keeps at each commit, so the answer costs
no scan of the URLs; only the top hosts read the partial indexes of queued and failed URLs.
Whether a run is going is whether the store's lock is held.
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fetchall.progress import clock, share
from fetchall.state.files import is_locked
from fetchall.state.schema import FORMAT, STATE_NAMES, StateError

TOP_HOSTS = 10
RATE_WINDOW = 60.0


@dataclass
class Status:
    """One reading of a state store (`read_status`); `as_json` is the ``--json`` object."""

    path: str
    running: bool
    run: str | None
    total: int = 0
    states: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    hosts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    rate_per_minute: float | None = None
    eta_seconds: float | None = None

    def as_json(self) -> dict[str, Any]:
        """The ``--json`` object."""
        return asdict(self)


def read_status(path: Path) -> Status:
    """Read the store at ``path`` (read-only); `StateError` if it is missing or not ours."""
    if not path.is_file():
        raise StateError(f"no fetchall state at {path}")
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error as exc:
        raise StateError(f"cannot read the state file {path}: {exc}") from None
    try:
        return _read(db, path)
    except sqlite3.Error as exc:
        raise StateError(f"cannot read the state file {path}: {exc}") from None
    finally:
        db.close()


def _read(db: sqlite3.Connection, path: Path) -> Status:
    meta = dict(db.execute("SELECT key, value FROM meta"))
    if meta.get("format") != FORMAT:
        raise StateError(f"{path} is not a fetchall state file")
    run = meta.get("run")
    status = Status(str(path), running=is_locked(path), run=run if isinstance(run, str) else None)
    counts = dict(db.execute("SELECT name, n FROM counts"))
    status.states = {name: int(counts.get(name, 0)) for name in STATE_NAMES}
    status.total = sum(status.states.values())
    status.errors = {
        name.removeprefix("error:"): int(n)
        for name, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        if name.startswith("error:") and n
    }
    status.hosts = {
        "queued": _top(db, "SELECT host, COUNT(*) FROM urls WHERE state = 0 GROUP BY host"),
        "failed": _top(db, "SELECT host, COUNT(*) FROM urls WHERE state = 2 GROUP BY host"),
    }
    status.rate_per_minute = _rate(db)
    if status.running and status.rate_per_minute:
        status.eta_seconds = round(status.states["queued"] / status.rate_per_minute * 60, 1)
    return status


def _top(db: sqlite3.Connection, query: str) -> list[dict[str, Any]]:
    rows = db.execute(f"{query} ORDER BY 2 DESC, 1 LIMIT {TOP_HOSTS}").fetchall()
    return [{"host": host, "count": count} for host, count in rows if host is not None]


def _rate(db: sqlite3.Connection) -> float | None:
    """URLs finished per minute over the last minute of snapshots (None without two)."""
    newest = db.execute("SELECT t, finished FROM progress ORDER BY t DESC LIMIT 1").fetchone()
    if newest is None:
        return None
    oldest = db.execute(
        "SELECT t, finished FROM progress WHERE t >= ? ORDER BY t LIMIT 1",
        (newest[0] - RATE_WINDOW,),
    ).fetchone()
    if oldest is None or newest[0] - oldest[0] <= 0:
        return None
    rate: float = (newest[1] - oldest[1]) / (newest[0] - oldest[0]) * 60
    return round(rate, 1)


def render(status: Status) -> list[str]:
    """Lines for a terminal."""
    states = status.states
    state = "running" if status.running else (status.run or "unknown")
    if status.run == "running" and not status.running:
        state = "stopped before the end (continue with --resume)"
    lines = [
        f"{status.path}: {state}",
        f"{status.total:,} URLs: " + ", ".join(f"{states[n]:,} {n}" for n in STATE_NAMES),
    ]
    if status.errors:
        lines.append("errors: " + ", ".join(f"{n:,} {e}" for e, n in status.errors.items()))
    finished = status.total - states["queued"]
    figures = [f"progress: {share(finished, status.total)} finished"]
    if status.rate_per_minute is not None:
        figures.append(f"{status.rate_per_minute / 60:,.1f} req/s over the last minute")
        if status.eta_seconds is not None:
            figures.append(f"ETA {clock(status.eta_seconds)}")
    lines.append(", ".join(figures))
    for kind in ("queued", "failed"):
        top = status.hosts.get(kind) or []
        if top:
            lines.append(f"most {kind}: " + ", ".join(f"{h['host']} {h['count']:,}" for h in top))
    return lines
