"""The store-backed frontier alone: how much of the input it imports when its hosts are full.

A list of one host at the default ``--per-host 8`` under ``-c 50`` can never fill every slot.
Importing further then only reads ahead (to find other hosts), so it must be rationed: a
frontier that imported "until a URL is ready" kept the engine waiting while it imported the
whole list (a 1,000,000-URL list fetched 352 URLs in its first 8 s).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fetchall.frontier import stored
from fetchall.frontier.stored import StoreFrontier
from fetchall.output.report import ReportWriter
from fetchall.state.store import StateStore
from fetchall.urllists import RawLine, raw_strings

pytestmark = pytest.mark.timeout(60)


def one_host(n: int) -> Iterator[RawLine]:
    """A lazy list of ``n`` URLs of one host (never materialised)."""
    return raw_strings(f"http://127.0.0.1:9/{i}" for i in range(n))


def frontier(tmp_path: Path, source: Iterator[RawLine], **kw: int) -> StoreFrontier:
    store = StateStore.open(tmp_path / "state.db")
    report = ReportWriter(tmp_path / "report.jsonl")
    return StoreFrontier(
        store, source, lambda _: None, engine="test", report=report,
        per_host=kw.get("per_host", 2), concurrency=kw.get("concurrency", 10),
    )  # fmt: skip


def test_full_hosts_do_not_make_it_import_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stored, "READ_AHEAD_SHARE", 0.0)  # reading ahead never allowed
    front = frontier(tmp_path, one_host(1_000_000))
    out = [front.pull(), front.pull()]
    assert all(entry is not None for entry in out)
    imported = front.imported
    assert imported <= stored.IMPORT_BATCH  # what the first URL needed
    for _ in range(200):  # the host is full (2 of 2 out): nothing to hand out
        assert front.pull() is None
    assert front.imported == imported
    assert front.next_due() == front._store.commit_due  # no wake-up to import further


def test_reading_ahead_stops_at_its_distance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stored, "READ_AHEAD_SHARE", 1e9)  # time is no limit here
    monkeypatch.setattr(stored, "READ_AHEAD_SLICE", 10.0)
    monkeypatch.setattr(stored, "READ_AHEAD_MAX", 1_000)
    front = frontier(tmp_path, one_host(1_000_000))
    for _ in range(50):
        front.pull()
    assert 1_000 <= front.imported <= 1_000 + 2 * stored.IMPORT_BATCH


def test_reading_ahead_finds_the_later_hosts_of_a_sorted_list(tmp_path: Path) -> None:
    """5 hosts × 2,000 URLs in host order, 2 per host, -c 10: every host gets URLs out."""
    urls = [f"http://127.0.0.{h}:9/{i}" for h in range(1, 6) for i in range(2_000)]
    front = frontier(tmp_path, raw_strings(urls), per_host=2, concurrency=10)
    hosts = set()
    deadline = time.monotonic() + 20  # reading ahead is rationed by time: pull a while
    while time.monotonic() < deadline:
        entry = front.pull()
        if entry is not None:
            hosts.add(entry.target.host_key)
        if len(hosts) == 5:
            break
    assert len(hosts) == 5
