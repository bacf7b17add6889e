"""Micro: what each shared per-URL step costs, one step in a loop — a benchmark script, not a test.

Times, in µs per URL over ``--count`` URLs (no network; files go to a fresh ``--dir``, tmpfs is
best): URL parsing, starting a policy plan, encoding the request, parsing a typical nginx
response head plus a 1 KiB body, the whole `Exchange.feed` (parser, decoder, temporary file),
finishing the plan, the URL -> path mapping, the atomic commit, and one report row. To compare two
checkouts, run it with each first on ``PYTHONPATH`` and alternate a few times (the figures move
by 10-20% from run to run on a busy machine):

    PYTHONPATH=/tmp/base .venv/bin/python benchmarks/micro.py
    .venv/bin/python benchmarks/micro.py
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import time
from collections.abc import Callable

from fetchall.engines.base import advance
from fetchall.engines.exchange import Exchange
from fetchall.http.decoders import accept_encoding
from fetchall.http.parser import ResponseParser
from fetchall.output.paths import url_to_relpath
from fetchall.output.report import ReportWriter
from fetchall.output.writer import OutputDir
from fetchall.policy import Attempt, Final, PolicySettings, plan
from fetchall.result import Result
from fetchall.urls import parse_url

HEAD = (
    b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sat, 21 Nov 2026 17:30:23 GMT\r\n"
    b"Content-Type: application/octet-stream\r\nContent-Length: 1024\r\n"
    b"Last-Modified: Sat, 21 Nov 2026 17:27:25 GMT\r\nConnection: keep-alive\r\n"
    b'ETag: "6b01d47d-400"\r\nAccept-Ranges: bytes\r\n\r\n'
)


def timed(name: str, count: int, step: Callable[[], object]) -> None:
    """Run ``step`` once and print its cost per URL."""
    started = time.perf_counter()
    step()
    print(f"{name:28s} {(time.perf_counter() - started) / count * 1e6:7.2f} µs/URL")


def main() -> None:
    """Parse options and time every step in pipeline order."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000, help="URLs [5000]")
    parser.add_argument("--dir", default="/dev/shm/fetchall-micro", help="scratch directory")
    args = parser.parse_args()
    n, scratch = args.count, args.dir
    response = HEAD + os.urandom(1024)
    urls = [f"http://127.0.0.1:8080/small/{i:05d}.bin" for i in range(n)]
    settings = PolicySettings(accept_encoding=accept_encoding())
    rng = random.Random()
    shutil.rmtree(scratch, ignore_errors=True)
    out = OutputDir(os.path.join(scratch, "out"))
    try:
        targets = []
        timed("parse_url", n, lambda: targets.extend(parse_url(u) for u in urls))
        plans = [plan(t, settings, rng=rng, now=time.time) for t in targets]
        steps: list[object] = []
        timed("plan: first step", n, lambda: steps.extend(advance(p, None) for p in plans))
        requests = [s.request for s in steps if isinstance(s, Attempt)]
        timed(
            "encode request", n, lambda: [Exchange(r, out, None).request_bytes() for r in requests]
        )
        timed("parse head + 1 KiB body", n, lambda: [ResponseParser().feed(response) for _ in urls])
        outcomes = []

        def feed_all() -> None:
            for request in requests:
                exchange = Exchange(request, out, None)
                exchange.feed(response)
                outcomes.append(exchange.finish())

        timed("Exchange.feed (temp file)", n, feed_all)
        finals: list[Final] = []
        timed(
            "plan: final step",
            n,
            lambda: finals.extend(
                f
                for p, o in zip(plans, outcomes, strict=True)
                if isinstance(f := advance(p, o), Final)
            ),
        )
        paths: list[str] = []
        timed(
            "url -> path", n, lambda: paths.extend(url_to_relpath(f.request.target) for f in finals)
        )

        def commit_all() -> None:
            for final, path in zip(finals, paths, strict=True):
                assert final.outcome is not None and final.outcome.body is not None
                out.commit(final.outcome.body, path, final.request.target.url)  # type: ignore[arg-type]

        timed("commit", n, commit_all)
        report = ReportWriter(os.path.join(scratch, "report.jsonl"))
        row = dict(engine="keepalive", ok=True, status=200, path="x/y.bin", bytes=1024)
        results = [Result(url=u, final_url=u, attempts=1, elapsed_ms=1.2, **row) for u in urls]  # type: ignore[arg-type]
        timed("report row", n, lambda: [report.write(r) for r in results])
        report.close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
