"""Floor: the least a Python client must do to fetch a URL list — a benchmark script, not fetchall.

Issue 6 quotes a minimal prototype (uvloop + asyncio.Protocol + HTTP/1.1 keep-alive) at 16,000
requests/s. This is such a prototype, with fetchall's per-URL duties switched on one at a time,
so the gap between it and fetchall can be split into what each duty costs on this machine:

- ``--save direct``: ``open(final path, "wb").write(body)`` (the prototype);
- ``--save temp``: write a temporary file, then ``os.replace`` it into place (what fetchall does
  so that a final path never holds a partial body);
- ``--report``: one JSON row per URL into ``report.jsonl`` (fetchall's report);
- ``--pipeline N``: N requests in flight per connection.

It trusts the server completely (Content-Length framing only, no chunked, no redirects, no
retries, no limits, no validation): it is a floor, not a client. All URLs must be on one
``http://host:port``. Prints one line: ``URLS requests in SECONDS s = RATE req/s``.

    .venv/bin/python benchmarks/floor.py LIST.txt OUTDIR --save temp --report -c 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import time
from collections.abc import Coroutine, Iterator
from typing import Any
from urllib.parse import urlsplit

_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*([0-9]+)", re.IGNORECASE)


class Floor(asyncio.Protocol):
    """One keep-alive connection that takes URLs from the shared iterator until it is empty."""

    def __init__(self, run: Run, done: asyncio.Future[None]) -> None:
        self.run = run
        self.done = done
        self.buf = b""
        self.inflight: list[str] = []
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.fill()

    def fill(self) -> None:
        assert self.transport is not None
        requests = []
        while len(self.inflight) < self.run.pipeline:
            path = next(self.run.paths, None)
            if path is None:
                break
            self.inflight.append(path)
            requests.append(self.run.request(path))
        if requests:
            self.transport.write(b"".join(requests))
        elif not self.inflight and not self.done.done():
            self.done.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while self.inflight:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            match = _LENGTH.search(self.buf, 0, end)
            length = int(match.group(1)) if match else 0
            if len(self.buf) < end + 4 + length:
                return
            body = self.buf[end + 4 : end + 4 + length]
            self.buf = self.buf[end + 4 + length :]
            self.run.duties.save(self.inflight.pop(0), body)
        self.fill()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(exc or ConnectionError("closed early"))


class Duties:
    """fetchall's per-URL duties, each switched on or off, the same for every floor script:
    save the body (``none``, ``direct``: ``open().write()`` at its final name, ``temp``: a
    temporary file renamed into place) and write a JSON report row."""

    def __init__(self, out: str, save: str, report: bool) -> None:
        self.out = out
        self.mode = save
        self.count = 0
        self.report = open(os.path.join(out, "report.jsonl"), "w") if report else None  # noqa: SIM115
        os.makedirs(os.path.join(out, ".tmp"), exist_ok=True)

    def save(self, url: str, body: bytes) -> None:
        """Save one body the configured way, and write its report row."""
        name = url.rsplit("/", 1)[-1] or "index"
        final = os.path.join(self.out, name)
        self.count += 1
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


class Run:
    """Shared state: the URL paths, the request template, the duties."""

    def __init__(self, args: argparse.Namespace, host: str, port: int, paths: Iterator[str]):
        self.paths = paths
        self.pipeline = args.pipeline
        self.host = f"{host}:{port}".encode()
        self.duties = Duties(args.out, args.save, args.report)

    def request(self, path: str) -> bytes:
        return b"GET %s HTTP/1.1\r\nHost: %s\r\nConnection: keep-alive\r\n\r\n" % (
            path.encode(),
            self.host,
        )


async def main_async(args: argparse.Namespace) -> int:
    with open(args.list, encoding="ascii") as stream:
        urls = [line.strip() for line in stream if line.strip()]
    first = urlsplit(urls[0])
    host, port = first.hostname or "127.0.0.1", first.port or 80
    run = Run(args, host, port, iter(urlsplit(u).path for u in urls))
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    waits = []
    for _ in range(min(args.concurrency, len(urls))):
        done: asyncio.Future[None] = loop.create_future()
        await loop.create_connection(lambda d=done: Floor(run, d), host, port)  # type: ignore[misc]
        waits.append(done)
    await asyncio.gather(*waits)
    elapsed = time.perf_counter() - started
    run.duties.close()
    count = run.duties.count
    print(f"{count} requests in {elapsed:.3f} s = {count / elapsed:,.0f} req/s")
    return 0 if count == len(urls) else 1


def main() -> int:
    """Parse options and run on uvloop (if installed)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("list", help="URL list (one http:// URL per line, one host)")
    parser.add_argument("out", help="output directory (created)")
    parser.add_argument("-c", "--concurrency", type=int, default=50, help="connections [50]")
    parser.add_argument("--pipeline", type=int, default=1, help="requests per connection [1]")
    parser.add_argument("--save", choices=("direct", "temp"), default="direct")
    parser.add_argument("--report", action="store_true", help="one JSON row per URL")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    return run_fast(main_async(args))


def run_fast(main: Coroutine[Any, Any, int]) -> int:
    """Run ``main`` on uvloop if it is installed, else on the stdlib loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


if __name__ == "__main__":
    sys.exit(main())
