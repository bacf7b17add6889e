"""One process against ``--cluster local:2`` on a latency-bound list (issue 13's speed proof).

HOSTS lean delaying servers (``hostsorted.py``'s uvloop Protocol, a process each, every answer
LATENCY seconds late) serve URLS URLs listed round robin over the hosts; fetchall fetches them
with ``-e ENGINE -c C --per-host C`` (``-c`` per worker under ``--cluster``), output on
/dev/shm, in interleaved rounds: one process, then the cluster, ROUNDS times. The cluster's
start-up (Dask: a scheduler, the workers, fetchall imported in them) is measured apart, as a run
of one URL, and shown separately: the speedup with and without it.

    .venv/bin/python benchmarks/cluster_speed.py --urls 10000 --hosts 8 --latency 0.1 -c 50
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hostsorted import wait_port

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python")
SERVER = str(ROOT / "benchmarks" / "hostsorted.py")


def run(args: list[str], out: Path) -> tuple[float, float, int]:
    """One fetchall run: wall seconds, CPU seconds of fetchall's own process, rows ok."""
    started = time.monotonic()
    child = subprocess.Popen([PY, "-m", "fetchall", *args, "-o", str(out), "-q"])
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.monotonic() - started
    report = out / "report.jsonl"
    ok = sum(json.loads(line)["ok"] for line in report.read_text().splitlines())
    shutil.rmtree(out)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"fetchall {' '.join(args)} exited {os.waitstatus_to_exitcode(status)}")
    return wall, usage.ru_utime + usage.ru_stime, ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--urls", type=int, default=10_000)
    parser.add_argument("--hosts", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("-c", "--concurrency", type=int, default=50)
    parser.add_argument("--engine", default="keepalive")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--shard-size", type=int, default=1000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fa-cluster-", dir="/dev/shm"))
    servers = []
    try:
        ports = []
        for i in range(args.hosts):
            port_file = work / f"port{i}"
            servers.append(subprocess.Popen(
                [PY, SERVER, "--serve", str(port_file), str(work / f"samples{i}"),
                 str(args.latency)], start_new_session=True,
            ))  # fmt: skip
            ports.append(wait_port(port_file))
        urls = work / "urls.txt"
        with urls.open("w") as out:
            for n in range(args.urls):
                out.write(f"http://127.0.0.1:{ports[n % args.hosts]}/u/{n}\n")
        one_url = work / "one.txt"
        one_url.write_text(f"http://127.0.0.1:{ports[0]}/u/start\n")
        common = ["-e", args.engine, "-c", str(args.concurrency),
                  "--per-host", str(args.concurrency), "--retries", "0"]  # fmt: skip
        cluster = ["--cluster", f"local:{args.workers}", "--shard-size", str(args.shard_size)]
        single, spread, startup_single, startup_cluster = [], [], [], []
        for round_no in range(1, args.rounds + 1):
            startup_single.append(run([str(one_url), *common], work / "s1")[0])
            startup_cluster.append(run([str(one_url), *common, *cluster], work / "c1")[0])
            single.append(run([str(urls), *common], work / "s"))
            spread.append(run([str(urls), *common, *cluster], work / "c"))
            print(f"round {round_no}: one process {single[-1][0]:.2f} s, "
                  f"local:{args.workers} {spread[-1][0]:.2f} s", flush=True)  # fmt: skip
        assert all(ok == args.urls for _, _, ok in single + spread)
        report(args, single, spread, startup_single, startup_cluster)
    finally:
        for server in servers:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGTERM)
            server.wait()
        shutil.rmtree(work, ignore_errors=True)


def report(
    args: argparse.Namespace,
    single: list[tuple[float, float, int]],
    spread: list[tuple[float, float, int]],
    startup_single: list[float],
    startup_cluster: list[float],
) -> None:
    wall_1 = statistics.median(w for w, _, _ in single)
    wall_n = statistics.median(w for w, _, _ in spread)
    start_1, start_n = statistics.median(startup_single), statistics.median(startup_cluster)
    ideal_1 = args.urls * args.latency / args.concurrency
    print(f"\n{args.urls:,} URLs over {args.hosts} hosts, {args.latency * 1000:.0f} ms latency, "
          f"-e {args.engine} -c {args.concurrency} --per-host {args.concurrency}, "
          f"--shard-size {args.shard_size}, "
          f"{os.cpu_count()} CPUs, medians of {args.rounds} interleaved rounds")  # fmt: skip
    print(f"one process:      {wall_1:6.2f} s wall (ideal {ideal_1:.1f} s)")
    print(f"--cluster local:{args.workers}: {wall_n:6.2f} s wall "
          f"(ideal {ideal_1 / args.workers:.1f} s)")  # fmt: skip
    print(f"start-up (a one-URL run): one process {start_1:.2f} s, cluster {start_n:.2f} s")
    print(
        f"speedup: {wall_1 / wall_n:.2f}× as measured; "
        f"{(wall_1 - start_1) / (wall_n - start_n):.2f}× without the start-up of each"
    )


if __name__ == "__main__":
    main()
