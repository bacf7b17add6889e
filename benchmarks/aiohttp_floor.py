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

The duties are ``floor.py``'s own (`floor.Duties`), so the two floors differ only in transport.

It trusts the server (status 200 or the run fails). Prints one line:
``URLS requests in SECONDS s``.

    .venv/bin/python benchmarks/aiohttp_floor.py LIST.txt OUTDIR --save temp --report -c 50
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from floor import Duties, run_fast  # the same duties as floor.py's, on the same loop


async def worker(session: aiohttp.ClientSession, urls: Iterator[str], saver: Duties) -> None:
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
    saver = Duties(args.out, args.save, args.report)
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
    return run_fast(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
