"""StopSignal.wait() returns when SIGTERM reaches *another* thread of the process: the kernel
may hand a process-directed signal to any thread, and CPython then only flags it for the main
thread (`serve` once slept through a SIGTERM in `Event.wait()`)."""

from __future__ import annotations

import signal
import threading
import time

from bot.signals import WAKE_SECONDS, StopSignal, wait_waking


def test_a_sigterm_delivered_to_another_thread_ends_the_wait() -> None:
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        stop = StopSignal()
        ready = threading.Event()
        done = threading.Event()

        def other_thread() -> None:
            ready.set()
            done.wait(30)

        helper = threading.Thread(target=other_thread, daemon=True)
        helper.start()
        ready.wait(5)
        assert helper.ident is not None
        signal.pthread_kill(helper.ident, signal.SIGTERM)  # not the main thread
        started = time.monotonic()
        stop.wait()
        waited = time.monotonic() - started
        done.set()
        assert stop.event.is_set()
        assert waited < WAKE_SECONDS + 2.0, f"woke after {waited:.2f} s"
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def test_ctrl_c_delivered_to_another_thread_interrupts_a_waking_wait() -> None:
    """A CLI send waits for its portal-call thread with `wait_waking`: Ctrl-C handed by the
    kernel to that thread still interrupts the main thread within WAKE_SECONDS (with a plain
    `Event.wait(30)` it came only when the portal's deadline ran out)."""
    saved = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    done = threading.Event()
    helper = threading.Thread(target=lambda: done.wait(30), daemon=True)
    helper.start()
    assert helper.ident is not None
    started = time.monotonic()
    try:
        signal.pthread_kill(helper.ident, signal.SIGINT)
        try:
            wait_waking(done, 30)
            raise AssertionError("the wait ended without KeyboardInterrupt")
        except KeyboardInterrupt:
            waited = time.monotonic() - started
        assert waited < WAKE_SECONDS + 2.0, f"interrupted after {waited:.2f} s"
    finally:
        done.set()
        signal.signal(signal.SIGINT, saved)
