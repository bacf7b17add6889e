"""Hostile input through the command line (a real subprocess): URL-list files, option values,
output places, and Ctrl-C in the middle of a large body (issue 5). Every case: the documented
exit status, one clear line, no traceback, nothing fetched when the input is refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from fetchrun import saved_files, tagged_processes
from rawserver import RawConn, RawServer
from test_cli import assert_no_traceback, cli, url_file

from fetchall.server import ServerThread

pytestmark = pytest.mark.timeout(60)


def rows_of(report: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines()]


def assert_usage_error(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert_no_traceback(proc)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(("fetchall: error: ", "Error: ")), proc.stderr


# --------------------------------------------------------------------------------- URL lists


def echo(conn: RawConn) -> None:
    body = conn.path.encode("latin-1")
    conn.send(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))


def test_url_list_file_rows_name_file_and_line(
    engine: str, raw_server: RawServer, tmp_path: Path
) -> None:
    raw_server.route("*", echo)
    good = raw_server.url("/good").encode()
    injected = raw_server.url("/%0d%0aX-Evil:%201").encode()
    lines = [  # (bytes of the line, expected error words or None for a fetched URL)
        (b"\xef\xbb\xbf# a BOM, then a comment", None),
        (good + b"\r", None),  # CRLF line ending
        (b"not a url", "not a URL"),
        (raw_server.url("/a").encode() + b"\rX-Evil: 1", "control character"),  # raw CR
        (b"http://127.0.0.1:0/x", "bad port"),
        (b"http://127.0.0.1:65536/x", "bad port"),
        (b"http://127.0.0.1:abc/x", "bad port"),
        (raw_server.url("/nul").encode() + b"\x00byte", "control character"),
        (b"http://\xff\xfe.example/", "bad host"),  # not UTF-8
        (b"ftp://127.0.0.1/x", "unsupported scheme"),
        (b"http:///x", "missing host"),
        (b"http://[::1/", "IPv6"),
        (b"http://bad..\xc3\xbc/", "internationalized"),
        (b"   ", None),
        (good, None),  # a duplicate: fetched once, no second row
        (injected, None),
    ]
    path = tmp_path / "urls.txt"
    path.write_bytes(b"\n".join(line for line, _ in lines) + b"\n")
    out = tmp_path / "o"
    proc = cli(str(path), "-o", str(out), "-e", engine, "--retries", "0", "--no-progress")
    assert proc.returncode == 1, proc.stderr
    assert_no_traceback(proc)
    rows = rows_of(out / "report.jsonl")
    bad = [row for row in rows if row["error_type"] == "bad_url"]
    expected = [(n, words) for n, (_, words) in enumerate(lines, 1) if words]
    assert len(bad) == len(expected) and len(rows) == len(expected) + 2, rows
    for row, (lineno, words) in zip(bad, expected, strict=True):  # in file order
        assert row["error"].startswith(f"{path}:{lineno}: "), (row, lineno)
        assert words in row["error"] and "\n" not in row["error"], (row, words)
    assert sum(row["ok"] for row in rows) == 2
    heads = raw_server.requests
    assert len(heads) == 2
    assert not any(b"\r\nX-Evil" in head for head in heads), heads


def test_binary_garbage_url_file(server: ServerThread, tmp_path: Path) -> None:
    path = tmp_path / "garbage.txt"
    path.write_bytes(bytes(range(256)) * 8 + b"\n" + os.urandom(4096))
    out = tmp_path / "o"
    proc = cli(str(path), "-o", str(out), "--no-progress")
    assert proc.returncode == 1, proc.stderr
    assert_no_traceback(proc)
    rows = rows_of(out / "report.jsonl")
    assert rows and all(row["error_type"] == "bad_url" for row in rows)
    assert server.stats.requests == 0


def test_missing_url_file_among_several_fetches_nothing(
    server: ServerThread, tmp_path: Path
) -> None:
    good = url_file(tmp_path, server.url("/bytes/1"))
    for other in (tmp_path / "missing.txt", tmp_path):
        proc = cli(str(good), str(other), "-o", str(tmp_path / "o"))
        assert_usage_error(proc)
        assert str(other) in proc.stderr
    assert server.stats.requests == 0


# ------------------------------------------------------------------------------------ options


@pytest.mark.parametrize(
    "args",
    [
        ["--timeout", "1e309"],
        ["--timeout", "1e7"],
        ["--timeout", "0"],
        ["--timeout", "-inf"],
        ["--connect-timeout", "nan"],
        ["--connect-timeout", "inf"],
        ["--connect-timeout", "-0.5"],
        ["--retry-backoff", "nan"],
        ["--retry-backoff", "-1"],
        ["--retry-backoff", "inf"],
        ["--retries", "1001"],
        ["--retries", "nan"],
        ["--retries", "1.5"],
        ["--max-redirects", "-1"],
        ["--max-redirects", "100000"],
        ["--per-host", "-1"],
        ["--per-host", "10000000"],
        ["--concurrency", "10000000"],
        ["--concurrency", "99999999999999999999999999"],
        ["--concurrency", ""],
        ["--max-size", "10XB"],
        ["--max-size", "1.5.5M"],
        ["--max-size", "-1k"],
        ["--max-size", "nan"],
        ["--max-size", "inf"],
        ["--max-size", "1e6"],
        ["--max-size", "0.1"],
        ["--max-size", ""],
        ["--header", "X-Evil: a\r\nInjected: 1"],
        ["--header", "X-Ctl: a\x01b"],
        ["--header", ": no name"],
        ["--user-agent", "ua\r\nX-Evil: 1"],
        ["--user-agent", "ua\x7f"],
        ["--user-agent", " "],
        ["--engine", ""],
        ["--engine", "ASYNCIO"],
    ],
    ids=repr,
)
def test_bad_option_values_exit_2_before_fetching(
    args: list[str], server: ServerThread, tmp_path: Path
) -> None:
    urls = url_file(tmp_path, server.url("/bytes/1"))
    out = tmp_path / "o"
    proc = cli(str(urls), "-o", str(out), *args)
    assert_usage_error(proc)
    assert server.stats.requests == 0 and not (out / "report.jsonl").exists()


def test_huge_but_meaningful_values_are_accepted(server: ServerThread, tmp_path: Path) -> None:
    urls = url_file(tmp_path, server.url("/bytes/10"))
    proc = cli(
        str(urls), "-o", str(tmp_path / "o"), "--no-progress",
        "--max-size", "9" * 400, "--timeout", "1000000", "--connect-timeout", "1000000",
        "--retries", "1000", "--max-redirects", "1000", "-c", "100000", "--per-host", "100000",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert_no_traceback(proc)
    # the open-file limit here is lower than -c 100000 needs: one warning line, not an error
    assert all(line.startswith("fetchall: warning:") for line in proc.stderr.splitlines())


@pytest.fixture
def not_a_certificate(tmp_path: Path) -> list[Path]:
    text = tmp_path / "notes.pem"
    text.write_text("this is not a certificate\n", encoding="utf-8")
    empty = tmp_path / "empty.pem"
    empty.write_bytes(b"")
    key_only = tmp_path / "key.pem"
    key_only.write_text(
        "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIFZ9p1mW3u1M1z2qXh9n4T0cS3yS\n"
        "-----END PRIVATE KEY-----\n",
        encoding="utf-8",
    )
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(os.urandom(2048))
    return [text, empty, key_only, garbage, tmp_path]


def test_cacert_that_is_not_a_certificate_exits_2(
    server: ServerThread, not_a_certificate: list[Path], tmp_path: Path
) -> None:
    urls = url_file(tmp_path, server.url("/bytes/1"))
    for path in not_a_certificate:
        proc = cli(str(urls), "-o", str(tmp_path / "o"), "--cacert", str(path))
        assert_usage_error(proc)
        assert "--cacert" in proc.stderr
    assert server.stats.requests == 0


def test_out_that_cannot_be_a_directory_exits_2(server: ServerThread, tmp_path: Path) -> None:
    urls = url_file(tmp_path, server.url("/bytes/1"))
    a_file = tmp_path / "a-file"
    a_file.write_text("x", encoding="utf-8")
    for out in (a_file, a_file / "sub", Path("/proc/fetchall-no-such-dir")):
        proc = cli(str(urls), "-o", str(out))
        assert_usage_error(proc)
        assert "output directory" in proc.stderr
    assert server.stats.requests == 0 and a_file.read_text(encoding="utf-8") == "x"


def test_report_in_an_impossible_place_exits_2(server: ServerThread, tmp_path: Path) -> None:
    urls = url_file(tmp_path, server.url("/bytes/1"))
    a_file = tmp_path / "a-file"
    a_file.write_text("x", encoding="utf-8")
    places = [tmp_path, a_file / "report.jsonl", Path("/proc/fetchall-no-such-dir/r.jsonl")]
    for report in places:
        proc = cli(str(urls), "-o", str(tmp_path / "o"), "--report", str(report))
        assert_usage_error(proc)
        assert "report" in proc.stderr
    assert server.stats.requests == 0 and a_file.read_text(encoding="utf-8") == "x"
    # a missing directory is created, like the output directory
    report = tmp_path / "new" / "dir" / "r.jsonl"
    proc = cli(str(urls), "-o", str(tmp_path / "o"), "--report", str(report), "-q")
    assert proc.returncode == 0, proc.stderr
    assert rows_of(report)[0]["ok"] is True


# ------------------------------------------------------------------------------- interruption

BIG = 10 * 1024 * 1024


def drip_big_body(conn: RawConn) -> None:
    """A 10 MiB body sent 64 KiB at a time, 20 times a second (8 s in all)."""
    conn.send(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n" % BIG)
    piece = b"x" * 65536
    for _ in range(BIG // len(piece)):
        conn.send(piece)  # raises (ending the script) once the client is gone
        conn.sleep(0.05)


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")
def test_sigint_during_a_large_body(engine: str, raw_server: RawServer, tmp_path: Path) -> None:
    done = raw_server.route("/done", b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
    big = raw_server.route("/big", drip_big_body)
    urls = url_file(tmp_path, done, big)
    out, tag = tmp_path / "o", f"fetchall-hostile-{os.getpid()}-{engine}-{time.monotonic_ns()}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "fetchall", str(urls), "-o", str(out), "-e", engine, "-c", "2",
         "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "FETCHALL_TEST_TAG": tag},
    )  # fmt: skip
    temp_dir, report = out / ".fetchall-tmp", out / "report.jsonl"

    def downloading() -> bool:
        if not (report.exists() and '"ok": true' in report.read_text(encoding="utf-8")):
            return False
        parts = list(temp_dir.iterdir()) if temp_dir.is_dir() else []
        return any(p.stat().st_size > 256 * 1024 for p in parts if p.exists())

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not downloading():
        time.sleep(0.02)
    assert downloading(), "the large body never started streaming to disk"
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr, stderr
    assert not temp_dir.exists() or not any(temp_dir.iterdir()), list(temp_dir.iterdir())
    rows = {row["url"]: row for row in rows_of(report)}
    assert rows[done]["ok"] is True and (out / rows[done]["path"]).read_bytes() == b"ok"
    assert rows[big]["error_type"] == "interrupted" and rows[big]["path"] is None
    files = saved_files(out)
    assert files == [out / rows[done]["path"]], files  # no partial body anywhere
    deadline = time.monotonic() + 10  # a fork server notices its parent's exit on its own
    while (left := tagged_processes(tag)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"processes left behind: {left}"
