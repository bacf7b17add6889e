"""Measuring one engine run: a fresh ``python -m fetchall fetch`` child, timed and accounted.

Strategy: every run is its own process, so memory and CPU belong to one engine only. The child
is started through `launcher` (a 9 MiB stdlib-only script), because Linux charges a child's
``ru_maxrss`` with the image it was spawned from: the launcher spawns the child, reaps it with
``os.wait4`` and records wall time (around spawn and reap), exit code, CPU (user + system, with
any processes the child reaped) and peak RSS (Linux ``ru_maxrss`` is KiB). The bench starts the
launcher in a new session (its own process group, out of reach of the terminal's Ctrl-C) and
waits for it *without reaping it* (a pidfd on Linux, else ``waitid(WNOWAIT)`` polled every
5 ms) up to a hard deadline. Past the deadline, or on any exception (Ctrl-C), the whole group is
SIGKILLed while the unreaped launcher still pins the group id, so no recycled pid is ever hit;
after a normal exit the same kill sweeps up stragglers. Counts, bytes and latency percentiles
come from the child's JSONL report.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fetchall.bench.model import RunResult
from fetchall.output.report import read_report

LAUNCHER = Path(__file__).with_name("launcher.py")
_POLL_INTERVAL = 0.005
_STDERR_TAIL = 4096


@dataclass(frozen=True, slots=True)
class RunSettings:
    """How one child is run: the engine, its limits and the hard deadline."""

    engine: str
    concurrency: int
    per_host: int
    timeout: float
    cluster: str | None = None


def child_command(
    settings: RunSettings, url_lists: Sequence[Path], out: Path, report: Path
) -> list[str]:
    """The argv of the child: quiet, no retries, its own output directory and report."""
    return [
        sys.executable, "-m", "fetchall", "fetch", *(str(p) for p in url_lists),
        "-e", settings.engine, "-o", str(out), "-q", "--report", str(report),
        "-c", str(settings.concurrency), "--per-host", str(settings.per_host), "--retries", "0",
        *(("--cluster", settings.cluster) if settings.cluster else ()),
    ]  # fmt: skip


def measure_run(
    settings: RunSettings,
    url_lists: Sequence[Path],
    run_dir: Path,
    *,
    round_no: int = 1,
    expected: int | None = None,
) -> RunResult:
    """Run one engine in a fresh child writing into the new directory ``run_dir``; measure it.

    ``expected`` (URLs in the list, when known) turns missing report rows into failures.
    """
    run_dir.mkdir(parents=True)
    report, measured = run_dir / "report.jsonl", run_dir / "measured.json"
    child = child_command(settings, url_lists, run_dir / "out", report)
    argv = [sys.executable, "-I", "-S", str(LAUNCHER), str(measured), "--", *child]
    with open(run_dir / "stderr.txt", "wb") as stderr:
        started = time.perf_counter()
        launcher = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
            close_fds=True,
        )
        try:
            exited = _wait_for_exit(launcher.pid, settings.timeout)
            outer_wall = time.perf_counter() - started
        finally:
            _kill_group(launcher.pid)  # stragglers (or everything, if late or interrupted)
            launcher_code = _reap(launcher)
    data = _load_measurement(measured) if exited else {}
    status = data.get("exit_code")
    status = status if isinstance(status, int) else None
    requests, ok, failed, nbytes, elapsed = _read_rows(report)
    error = None
    if not exited:
        error = f"timed out after {settings.timeout:g} s (killed)"
    elif launcher_code != 0 or status is None:
        error = str(data.get("error") or f"the launcher failed (exit status {launcher_code})")
    elif status not in (0, 1):
        error = _exit_reason(status, run_dir / "stderr.txt")
    elif not report.is_file():
        error = "the child wrote no report"
    elif expected is not None and requests != expected:
        error = f"the report has {requests} rows, expected {expected}"
    if error is not None and expected is not None:
        failed = max(failed, expected - ok)
    elapsed.sort()
    return RunResult(
        engine=settings.engine,
        round=round_no,
        wall_s=round(_number(data, "wall_s", outer_wall), 6),
        cpu_s=round(_number(data, "utime_s", 0.0) + _number(data, "stime_s", 0.0), 6),
        max_rss_kib=_rss_kib(int(_number(data, "maxrss", 0))),
        requests=requests,
        ok=ok,
        failed=failed,
        bytes=nbytes,
        p50_ms=percentile(elapsed, 50),
        p95_ms=percentile(elapsed, 95),
        p99_ms=percentile(elapsed, 99),
        exit_code=status,
        error=error,
    )


def _load_measurement(path: Path) -> dict[str, Any]:
    """The launcher's JSON record ({} if missing or unreadable)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _number(data: dict[str, Any], key: str, default: float) -> float:
    value = data.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return default


def _rss_kib(maxrss: int) -> int:
    """``ru_maxrss`` in KiB (Linux reports KiB, macOS bytes)."""
    return maxrss // 1024 if sys.platform == "darwin" else maxrss


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """The q-th percentile of sorted values, interpolated linearly (None if empty)."""
    if not ordered:
        return None
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    value = ordered[low] + (ordered[high] - ordered[low]) * (position - low)
    return round(value, 3)


def _read_rows(report: Path) -> tuple[int, int, int, int, list[float]]:
    """(rows, ok, failed, bytes, elapsed_ms of every row) of a report (zeros if missing)."""
    requests = ok = failed = nbytes = 0
    elapsed: list[float] = []
    if not report.is_file():
        return requests, ok, failed, nbytes, elapsed
    for row in read_report(report):
        requests += 1
        if row.get("ok") is True:
            ok += 1
            size = row.get("bytes")
            nbytes += size if isinstance(size, int) else 0
        else:
            failed += 1
        ms = row.get("elapsed_ms")
        if isinstance(ms, int | float) and not isinstance(ms, bool) and math.isfinite(ms):
            elapsed.append(float(ms))
    return requests, ok, failed, nbytes, elapsed


def _wait_for_exit(pid: int, timeout: float) -> bool:
    """Wait until the child ``pid`` has exited, without reaping it; False at the deadline."""
    pidfd_open = getattr(os, "pidfd_open", None)
    if pidfd_open is not None:
        with contextlib.suppress(OSError):  # no pidfd support: fall back to polling
            fd = pidfd_open(pid)
            try:
                poller = select.poll()
                poller.register(fd, select.POLLIN)
                return bool(poller.poll(max(0, math.ceil(timeout * 1000))))
            finally:
                os.close(fd)
    deadline = time.monotonic() + timeout
    while os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
        remaining = deadline - time.monotonic()  # bounded by the deadline
        if remaining <= 0:
            return False
        time.sleep(min(_POLL_INTERVAL, remaining))
    return True


def _kill_group(pid: int) -> None:
    """SIGKILL the child's process group (the child is unreaped, so the group id is ours)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _reap(child: subprocess.Popen[bytes]) -> int:
    """Reap the launcher (its figures are useless: it inherited the bench's image)."""
    _, status = os.waitpid(child.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    child.returncode = code  # reaped here: Popen must not wait for it again
    return code


def _exit_reason(code: int, stderr_path: Path) -> str:
    """A one-line reason for an unexpected exit status, with the child's last stderr line."""
    what = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
    try:
        with open(stderr_path, "rb") as stream:
            stream.seek(max(0, stream.seek(0, os.SEEK_END) - _STDERR_TAIL))
            tail = stream.read().decode("utf-8", "replace")
    except OSError:
        tail = ""
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    return f"{what}: {lines[-1][:200]}" if lines else what
