"""A Socket Mode server on 127.0.0.1 speaking Slack's protocol, for end-to-end tests.

The Slack stand-in's `apps.connections.open` hands out `ws://127.0.0.1:PORT/link/?ticket=N`. On
connect the server says `hello`; it then pushes envelopes `{envelope_id, type, payload,
accepts_response_payload}` and records each acknowledgement `{envelope_id, payload?}` with the time
it took. It can ask the client to reconnect (`disconnect` with `refresh_requested`, as Slack does
before recycling a connection) or drop the connection without a close frame.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve


@dataclass
class Ack:
    envelope_id: str
    payload: dict[str, Any] | None
    seconds: float


@dataclass
class _Envelope:
    sent_at: float
    ack: Ack | None = None
    done: threading.Event = field(default_factory=threading.Event)


class SocketModeServer:
    def __init__(self) -> None:
        self._tickets = itertools.count(1)
        self._lock = threading.Condition()
        self._connections: list[ServerConnection] = []
        self.connects = 0
        self._envelopes: dict[str, _Envelope] = {}
        self._server: Server = serve(
            self._handle, "127.0.0.1", 0, compression=None, close_timeout=1
        )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.socket.getsockname()[1])

    def new_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/link/?ticket={next(self._tickets)}"

    def start(self) -> SocketModeServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()

    # ---- the protocol --------------------------------------------------------------------------
    def _handle(self, conn: ServerConnection) -> None:
        with self._lock:
            self._connections.append(conn)
            self.connects += 1
            self._lock.notify_all()
        conn.send(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": 1,
                    "debug_info": {"host": "applink-test", "approximate_connection_time": 18060},
                    "connection_info": {"app_id": "A0001"},
                }
            )
        )
        try:
            for raw in conn:
                message = json.loads(raw)
                envelope_id = message.get("envelope_id")
                with self._lock:
                    envelope = self._envelopes.get(str(envelope_id))
                    if envelope is not None and envelope.ack is None:
                        envelope.ack = Ack(
                            str(envelope_id),
                            message.get("payload"),
                            time.monotonic() - envelope.sent_at,
                        )
                        envelope.done.set()
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                if conn in self._connections:
                    self._connections.remove(conn)
                self._lock.notify_all()

    def wait_connected(self, connects: int = 1, timeout: float = 30.0) -> ServerConnection:
        """Wait until the client has opened `connects` connections in all and one is open."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self.connects < connects or not self._connections:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no Socket Mode connection #{connects} in {timeout}s")
                self._lock.wait(remaining)
            return self._connections[-1]

    def send(self, kind: str, payload: dict[str, Any], accepts_response_payload: bool) -> str:
        conn = self.wait_connected()
        envelope_id = str(uuid.uuid4())
        with self._lock:
            self._envelopes[envelope_id] = _Envelope(time.monotonic())
        conn.send(
            json.dumps(
                {
                    "envelope_id": envelope_id,
                    "type": kind,
                    "payload": payload,
                    "accepts_response_payload": accepts_response_payload,
                    "retry_attempt": 0,
                    "retry_reason": "",
                }
            )
        )
        return envelope_id

    def wait_ack(self, envelope_id: str, timeout: float = 10.0) -> Ack:
        envelope = self._envelopes[envelope_id]
        if not envelope.done.wait(timeout):
            raise AssertionError(f"envelope {envelope_id} not acknowledged in {timeout}s")
        assert envelope.ack is not None
        return envelope.ack

    def request_refresh(self) -> None:
        """What Slack sends before it recycles a connection: the client must open a new one."""
        conn = self.wait_connected()
        conn.send(
            json.dumps(
                {
                    "type": "disconnect",
                    "reason": "refresh_requested",
                    "debug_info": {"host": "applink-test"},
                }
            )
        )

    def drop(self) -> None:
        """Cut the TCP connection without a close frame (a network failure)."""
        conn = self.wait_connected()
        with contextlib.suppress(OSError):
            conn.socket.shutdown(socket.SHUT_RDWR)
        conn.socket.close()
        with self._lock:  # its reading thread may never notice a descriptor closed under it
            if conn in self._connections:
                self._connections.remove(conn)
            self._lock.notify_all()

    def open_connections(self) -> int:
        with self._lock:
            return len(self._connections)
