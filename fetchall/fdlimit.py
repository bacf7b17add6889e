"""Open-file limit: raise the soft RLIMIT_NOFILE to what the requested concurrency needs.

Strategy: every URL in flight holds a socket and a temporary file, plus a margin for the
interpreter, the report and the engine's own descriptors. If the soft limit is lower, raise it
towards the hard limit; if even the hard limit is too low, say so (the run still goes on, and a
URL that hits the limit fails with a clear error rather than the run crashing).
"""

from __future__ import annotations

import logging

FDS_PER_REQUEST = 2
MARGIN = 64

log = logging.getLogger("fetchall")


def needed_descriptors(concurrency: int) -> int:
    """File descriptors a run at ``concurrency`` may hold at once."""
    return concurrency * FDS_PER_REQUEST + MARGIN


def raise_open_file_limit(concurrency: int) -> str | None:
    """Raise the soft limit if needed; a warning message when it cannot be raised far enough."""
    try:
        import resource
    except ImportError:  # not on POSIX: nothing to do
        return None
    needed = needed_descriptors(concurrency)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return None
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        target = soft
    if target >= needed:
        return None
    message = (
        f"--concurrency {concurrency} needs about {needed} open files but the limit is "
        f"{target} (hard limit {hard}); raise it with 'ulimit -n {needed}' or lower -c"
    )
    log.warning(message)
    return message
