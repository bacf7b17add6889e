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
