"""How soon a huge list starts fetching (issue 11, item 4): a list of COUNT distinct URLs is
written to /dev/shm, ``fetchall`` starts on it against the private nginx of ``nginx.py`` (every
``/bytes/`` URL answers 100 bytes), and the time from spawn to the first report row is measured
(the list is imported while fetching goes on, so it should not depend on the list's length).
The run is stopped after ``--watch`` seconds; the rows written by then and the peak RSS so far
(``/proc/PID/status`` VmHWM) are printed too.

    .venv/bin/python benchmarks/first_request.py --count 10000000 --watch 10
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import nginx

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000_000)
    parser.add_argument("--watch", type=float, default=10.0)
    parser.add_argument("--engine", default="keepalive")
    parser.add_argument("--extra", default="", help="more fetchall options, e.g. --no-state")
    args = parser.parse_args()
    with nginx.serving(0, 0, base_dir="/dev/shm") as server:
        work = server.work
        listing = work / "huge.txt"
        base = f"{server.base_url}/bytes/100?i="
        with listing.open("w") as out:
            for start in range(0, args.count, 100_000):
                stop = min(start + 100_000, args.count)
                out.write("".join(f"{base}{i}\n" for i in range(start, stop)))
        print(f"list: {args.count:,} URLs, {listing.stat().st_size / 2**20:,.0f} MiB")
        out_dir = Path("/dev/shm") / f"fa-first-{os.getpid()}"
        report = out_dir / "report.jsonl"
        started = time.monotonic()
        proc = subprocess.Popen(
            [PY, "-m", "fetchall", "fetch", str(listing), "-o", str(out_dir), "-e", args.engine,
             "-q", *args.extra.split()],
            cwd="/", start_new_session=True,
        )  # fmt: skip
        first = None
        while time.monotonic() - started < args.watch and proc.poll() is None:
            if first is None and report.exists() and report.stat().st_size > 0:
                first = time.monotonic() - started
            time.sleep(0.01)
        peak = _vm_hwm(proc.pid)
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(60)
        rows = sum(1 for _ in report.open()) if report.exists() else 0
        shutil.rmtree(out_dir, ignore_errors=True)
    shown = f"{first:.2f} s" if first is not None else f"none within {args.watch:g} s"
    print(f"`-e {args.engine} {args.extra}`: first report row after {shown}; {rows:,} rows in "
          f"{args.watch:g} s; peak RSS {peak / 1024:.1f} MiB")  # fmt: skip


def _vm_hwm(pid: int) -> int:
    """Peak resident set of ``pid`` in KiB (0 if unknown)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    main()
