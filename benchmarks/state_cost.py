"""What the state store costs: the same list fetched with the store (the default) and with
``--no-state``, interleaved, by whole ``fetchall`` processes.

For each client: wall time, and CPU per URL = (user+sys CPU of the list run − user+sys CPU of
an empty-list run of the same client in the same round) / N, from ``os.wait4`` (process and
children). Outputs go to a fresh directory on ``--base-dir`` (default /dev/shm), verified (exit 0,
N files of 1 KiB) and deleted right after each run. The private nginx of ``nginx.py`` serves the
files. Prints a Markdown table: medians and min–max over the rounds, and store ÷ no-state ratios.

    .venv/bin/python benchmarks/state_cost.py --count 100000 --rounds 5 --engines keepalive
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import nginx

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python")


def saved_files(out: Path) -> int:
    """How many files a run saved under ``out`` (not the state store, not the report)."""
    return sum(
        1
        for p in out.rglob("*")
        if p.is_file() and ".fetchall" not in p.parts and p.name != "report.jsonl"
    )


def run_once(argv: list[str], out: Path, expected: int, timeout: float) -> tuple[float, float]:
    """(wall s, CPU s) of one verified run."""
    subprocess.run(["sync"], check=True)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [*argv, "-o", str(out)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, start_new_session=True, cwd="/",
    )  # fmt: skip
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            os.killpg(proc.pid, 9)
            raise SystemExit(f"timed out: {argv}")
        time.sleep(0.002)
    wall = time.perf_counter() - started
    files = saved_files(out)
    code = os.waitstatus_to_exitcode(status)
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    shutil.rmtree(out, ignore_errors=True)
    if code != 0 or files != expected:
        raise SystemExit(f"bad run ({code}, {files} files): {argv}\n{stderr}")
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--engines", default="keepalive")
    parser.add_argument("--base-dir", default="/dev/shm")
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    engines = args.engines.split(",")
    clients = {
        f"{engine} {label}": [PY, "-m", "fetchall", "fetch", "{list}", "-e", engine, "-c", "50",
                              "--per-host", "50", "-q", *extra]
        for engine in engines
        for label, extra in (("store", []), ("--no-state", ["--no-state"]))
    }  # fmt: skip
    base = Path(args.base_dir)
    seq = 0
    cpu: dict[str, list[float]] = {name: [] for name in clients}
    wall: dict[str, list[float]] = {name: [] for name in clients}
    print(f"load at start: {os.getloadavg()}", file=sys.stderr)
    with nginx.serving(args.count, 0, base_dir=args.base_dir) as server:
        full = server.list_path("small", "txt")
        empty = server.work / "lists" / "empty.txt"
        empty.write_text("")
        names = list(clients)
        for round_no in range(args.rounds + 1):  # round 0: warm-up, not counted
            order = names[round_no % len(names) :] + names[: round_no % len(names)]
            for name in order:
                argv = clients[name]
                runs = {}
                for listfile, expected in ((empty, 0), (full, args.count)):
                    seq += 1
                    filled = [str(listfile) if a == "{list}" else a for a in argv]
                    runs[expected] = run_once(filled, base / f"fa-cost-{seq}", expected,
                                              args.timeout)  # fmt: skip
                if round_no:
                    cpu[name].append((runs[args.count][1] - runs[0][1]) / args.count * 1e6)
                    wall[name].append(runs[args.count][0])
                print(f"round {round_no} {name}: wall {runs[args.count][0]:.2f} s", file=sys.stderr)
    print(f"\n{args.count:,} × 1 KiB from nginx, outputs on {args.base_dir}, {args.rounds} rounds "
          f"interleaved (+1 warm-up); load at end {os.getloadavg()[0]:.2f}\n")  # fmt: skip
    print("| client | wall s, median (min–max) | CPU µs/URL, median (min–max) |")
    print("|---|---:|---:|")
    for name in clients:
        print(f"| `{name}` | {_cell(wall[name], '.2f')} | {_cell(cpu[name], '.0f')} |")
    for engine in engines:
        store, plain = f"{engine} store", f"{engine} --no-state"
        speed = statistics.median(wall[plain]) / statistics.median(wall[store])
        cost = statistics.median(cpu[store]) / statistics.median(cpu[plain])
        print(f"\n`{engine}`: with the store, speed {speed:.2f}× of `--no-state` (wall), "
              f"CPU per URL {cost:.2f}×")  # fmt: skip


def _cell(values: list[float], fmt: str) -> str:
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}–{max(values):{fmt}})"


if __name__ == "__main__":
    main()
