"""The state store through the command line, as real subprocesses: resume after ``kill -9``,
refusals (an unfinished run, a second run, bad state files), a full disk, ``fetchall status``."""

from __future__ import annotations

import contextlib
import json
import os
import random
import resource
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fetchrun import group_left_after, saved_files

from fetchall.server import ServerThread, body_bytes

pytestmark = pytest.mark.timeout(120)


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fetchall", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200"},
    )


def start(*args: str, **popen: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "fetchall", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: kill -9 reaches pool workers too
        **popen,  # type: ignore[arg-type]
    )


def kill_9_run(proc: subprocess.Popen[str]) -> None:
    """``kill -9`` the run, as a user would (its pid alone). Its workers notice and exit, and
    multiprocessing's resource tracker removes the dead run's named semaphores; anything still
    alive after 5 s is killed, so no test leaks a process."""
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=20)
    if group_left_after(proc.pid, 5):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def sizes(n: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    return [rng.choice([1, 700, 5_000, 60_000, 300_000]) + i for i in range(n)]


def write_list(
    path: Path, server: ServerThread, body_sizes: list[int], latency: float = 0.03
) -> list[str]:
    urls = [server.url(f"/bytes/{n}?latency={latency}") for n in body_sizes]
    path.write_text("\n".join(urls) + "\n", encoding="utf-8")
    return urls


def check_run(out: Path, urls: list[str], body_sizes: list[int]) -> None:
    """One row per input URL, every ok row's file byte for byte, no other file, no temp file."""
    rows = [json.loads(line) for line in (out / "report.jsonl").read_text().splitlines()]
    by_url = {row["url"]: row for row in rows}
    assert len(rows) == len(by_url) == len(urls), (len(rows), len(by_url), len(urls))
    for url, size in zip(urls, body_sizes, strict=True):
        row = by_url[url]
        assert row["ok"], row
        assert (out / row["path"]).read_bytes() == body_bytes(size), row
    assert {p.relative_to(out).as_posix() for p in saved_files(out)} == {
        row["path"] for row in rows
    }
    temp = out / ".fetchall-tmp"
    assert not temp.exists() or not any(temp.iterdir()), list(temp.iterdir())


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("engine", ["threads", "processes", "asyncio", "aiohttp"])
def test_kill_9_then_resume_loses_nothing(
    engine: str, seed: int, server: ServerThread, tmp_path: Path
) -> None:
    body_sizes = sizes(400, seed)  # at -c 8 and 60 ms each: 3 s at least
    urls = write_list(tmp_path / "urls.txt", server, body_sizes, latency=0.06)
    out = tmp_path / "out"
    args = [str(tmp_path / "urls.txt"), "-o", str(out), "-e", engine, "-c", "8", "--no-progress"]
    proc = start(*args)
    time.sleep(random.Random(seed).uniform(0.3, 1.8))
    kill_9_run(proc)
    output = proc.communicate(timeout=20)
    assert proc.returncode == -signal.SIGKILL, output  # killed mid-run, not after it
    committed = done_in_state(out)
    server.stats.reset()
    resumed = cli(*args, "--resume", timeout=100)
    assert resumed.returncode == 0, resumed.stderr
    assert "Traceback" not in resumed.stderr
    check_run(out, urls, body_sizes)
    # every URL whose completion the killed run committed is not fetched again; the others
    # (not done, or done but not committed: in flight or in the last batch) once each
    assert done_in_state(out) == 400
    assert server.stats.requests == 400 - committed, (committed, server.stats.requests)


def done_in_state(out: Path) -> int:
    """URLs the state store holds as done (committed), 0 if there is no store yet."""
    path = out / ".fetchall" / "state.db"
    if not path.exists():
        return 0
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(db.execute("SELECT COUNT(*) FROM urls WHERE state = 1").fetchone()[0])
    except sqlite3.OperationalError:  # killed before the schema was committed
        return 0
    finally:
        db.close()


def test_unfinished_run_is_refused_then_resumed_or_started_over(
    server: ServerThread, tmp_path: Path
) -> None:
    body_sizes = [10 + i for i in range(200)]
    urls = write_list(tmp_path / "urls.txt", server, body_sizes)
    out = tmp_path / "out"
    args = [str(tmp_path / "urls.txt"), "-o", str(out), "-e", "asyncio", "-c", "4", "-q"]
    proc = start(*args)
    time.sleep(0.8)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=20)
    assert proc.returncode == 130
    refused = one_line_error(cli(*args))
    assert "unfinished run" in refused and "--resume" in refused and "--fresh" in refused
    assert one_line_error(cli(*args, "--fresh", "--resume")).endswith("--resume")
    server.stats.reset()
    assert cli(*args, "--resume").returncode == 0
    check_run(out, urls, body_sizes)
    done = server.stats.requests
    assert 0 < done < 200
    server.stats.reset()
    assert cli(*args, "--resume").returncode == 0  # a finished run: nothing left to do
    assert server.stats.requests == 0
    assert cli(*args).returncode == 0  # a plain run over a finished one starts anew
    assert server.stats.requests == 200
    check_run(out, urls, body_sizes)


