"""A crawl of N synthetic pages (issue 12's memory proof): peak RSS, wall time and CPU per page
for several N, side by side, so "memory stays flat in the size of the crawl" is measured.

The site is a lean server (an asyncio Protocol on uvloop, in this file, in a process of its own):
page ``/p/K`` (K < N) is about 2 KiB of HTML linking to its children ``/p/2K+1`` and
``/p/2K+2``, its parent, the home page and a few pages far away (``/p/(K*7919) % N``...), so the
crawl is a breadth-first walk of a binary tree of depth log2(N) with many repeated links. The
client is ``fetchall crawl`` run as a child process; its peak RSS and CPU come from
``os.wait4``; outputs go to /dev/shm. Every run is checked: exactly N rows, all ok.

    .venv/bin/python benchmarks/crawl_memory.py --pages 10000 100000 --engine keepalive
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import cast

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python")
FILLER = ("<p>" + "lorem ipsum dolor sit amet " * 60 + "</p>").encode()


class _Site(asyncio.Protocol):
    """HTTP/1.1 keep-alive server of the synthetic tree (GET only; pipelined in order)."""

    pages = 10_000

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
            path = head.split(b" ", 2)[1].decode()
            self.transport.write(self._answer(path))

    def _answer(self, path: str) -> bytes:
        n = self.pages
        if path.startswith("/p/") and path[3:].isdigit() and int(path[3:]) < n:
            k = int(path[3:])
            targets = [2 * k + 1, 2 * k + 2, (k - 1) // 2, 0, (k * 7919) % n, (k * 104729) % n]
            links = "".join(f'<a href="/p/{t}">{t}</a> ' for t in targets if 0 <= t < n)
            body = f"<html><head><title>{k}</title></head><body>{links}".encode() + FILLER
            return (
                b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                b"Content-Length: %d\r\n\r\n" % len(body) + body
            )
        return b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"


def serve(port_file: Path, pages: int) -> None:
    """Serve the synthetic site (uvloop) and write the port to ``port_file``."""
    import uvloop

    _Site.pages = pages

    async def run() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_Site, "127.0.0.1", 0, backlog=1024)
        port_file.write_text(str(server.sockets[0].getsockname()[1]))
        await asyncio.Event().wait()

    uvloop.run(run())


def crawl_once(pages: int, engine: str, concurrency: int, work: Path) -> dict[str, float]:
    """One crawl of ``pages`` pages: peak RSS (MiB), wall (s), CPU per page (µs)."""
    port_file = work / f"port-{pages}"
    server = subprocess.Popen([PY, __file__, "--serve", str(port_file), str(pages)])
    try:
        while not port_file.exists() or not port_file.read_text():
            time.sleep(0.05)
        port = port_file.read_text()
        out = work / f"out-{pages}"
        args = [
            PY, "-m", "fetchall", "crawl", f"http://127.0.0.1:{port}/p/0", "-o", str(out),
            "--depth", "64", "--spider", "-e", engine, "-c", str(concurrency),
            "--per-host", str(concurrency), "--no-progress", "--no-robots", "--retries", "0",
        ]  # fmt: skip
        started = time.monotonic()
        child = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.monotonic() - started
        rows = [json.loads(line) for line in (out / "report.jsonl").read_text().splitlines()]
        assert len(rows) == pages and all(r["ok"] for r in rows), (len(rows), status)
        depth = max(r["depth"] for r in rows)
        shutil.rmtree(out)
        return {
            "pages": pages,
            "rss_mib": usage.ru_maxrss / 1024,
            "wall_s": wall,
            "cpu_us_per_page": (usage.ru_utime + usage.ru_stime) / pages * 1e6,
            "depth": depth,
        }
    finally:
        server.kill()
        server.wait()


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve(Path(sys.argv[2]), int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--engine", default="keepalive")
    parser.add_argument("-c", "--concurrency", type=int, default=20)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fetchall-crawlmem-", dir="/dev/shm"))
    try:
        results = [crawl_once(n, args.engine, args.concurrency, work) for n in args.pages]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"engine {args.engine}, -c {args.concurrency}, --spider, one host, {os.cpu_count()} CPUs")
    print("pages      peak RSS   wall     CPU/page  depth")
    for r in results:
        print(
            f"{int(r['pages']):>9,}  {r['rss_mib']:6.1f} MiB  {r['wall_s']:6.1f} s"
            f"  {r['cpu_us_per_page']:6.0f} µs  {int(r['depth'])}"
        )
    base = results[0]["rss_mib"]
    for r in results[1:]:
        print(f"RSS at {int(r['pages']):,} pages / at {int(results[0]['pages']):,}: "
              f"{r['rss_mib'] / base:.2f}×")  # fmt: skip


if __name__ == "__main__":
    main()
