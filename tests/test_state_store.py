"""The state store alone: schema and refusals, duplicates, batched results and counts, requeues,
pending hosts, the rows a report is rebuilt from, the lock."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from fetchall.state.files import is_locked
from fetchall.state.modes import begin_run, row_from_columns
from fetchall.state.schema import DONE, FAILED, Finished, StateError
from fetchall.state.store import BATCH_ROWS, StateStore

pytestmark = pytest.mark.timeout(30)


def committed(path: Path, query: str) -> list[tuple[object, ...]]:
    """What another connection sees (only committed data)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute(query).fetchall()
    finally:
        db.close()


def test_a_new_store_and_its_lock(tmp_path: Path) -> None:
    path = tmp_path / "s" / "state.db"
    store = StateStore.open(path)
    assert store.run_state is None and is_locked(path)
    with pytest.raises(StateError, match="another fetchall run"):
        StateStore.open(path)
    store.close()
    assert not is_locked(path)
    assert committed(path, "SELECT value FROM meta WHERE key = 'format'") == [("fetchall-state",)]


def test_duplicates_are_counted_not_inserted(tmp_path: Path) -> None:
    store = StateStore.open(tmp_path / "state.db")
    ids = store.add_urls([("http://a/1", "a1", "a:80"), ("http://a/2", "a2", "a:80")])
    again = store.add_urls([("http://a/1", "a1 again", "a:80"), ("http://b/", "b", "b:80")])
    assert ids[0] and ids[1] and again[0] is None and again[1]
    assert store.counts["queued"] == 3 and store.counts["duplicates"] == 1
    store.close()


def test_ids_follow_the_input_and_skip_duplicates_in_one_batch(tmp_path: Path) -> None:
    store = StateStore.open(tmp_path / "state.db")
    first = store.add_urls([("http://a/1", "a1", "a:80"), ("http://a/2", "a2", "a:80")])
    rows = [("http://a/3", "a3", "a:80"), ("http://a/1", "again", "a:80"),
            ("http://a/3", "a3 again", "a:80"), ("http://a/4", "a4", "a:80")]  # fmt: skip
    second = store.add_urls(rows)
    assert first[0] is not None and first[1] == first[0] + 1
    assert second[1] is None and second[2] is None  # held already, or earlier in this batch
    assert second[0] is not None and second[3] is not None and first[1] < second[0] < second[3]
    stored = dict(store._db.execute("SELECT url, id FROM urls"))
    assert stored == {"http://a/1": first[0], "http://a/2": first[1], "http://a/3": second[0],
                      "http://a/4": second[3]}  # fmt: skip
    assert store.counts["queued"] == 4 and store.counts["duplicates"] == 2
    store.close()


def test_a_done_row_clears_what_an_earlier_failure_left(tmp_path: Path) -> None:
    """The usual done row is written by a shorter statement: every column it does not bind is
    still reset (a URL that failed, then succeeded with --retry-failed)."""
    store = StateStore.open(tmp_path / "state.db")
    [row_id] = store.add_urls([("http://a/1", "a1", "a:80")])
    assert row_id is not None
    store.record(Finished(row_id, FAILED, attempts=3, final_url="http://a/2", status=503,
                          sha256="ab" * 32, error_type="http_status", error="HTTP 503",
                          unchanged=True))  # fmt: skip
    store.commit()
    store.requeue([FAILED])
    store.record(Finished(row_id, DONE, attempts=1, status=200, path="a/1", bytes=7,
                          etag='"e"', last_modified="lm", content_type="text/plain",
                          elapsed_ms=1.5, engine="keepalive"))  # fmt: skip
    store.commit()
    [row] = committed(
        tmp_path / "state.db",
        "SELECT state, attempts, redirects, final_url, status, path, bytes, sha256, etag, "
        "last_modified, content_type, error_type, error, unchanged, elapsed_ms, engine, "
        "finished IS NOT NULL FROM urls",
    )
    assert row == (DONE, 1, 0, None, 200, "a/1", 7, None, '"e"', "lm", "text/plain", None,
                   None, 0, 1.5, "keepalive", 1)  # fmt: skip
    assert store.counts["done"] == 1 and store.counts["failed"] == 0
    store.close()