def test_fresh_starts_over(server: ServerThread, tmp_path: Path) -> None:
    urls = write_list(tmp_path / "urls.txt", server, [5, 6, 7])
    out = tmp_path / "out"
    args = [str(tmp_path / "urls.txt"), "-o", str(out), "-q", "-e", "asyncio"]
    state = out / ".fetchall" / "state.db"
    state.parent.mkdir(parents=True)
    db = sqlite3.connect(state)  # make it look unfinished
    db.close()
    assert cli(*args).returncode == 0
    sqlite3.connect(state).execute(
        "UPDATE meta SET value = 'running' WHERE key = 'run'"
    ).connection.commit()
    assert cli(*args).returncode == 2
    assert cli(*args, "--fresh").returncode == 0
    check_run(out, urls, [5, 6, 7])


def test_a_second_run_on_the_same_dir_is_refused(server: ServerThread, tmp_path: Path) -> None:
    write_list(tmp_path / "urls.txt", server, [10] * 1)
    slow = tmp_path / "slow.txt"
    slow.write_text(server.url("/bytes/10?latency=5") + "\n", encoding="utf-8")
    out = tmp_path / "out"
    first = start(str(slow), "-o", str(out), "-q", "-e", "asyncio")
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not server.stats.requests:
            time.sleep(0.05)
        line = one_line_error(cli(str(tmp_path / "urls.txt"), "-o", str(out), "-q"))
        assert "another fetchall run" in line and str(first.pid) in line
        # The store commits every 0.5 s: poll until the import is visible (bounded).
        deadline = time.monotonic() + 10
        while True:
            reading = cli("status", str(out), "--json")
            assert reading.returncode == 0, reading.stderr
            status = json.loads(reading.stdout)
            if status["states"]["queued"] == 1 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert status["running"] is True and status["states"]["queued"] == 1
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=20)


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"this is not a database at all, just text" * 100, "file is not a database"),
        (None, "not a fetchall state file"),  # a valid SQLite database of someone else's
    ],
    ids=["corrupt", "foreign"],
)
def test_a_bad_state_file_is_refused_and_left_alone(
    content: bytes | None, says: str, server: ServerThread, tmp_path: Path
) -> None:
    write_list(tmp_path / "urls.txt", server, [10])
    state = tmp_path / "mine.db"
    if content is None:
        db = sqlite3.connect(state)
        db.execute("CREATE TABLE precious (x)")
        db.execute("INSERT INTO precious VALUES (42)")
        db.commit()
        db.close()
    else:
        state.write_bytes(content)
    before = state.read_bytes()
    line = one_line_error(
        cli(str(tmp_path / "urls.txt"), "-o", str(tmp_path / "o"), "--state", str(state))
    )
    assert says in line and str(state) in line
    assert state.read_bytes() == before and server.stats.requests == 0
    assert one_line_error(cli("status", "--state", str(state))).startswith("fetchall: error:")


def test_a_read_only_state_is_refused(server: ServerThread, tmp_path: Path) -> None:
    write_list(tmp_path / "urls.txt", server, [10])
    out = tmp_path / "o"
    assert cli(str(tmp_path / "urls.txt"), "-o", str(out), "-q").returncode == 0
    state = out / ".fetchall" / "state.db"
    before = state.read_bytes()
    with read_only(state):
        line = one_line_error(cli(str(tmp_path / "urls.txt"), "-o", str(out), "-q"))
    assert "state file" in line and "readonly" in line, line
    assert state.read_bytes() == before


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """Make ``path`` unwritable even for root (the immutable attribute), or by mode otherwise."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(path)], check=True)
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(path)], check=True)
    else:
        os.chmod(path, 0o444)
        try:
            yield
        finally:
            os.chmod(path, 0o644)


def test_a_full_disk_stops_the_run_and_resume_continues(
    server: ServerThread, tmp_path: Path
) -> None:
    body_sizes = [20 + i for i in range(3000)]
    urls = write_list(tmp_path / "urls.txt", server, body_sizes)
    out = tmp_path / "out"
    args = [str(tmp_path / "urls.txt"), "-o", str(out), "-e", "asyncio", "-q"]

    def small_files() -> None:  # no file of this process may grow beyond 256 KiB
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))

    proc = subprocess.run(
        [sys.executable, "-m", "fetchall", *args],
        capture_output=True, text=True, timeout=100, preexec_fn=small_files,
    )  # fmt: skip
    line = one_line_error(proc)
    assert "cannot write the state file" in line and "--resume" in line, line
    assert cli(*args, "--resume", timeout=100).returncode == 0
    check_run(out, urls, body_sizes)


def test_status_after_a_run(server: ServerThread, tmp_path: Path) -> None:
    urls = tmp_path / "urls.txt"
    urls.write_text(
        "\n".join([server.url("/bytes/1"), server.url("/status/404"), "not a url"]) + "\n"
    )
    out = tmp_path / "o"
    assert cli(str(urls), "-o", str(out), "-q", "--retries", "0").returncode == 1
    status = json.loads(cli("status", str(out), "--json").stdout)
    assert status["running"] is False and status["run"] == "finished"
    assert status["total"] == 3 and status["states"] == {
        "queued": 0, "done": 1, "failed": 2, "blocked": 0
    }  # fmt: skip
    assert status["errors"] == {"bad_url": 1, "http_status": 1}
    assert status["hosts"]["failed"] == [{"host": f"127.0.0.1:{server.port}", "count": 1}]
    assert status["eta_seconds"] is None
    text = cli("status", str(out))
    assert text.returncode == 0 and "1 done, 2 failed" in text.stdout
