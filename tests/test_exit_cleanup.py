"""Nothing of fetchall outlives it: once ``fetchall`` has exited, no process of its process group
is alive (worker processes, multiprocessing's fork server and resource tracker included), after
a normal run, a run of timeouts, Ctrl-C and SIGTERM, on every engine; after ``kill -9`` of
fetchall alone, what it started notices within a few seconds and exits too.

fetchall runs in a process group of its own (``start_new_session``), so its group holds exactly
what it started; the group is read from /proc the moment ``fetchall`` has been reaped.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fetchrun import group_left_after

from fetchall.engines import ENGINES
from fetchall.server import ServerThread

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc"),
]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield listener.getsockname()[1]


@pytest.mark.parametrize("engine", sorted(ENGINES))
@pytest.mark.parametrize("ending", ["normal", "timeout", "ctrl-c", "sigterm", "kill-9"])
def test_nothing_outlives_fetchall(
    engine: str, ending: str, server: ServerThread, silent_port: int, tmp_path: Path
) -> None:
    if ending == "normal":
        urls = [server.url(f"/bytes/{100 + i}") for i in range(6)]
    elif ending == "timeout":
        urls = [f"http://127.0.0.1:{silent_port}/{i}" for i in range(4)]
    else:
        urls = [server.url(f"/bytes/{100 + i}?latency=0.3") for i in range(100)]
    (tmp_path / "urls.txt").write_text("\n".join(urls) + "\n")
    out = tmp_path / "o"
    # stderr to a file, not a pipe: reading a pipe to its end would wait for every process
    # that inherited it, and so hide the very processes this test looks for
    errors = (tmp_path / "stderr.txt").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "fetchall", str(tmp_path / "urls.txt"), "-o", str(out),
         "-e", engine, "-c", "4", "--timeout", "1", "--retries", "0", "--no-progress"],
        stdout=subprocess.DEVNULL, stderr=errors, start_new_session=True,
    )  # fmt: skip
    try:
        if ending in ("ctrl-c", "sigterm", "kill-9"):
            report = out / "report.jsonl"
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not (report.exists() and report.stat().st_size):
                time.sleep(0.02)
            signals = {"ctrl-c": signal.SIGINT, "sigterm": signal.SIGTERM, "kill-9": signal.SIGKILL}
            proc.send_signal(signals[ending])
        proc.wait(timeout=40)
        # fetchall itself is reaped: anything here outlived it. After kill -9 nothing could
        # clean up, so what it started must notice by itself, soon.
        left = group_left_after(proc.pid, 5 if ending == "kill-9" else 0)
    finally:
        errors.close()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # whatever is left, so no test leaks it
    stderr = (tmp_path / "stderr.txt").read_text()
    expected = {"normal": 0, "timeout": 1, "ctrl-c": 130, "sigterm": 130, "kill-9": -9}[ending]
    assert proc.returncode == expected, stderr
    assert "Traceback" not in stderr
    assert not left, [_command(pid) for pid in left]


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return f"pid {pid} (gone)"
