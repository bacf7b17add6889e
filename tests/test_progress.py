"""The progress display: the input's size, a total corrected as the input is read (duplicates,
comments, blank lines, bad lines, an earlier run's rows), the plain lines off a terminal, and
the rich bar on a real pseudo-terminal."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fetchrun import FAST

import fetchall.progress
from fetchall.api import fetch_all
from fetchall.inputsize import InputSize, RunProgress, count_lines
from fetchall.progress import Figures, ProgressView, clock, share
from fetchall.result import Result
from fetchall.server import ServerThread

pytestmark = pytest.mark.timeout(60)

LINE = re.compile(r"^fetchall: ([\d,]+)/([\d,]+) \((\d+)%\)")


@pytest.mark.parametrize(
    ("content", "lines"),
    [(b"", 0), (b"a\n", 1), (b"a", 1), (b"a\nb", 2), (b"a\r\n\r\n#c\n", 3), (b"\n" * 5, 5)],
)
def test_count_lines(tmp_path: Path, content: bytes, lines: int) -> None:
    path = tmp_path / "list.txt"
    path.write_bytes(content)
    assert count_lines(str(path)) == lines


def test_count_lines_of_a_big_list_in_blocks(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_bytes(b"http://example.test/some/longer/path/for/blocks\n" * 100_000)
    assert count_lines(str(path)) == 100_000


def test_no_size_for_streams(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)  # a writer, so opening it does not block
    try:
        assert count_lines(str(fifo)) is None
    finally:
        os.close(fd)
    assert count_lines("-") is None
    assert count_lines(str(tmp_path)) is None  # a directory
    assert count_lines(str(tmp_path / "missing")) is None
    assert not InputSize(["a.txt", "-"]).knowable
    assert not InputSize(urls=None).knowable
    assert InputSize(["-"]).start().wait(5) is None


def test_expected_rows_falls_as_skipped_lines_are_read(tmp_path: Path) -> None:
    first, second = tmp_path / "1.txt", tmp_path / "2.txt"
    first.write_text("u\n" * 10)
    second.write_text("u\n" * 5)
    size = InputSize([str(first), str(second)], urls=["x", "y"]).start()
    assert size.wait(5) == 17
    start = RunProgress(0, None, False, 0)
    assert size.expected_rows(start) == 17
    # 2 API URLs and 4 lines of the first file read, one of them a duplicate: 5 rows known
    assert size.expected_rows(RunProgress(5, (str(first), 4), False, 0)) == 5 + 11
    assert size.expected_rows(RunProgress(9, (str(second), 2), False, 0)) == 9 + 3
    assert size.expected_rows(RunProgress(13, (str(second), 5), True, 0)) == 13


def test_figures_line() -> None:
    assert clock(3725) == "1:02:05" and clock(-3) == "0:00:00"
    assert share(1174, 3000) == "1,174/3,000 (39%)" and share(5, None) == "5 done"
    figures = Figures(1174, 3000, 1173, 1, 2_411_725, 132.8, in_flight=12, held="2 cooling down")
    assert figures.line() == (
        "1,174/3,000 (39%), 1,173 ok, 1 failed, 2.3 MiB, 132.8 req/s, ETA 0:00:14, "
        "12 in flight; hosts 2 cooling down"
    )
    unknown = Figures(7, None, 7, 0, 0, 0.0, carried=3)
    assert unknown.line() == "7 done, 3 from the earlier run, 7 ok, 0 failed, 0 B, 0.0 req/s"


def _plain_lines(stream_text: str) -> list[tuple[int, int]]:
    found = []
    for line in stream_text.splitlines():
        match = LINE.match(line)
        if match:
            found.append((int(match[1].replace(",", "")), int(match[2].replace(",", ""))))
    return found


def _list_with_noise(server: ServerThread, path: Path) -> int:
    """A list of 40 URLs with 6 duplicates, comments, blank lines and a bad line; returns the
    number of rows it gives (40 URLs + the bad line)."""
    lines = ["# a list with noise", ""]
    for n in range(40):
        lines.append(server.url(f"/bytes/{n + 1}?latency=0.01"))
        if n % 7 == 3:
            lines += [lines[-1], "", "  # indented comment"]  # a duplicate and noise
    lines.append("http://[not a url")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 41


@pytest.mark.parametrize("state", [True, False], ids=["state", "no-state"])
@pytest.mark.parametrize("engine", ["asyncio", "threads", "select"])
def test_total_is_corrected_to_the_rows_the_run_gives(
    server: ServerThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    engine: str,
    state: bool,
) -> None:
    monkeypatch.setattr(fetchall.progress, "PLAIN_INTERVAL", 0.0)
    monkeypatch.setattr(fetchall.progress, "REFRESH", 0.0)
    url_list = tmp_path / "urls.txt"
    rows = _list_with_noise(server, url_list)
    size = InputSize([str(url_list)])
    stream = _Stream()
    with ProgressView(stream=stream, inputs=size) as view:
        assert size.wait(5) == count_lines(str(url_list))
        summary = fetch_all(
            url_files=[str(url_list)], engine=engine, out=tmp_path / "o", concurrency=4,
            use_state=state, on_result=view, on_start=view.watch, **FAST,
        )  # fmt: skip
    assert summary.total == rows and summary.duplicates == 6
    seen = _plain_lines(stream.getvalue())
    assert len(seen) == rows
    totals = [total for _, total in seen]
    assert totals == sorted(totals, reverse=True)  # the estimate only falls
    assert totals[0] <= count_lines(str(url_list))  # type: ignore[operator]
    assert seen[-1] == (rows, rows)
    assert all(done <= total for done, total in seen)
    assert " in flight" in stream.getvalue() and "ETA " in stream.getvalue()


def test_resumed_run_counts_the_earlier_rows(
    server: ServerThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fetchall.progress, "PLAIN_INTERVAL", 0.0)
    monkeypatch.setattr(fetchall.progress, "REFRESH", 0.0)
    url_list = tmp_path / "urls.txt"
    url_list.write_text("".join(server.url(f"/bytes/{n}") + "\n" for n in range(1, 31)))
    seen: list[Result] = []

    def stop_after_ten(result: Result) -> None:
        seen.append(result)
        if len(seen) == 10:
            raise KeyboardInterrupt

    out = tmp_path / "o"
    first = fetch_all(
        url_files=[str(url_list)], engine="asyncio", out=out, concurrency=2,
        on_result=stop_after_ten, **FAST,
    )  # fmt: skip
    assert first.interrupted
    stream = _Stream()
    with ProgressView(stream=stream, inputs=InputSize([str(url_list)])) as view:
        second = fetch_all(
            url_files=[str(url_list)], engine="asyncio", out=out, resume=True,
            on_result=view, on_start=view.watch, **FAST,
        )  # fmt: skip
    carried = second.resumed
    assert carried >= 10 and second.total == 30 - carried
    lines = _plain_lines(stream.getvalue())
    assert lines[0][0] == carried + 1 and lines[-1] == (30, 30)
    assert f"{carried} from the earlier run" in stream.getvalue()


def test_unknown_total_for_a_generator(server: ServerThread, tmp_path: Path) -> None:
    stream = _Stream()
    view = ProgressView(stream=stream, inputs=InputSize(urls=None))
    with view:
        view._last_line -= 10  # the plain line is due
        fetch_all(
            (server.url(f"/bytes/{n}?latency=0.01") for n in range(1, 21)), engine="asyncio",
            out=tmp_path, concurrency=2, on_result=view, on_start=view.watch, **FAST,
        )  # fmt: skip
    assert "fetchall: 1 done, 1 ok, 0 failed" in stream.getvalue()


def test_bar_on_a_terminal(server: ServerThread, tmp_path: Path) -> None:
    """Through a real pseudo-terminal: rich draws the bar with the total, % and ETA."""
    url_list = tmp_path / "urls.txt"
    url_list.write_text(
        "".join(server.url(f"/bytes/{n}?latency=0.05") + "\n" for n in range(1, 61))
    )
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "fetchall", str(url_list), "-o", str(tmp_path / "o"),
         "-e", "asyncio", "-c", "4"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=terminal,
        env={**os.environ, "COLUMNS": "200", "TERM": "xterm"},
    )  # fmt: skip
    os.close(terminal)
    shown = b""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ready, _, _ = select.select([controller], [], [], 0.5)
        if not ready:
            if proc.poll() is not None:
                break
            continue
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(controller)
    stdout, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, stdout
    text = shown.decode("utf-8", "replace")
    assert re.search(r"[\d,]+/60 \(\d+%\), [\d,]+ ok, 0 failed", text), text[-2000:]
    assert "ETA 0:00:" in text and " in flight" in text
    assert "━" in text  # rich's bar
    assert b"done: 60 URLs" in stdout


class _Stream:
    """A text stream that is not a terminal and keeps what was written."""

    def __init__(self) -> None:
        self._parts: list[str] = []

    def write(self, text: str) -> int:
        self._parts.append(text)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def getvalue(self) -> str:
        return "".join(self._parts)
