"""`interrupts_held`: Ctrl-C and SIGTERM held back over a section with real signals sent to
this process, delivered right after it, and the handlers put back."""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType

import pytest

from fetchall.interrupts import SectionHold, interrupts_held

pytestmark = pytest.mark.timeout(30)


class Terminated(Exception):
    pass


def raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated(signum)


def test_ctrl_c_inside_waits_for_the_end_of_the_section() -> None:
    steps: list[str] = []
    with pytest.raises(KeyboardInterrupt), interrupts_held():
        os.kill(os.getpid(), signal.SIGINT)  # the handler runs before the next line
        steps.append("after the signal")
        os.kill(os.getpid(), signal.SIGINT)  # a second one: still one interrupt
        steps.append("end of the section")
    assert steps == ["after the signal", "end of the section"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_sigterm_goes_to_its_own_handler_afterwards() -> None:
    previous = signal.signal(signal.SIGTERM, raise_terminated)
    try:
        with pytest.raises(Terminated), interrupts_held():
            os.kill(os.getpid(), signal.SIGTERM)
            assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler
        assert signal.getsignal(signal.SIGTERM) is raise_terminated
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_default_actions_and_quiet_sections_are_left_alone() -> None:
    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        with interrupts_held():
            assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # still kills
            quiet = True
        assert quiet
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_an_error_inside_still_puts_the_handlers_back() -> None:
    with pytest.raises(ValueError), interrupts_held():
        raise ValueError("boom")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_outside_the_main_thread_the_section_runs_unguarded() -> None:
    seen: list[object] = []

    def body() -> None:
        with interrupts_held():
            seen.append(signal.getsignal(signal.SIGINT))

    thread = threading.Thread(target=body)
    thread.start()
    thread.join(10)
    assert seen == [signal.default_int_handler]


def test_section_hold_defers_ctrl_c_over_each_section() -> None:
    hold = SectionHold()
    hold.check()
    try:
        assert hold.installed and signal.getsignal(signal.SIGINT) == hold._handle
        steps: list[str] = []
        with pytest.raises(KeyboardInterrupt), hold:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)  # twice: delivered once
            steps.append("end of the section")
        assert steps == ["end of the section"] and hold.caught is None
        with hold:  # nothing left to deliver
            steps.append("a quiet section")
        with pytest.raises(KeyboardInterrupt):  # outside a section: at once
            os.kill(os.getpid(), signal.SIGINT)
            reached = False  # (not reached: the handler raises before this line)
            assert reached
    finally:
        hold.remove()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_section_hold_leaves_another_handler_alone() -> None:
    def cancel_a_task(signum: int, frame: FrameType | None) -> None:  # asyncio's, say
        pass

    previous = signal.signal(signal.SIGINT, cancel_a_task)
    try:
        hold = SectionHold()
        with hold:  # the first section checks which handler is in place
            pass
        assert hold.checked and not hold.installed
        assert signal.getsignal(signal.SIGINT) is cancel_a_task
        hold.remove()
        assert signal.getsignal(signal.SIGINT) is cancel_a_task
    finally:
        signal.signal(signal.SIGINT, previous)
