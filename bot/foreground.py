"""Background work yields to the requests people are waiting on.

Slack gives a form 3 s to be answered, and on a busy process the answer shares the CPU (and the
interpreter lock) with the sends, thread replies and jobs the earlier forms started. Measured with
50 forms in flight on PostgreSQL (docs/benchmarks.md): the acks alone answer at about the bare
Bolt app's p99; beside the sending they took up to 2 s. So the front ends mark what a person
waits on (`serving`), and background work asks, before each item, to go after it (`yield_to`):
it waits while requests are being answered, and until none has been for QUIET_SECONDS — up to a
bound, so a steady stream of requests delays the sends, never stops them. Nothing is reordered
in the database: a request recorded is claimed and sent as before, a little later in a burst.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from bot import metrics

#: Background work starts once no request has been answered for this long: between two
#: requests of a burst the server's threads are never idle longer.
QUIET_SECONDS = 0.02
#: The longest one item of background work is held back (a burst of 50 forms is answered
#: within about this long); after it, it runs whatever the load.
MAX_DEFER_SECONDS = 1.5


class Foreground:
    def __init__(self, quiet_seconds: float = QUIET_SECONDS) -> None:
        self._quiet = quiet_seconds
        self._serving = 0
        self._last = 0.0
        self._changed = threading.Condition()
        #: The threads held back right now, by name (tests and debugging look at it).
        self._held: dict[int, str] = {}

    @contextmanager
    def serving(self) -> Iterator[None]:
        """Around the answer to one request a person waits on."""
        with self._changed:
            self._serving += 1
        try:
            yield
        finally:
            with self._changed:
                self._serving -= 1
                self._last = time.monotonic()
                self._changed.notify_all()

    def held(self) -> list[str]:
        """The names of the threads waiting in `yield_to` now."""
        with self._changed:
            return sorted(self._held.values())

    def busy(self) -> bool:
        with self._changed:
            return self._busy(time.monotonic())

    def _busy(self, now: float) -> bool:
        return self._serving > 0 or now - self._last < self._quiet

    def yield_to(self, max_seconds: float = MAX_DEFER_SECONDS) -> float:
        """Wait until no request is being answered (or `max_seconds`); the seconds waited."""
        start = time.monotonic()
        deadline = start + max_seconds
        me = threading.current_thread()
        with self._changed:
            self._held[me.ident or 0] = me.name
            try:
                while True:
                    now = time.monotonic()
                    if not self._busy(now) or now >= deadline:
                        break
                    # Woken when a request ends; else when the quiet period would be over.
                    quiet_at = self._last + self._quiet if self._serving == 0 else deadline
                    self._changed.wait(max(0.0, min(quiet_at, deadline) - now))
            finally:
                del self._held[me.ident or 0]
        waited = time.monotonic() - start
        if waited > 0.001:
            metrics.BACKGROUND_DEFERRED.observe(waited)
        return waited
