"""aiohttp floor: the least an aiohttp client does per URL — a benchmark script, not fetchall.

The `aiohttp` engine's target (issue 14) is the naive aiohttp script's CPU per URL. This script
splits that comparison: how much of a URL's CPU is aiohttp's own request/response machinery,
and how much fetchall's duties add on top, measured on the same aiohttp, the same loop and the
same connection limits as fetchall's `aiohttp` engine (uvloop when installed; one
``ClientSession`` with ``TCPConnector(limit=C, limit_per_host=C)``; ``-c`` worker tasks taking
URLs from one iterator: no task, semaphore or gather per URL). Modes:

- ``--save none``: ``await resp.read()`` and drop the body: aiohttp alone;
- ``--save direct``: ``open(final path, "wb").write(body)`` (what the naive script does);
- ``--save temp``: write a temporary file, then ``os.replace`` it into place (fetchall's commit);
- ``--report``: one JSON row per URL into ``report.jsonl`` (fetchall's report).

It trusts the server (status 200 or the run fails). Prints one line:
``URLS requests in SECONDS s``.

    .venv/bin/python benchmarks/aiohttp_floor.py LIST.txt OUTDIR --save temp --report -c 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Iterator
from typing import IO

import aiohttp


class Saver:
    """Where bodies and report rows go."""

    def __init__(self, out: str, mode: str, report: bool) -> None:
        self.out = out
        self.mode = mode
        self.count = 0
        self.report: IO[str] | None = None
        if report:
            self.report = open(os.path.join(out, "report.jsonl"), "w")  # noqa: SIM115
        os.makedirs(os.path.join(out, ".tmp"), exist_ok=True)

    def save(self, url: str, body: bytes) -> None:
        """Save one body the configured way, and write its report row."""
        self.count += 1
        name = url.rsplit("/", 1)[-1] or "index"
        final = os.path.join(self.out, name)
        if self.mode == "temp":
            temp = os.path.join(self.out, ".tmp", f"{self.count}.part")
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            os.write(fd, body)
            os.close(fd)
            os.replace(temp, final)
        elif self.mode == "direct":
            with open(final, "wb") as stream:
                stream.write(body)
        if self.report is not None:
            row = {"url": url, "ok": True, "status": 200, "path": name, "bytes": len(body)}
            self.report.write(json.dumps(row) + "\n")

    def close(self) -> None:
        """Close the report."""
        if self.report is not None:
            self.report.close()


async def worker(session: aiohttp.ClientSession, urls: Iterator[str], saver: Saver) -> None:
    """Fetch URLs from the shared iterator until it is empty."""
    for url in urls:
        async with session.get(url) as resp:
            body = await resp.read()
            if resp.status != 200:
                raise SystemExit(f"{url}: status {resp.status}")
        saver.save(url, body)


async def main_async(args: argparse.Namespace) -> int:
    """Run ``-c`` workers over the list."""
    with open(args.list, encoding="ascii") as stream:
        urls = [line.strip() for line in stream if line.strip()]
    saver = Saver(args.out, args.save, args.report)
    started = time.perf_counter()
    connector = aiohttp.TCPConnector(limit=args.concurrency, limit_per_host=args.concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        shared = iter(urls)
        count = min(args.concurrency, len(urls))
        await asyncio.gather(*(worker(session, shared, saver) for _ in range(count)))
    saver.close()
    elapsed = time.perf_counter() - started
    print(f"{saver.count} requests in {elapsed:.3f} s")
    return 0 if saver.count == len(urls) else 1


def main() -> int:
    """Parse options and run on uvloop (if installed)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("list", help="URL list (one URL per line)")
    parser.add_argument("out", help="output directory (created)")
    parser.add_argument("-c", "--concurrency", type=int, default=50, help="connections [50]")
    parser.add_argument("--save", choices=("none", "direct", "temp"), default="none")
    parser.add_argument("--report", action="store_true", help="one JSON row per URL")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main_async(args))
    return uvloop.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
