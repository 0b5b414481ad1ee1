"""slack_sdk's websocket-client Socket Mode client, with the races that hung `smsbot serve` closed.

Seen here (about 1 stop in 12 right after a reconnect, and in CI): SIGTERM arrived, and
`SocketModeClient.close()` joined its session thread forever. websocket-client's `run_forever`
sets `keep_running` again when it starts, so a session closed just before its `run_forever`
began runs anyway, and nothing ever closes it again:
- `connect()` replaces the current session and closes the old one, while the runner thread may
  be about to start that old one;
- the runner thread re-runs a session that already ended (every 0.5 s), for example while
  `close()` is still waiting for the closing handshake.

This client runs a session at most once, only while it is the current one and the client is
open; a session that opens after it was replaced closes itself; and `close()` keeps closing the
running session until the runner thread has stopped, within a deadline, so a stop always ends.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import threading
import time
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.socket_mode.websocket_client import SocketModeHandler
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.websocket_client import SocketModeClient
from websocket import ABNF, STATUS_NORMAL, WebSocketApp

from bot.foreground import Foreground

log = logging.getLogger(__name__)

CLOSE_SECONDS = 5.0  # the whole close; SMSBOT_SHUTDOWN_GRACE_SECONDS (8 s) covers it
PING_TIMEOUT_SHARE = 0.8  # no pong within 80% of the ping interval: the connection is dead


def _stop(session: WebSocketApp) -> None:
    """End a session from another thread: send the closing frame, then shut the socket down.
    `WebSocketApp.close()` alone can leave the reading thread in select() on a descriptor closed
    under it (epoll never wakes for it); a shutdown wakes it, and the reading thread's own
    teardown then closes the descriptor. (Not `send_close()`: it marks the connection closed,
    after which neither `abort()` nor the teardown touches the socket, and the descriptor leaks.)"""
    session.keep_running = False
    connection = session.sock
    if connection is None:
        return
    if not connection.connected:
        # Mid-handshake: `abort()` would do nothing. Shut the TCP socket down instead, so the
        # handshake fails and the server sees the connection end.
        raw = connection.sock
        if raw is not None:
            with contextlib.suppress(OSError):
                raw.shutdown(socket.SHUT_RDWR)
        return
    with contextlib.suppress(Exception):  # already closed by the peer: no goodbye needed
        connection.send(struct.pack("!H", STATUS_NORMAL), ABNF.OPCODE_CLOSE)
    connection.abort()  # type: ignore[no-untyped-call]


def _leave_to_session(**_: Any) -> None:
    """A replaced session's `close()`: it was stopped, and its own thread closes its socket."""


class SocketClient(SocketModeClient):
    """See the module docstring. Behaves as SocketModeClient otherwise (same listeners, same
    reconnect by the monitor thread when the current session has no socket)."""

    def __init__(self, **kwargs: Any) -> None:
        # Set before the base __init__, which starts the runner thread that reads them.
        self._guard = threading.Lock()
        self.closed = False
        self._running: WebSocketApp | None = None
        self._last_run: WebSocketApp | None = None
        super().__init__(**kwargs)
        self.on_open_listeners.append(self._close_if_replaced)

    def _pending(self) -> bool:
        """A new current session the runner has not started yet (it does within 0.5 s)."""
        session = self.current_session
        return session is not None and session is not self._last_run and not self.closed

    def connect_to_new_endpoint(self, force: bool = False) -> None:
        # The base reconnects whenever the current session has no socket, which includes one
        # made a moment ago and not started yet: each such reconnect replaced it again (a
        # connection opened and closed at once, and an envelope sent to it was lost).
        if not force and self._pending():
            return
        super().connect_to_new_endpoint(force)

    def connect(self) -> None:
        # The base closes the replaced session with `close()`, from this thread; its reader can
        # then sit in select() until the ping timeout (4 s without envelopes after a refresh).
        old = self.current_session
        if old is not None:
            _stop(old)
            # The base then calls `old.close()`, which drops the session's socket while the
            # session's own thread may still be in the handshake: that thread then fails on
            # the missing socket and the connection it opened is never closed (the server saw
            # it open; the test caught it in 8 of 15 runs). The session closes itself instead.
            old.close = _leave_to_session  # type: ignore[method-assign]
        super().connect()
        if old is not None:
            # Again, now that it is replaced: a session whose handshake ended between the first
            # stop and the replacement saw itself current when it opened.
            _stop(old)

    def _close_if_replaced(self, session: WebSocketApp) -> None:
        if self.closed or session is not self.current_session:
            _stop(session)

    def _run_current_session(self) -> None:
        with self._guard:
            session = self.current_session
            if self.closed or session is None or session is self._last_run:
                return
            self._running = self._last_run = session
        try:
            self.logger.info("Starting to receive messages from a new connection")
            session.run_forever(
                ping_interval=self.ping_interval,
                # Without it the reading thread waits in select() with no timeout: a connection
                # that died silently is never noticed, and a stop depends on the peer's answer.
                ping_timeout=self.ping_interval * PING_TIMEOUT_SHARE,
                http_proxy_host=self.http_proxy_host,
                http_proxy_port=self.http_proxy_port,
                http_proxy_auth=self.http_proxy_auth,
                proxy_type=self.proxy_type,
            )
            self.logger.info("Stopped receiving messages from a connection")
        except Exception as exc:
            # The monitor thread sees a session without a socket and reconnects.
            self.logger.warning("Socket Mode session ended: %s", type(exc).__name__)
            session.close()
        finally:
            with self._guard:
                self._running = None

    def close(self) -> None:
        self.closed = True
        self.auto_reconnect_enabled = False
        deadline = time.monotonic() + CLOSE_SECONDS
        runners = (self.current_session_runner, self.current_app_monitor, self.message_processor)
        for runner in runners:
            runner.event.set()
        thread = self.current_session_runner.thread
        while thread is not None and thread.is_alive() and time.monotonic() < deadline:
            with self._guard:
                sessions = {id(s): s for s in (self.current_session, self._running) if s}
            for session in sessions.values():
                _stop(session)
            thread.join(0.1)
        for runner in runners[1:]:
            if runner.thread is not None and runner.thread.is_alive():  # the monitor starts late
                runner.thread.join(max(0.0, deadline - time.monotonic()))
        if thread is not None and thread.is_alive():
            log.warning("Socket Mode connection did not close within %.0f s", CLOSE_SECONDS)
        # Envelopes already taken are finished by the caller's drain; idle workers end here.
        self.message_workers.shutdown(wait=False)


class SocketHandler(SocketModeHandler):
    """Bolt's websocket-client Socket Mode handler on SocketClient."""

    def __init__(
        self,
        app: App,
        app_token: str,
        ping_interval: float,
        foreground: Foreground | None = None,
    ) -> None:
        # Not super().__init__: it would build (and start the threads of) a second client.
        self.foreground = foreground or Foreground()
        self.app = app
        self.app_token = app_token
        self.client = SocketClient(
            app_token=app_token,
            logger=app.logger,
            web_client=app.client,
            ping_interval=ping_interval,
        )
        self.client.socket_mode_request_listeners.append(self.handle)  # type: ignore[arg-type]

    def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override]
        # An envelope is answered before the background work waiting on it (bot.foreground).
        with self.foreground.serving():
            super().handle(client, req)
