"""Engine ``blocking``: one blocking socket at a time, strictly sequential (the seeds' first step).

Strategy: take one job, drive its policy generator with plain calls (`drive_sync`), hand the
result back, repeat. No concurrency at all: the baseline every other engine is compared with.
Blocks in: every socket call (see `sockets.py`) and `time.sleep` for retry backoff.
"""

from __future__ import annotations

import time
from functools import partial

from fetchall.engines.base import RunContext, drive_sync
from fetchall.engines.sockets import blocking_attempt


class BlockingEngine:
    """Sequential blocking sockets with hand-built HTTP/1.0."""

    name = "blocking"

    def run(self, ctx: RunContext) -> None:
        """Fetch jobs one after another until the context is finished."""
        attempt = partial(blocking_attempt, env=ctx.env)
        while (job := ctx.next_job()) is not None:
            final = drive_sync(job.plan, attempt, time.sleep)
            ctx.complete(job, final)
