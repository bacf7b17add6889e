"""Engine ``polling``: non-blocking sockets, busy polling — the seeds' naive step, kept for
comparison.

Strategy: like ``blocking``, one exchange at a time in input order (`run_sequential`: a job
waiting for a retry, its host's rate slot or a cooldown is set aside on a timer while the next
goes on). The difference is how an attempt waits:
the socket is non-blocking and nobody tells us when it is ready, so the attempt calls
`NonBlockingAttempt.step()` over and over in a tight loop — no select, no poll, no sleep —
until it finishes or its deadline passes (checked on every pass, then `expire()`). That loop
burns a whole core while waiting for the network: this engine exists to show why readiness
notification (``select``) was the next step, so nothing here hides or softens the spinning.

Where it blocks: name lookups (``getaddrinfo``, once per host per run; see `nonblocking`), and
`time.sleep` when every job waits for time (retry backoff, a host's rate slot or cooldown: the
spinning shown here is about sockets, not about the clock). Everywhere else it spins.
"""

from __future__ import annotations

import time
from functools import partial

from fetchall.engines.base import AttemptEnv, RunContext, run_sequential
from fetchall.engines.nonblocking import NonBlockingAttempt
from fetchall.engines.resolver import DNSCache
from fetchall.policy import Outcome, Request


def busy_poll_attempt(request: Request, env: AttemptEnv, dns_cache: DNSCache) -> Outcome:
    """Perform one attempt by calling ``step()`` until done or past the deadline.

    Never raises a `FetchError`. On Ctrl-C (or any other escape) the attempt is aborted, so
    its socket is closed and no temporary file stays behind, and the exception propagates.
    """
    attempt = NonBlockingAttempt(request, env, dns_cache)
    try:
        while not attempt.step():  # the busy loop: retry at once, whatever the socket's state
            if time.monotonic() >= attempt.deadline:
                attempt.expire()
                break
    except BaseException:
        attempt.abort()
        raise
    return attempt.outcome


class PollingEngine:
    """Sequential non-blocking sockets, busy-polled, with hand-built HTTP/1.0."""

    name = "polling"

    def __init__(self) -> None:
        self._dns: DNSCache = {}

    def run(self, ctx: RunContext) -> None:
        """Fetch jobs one exchange after another until the context is finished."""
        run_sequential(ctx, partial(busy_poll_attempt, env=ctx.env, dns_cache=self._dns))
