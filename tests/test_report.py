"""The JSONL report writer and reader (fetchall.output.report)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from fetchall.build import running_build
from fetchall.errors import UsageError
from fetchall.output.report import ReportWriter, read_report
from fetchall.result import REPORT_FIELDS, Result


def _ok(n: int) -> Result:
    return Result(
        url=f"http://h/{n}",
        engine="threads",
        ok=True,
        final_url=f"http://h/{n}",
        status=200,
        path=f"h/{n}",
        bytes=n,
        content_type="text/plain",
        attempts=1,
        elapsed_ms=1.5,
    )


def test_rows_are_gathered_until_the_flush_interval_or_close(tmp_path: Path) -> None:
    path = tmp_path / "report.jsonl"
    with ReportWriter(path, flush_every=3600) as report:
        for n in range(3):
            report.write(_ok(n))
        assert path.read_text(encoding="utf-8") == ""  # not yet flushed
    assert [r["url"] for r in read_report(path)] == [f"http://h/{n}" for n in range(3)]


def test_a_lone_row_is_flushed_by_the_flusher_thread(tmp_path: Path) -> None:
    """A row with nothing after it (a long download in progress) still reaches the file."""
    path = tmp_path / "report.jsonl"
    with ReportWriter(path, flush_every=0.02) as report:
        report.write(_ok(1))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not path.read_text(encoding="utf-8"):
            time.sleep(0.01)
        assert [r["url"] for r in read_report(path)] == ["http://h/1"]


def test_rows_are_jsonl_in_field_order_and_flushed(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "report.jsonl"
    with ReportWriter(path, flush_every=0) as report:
        report.write(_ok(1))
        # Visible before close: flushed once the interval (here 0) has passed.
        lines = path.read_text(encoding="utf-8").splitlines()
        assert len(lines) == 1
        row = json.loads(lines[0])
        assert tuple(row) == REPORT_FIELDS
        assert row["url"] == "http://h/1" and row["ok"] is True and row["status"] == 200
        report.write(Result(url="ftp://x", engine="threads", error_type="bad_url", error="e"))
        assert len(path.read_text(encoding="utf-8").splitlines()) == 2
    rows = list(read_report(path))
    assert [r["ok"] for r in rows] == [True, False]
    assert rows[1]["path"] is None and rows[1]["error_type"] == "bad_url"


def test_non_ascii_kept_and_odd_strings_stay_valid(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    with ReportWriter(path) as report:
        report.write(Result(url="http://h/bücher", engine="e"))
        report.write(Result(url="http://h/\udcff", engine="e"))  # lone surrogate
    raw = path.read_bytes()
    assert "bücher".encode() in raw
    raw.decode("utf-8")  # always valid UTF-8
    rows = list(read_report(path))
    assert rows[0]["url"] == "http://h/bücher"
    assert rows[1]["url"] == "http://h/\udcff"


def test_write_row_and_truncating_open(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text("old content\n")
    report = ReportWriter(path)
    report.write_row({"url": "http://h/", "ok": True})
    report.close()
    report.close()
    assert path.read_text() == '{"url": "http://h/", "ok": true}\n'


def test_read_report_tolerates_truncated_last_line(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    with ReportWriter(path) as report:
        report.write(_ok(1))
        report.write(_ok(2))
    with path.open("a") as out:
        out.write('{"url": "http://h/3", "ok": tr')
    assert [row["url"] for row in read_report(path)] == ["http://h/1", "http://h/2"]


def test_read_report_skips_garbage_lines(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"url": "a"}\n\nnot json\n[1, 2]\n\xff\xfe\n{"url": "b"}\n')
    assert [row["url"] for row in read_report(path)] == ["a", "b"]


def test_read_report_is_lazy(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text('{"n": 1}\n' * 10_000)
    rows = read_report(path)
    assert next(rows) == {"n": 1}


def test_open_errors_are_usage_errors(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UsageError, match="cannot write report"):
        ReportWriter(blocker / "report.jsonl")
    with pytest.raises(UsageError, match="cannot write report"):
        ReportWriter(tmp_path)
    with pytest.raises(UsageError, match="cannot read report"):
        list(read_report(tmp_path / "missing.jsonl"))


def test_unicode_line_breaks_never_split_a_row(tmp_path: Path) -> None:
    """U+0085, U+2028 and U+2029 are line ends for str.splitlines(): they are escaped."""
    path = tmp_path / "r.jsonl"
    with ReportWriter(path) as report:
        report.write(Result(url="http://h/\x85\u2028\u2029", engine="blocking"))
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) == 1
    assert json.loads(text)["url"] == "http://h/\x85\u2028\u2029"


# The template (`row_line`) against the encoder: every Result the run can make, and odd ones.
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from fetchall.output.report import _ENCODER, row_line  # noqa: E402

_texts = st.text(st.characters(codec=None), max_size=20)
_maybe_texts = st.none() | _texts
_counts = st.integers(min_value=-(2**70), max_value=2**70)


class _Str(str):
    """A str subclass: the template leaves it to the encoder."""


@settings(max_examples=400, deadline=None)
@given(
    url=_texts | st.builds(_Str, _texts),
    final_url=_maybe_texts,
    ok=st.booleans(),
    status=st.none() | _counts | st.just(True),
    error_type=_maybe_texts,
    error=_maybe_texts,
    path=_maybe_texts,
    size=_counts,
    content_type=_maybe_texts,
    attempts=_counts,
    redirects=_counts,
    elapsed_ms=st.floats() | st.integers(0, 10),
    engine=_texts,
    unchanged=st.booleans() | st.just(0),
    depth=st.none() | _counts,
    parent=_maybe_texts,
)
def test_row_template_writes_what_the_encoder_writes(**fields: object) -> None:
    fields["bytes"] = fields.pop("size")
    try:
        result = Result(**fields)  # type: ignore[arg-type]
    except TypeError:  # the compiled Result checks its fields' types (int for bool)
        assert running_build() == "mypyc"
        return
    expected = _ENCODER.encode(result.to_dict())
    line = row_line(result)
    if line is not None:
        assert line == expected
    plain = (  # judged on what the Result holds (the compiled one stores an int as a float)
        type(result.url) is str
        and type(result.status) is not bool
        and type(result.unchanged) is bool
        and type(result.elapsed_ms) is float
        and result.elapsed_ms == result.elapsed_ms  # not NaN
        and abs(result.elapsed_ms) != float("inf")
    )
    assert (line is not None) == plain  # plain rows take the template, odd ones do not


def test_written_rows_equal_the_encoders_on_every_path(tmp_path: Path) -> None:
    path = tmp_path / "report.jsonl"
    odd = _ok(2)
    odd.elapsed_ms = float("nan")  # the encoder writes NaN; the template leaves it to it
    with ReportWriter(path) as report:
        report.write(_ok(1))
        report.write(odd)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines == [_ENCODER.encode(_ok(1).to_dict()), _ENCODER.encode(odd.to_dict())]
