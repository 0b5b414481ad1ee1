"""StopSignal.wait() returns when SIGTERM reaches *another* thread of the process: the kernel
may hand a process-directed signal to any thread, and CPython then only flags it for the main
thread (`serve` once slept through a SIGTERM in `Event.wait()`)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from bot.signals import WAKE_SECONDS, StopSignal


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


#: A CLI send in miniature, as its own process (pytest's workers handle SIGINT themselves): the
#: main thread waits for a "portal-call" thread, which gets the Ctrl-C once the main thread is
#: blocked in the wait.
CTRL_C_PROGRAM = """
import signal, sys, threading, time
sys.path.insert(0, {root!r})
from bot.signals import wait_waking
main_id = threading.get_ident()
done = threading.Event()

def main_is_waiting():
    frame = sys._current_frames().get(main_id)
    while frame is not None and frame.f_code.co_name != "wait_waking":
        frame = frame.f_back
    return frame is not None

def portal_call():
    deadline = time.monotonic() + 10
    while not main_is_waiting() and time.monotonic() < deadline:
        time.sleep(0.01)  # polling a condition with a deadline
    signal.pthread_kill(threading.get_ident(), signal.SIGINT)  # this thread, not main
    done.wait(30)

threading.Thread(target=portal_call, daemon=True).start()
started = time.monotonic()
try:
    wait_waking(done, 20)
    print("not interrupted")
except KeyboardInterrupt:
    print(f"interrupted after {{time.monotonic() - started:.2f}}")
"""


def test_ctrl_c_delivered_to_another_thread_interrupts_a_waking_wait() -> None:
    """A CLI send waits for its portal-call thread with `wait_waking`: Ctrl-C handed by the
    kernel to that thread still interrupts the main thread within WAKE_SECONDS. With a plain
    `Event.wait(20)` the same program is interrupted only after the 20 s."""
    root = str(Path(__file__).resolve().parents[1])
    done = subprocess.run(
        [sys.executable, "-c", CTRL_C_PROGRAM.format(root=root)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.startswith("interrupted after"), (done.stdout, done.stderr)
    waited = float(done.stdout.split()[-1])
    assert waited < WAKE_SECONDS + 2.0, f"interrupted after {waited:.2f} s"
