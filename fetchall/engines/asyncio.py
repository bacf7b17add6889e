"""Engine ``asyncio``: `asyncio.open_connection` streams with hand-built HTTP/1.0.

Strategy: one asyncio task per URL (scheduled by `aio.run_jobs`); each attempt opens a stream
(TLS through the loop's ssl support), writes the request, and reads into the shared `Exchange`
until it needs no more bytes. ``asyncio.timeout`` bounds the whole attempt, ``wait_for`` the
connect. Yields to the loop at: DNS (the loop's executor), connect, TLS handshake, drain, read,
and `asyncio.sleep` for retry backoff.
"""

from __future__ import annotations

import asyncio

from fetchall.engines.aio import run_jobs, run_loop
from fetchall.engines.base import AttemptEnv, RunContext
from fetchall.engines.exchange import READ_SIZE, Exchange
from fetchall.engines.translate import translate_exception
from fetchall.policy import Outcome, Request


async def stream_attempt(request: Request, env: AttemptEnv) -> Outcome:
    """Perform one attempt over asyncio streams; never raises a `FetchError`."""
    exchange = Exchange(request, env.out, env.max_size)
    target = request.target
    connected = False
    try:
        async with asyncio.timeout(env.timeout):
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    target.host,
                    target.port,
                    ssl=env.ssl_context() if target.tls else None,
                    server_hostname=target.host if target.tls else None,
                    limit=READ_SIZE,
                ),
                min(env.connect_timeout, env.timeout),
            )
            connected = True
            try:
                exchange.mark_sent()
                writer.write(exchange.request_bytes())
                await writer.drain()
                while True:
                    data = await reader.read(READ_SIZE)
                    if exchange.feed(data) or not data:
                        break
            finally:
                writer.transport.abort()
        return exchange.finish()
    except Exception as exc:
        limit = env.timeout if connected else min(env.connect_timeout, env.timeout)
        return exchange.fail(translate_exception(exc, target, connected=connected, timeout=limit))
    except BaseException:
        exchange.discard()
        raise


class AsyncioEngine:
    """asyncio streams, one task per URL, hand-built HTTP/1.0."""

    name = "asyncio"

    def run(self, ctx: RunContext) -> None:
        """Run the event loop until every job is done."""
        env = ctx.env

        async def attempt(request: Request) -> Outcome:
            return await stream_attempt(request, env)

        run_loop(run_jobs(ctx, attempt))
