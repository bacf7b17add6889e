"""How a run starts over its state store: a new run, ``--resume``, ``--refresh``,
``--retry-failed`` or ``--fresh`` — and the report that goes with it.

Strategy: the store says whether the previous run over this output directory finished
(``meta.run``). An unfinished one is continued only when asked (``--resume``, ``--refresh`` or
``--retry-failed``; ``--fresh`` starts over), never silently restarted. A finished one is
replaced by a plain run, as before there was a store. Continuing keeps the report's first
``report_offset`` bytes — the rows of every URL whose end was committed, written before that
commit — and cuts the rest (rows of URLs fetched again now); if URLs are queued again
(``--refresh``, ``--retry-failed``) or the report is missing or shorter, it is rewritten from the
store instead, so it always ends with one row per input URL.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fetchall.output.report import ReportWriter
from fetchall.result import REPORT_FIELDS
from fetchall.state.schema import DONE, FAILED, STATE_NAMES, StateError
from fetchall.state.store import StateStore


@dataclass(frozen=True)
class RunStart:
    """What a run takes over from the previous one."""

    carried: int = 0
    """URLs that ended in an earlier run (their rows are in the report already)."""
    carried_failed: int = 0
    """Of those, the ones that did not end ok."""
    requeued: int = 0
    """URLs queued again by ``--refresh`` / ``--retry-failed``."""


def begin_run(
    store: StateStore,
    *,
    out: Path,
    resume: bool,
    fresh: bool,
    refresh: bool,
    retry_failed: bool,
) -> RunStart:
    """Prepare ``store`` for this run (see module docstring; committed with the run's first
    commit, so a run that fails to start leaves the store as it was); raises `StateError` for
    an unfinished run that was not asked to continue."""
    previous = store.run_state
    continuing = resume or refresh or retry_failed
    if fresh or previous is None or (previous == "finished" and not continuing):
        store.reset()
        store.set_meta(run="running", started=time.time())
        return RunStart()
    if previous != "finished" and not continuing:
        raise StateError(
            f"{out} holds an unfinished run ({store.path}): continue it with --resume, or "
            "start over with --fresh"
        )
    requeued = 0
    if refresh:
        requeued += store.requeue([DONE])
    if retry_failed:
        requeued += store.requeue([FAILED])
    store.mark_pending_hosts()
    store.set_meta(run="running", resumed=time.time())
    counts = store.counts
    failed = counts["failed"] + counts["blocked"]
    return RunStart(carried=counts["done"] + failed, carried_failed=failed, requeued=requeued)


def open_report(
    store: StateStore | None, start: RunStart, path: Path, *, crawl: bool = False
) -> ReportWriter:
    """The report of this run: new, or (continuing) the previous one cut to its committed rows,
    or rewritten from the store (see module docstring; a crawl's rows with depth and parent)."""
    if store is None or not start.carried:
        return ReportWriter(path)
    offset = store.meta.get("report_offset")
    if not start.requeued and isinstance(offset, int) and offset > 0 and _size(path) >= offset:
        return ReportWriter(path, keep=offset)
    writer = ReportWriter(path)
    try:
        for values in store.report_rows():
            writer.write_row(row_from_columns(values, crawl=crawl))
    except BaseException:
        writer.close()
        raise
    return writer


def finish_run(store: StateStore, *, complete: bool, **meta: Any) -> None:
    """Commit the end of the run: ``finished`` if ``complete`` (every URL ended)."""
    if complete:
        store.set_meta(run="finished", finished=time.time(), **meta)
    elif meta:
        store.set_meta(**meta)
    store.commit()


def row_from_columns(values: tuple[Any, ...], *, crawl: bool = False) -> dict[str, Any]:
    """A report row from `fetchall.state.schema.ROW_COLUMNS` values (and, for a crawl's row,
    the depth and parent URL after them)."""
    (text, final_url, state, status, error_type, error, path, size, content_type, attempts,
     redirects, elapsed_ms, engine, unchanged) = values[:14]  # fmt: skip
    row = {
        "url": text,
        "final_url": final_url,
        "ok": state == DONE,
        "status": status,
        "error_type": error_type,
        "error": error,
        "path": path,
        "bytes": size,
        "content_type": content_type,
        "attempts": attempts,
        "redirects": redirects,
        "elapsed_ms": elapsed_ms,
        "engine": engine,
        "unchanged": bool(unchanged),
    }
    assert tuple(row) == REPORT_FIELDS
    if crawl:
        row["depth"], row["parent"] = values[14], values[15]
    return row


def state_name(state: int) -> str:
    """``"done"`` for `DONE`, and so on."""
    return STATE_NAMES[state]


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1


__all__ = ["RunStart", "StateError", "begin_run", "finish_run", "open_report", "row_from_columns"]
