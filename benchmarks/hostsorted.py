"""A URL list sorted by host (issue 11, item 4): HOSTS hosts × PER_HOST URLs listed host after
host, every response delayed by LATENCY seconds, fetched with ``-c C --per-host P``. Compares
the wall time with the ideal (every host at P in flight from start to end: URLs × LATENCY / C)
and prints, from the servers' own counts, how many requests each host had in flight over time.

Each host is the built-in test server in a process of its own (so the servers do not share one
interpreter), sampling its in-flight count every 0.25 s into a file; fetchall runs as one more
process, its output on /dev/shm.

    .venv/bin/python benchmarks/hostsorted.py --hosts 5 --per-host-urls 20000 --latency 0.02 \\
        -c 40 --per-host 8 --engine keepalive
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python")
SAMPLE = 0.25


def serve(port_file: Path, samples: Path, latency: float) -> None:
    """One host: the built-in server, its in-flight count sampled into ``samples``."""
    from fetchall.server import ServerThread

    server = ServerThread(latency=latency).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    port_file.write_text(str(server.port))
    with samples.open("w") as out:
        while not stop.wait(SAMPLE):
            out.write(f"{time.time():.3f} {server.stats.active} {server.stats.requests}\n")
            out.flush()
    server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=5)
    parser.add_argument("--per-host-urls", type=int, default=20_000)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("-c", "--concurrency", type=int, default=40)
    parser.add_argument("--per-host", type=int, default=8)
    parser.add_argument("--engine", default="keepalive")
    parser.add_argument("--extra", default="", help="more fetchall options, e.g. --no-state")
    parser.add_argument("--serve", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(Path(args.serve[0]), Path(args.serve[1]), float(args.serve[2]))
        return
    work = Path(tempfile.mkdtemp(prefix="fa-hostsorted-", dir="/dev/shm"))
    servers = []
    try:
        for i in range(args.hosts):
            servers.append(
                subprocess.Popen(
                    [
                        PY,
                        __file__,
                        "--serve",
                        str(work / f"port{i}"),
                        str(work / f"samples{i}"),
                        str(args.latency),
                    ],
                    start_new_session=True,
                )
            )
        ports = [_wait_port(work / f"port{i}") for i in range(args.hosts)]
        urls = [
            f"http://127.0.0.1:{port}/bytes/100?i={i}"
            for port in ports
            for i in range(args.per_host_urls)
        ]
        (work / "urls.txt").write_text("\n".join(urls) + "\n")
        argv = [PY, "-m", "fetchall", "fetch", str(work / "urls.txt"), "-o", str(work / "out"),
                "-e", args.engine, "-c", str(args.concurrency), "--per-host", str(args.per_host),
                "-q", *args.extra.split()]  # fmt: skip
        started = time.time()
        proc = subprocess.run(argv, capture_output=True, text=True, cwd="/")
        wall = time.time() - started
    finally:
        for server in servers:
            server.send_signal(signal.SIGTERM)
        for server in servers:
            server.wait(10)
    total = len(urls)
    ideal = total * args.latency / min(args.concurrency, args.hosts * args.per_host)
    print(f"{args.hosts} hosts × {args.per_host_urls:,} URLs, listed host after host; latency "
          f"{args.latency:g} s; `-e {args.engine} -c {args.concurrency} --per-host "
          f"{args.per_host} {args.extra}`; exit {proc.returncode}")  # fmt: skip
    print(f"wall {wall:.1f} s, ideal {ideal:.1f} s: {wall / ideal:.2f}× the ideal\n")
    _timeline(work, args.hosts, started, wall)
    shutil.rmtree(work, ignore_errors=True)


def _wait_port(path: Path) -> int:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            return int(path.read_text())
        time.sleep(0.05)
    raise SystemExit("a server did not start")


def _timeline(work: Path, hosts: int, started: float, wall: float) -> None:
    """Mean in-flight requests per host in each tenth of the run, from the servers' samples."""
    buckets = 10
    width = wall / buckets
    print("| time | " + " | ".join(f"host {i + 1}" for i in range(hosts)) + " | all |")
    print("|---|" + "---:|" * (hosts + 1))
    series = []
    for i in range(hosts):
        rows = [line.split() for line in (work / f"samples{i}").read_text().splitlines()]
        series.append([(float(t) - started, int(active)) for t, active, _ in rows])
    for b in range(buckets):
        lo, hi = b * width, (b + 1) * width
        means = []
        for samples in series:
            values = [active for t, active in samples if lo <= t < hi]
            means.append(sum(values) / len(values) if values else 0.0)
        cells = " | ".join(f"{m:.1f}" for m in means)
        print(f"| {lo:.0f}–{hi:.0f} s | {cells} | {sum(means):.1f} |")


if __name__ == "__main__":
    if os.environ.get("PYTHONPATH") is None:
        sys.path.insert(0, str(ROOT))
    main()
