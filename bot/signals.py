"""Stopping on SIGTERM/SIGINT, for the long-running commands (`serve`, `worker`), and waits that
let a signal's handler run (Ctrl-C during a CLI send)."""

from __future__ import annotations

import logging
import signal
import threading
import time

log = logging.getLogger(__name__)

#: How often the waiting main thread wakes. A signal the kernel hands to another thread only
#: sets CPython's pending flag; the handler runs when the main thread next runs Python code, and
#: a main thread blocked in `Event.wait()` without a timeout never does (seen: `serve` ignored a
#: SIGTERM for good, 1 stop in ~25 under load).
WAKE_SECONDS = 0.5


def wait_waking(event: threading.Event, seconds: float) -> bool:
    """`event.wait(seconds)` in the main thread, woken every WAKE_SECONDS so a signal handled by
    another thread still runs its handler here soon (Ctrl-C raises KeyboardInterrupt within
    half a second, not when the wait ends)."""
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return event.is_set()
        if event.wait(min(left, WAKE_SECONDS)):
            return True


class StopSignal:
    """SIGTERM (docker stop, Kubernetes) and SIGINT end `wait()`. As PID 1 a process gets no
    default handling of SIGTERM: without this, it would be killed at the grace period."""

    def __init__(self) -> None:
        self.event = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, _frame: object) -> None:
        log.info("%s received: stopping", signal.Signals(signum).name)
        self.event.set()

    def wait(self) -> None:
        """Block until a stop signal arrived (in the main thread, where handlers run)."""
        while not self.event.wait(WAKE_SECONDS):
            pass
