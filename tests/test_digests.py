"""DigestMap (fetchall.digests): a dict that spills to a temporary SQLite table, checked
against a plain dict model, and wired into dedupe and output claims."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fetchall.digests
from fetchall.digests import DigestMap
from fetchall.output.writer import OutputDir

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)


def test_small_map_never_opens_a_database() -> None:
    m = DigestMap(limit=10)
    for key in range(9):
        m[key] = key * 2
    assert m.spilled == 0 and m._db is None
    assert m.get(4) == 8 and 4 in m and 99 not in m and m.get(99) is None


def test_spilled_entries_stay_visible_and_can_be_overwritten() -> None:
    m = DigestMap(limit=3)
    for key in range(10):
        m[key] = -key
    assert m.spilled == 9  # three batches of three
    assert [m.get(k) for k in range(10)] == [-k for k in range(10)]
    m[1] = 100  # overwrite a spilled entry: the dict copy wins until it spills too
    assert m.get(1) == 100
    for key in range(20, 23):
        m[key] = 0
    assert m.get(1) == 100 and m.get(20) == 0


def test_add_reports_new_keys_only_across_spills() -> None:
    m = DigestMap(limit=4)
    assert [m.add(k) for k in (5, 6, 7, 8, 9)] == [True] * 5
    assert m.spilled == 4
    assert [m.add(k) for k in (5, 9, 10)] == [False, False, True]


def test_extreme_keys_and_values() -> None:
    m = DigestMap(limit=1)
    for key in (-(2**63), 2**63 - 1, 0, -1):
        m[key] = key
    assert all(m.get(k) == k for k in (-(2**63), 2**63 - 1, 0, -1))


def test_close_is_idempotent_and_empties() -> None:
    m = DigestMap(limit=2)
    m[1] = 1
    m[2] = 2
    m.close()
    m.close()
    assert m.get(1) is None


def test_limit_must_be_positive() -> None:
    with pytest.raises(ValueError):
        DigestMap(limit=0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(INT64, INT64), max_size=60), st.integers(min_value=1, max_value=8))
def test_behaves_like_a_dict(ops: list[tuple[int, int]], limit: int) -> None:
    m, model = DigestMap(limit=limit), {}
    for key, value in ops:
        assert m.add(key) == (key not in model)
        model.setdefault(key, 0)
        m[key] = value
        model[key] = value
    for key, value in ops:
        assert m.get(key) == model[key]
        assert m.get(value ^ 0x5A5A) == model.get(value ^ 0x5A5A)
    m.close()


def test_output_claims_survive_a_spill(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two URLs that map to the same path still get two files after the claims spilled."""
    monkeypatch.setattr(fetchall.digests, "DEFAULT_LIMIT", 2)
    out = OutputDir(tmp_path / "out")
    used = []
    for n in range(6):
        body = out.new_temp()
        body.write(b"x")
        used.append(out.commit(body, f"f{n}.bin", f"http://h/f{n}.bin"))
    assert out._claims.spilled >= 4
    body = out.new_temp()
    body.write(b"y")
    again = out.commit(body, "f0.bin", "http://other/f0.bin")
    assert again != "f0.bin" and again.startswith("f0~")
    assert (tmp_path / "out" / "f0.bin").read_bytes() == b"x"


def test_sqlite_failure_keeps_entries_in_memory(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """No usable temp directory (or a full disk) must not stop a run: one warning, then the
    map simply keeps everything in memory."""

    def broken() -> None:
        raise sqlite3.OperationalError("unable to open database file")

    monkeypatch.setattr(fetchall.digests, "_SpillTable", broken)
    m = DigestMap(limit=2)
    with caplog.at_level(logging.WARNING, logger="fetchall"):
        assert all(m.add(k) for k in range(20))
    assert m.spilled == 0 and all(k in m for k in range(20)) and not m.add(5)
    warnings = [r for r in caplog.records if "cannot spill" in r.getMessage()]
    assert len(warnings) == 1


def test_the_bloom_filter_keeps_new_keys_away_from_sqlite_and_grows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fetchall.digests, "BLOOM_MIN_BITS", 12)  # 256 keys, then it grows
    m = DigestMap(limit=64)
    stored = [hash(f"http://h/{n}") for n in range(5_000)]
    for key in stored:
        assert m.add(key)
    assert m.spilled >= 4_900 and m._bloom.capacity >= m.spilled  # grown with the table
    reads = 0
    real_get = fetchall.digests._SpillTable.get

    def counting_get(self: fetchall.digests._SpillTable, key: int) -> int | None:
        nonlocal reads
        reads += 1
        return real_get(self, key)

    monkeypatch.setattr(fetchall.digests._SpillTable, "get", counting_get)
    assert all(key in m for key in stored)  # no false negative, after every rebuild
    assert reads >= m.spilled
    reads = 0
    new = [hash(f"http://other/{n}") for n in range(5_000)]
    assert not any(m.add(key) is False for key in new)  # all new
    assert reads < 5_000 // 20  # the filter answered nearly all of them (about 0.5% pass)


def test_an_unreadable_table_makes_the_filter_say_yes(caplog: pytest.LogCaptureFixture) -> None:
    m = DigestMap(limit=4)
    for key in range(8):
        m[key] = key
    assert m._db is not None
    m._db._db.close()  # reading the table now fails (sqlite3.ProgrammingError)
    with caplog.at_level(logging.WARNING, logger="fetchall"):
        bloom = m._db.bloom(100)
    assert "cannot read the spill database" in caplog.text
    assert all(key in bloom for key in (-(2**63), -1, 0, 7, 12345, 2**63 - 1))
