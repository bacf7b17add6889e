"""The command line, run as a real subprocess: exit codes, one-line errors, no tracebacks."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fetchrun import tagged_processes
from rawserver import RawConn, RawServer

from fetchall.api import fetch_all
from fetchall.engines import ENGINES
from fetchall.server import ServerThread, body_bytes

pytestmark = pytest.mark.timeout(60)


def cli(
    *args: str, cwd: Path | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fetchall", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        input=stdin,
        env={**os.environ, "COLUMNS": "200"},
    )


def assert_no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, proc.stderr


def url_file(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "urls.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_mixed_list_exits_1_with_one_row_per_url(server: ServerThread, tmp_path: Path) -> None:
    dead = "http://127.0.0.1:9/x"
    urls = url_file(
        tmp_path,
        "# good, 404, bad line, redirect, dead port",
        server.url("/bytes/100"),
        server.url("/status/404"),
        "this is not a url",
        server.url("/redirect/2"),
        dead,
    )
    out = tmp_path / "out"
    proc = cli(str(urls), "-o", str(out), "--retries", "0", "-e", "asyncio", "--no-progress")
    assert proc.returncode == 1, proc.stderr
    assert_no_traceback(proc)
    rows = [json.loads(line) for line in (out / "report.jsonl").read_text().splitlines()]
    assert len(rows) == 5
    by_url = {row["url"]: row for row in rows}
    assert by_url[server.url("/bytes/100")]["ok"] is True
    assert by_url[server.url("/status/404")]["error_type"] == "http_status"
    assert by_url["this is not a url"]["error_type"] == "bad_url"
    assert "urls.txt:4" in by_url["this is not a url"]["error"]
    assert by_url[server.url("/redirect/2")]["redirects"] == 2
    assert by_url[dead]["error_type"] == "connect"
    assert "5 URLs" in proc.stdout and "1 ok" not in proc.stdout and "2 ok" in proc.stdout


def test_all_ok_exits_0_and_default_subcommand(server: ServerThread, tmp_path: Path) -> None:
    urls = url_file(tmp_path, server.url("/bytes/10"))
    proc = cli(str(urls), "--out", str(tmp_path / "o"), "--quiet")
    assert proc.returncode == 0 and proc.stdout == "", proc.stderr
    proc = cli("fetch", str(urls), "--out", str(tmp_path / "o2"), "-q", "--engine", "blocking")
    assert proc.returncode == 0, proc.stderr


def test_stdin_list(server: ServerThread, tmp_path: Path) -> None:
    proc = cli("-", "-o", str(tmp_path / "o"), "-q", stdin=server.url("/bytes/3") + "\n")
    assert proc.returncode == 0, proc.stderr
    saved = tmp_path / "o" / f"127.0.0.1_{server.port}" / "bytes" / "3"
    assert saved.read_bytes() == body_bytes(3)


def test_comments_only_is_exit_0(tmp_path: Path) -> None:
    urls = url_file(tmp_path, "# nothing", "", "   # still nothing")
    proc = cli(str(urls), "-o", str(tmp_path / "o"), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "o" / "report.jsonl").read_text() == ""


@pytest.mark.parametrize(
    "args",
    [
        ["--concurrency", "0"],
        ["--concurrency", "-5"],
        ["--per-host", "0"],
        ["--pipeline", "0"],
        ["--pipeline", "65"],
        ["--pipeline", "2", "--engine", "asyncio"],
        ["--timeout", "nan"],
        ["--timeout", "-1"],
        ["--timeout", "inf"],
        ["--connect-timeout", "0"],
        ["--retries", "-1"],
        ["--max-size", "lots"],
        ["--max-size", "-1M"],
        ["--max-size", "0"],
        ["--header", "NoColon"],
        ["--header", "Bad Name: x"],
        ["--engine", "warp-drive"],
        ["--cacert", "/no/such/ca.pem"],
        ["--callbacks", "/no/such/hooks.py"],
        ["--concurrency", "many"],
        ["--rate", "0"],
        ["--rate", "-2"],
        ["--rate", "inf"],
        ["--rate", "nan"],
        ["--rate", "fast"],
        ["--rate", "2/fortnight"],
        ["--rate", "1/0s"],
        ["--retry-after-cap", "-1"],
        ["--retry-after-cap", "nan"],
        ["--no-such-option"],
    ],
)
def test_bad_options_exit_2_with_one_line(
    args: list[str], server: ServerThread, tmp_path: Path
) -> None:
    urls = url_file(tmp_path, server.url("/bytes/1"))
    out = tmp_path / "o"
    proc = cli(str(urls), "-o", str(out), *args)
    assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
    assert_no_traceback(proc)
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert server.stats.requests == 0 and not (out / "report.jsonl").exists()


def test_politeness_options_and_summary(server: ServerThread, tmp_path: Path) -> None:
    server.robots.serve("User-agent: fetchall\nDisallow: /json/\n")
    urls = url_file(
        tmp_path,
        server.url("/bytes/1"),
        server.url("/bytes/2"),
        server.url("/json/1"),
        server.url("/flaky/cli/2?status=429&retry_after=0"),
    )
    out = tmp_path / "o"
    args = ["--robots", "--rate", "20/s", "--retry-after-cap", "5", "-e", "asyncio"]
    proc = cli(str(urls), "-o", str(out), "--no-progress", *args)
    assert proc.returncode == 1, proc.stderr  # the robots.txt-blocked URL counts as failed
    assert_no_traceback(proc)
    assert "1 disallowed by robots.txt (1 robots.txt requests)" in proc.stdout, proc.stdout
    assert "1 host cooldowns (429/503)" in proc.stdout
    rows = {row["url"]: row for row in map(json.loads, (out / "report.jsonl").open())}
    blocked = rows[server.url("/json/1")]
    assert blocked["error_type"] == "robots" and blocked["status"] is None
    assert blocked["error"] == "disallowed by robots.txt: Disallow: /json/"
    assert server.stats.by_path["/robots.txt"] == 1 and "/json/1" not in server.stats.by_path


def test_unreadable_url_file_exits_2(tmp_path: Path) -> None:
    proc = cli(str(tmp_path / "missing.txt"), "-o", str(tmp_path / "o"))
    assert proc.returncode == 2 and "missing.txt" in proc.stderr
    assert_no_traceback(proc)
    proc = cli(str(tmp_path), "-o", str(tmp_path / "o"))
    assert proc.returncode == 2
    assert_no_traceback(proc)


def test_callbacks_file(server: ServerThread, tmp_path: Path) -> None:
    hooks = tmp_path / "hooks.py"
    hooks.write_text(
        "from fetchall import on_host, Response\n"
        "@on_host('127.0.0.1')\n"
        "def keep(resp: Response):\n"
        "    return f\"api/{resp.json()['id']}.json\"\n",
        encoding="utf-8",
    )
    urls = url_file(tmp_path, server.url("/json/42"))
    out = tmp_path / "o"
    proc = cli(str(urls), "-o", str(out), "--callbacks", str(hooks), "-q")
    assert proc.returncode == 0, proc.stderr
    assert json.loads((out / "api" / "42.json").read_text()) == {"id": "42"}
    broken = tmp_path / "broken.py"
    broken.write_text("def oops(:\n", encoding="utf-8")
    proc = cli(str(urls), "-o", str(out), "--callbacks", str(broken))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert_no_traceback(proc)


def test_engines_and_version() -> None:
    proc = cli("engines")
    assert proc.returncode == 0
    for name in ("blocking", "asyncio", "aiohttp", "threads", "generator"):
        assert name in proc.stdout
    proc = cli("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("fetchall ")


def test_insecure_warns(tmp_path: Path) -> None:
    urls = url_file(tmp_path, "# none")
    proc = cli(str(urls), "-o", str(tmp_path / "o"), "--insecure", "--no-progress")
    assert proc.returncode == 0 and "not verified" in proc.stderr.lower()


@pytest.mark.parametrize("engine", sorted(ENGINES))
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_exits_130_and_leaves_no_partial_files(
    engine: str, signum: int, server: ServerThread, tmp_path: Path
) -> None:
    urls = url_file(tmp_path, *[server.url(f"/bytes/{1000 + i}?latency=0.2") for i in range(50)])
    out = tmp_path / "o"
    proc = subprocess.Popen(
        [sys.executable, "-m", "fetchall", str(urls), "-o", str(out), "-e", engine, "-c", "4",
         "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    report = out / "report.jsonl"
    while time.monotonic() < deadline and not (report.exists() and report.read_text().strip()):
        time.sleep(0.05)
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    rows = [json.loads(line) for line in report.read_text().splitlines()]
    assert rows and len(rows) < 50
    for row in rows:
        if row["ok"]:
            assert (out / row["path"]).is_file()
        else:
            assert row["error_type"] == "interrupted"
    temp_dir = out / ".fetchall-tmp"
    assert not temp_dir.exists() or not any(temp_dir.iterdir())


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_interrupt_mid_body_leaves_no_worker_and_no_temp_file(
    engine: str, raw_server: RawServer, tmp_path: Path
) -> None:
    def stalled_body(conn: RawConn) -> None:
        conn.send(b"HTTP/1.0 200 OK\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 5000)
        conn.hang(30)

    raw_server.route("/done", b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
    raw_server.route("/stalled", stalled_body)
    stalled = [raw_server.url(f"/stalled?{i}") for i in range(4)]
    urls = url_file(tmp_path, raw_server.url("/done"), *stalled)
    out, tag = tmp_path / "o", f"fetchall-test-{os.getpid()}-{engine}-{time.monotonic_ns()}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "fetchall", str(urls), "-o", str(out), "-e", engine, "-c", "8",
         "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "FETCHALL_TEST_TAG": tag},
    )  # fmt: skip
    temp_dir = out / ".fetchall-tmp"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (
        temp_dir.is_dir()
        and len(list(temp_dir.iterdir())) == len(stalled)
        and any(out.rglob("done"))
    ):  # every stalled body is being streamed into its temp file, and /done was saved
        time.sleep(0.05)
    assert len(list(temp_dir.iterdir())) == len(stalled)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 130 and "Traceback" not in stderr, stderr
    assert not temp_dir.exists() or not any(temp_dir.iterdir())
    lines = (out / "report.jsonl").read_text().splitlines()
    rows = {row["url"]: row for row in map(json.loads, lines)}
    assert rows[raw_server.url("/done")]["ok"] is True
    assert all(rows[url]["error_type"] == "interrupted" for url in stalled)
    deadline = time.monotonic() + 10  # the fork server notices its parent's exit on its own
    while (left := tagged_processes(tag)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"processes left behind: {left}"


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_interrupt_wakes_blocked_workers_in_process(
    engine: str, raw_server: RawServer, tmp_path: Path
) -> None:
    """In-process companion of the test above: right after the API returns from a Ctrl-C,
    no worker thread or process is left (blocked reads were woken, workers terminated)."""

    def stalled_body(conn: RawConn) -> None:
        conn.send(b"HTTP/1.0 200 OK\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 5000)
        conn.hang(30)

    raw_server.route("/stalled", stalled_body)
    temp_dir = tmp_path / ".fetchall-tmp"

    def source() -> Iterator[str]:
        yield from (raw_server.url(f"/stalled?{i}") for i in range(3))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (
            temp_dir.is_dir() and len(list(temp_dir.iterdir())) == 3
        ):  # every body is being streamed to disk
            time.sleep(0.02)
        raise KeyboardInterrupt  # Ctrl-C in the coordinating thread

    summary = fetch_all(source(), engine=engine, out=tmp_path, timeout=60, retries=0)
    assert summary.interrupted and summary.failed == 3
    assert not temp_dir.exists() or not any(temp_dir.iterdir())
    assert not [t for t in threading.enumerate() if t.name.startswith("fetchall-threads")]
    assert not multiprocessing.active_children()


REPO = Path(__file__).resolve().parent.parent


def test_demo_fetches_the_demo_list(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    proc = cli("demo", "--out", str(out), "--list", str(REPO / "urls" / "demo.txt"))
    assert proc.returncode == 1, proc.stderr  # the demo list holds exactly one deliberate 404
    assert_no_traceback(proc)
    report = [json.loads(line) for line in (out / "report.jsonl").read_text().splitlines()]
    failed = [row for row in report if not row["ok"]]
    assert len(failed) == 1 and failed[0]["status"] == 404
    assert "failed" in proc.stdout and "req/s" in proc.stdout


def test_serve_answers_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "fetchall", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("serving on http://127.0.0.1:"), line
        base = line.split()[-1]
        urls = url_file(tmp_path, f"{base}/bytes/100", f"{base}/redirect/2")
        fetched = cli(str(urls), "-o", str(tmp_path / "o"), "-q")
        assert fetched.returncode == 0, fetched.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=10)
    assert "Traceback" not in stderr and proc.returncode == 130


def _sigint_ignored() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("command", ["serve", *(f"fetch-{name}" for name in sorted(ENGINES))])
def test_sigterm_stops_it_even_when_sigint_is_ignored(
    command: str, server: ServerThread, tmp_path: Path
) -> None:
    """Started in the background by a shell without job control, a process inherits an ignored
    SIGINT; SIGTERM (a process manager, ``docker stop``) must still stop it, with 130."""
    urls = url_file(tmp_path, *[server.url(f"/bytes/{i}?latency=0.3") for i in range(200)])
    if command == "serve":
        argv = ["serve", "--port", "0"]
    else:
        engine = command.removeprefix("fetch-")
        argv = [str(urls), "-o", str(tmp_path / "o"), "-e", engine, "-c", "2", "--no-progress"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "fetchall", *argv], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, preexec_fn=_sigint_ignored,
    )  # fmt: skip
    try:
        if command == "serve":
            assert proc.stdout is not None
            assert proc.stdout.readline().startswith("serving on ")
        else:
            report = tmp_path / "o" / "report.jsonl"
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not (report.exists() and report.stat().st_size):
                time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr


def _limit_open_files(soft: int, hard: int) -> Callable[[], None]:
    def apply() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    return apply


def test_open_file_limit_is_raised_or_reported(server: ServerThread, tmp_path: Path) -> None:
    urls = url_file(tmp_path, *[server.url(f"/bytes/{i}") for i in range(20)])
    base = [sys.executable, "-m", "fetchall", str(urls), "-e", "select", "--no-progress"]
    raised = subprocess.run(
        [*base, "-o", str(tmp_path / "a"), "-c", "200"],
        capture_output=True, text=True, timeout=60, preexec_fn=_limit_open_files(100, 4096),
    )  # fmt: skip
    assert raised.returncode == 0 and "warning" not in raised.stderr, raised.stderr
    capped = subprocess.run(
        [*base, "-o", str(tmp_path / "b"), "-c", "200"],
        capture_output=True, text=True, timeout=60, preexec_fn=_limit_open_files(100, 100),
    )  # fmt: skip
    assert "fetchall: warning: --concurrency 200 needs about 464 open files" in capped.stderr
    assert capped.returncode == 0 and "Traceback" not in capped.stderr


def _complete(words: str, cword: int) -> list[str]:
    env = {**os.environ, "_FETCHALL_COMPLETE": "complete_bash", "COMP_WORDS": words,
           "COMP_CWORD": str(cword)}  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "fetchall"], capture_output=True, text=True, env=env, timeout=30
    )
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    return proc.stdout.split()


def test_shell_completion_of_commands_options_and_engines() -> None:
    assert _complete("fetchall st", 1) == ["status"]
    assert "--engine" in _complete("fetchall fetch --eng", 2)
    assert _complete("fetchall fetch urls.txt -e a", 4) == ["aiohttp", "asyncio"]
    assert _complete("fetchall demo -e k", 3) == ["keepalive"]


def test_completion_script_and_install(tmp_path: Path) -> None:
    # The shell is named, not detected from the parent processes (`make` may run pytest
    # under sh): typer's switch makes both options take it as their value.
    env = {**os.environ, "HOME": str(tmp_path), "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    shown = subprocess.run(
        [sys.executable, "-m", "fetchall", "--show-completion", "bash"],
        capture_output=True, text=True, env=env, timeout=30,
    )  # fmt: skip
    assert shown.returncode == 0 and "_FETCHALL_COMPLETE" in shown.stdout, shown.stderr
    installed = subprocess.run(
        [sys.executable, "-m", "fetchall", "--install-completion", "bash"],
        capture_output=True, text=True, env=env, timeout=30,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    written = "".join(p.read_text() for p in tmp_path.rglob("*") if p.is_file())
    assert "_FETCHALL_COMPLETE" in written
