"""A small generator-coroutine kernel over `selectors`: `Future`, `Task`, `Scheduler`. No asyncio.

Model: a coroutine is a plain generator that yields only `Future` objects (a `Task` is a
`Future`). Yielding a future suspends the task until the future is done; the task is then put on
the scheduler's ready queue and resumed with the future's result (``send``) or its exception
(``throw``). Because a done future is just a value in hand, ``x = yield from fut`` reads like a
call, and coroutines compose with ``yield from``. The seed's "system calls" become scheduler
methods that build a future, file it under an fd or a timer, and yield it (``yield from
sched.wait_readable(sock, deadline)``): one wake-up rule (future done → task ready) instead of a
system-call protocol, and cancelling a wait is just cancelling its future, whose done callback
unregisters the fd and drops the timer.

One turn of `Scheduler.run`: select (timeout 0 if a task is ready, else up to the next timer),
settle the futures of ready fds, fire due timers, then step each task on the ready queue once.

Where it yields: only at `sleep`, `wait_readable`, `wait_writable`, and when a coroutine yields a
future or task itself (``yield from task.join()``). Between two yields a task runs alone.

Cancellation: `Task.cancel` cancels the future the task waits on (unregistering its fd / timer at
once) and throws `Cancelled` into the generator at its current yield point, so ``finally`` blocks
run. `Cancelled` is a `BaseException`, so ``except Exception`` in I/O code does not swallow it.
Any other `BaseException` (KeyboardInterrupt) escapes `Scheduler.run`; `Scheduler.cancel_all`
then unwinds every task.
"""

from __future__ import annotations

import heapq
import selectors
import socket
import time
from collections import deque
from collections.abc import Callable, Generator
from itertools import count
from typing import Any, Generic, TypeVar, cast

T = TypeVar("T")
Coro = Generator["Future[Any]", Any, T]
"""A kernel coroutine returning ``T``: a generator that yields futures."""

_PENDING, _DONE, _CANCELLED = "pending", "done", "cancelled"


class Cancelled(BaseException):
    """Thrown into a cancelled task at its yield point; the result of a cancelled future."""


class WaitTimeout(TimeoutError):
    """An fd wait passed its deadline."""


class Future(Generic[T]):
    """A result (or exception) that will exist later; done callbacks run when it is settled."""

    def __init__(self) -> None:
        self._state = _PENDING
        self._result: T | None = None
        self._exception: BaseException | None = None
        self._callbacks: list[Callable[[Future[T]], None]] = []

    def done(self) -> bool:
        """True once a result, an exception or a cancellation is set."""
        return self._state != _PENDING

    def cancelled(self) -> bool:
        """True if cancelled."""
        return self._state == _CANCELLED

    def result(self) -> T:
        """The result; raises the stored exception, `Cancelled`, or RuntimeError if pending."""
        if self._state == _CANCELLED:
            raise Cancelled()
        if self._state == _PENDING:
            raise RuntimeError("future is not done")
        if self._exception is not None:
            raise self._exception
        return cast("T", self._result)

    def exception(self) -> BaseException | None:
        """The stored exception (None for a result); raises like `result` if not settled."""
        if self._state != _DONE:
            self.result()
        return self._exception

    def set_result(self, value: T) -> None:
        """Settle with ``value`` and run the done callbacks."""
        self._settle(_DONE, value, None)

    def set_exception(self, exc: BaseException) -> None:
        """Settle with ``exc`` and run the done callbacks."""
        self._settle(_DONE, None, exc)

    def cancel(self) -> bool:
        """Cancel if still pending (runs the done callbacks); False if already settled."""
        if self.done():
            return False
        self._settle(_CANCELLED, None, None)
        return True

    def add_done_callback(self, callback: Callable[[Future[T]], None]) -> None:
        """Call ``callback(self)`` when settled (at once if it already is)."""
        if self.done():
            callback(self)
        else:
            self._callbacks.append(callback)

    def remove_done_callback(self, callback: Callable[[Future[T]], None]) -> None:
        """Forget ``callback`` (no error if absent)."""
        self._callbacks = [cb for cb in self._callbacks if cb != callback]

    def __iter__(self) -> Generator[Future[Any], Any, T]:
        """``value = yield from future``: suspend until settled, then return or raise."""
        if not self.done():
            yield self
        return self.result()

    def _settle(self, state: str, value: T | None, exc: BaseException | None) -> None:
        if self.done():
            raise RuntimeError("future already settled")
        self._state, self._result, self._exception = state, value, exc
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(self)


