"""Engine ``keepalive``: asyncio Protocol/transport level, hand-built HTTP/1.1 keep-alive with
optional pipelining.

Strategy: one asyncio task per URL (scheduled by `aio.run_jobs`, on uvloop when installed). An
attempt takes a connection from a small per-host pool (`pool.Pool`), or opens one with
``loop.create_connection`` and a `keepalive_conn.Connection` protocol (no streams), which frames
the responses and decides about reuse (its module docstring has the rules). The request goes out
as HTTP/1.1 with the policy's ``Connection: keep-alive`` (the registry marks this engine
``keep_alive``; a user's ``-H "Connection: close"`` wins and the connection is not reused); the
attempt awaits one future that resolves when its exchange needs no more bytes or the connection
fails. With ``--pipeline N`` (N > 1) up to N requests are in flight per connection and
``ceil(per_host / N)`` connections per host; a connection takes requests behind others only
after it answered one reusable response. Large plain bodies over plain TCP are spliced from the
socket to the file (`splicing`; the run owns the one pipe).

A request that went unanswered on a reused connection (or behind another) is sent once more, on
a fresh connection of its own, without counting an attempt (RFC 9112 §9.3.1, §9.3.2); the first
request on a fresh connection never gets this. Once a pipelined request had to be sent again,
the pool stops pipelining to that host for the rest of the run (as browsers stopped pipelining to
servers that mishandled it) — unless the response before it had ended the connection in order
(``Connection: close``, or a non-2xx we do not drain).

``--timeout`` bounds connect, send and the whole response of an attempt (the resend included);
waiting for a pool slot is not part of it. It is one deadline: connects wait with
``asyncio.wait_for`` up to it, and a sent request's wait ends there by a loop timer. An attempt
that ends early (timeout, Ctrl-C) aborts its connection, since a late response would be read as
the next one. Errors are translated like the ``asyncio`` engine's. Yields to the loop at: waiting
for a pool slot, DNS (the loop's executor), connect, TLS handshake, waiting for the response
(a spliced body included), and `asyncio.sleep` for retry backoff.
"""

from __future__ import annotations

import asyncio

from fetchall.engines import splicing
from fetchall.engines.aio import run_jobs, run_loop
from fetchall.engines.base import AttemptEnv, RunContext
from fetchall.engines.exchange import READ_SIZE
from fetchall.engines.keepalive_conn import Connection, KeepAliveExchange
from fetchall.engines.pool import Key, Pool
from fetchall.engines.splicing import Pipe
from fetchall.engines.translate import translate_exception
from fetchall.errors import ConnectionLostError
from fetchall.policy import Outcome, Request


class _Engine:
    """The state of one run: the pool and the attempt."""

    def __init__(self, env: AttemptEnv, pool: Pool[Connection]) -> None:
        self.env = env
        self.pool = pool
        self.loop = asyncio.get_running_loop()
        buffer = memoryview(bytearray(READ_SIZE))  # the run's one read buffer (see Connection)
        self._pipe: Pipe | None = None  # the run's pipe, made on the first splice
        splice = self.pipe if splicing.available() else None
        self.new_connection = lambda: Connection(buffer, splice)
        self.new_tls_connection = lambda: Connection(buffer, None)

    def pipe(self) -> Pipe:
        """The run's pipe for splicing (`splicing.Pipe`), made on first use."""
        if self._pipe is None:
            self._pipe = Pipe()
        return self._pipe

    def close(self) -> None:
        """The run is over: close the pipe."""
        if self._pipe is not None:
            self._pipe.close()

    async def connect(self, request: Request) -> Connection:
        target = request.target
        _, conn = await self.loop.create_connection(
            self.new_tls_connection if target.tls else self.new_connection,
            target.host,
            target.port,
            ssl=self.env.ssl_context() if target.tls else None,
            server_hostname=target.host if target.tls else None,
        )
        return conn

    async def attempt(self, request: Request) -> Outcome:
        """Perform one attempt (an unanswered request is sent once more); never raises a
        `FetchError`."""
        env = self.env
        target = request.target
        exchange = KeepAliveExchange(request, env.out, env.max_size)
        key: Key = (target.scheme, target.host_key)
        connect_limit = min(env.connect_timeout, env.timeout)
        pool = self.pool
        conn = await pool.acquire(key)  # waiting for a slot is not part of the attempt
        held = True  # this attempt holds a pool slot (conn None) or a use of conn
        connected = False
        resent = False
        loop = self.loop
        try:
            try:
                # --timeout: one deadline for connect, send and response; the waits below end
                # at it (a timer per request, not an asyncio.timeout: a third of the cost).
                deadline = loop.time() + env.timeout
                data = exchange.request_bytes("HTTP/1.1")
                while True:
                    if conn is None:
                        limit = min(connect_limit, deadline - loop.time())
                        conn = await asyncio.wait_for(self.connect(request), limit)
                        pool.opened(key, conn)
                    connected = True
                    pending = conn.send(exchange, data, deadline)
                    answered = False  # (no break inside try/finally: mypyc cannot compile it)
                    try:
                        reusable = await pending.waiter
                        answered = True
                    except (ConnectionLostError, ConnectionError):
                        if not pending.resendable or resent or pending.received:
                            raise
                    finally:
                        if pending.timer is not None:
                            pending.timer.cancel()
                    if answered:
                        break
                    # Unanswered (stale keep-alive connection, or queued behind a response
                    # that closed it): send again elsewhere. Not an attempt: nothing answered.
                    resent = True
                    connected = held = False
                    if pending.behind and not pending.orderly:
                        pool.stop_sharing(key)  # this host does not pipeline reliably
                    pool.release(key, conn, False)
                    exchange.discard()
                    exchange = KeepAliveExchange(exchange.request, env.out, env.max_size)
                    conn = await pool.acquire(key, fresh=True)
                    held = True
                outcome = exchange.finish()
            except BaseException:
                if conn is not None:
                    conn.abort()  # a late response would be read as the next request's
                raise
            pool.release(key, conn, reusable)
            return outcome
        except Exception as exc:
            if held:
                pool.release(key, conn, False)
            limit = env.timeout if connected else connect_limit
            return exchange.fail(
                translate_exception(exc, target, connected=connected, timeout=limit)
            )
        except BaseException:
            if held:
                pool.release(key, conn, False)
            exchange.discard()
            raise


class KeepaliveEngine:
    """asyncio Protocol, HTTP/1.1 persistent connections per host, optional pipelining (uvloop
    when installed)."""

    name = "keepalive"

    def run(self, ctx: RunContext) -> None:
        """Run the event loop until every job is done."""
        run_loop(self._main(ctx))

    async def _main(self, ctx: RunContext) -> None:
        pool: Pool[Connection] = Pool(ctx.per_host, ctx.concurrency, ctx.pipeline)
        engine = _Engine(ctx.env, pool)
        try:
            await run_jobs(ctx, engine.attempt)
        finally:
            pool.close_all()
            engine.close()
