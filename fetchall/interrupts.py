"""Ctrl-C held back over a short section that must not be cut in two (recording a finished
shard: its rows, its files' state, its commit).

Strategy: for the section's length, SIGINT and SIGTERM get a handler that only notes the
signal; on the way out the previous handlers come back and the first noted signal is handed to
its previous handler, so the interrupt happens right after the section, exactly as it would
have (a `KeyboardInterrupt` from Python's default handler or the CLI's SIGTERM handler). A
previous handler that is not a Python function (the default action, or ignored) is left in
place: SIGTERM still kills a process that did not ask otherwise. Signal handlers belong to the
main thread, so elsewhere the section runs unguarded (Ctrl-C is raised in the main thread
only). Swapping handlers costs two system calls per signal: for sections of milliseconds, not
for one URL's path.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

Handler = Callable[[int, FrameType | None], object]

GUARDED = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def interrupts_held() -> Iterator[None]:
    """Run the ``with`` body with Ctrl-C (and SIGTERM) held back until it ends (see module
    docstring); a signal that came meanwhile is delivered right after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[tuple[int, FrameType | None]] = []

    def note(signum: int, frame: FrameType | None) -> None:
        caught.append((signum, frame))

    previous: dict[int, Handler] = {}
    for guarded in GUARDED:
        handler = signal.getsignal(guarded)
        if callable(handler):
            previous[guarded] = handler
            signal.signal(guarded, note)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        if caught:
            first, frame = caught[0]
            previous[first](first, frame)
