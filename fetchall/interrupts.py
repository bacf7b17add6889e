"""Ctrl-C held back over a short section that must not be cut in two: recording a finished
shard (its rows, its state, its commit: `interrupts_held`), or a finished URL (its file
committed, its row written and recorded: `SectionHold`).

Strategy: for the section's length, SIGINT and SIGTERM get a handler that only notes the
signal; on the way out the previous handlers come back and the first noted signal is handed to
its previous handler, so the interrupt happens right after the section, exactly as it would
have (a `KeyboardInterrupt` from Python's default handler or the CLI's SIGTERM handler). A
previous handler that is not a Python function (the default action, or ignored) is left in
place: SIGTERM still kills a process that did not ask otherwise. Signal handlers belong to the
main thread, so elsewhere the section runs unguarded (Ctrl-C is raised in the main thread
only). Swapping handlers costs two system calls per signal: for sections of milliseconds, not
for one URL's path, which `SectionHold` guards with a handler installed once per run.
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


class SectionHold:
    """Ctrl-C held back over a section run for every URL (the runner's `complete`: a file
    committed, then its row written and recorded): ``with hold:`` around it, which costs two
    attribute writes and a check once installed.

    `check` installs it once, at the first section, and only over Python's own SIGINT handler,
    which raises `KeyboardInterrupt` wherever the main thread is; by then an asyncio engine has
    put asyncio's handler in place, which cancels a task at its next ``await`` and so never cuts
    a synchronous section: that one is left alone. SIGTERM reaches it through the CLI's handler,
    which calls the SIGINT handler. `remove` puts Python's handler back at the end of the run.
    """

    __slots__ = ("caught", "checked", "holding", "installed")

    def __init__(self) -> None:
        self.holding = False
        self.checked = False
        self.installed = False
        self.caught: tuple[int, FrameType | None] | None = None

    def __enter__(self) -> None:
        if not self.checked:
            self.check()  # at the first section: the engine has set up its Ctrl-C handling
        self.holding = True

    def __exit__(self, *exc_info: object) -> None:
        self.holding = False
        if self.caught is not None:
            self.deliver()

    def check(self) -> None:
        """Install the hold if Ctrl-C is Python's default handler in the main thread."""
        self.checked = True
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, self._handle)
            self.installed = True

    def deliver(self) -> None:
        """Raise the Ctrl-C that came during the section (call after it, if `caught`)."""
        caught, self.caught = self.caught, None
        if caught is not None:
            signal.default_int_handler(*caught)

    def remove(self) -> None:
        """Put Python's handler back (if this hold is still the one installed)."""
        if self.installed and signal.getsignal(signal.SIGINT) == self._handle:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        self.installed = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if not self.holding:
            signal.default_int_handler(signum, frame)
        elif self.caught is None:
            self.caught = (signum, frame)