def test_results_are_committed_in_batches(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = StateStore.open(path)
    ids = store.add_urls([(f"http://a/{i}", f"u{i}", "a:80") for i in range(BATCH_ROWS + 1)])
    store.commit()
    store.record(Finished(ids[0] or 0, DONE, attempts=1, status=200, path="a/0", bytes=5))
    assert committed(path, "SELECT COUNT(*) FROM urls WHERE state = 1") == [(0,)]
    assert store.commit_due is not None and store.commit_due > store._last_commit
    for row_id in ids[1:]:
        store.record(Finished(row_id or 0, FAILED, error_type="timeout", error="slow"))
    assert store.commit_due == store._last_commit  # a full batch: due at once
    store.commit()
    assert committed(path, "SELECT state, COUNT(*) FROM urls GROUP BY state") == [
        (DONE, 1),
        (FAILED, BATCH_ROWS),
    ]
    counts = dict(committed(path, "SELECT name, n FROM counts"))
    assert counts["done"] == 1 and counts["failed"] == BATCH_ROWS and counts["queued"] == 0
    assert counts["error:timeout"] == BATCH_ROWS
    store.close()


def test_requeue_and_pending_hosts(tmp_path: Path) -> None:
    store = StateStore.open(tmp_path / "state.db")
    ids = store.add_urls([("http://a/1", "a1", "a:80"), ("http://b/1", "b1", "b:80")])
    store.record(Finished(ids[0] or 0, DONE, path="a/1", etag='"x"'))
    store.record(Finished(ids[1] or 0, FAILED, error_type="dns", error="no"))
    store.commit()
    assert store.requeue([FAILED]) == 1
    store.mark_pending_hosts()
    assert store.pending_hosts(10, set()) == ["b:80"]
    assert store.pending_hosts(10, set()) == []  # taken
    [queued] = store.queued("b:80", 0, 10)
    assert queued.url == "http://b/1" and queued.text == "b1"
    assert store.requeue([DONE]) == 1
    [refresh] = store.queued("a:80", 0, 10)
    assert refresh.etag == '"x"' and refresh.path == "a/1"
    assert store.counts["queued"] == 2
    store.close()


def test_saved_finds_a_done_url_by_row_or_url(tmp_path: Path) -> None:
    store = StateStore.open(tmp_path / "state.db")
    [row_id] = store.add_urls([("http://a/x", "x", "a:80")])
    assert store.saved(url="http://a/x") is None  # queued
    store.record(Finished(row_id or 0, DONE, final_url="http://a/y", status=200, path="a/y"))
    saved = store.saved(row_id=row_id)  # not committed yet: visible to the writer itself
    assert saved is not None and saved.final_url == "http://a/y" and saved.path == "a/y"
    assert store.saved(url="http://a/x") is not None
    store.close()


def test_report_rows_in_input_order(tmp_path: Path) -> None:
    store = StateStore.open(tmp_path / "state.db")
    ids = store.add_urls([(f"http://a/{i}", f"in{i}", "a:80") for i in range(3)])
    store.add_bad("nope", "bad_url", "<api>:4: not a URL", "asyncio")
    store.record(Finished(ids[2] or 0, DONE, status=200, path="a/2", bytes=3, engine="asyncio"))
    store.record(Finished(ids[0] or 0, FAILED, status=404, error_type="http_status", error="404"))
    rows = [row_from_columns(values) for values in store.report_rows()]
    assert [r["url"] for r in rows] == ["in0", "in2", "nope"]  # the queued one has no row yet
    assert rows[1]["ok"] is True and rows[1]["bytes"] == 3 and rows[0]["ok"] is False
    assert rows[2]["error_type"] == "bad_url" and rows[2]["final_url"] is None
    store.close()


def test_an_unfinished_run_is_refused_without_resume(tmp_path: Path) -> None:
    store = StateStore.open(tmp_path / "state.db")
    begin_run(store, out=tmp_path, resume=False, fresh=False, refresh=False, retry_failed=False)
    store.add_urls([("http://a/1", "a1", "a:80")])
    store.close()  # the run never finished
    store = StateStore.open(tmp_path / "state.db")
    assert store.run_state == "running"
    with pytest.raises(StateError, match="unfinished run"):
        begin_run(store, out=tmp_path, resume=False, fresh=False, refresh=False, retry_failed=False)
    start = begin_run(
        store, out=tmp_path, resume=True, fresh=False, refresh=False, retry_failed=False
    )
    assert start.carried == 0 and store.counts["queued"] == 1
    store.close()


def test_another_format_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    StateStore.open(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = 99 WHERE key = 'version'")
    db.commit()
    db.close()
    with pytest.raises(StateError, match="format version 99"):
        StateStore.open(path)


def test_nothing_is_kept_in_queued_state_between_sessions(tmp_path: Path) -> None:
    """A URL recorded but not committed (a killed run) is queued again for the next one."""
    path = tmp_path / "state.db"
    store = StateStore.open(path)
    [row_id] = store.add_urls([("http://a/1", "a1", "a:80")])
    store.commit()
    store.record(Finished(row_id or 0, DONE, path="a/1"))
    store._db.close()  # as if killed: nothing more is committed
    store._lock_fd, fd = -1, store._lock_fd
    os.close(fd)
    reopened = StateStore.open(path)
    assert [q.url for q in reopened.queued("a:80", 0, 10)] == ["http://a/1"]
    assert reopened.counts["queued"] == 1 and reopened.counts["done"] == 0
    reopened.close()
