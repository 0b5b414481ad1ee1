"""Wake this process's jobs when another process records something (PostgreSQL LISTEN/NOTIFY).

Every transaction that appends to the audit log on PostgreSQL also notifies `smsbot_audit`
(bot.store.audit: delivered at commit, and only if it commits). Without this, an `smsbot worker`
beside `serve` (SMSBOT_SERVE_JOBS=off) found a recorded request on its 5 s tick: each send could
start up to 5 s late. In its own process a commit already wakes the jobs (`Database.after_audit`);
this is for the others. SQLite has no such channel: there the jobs keep to their schedule.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
from sqlalchemy.engine import URL, Engine

from bot.store.audit_sql import origin

log = logging.getLogger(__name__)

CHANNEL = "smsbot_audit"
#: How often the listening thread looks at its stop flag, and waits before reconnecting.
POLL_SECONDS = 1.0


def conninfo(url: URL) -> str:
    """The libpq URI of a SQLAlchemy PostgreSQL URL (the password kept: it is never logged)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class AuditListener:
    def __init__(self, engine: Engine, wake: Callable[[], None]) -> None:
        self._conninfo = conninfo(engine.url)
        #: Notifications from this engine's own commits are skipped (see audit_sql.origin).
        self._origin = origin(engine)
        self._wake = wake
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: Notifications received from other processes (tests and debugging look at it).
        self.notified = 0
        #: Who sent the last notification heard, own or not (tests and debugging).
        self.last_origin: str | None = None
        #: True once LISTEN is in place (and again after each reconnect).
        self.listening = threading.Event()

    def start(self) -> AuditListener:
        self._thread = threading.Thread(target=self._loop, name="smsbot-listen", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    # Whatever was recorded while nobody listened is found now.
                    self._wake()
                    while not self._stop.is_set():
                        for notify in conn.notifies(timeout=POLL_SECONDS, stop_after=1):
                            self.last_origin = notify.payload
                            if notify.payload != self._origin:
                                self.notified += 1
                                self._wake()
            except Exception as exc:  # psycopg's errors, and anything else: never end the thread
                # The type only: a connection error's text can quote the connection string.
                self.listening.clear()
                log.warning("listening for new work failed (%s); retrying", type(exc).__name__)
                self._stop.wait(POLL_SECONDS)