class Task(Future[T]):
    """Drives one generator: ``send``s results, ``throw``s exceptions; settles with its return."""

    def __init__(self, gen: Coro[T], scheduler: Scheduler) -> None:
        super().__init__()
        self._gen = gen
        self._scheduler = scheduler
        self._waiting: Future[Any] | None = None
        self._send: Any = None
        self._throw: BaseException | None = None
        self._must_cancel = False
        self._scheduled = False
        self._schedule()

    def join(self) -> Coro[T]:
        """``value = yield from task.join()``: wait for this task and return its result."""
        return (yield from self)

    def cancel(self) -> bool:
        """Throw `Cancelled` into the generator at its yield point (its ``finally`` blocks run).

        The future it waits on is cancelled too (an fd wait unregisters, a timer is dropped),
        except a joined task, which is merely no longer waited for.
        """
        if self.done():
            return False
        self._must_cancel = True
        waiting, self._waiting = self._waiting, None
        if waiting is not None:
            waiting.remove_done_callback(self._wakeup)
            if not isinstance(waiting, Task):
                waiting.cancel()
            self._schedule()
        return True

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            self._scheduler._ready.append(self)

    def _wakeup(self, future: Future[Any]) -> None:
        if future is not self._waiting:
            return
        self._waiting = None
        try:
            self._send = future.result()
        except BaseException as exc:
            self._throw = exc
        self._schedule()

    def _step(self) -> None:
        self._scheduled = False
        if self.done():
            return
        value, exc = self._send, self._throw
        self._send = self._throw = None
        if self._must_cancel:
            exc, self._must_cancel = Cancelled(), False
        try:
            yielded = self._gen.send(value) if exc is None else self._gen.throw(exc)
        except StopIteration as stop:
            self.set_result(cast("T", stop.value))
        except Cancelled:
            super().cancel()
        except Exception as error:
            self.set_exception(error)
        except BaseException as error:  # KeyboardInterrupt, SystemExit: settle, then escape run()
            self.set_exception(error)
            raise
        else:
            self._wait_for(yielded)

    def _wait_for(self, yielded: object) -> None:
        if not isinstance(yielded, Future) or yielded is self:
            self._throw = TypeError(f"a task must yield a Future, not {yielded!r}")
            self._schedule()
        elif self._must_cancel:  # cancelled itself while running: do not start the wait
            if not isinstance(yielded, Task):
                yielded.cancel()
            self._schedule()
        else:
            self._waiting = yielded
            yielded.add_done_callback(self._wakeup)


class Timer:
    """A callback due at a monotonic time; `cancel` drops it."""

    __slots__ = ("callback", "cancelled")

    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback, self.cancelled = callback, False

    def cancel(self) -> None:
        """Do not fire (the heap entry is removed lazily)."""
        self.cancelled = True


class Scheduler:
    """Ready queue (deque of tasks), timer heap and a selector; see the module docstring."""

    def __init__(self) -> None:
        self._ready: deque[Task[Any]] = deque()
        self._timers: list[tuple[float, int, Timer]] = []
        self._seq = count()
        self._selector = selectors.DefaultSelector()
        self.tasks: set[Task[Any]] = set()

    def spawn(self, gen: Coro[T]) -> Task[T]:
        """Start ``gen`` as a task (it first runs on the next turn of the loop)."""
        task = Task(gen, self)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        """Run ``callback()`` at monotonic time ``when``."""
        timer = Timer(callback)
        heapq.heappush(self._timers, (when, next(self._seq), timer))
        return timer

    def sleep(self, seconds: float) -> Coro[None]:
        """``yield from sched.sleep(s)``: suspend for ``s`` seconds (0 = let others run)."""
        future: Future[None] = Future()
        timer = self.call_at(time.monotonic() + seconds, lambda: future.set_result(None))
        future.add_done_callback(lambda _: timer.cancel())
        yield from future

    def wait_readable(self, sock: socket.socket, deadline: float | None = None) -> Coro[None]:
        """Suspend until ``sock`` is readable; `WaitTimeout` past ``deadline`` (monotonic)."""
        yield from self._wait_fd(sock, selectors.EVENT_READ, deadline)

    def wait_writable(self, sock: socket.socket, deadline: float | None = None) -> Coro[None]:
        """Suspend until ``sock`` is writable; `WaitTimeout` past ``deadline`` (monotonic)."""
        yield from self._wait_fd(sock, selectors.EVENT_WRITE, deadline)

    def _wait_fd(self, sock: socket.socket, event: int, deadline: float | None) -> Coro[None]:
        if deadline is not None and deadline <= time.monotonic():
            raise WaitTimeout("timed out")
        fd = sock.fileno()
        future: Future[int] = Future()
        self._selector.register(fd, event, future)  # KeyError if another wait holds this fd
        timer: Timer | None = None
        if deadline is not None:
            timer = self.call_at(deadline, lambda: future.set_exception(WaitTimeout("timed out")))

        def cleanup(_: Future[int]) -> None:
            self._selector.unregister(fd)
            if timer is not None:
                timer.cancel()

        future.add_done_callback(cleanup)
        yield from future

    def run(self, until: Callable[[], bool] | None = None) -> None:
        """Run until no task remains (or ``until()`` is true); a stalled set of tasks raises."""
        while self.tasks and not (until is not None and until()):
            self._run_once()

    def _run_once(self) -> None:
        timers = self._timers
        while timers and timers[0][2].cancelled:
            heapq.heappop(timers)
        if len(timers) > 256 and sum(t.cancelled for _, _, t in timers) > len(timers) // 2:
            self._timers = timers = [entry for entry in timers if not entry[2].cancelled]
            heapq.heapify(timers)
        waits = self._selector.get_map()
        timeout: float | None = None
        if self._ready:
            timeout = 0.0
        elif timers:
            timeout = max(0.0, timers[0][0] - time.monotonic())
        elif not waits:
            raise RuntimeError(f"deadlock: {len(self.tasks)} task(s) wait for nothing")
        if waits:
            for key, events in self._selector.select(timeout):
                future = cast("Future[int]", key.data)
                if not future.done():
                    future.set_result(events)
        elif timeout:
            time.sleep(timeout)
        now = time.monotonic()
        while timers and timers[0][0] <= now:
            timer = heapq.heappop(timers)[2]
            if not timer.cancelled:
                timer.callback()
        for _ in range(len(self._ready)):
            self._ready.popleft()._step()

    def cancel_all(self) -> None:
        """Cancel every task and run them until their ``finally`` blocks are done.

        Tasks left stalled (e.g. an interrupt struck inside the kernel's own bookkeeping) are
        closed with ``GeneratorExit`` instead, so their ``finally`` blocks run all the same.
        """
        for task in list(self.tasks):
            task.cancel()
        try:
            self.run()
        except RuntimeError:
            for task in list(self.tasks):
                task._gen.close()
                Future.cancel(task)

    def close(self) -> None:
        """Release the selector."""
        self._selector.close()
