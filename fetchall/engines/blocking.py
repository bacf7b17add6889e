"""Engine ``blocking``: one blocking socket at a time, strictly sequential (the seeds' first step).

Strategy: take one job, perform its attempts with plain blocking calls, hand the result back,
repeat (`run_sequential`). One exchange at a time, never two: the baseline every other engine is
compared with. A job that must wait — retry backoff, its host's rate slot or cooldown — is set
aside on a timer and the next job goes on meanwhile, so a host that asks for patience does not
hold the others back. Blocks in: every socket call (see `sockets.py`), and `time.sleep` when
every job waits for time.
"""

from __future__ import annotations

from functools import partial

from fetchall.engines.base import RunContext, run_sequential
from fetchall.engines.sockets import blocking_attempt


class BlockingEngine:
    """Sequential blocking sockets with hand-built HTTP/1.0."""

    name = "blocking"

    def run(self, ctx: RunContext) -> None:
        """Fetch jobs one exchange after another until the context is finished."""
        run_sequential(ctx, partial(blocking_attempt, env=ctx.env))
