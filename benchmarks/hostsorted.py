"""A URL list sorted by host (issue 11, item 4): HOSTS hosts × PER_HOST URLs listed host after
host, every response delayed by LATENCY seconds, fetched with ``-c C --per-host P``. Compares
the wall time with the ideal (every host at P in flight from start to end: URLs × LATENCY / C)
and prints, from the servers' own counts, how many requests each host had in flight over time.

Each host is a lean delaying server (an asyncio Protocol on uvloop, in this file) in a process of
its own, sampling its in-flight count every 0.25 s into a file; fetchall runs as one more
process, its output on /dev/shm. (The built-in aiohttp test server costs so much CPU per
request that five of them beside the client saturate two cores and become the limit.)

    .venv/bin/python benchmarks/hostsorted.py --hosts 5 --per-host-urls 20000 --latency 0.02 \\
        -c 40 --per-host 8 --engine keepalive
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import cast

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python")
SAMPLE = 0.25


class _Delayed(asyncio.Protocol):
    """HTTP/1.x with every answer LATENCY seconds after its request: 100 bytes, keep-alive
    unless the request asks otherwise (or is HTTP/1.0 without keep-alive); requests pipelined
    on one connection are answered in order. ``active`` counts requests received and not yet
    answered over all connections: the server's in-flight count."""

    active = 0
    requests = 0
    latency = 0.02
    BODY = b"x" * 100

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head, self.buffer = self.buffer[:end].lower(), self.buffer[end + 4 :]
            close = b"connection: close" in head or (
                head.split(b"\r\n", 1)[0].endswith(b"http/1.0") and b"keep-alive" not in head
            )
            _Delayed.active += 1
            _Delayed.requests += 1
            asyncio.get_running_loop().call_later(self.latency, self._answer, close)

    def _answer(self, close: bool) -> None:
        _Delayed.active -= 1
        if self.transport.is_closing():
            return
        connection = b"close" if close else b"keep-alive"
        self.transport.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Length: 100\r\nConnection: " + connection + b"\r\n\r\n" + self.BODY
        )
        if close:
            self.transport.close()


def serve(port_file: Path, samples: Path, latency: float) -> None:
    """One host: a lean delaying server (uvloop), its in-flight count sampled into ``samples``."""
    import uvloop

    _Delayed.latency = latency

    async def run() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        server = await loop.create_server(_Delayed, "127.0.0.1", 0, backlog=1024)
        port_file.write_text(str(server.sockets[0].getsockname()[1]))
        with samples.open("w") as out:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), SAMPLE)
                out.write(f"{time.time():.3f} {_Delayed.active} {_Delayed.requests}\n")
                out.flush()
        server.close()

    uvloop.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=5)
    parser.add_argument("--per-host-urls", type=int, default=20_000)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("-c", "--concurrency", type=int, default=40)
    parser.add_argument("--per-host", type=int, default=8)
    parser.add_argument("--engine", default="keepalive")
    parser.add_argument("--extra", default="", help="more fetchall options, e.g. --no-state")
    parser.add_argument(
        "--order", choices=("host", "interleaved"), default="host",
        help="interleaved: the same URLs listed round robin over the hosts (a control run)",
    )  # fmt: skip
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
        ports = [wait_port(work / f"port{i}") for i in range(args.hosts)]
        urls = [
            f"http://127.0.0.1:{port}/bytes/100?i={i}"
            for port in ports
            for i in range(args.per_host_urls)
        ]
        if args.order == "interleaved":
            urls = [urls[h * args.per_host_urls + i] for i in range(args.per_host_urls)
                    for h in range(args.hosts)]  # fmt: skip
        (work / "urls.txt").write_text("\n".join(urls) + "\n")
        argv = [PY, "-m", "fetchall", "fetch", str(work / "urls.txt"), "-o", str(work / "out"),
                "-e", args.engine, "-c", str(args.concurrency), "--per-host", str(args.per_host),
                "-q", *args.extra.split()]  # fmt: skip
        started = time.time()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, cwd="/")
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.time() - started
        code, cpu = os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime
    finally:
        for server in servers:
            server.send_signal(signal.SIGTERM)
        for server in servers:
            server.wait(10)
    total = len(urls)
    ideal = total * args.latency / min(args.concurrency, args.hosts * args.per_host)
    listed = "host after host" if args.order == "host" else "round robin over the hosts"
    print(f"{args.hosts} hosts × {args.per_host_urls:,} URLs, listed {listed}; latency "
          f"{args.latency:g} s; `-e {args.engine} -c {args.concurrency} --per-host "
          f"{args.per_host} {args.extra}`; exit {code}; client CPU {cpu:.1f} s")  # fmt: skip
    print(f"wall {wall:.1f} s, ideal {ideal:.1f} s: {wall / ideal:.2f}× the ideal\n")
    _timeline(work, args.hosts, started, wall)
    shutil.rmtree(work, ignore_errors=True)


def wait_port(path: Path) -> int:
    """The port a server wrote to ``path`` (waiting up to 20 s)."""
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
