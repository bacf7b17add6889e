"""The naive aiohttp baseline of BENCHMARKING.md: what a user writes in ten minutes.

One ``aiohttp.ClientSession`` (default connector: keep-alive, 100 connections),
``asyncio.Semaphore(100)``, one task per URL gathered at once, ``await resp.read()`` and a plain
``open().write()`` of each body into OUT/<basename of the URL path>. Default asyncio event loop.
Exit status 0 if every URL gave a 200, else 1.

    python benchmarks/naive_aiohttp.py URLS.txt OUT_DIR
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

CONCURRENCY = 100


async def fetch(
    session: aiohttp.ClientSession, semaphore: asyncio.Semaphore, url: str, out: Path
) -> bool:
    """Download one URL into ``out``; True on status 200."""
    async with semaphore, session.get(url) as resp:
        body = await resp.read()
        if resp.status != 200:
            return False
    with open(out / Path(urlsplit(url).path).name, "wb") as handle:
        handle.write(body)
    return True


async def fetch_all(urls: list[str], out: Path) -> int:
    """Download every URL; return how many failed."""
    semaphore = asyncio.Semaphore(CONCURRENCY)
    async with aiohttp.ClientSession() as session:
        results = await asyncio.gather(
            *(fetch(session, semaphore, url, out) for url in urls), return_exceptions=True
        )
    return sum(1 for result in results if result is not True)


def main(argv: list[str]) -> int:
    """Entry point: ``naive_aiohttp.py URLS OUT``."""
    if len(argv) != 2:
        print("usage: naive_aiohttp.py URLS.txt OUT_DIR", file=sys.stderr)
        return 2
    urls = [line.strip() for line in Path(argv[0]).read_text().splitlines() if line.strip()]
    out = Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    failed = asyncio.run(fetch_all(urls, out))
    if failed:
        print(f"{failed} of {len(urls)} URLs failed", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
