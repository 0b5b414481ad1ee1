"""When a request reached the bot, before it waited for a server thread.

Slack gives an ack 3 s from when it sent the request. Under load a request can wait in waitress's
queue for a free thread before any of our code runs, so a budget counted from the listener's
start does not bound the ack. waitress keeps no arrival time: its request parser is subclassed to
stamp the moment the request's last byte was read, and the edge hands it to the listeners as a
header it always overwrites (a client cannot choose it).
"""

from __future__ import annotations

import time
from typing import Any

from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.task import WSGITask

#: The header the edge sets (Bolt passes HTTP_* environ keys to listeners as request headers).
HEADER = "x-smsbot-received-at"
ENVIRON_HEADER = "HTTP_X_SMSBOT_RECEIVED_AT"
#: The environ key the task sets: time.monotonic() when the request was complete.
ENVIRON_KEY = "smsbot.received_at"


class _StampedParser(HTTPRequestParser):
    received_at: float | None = None

    def received(self, data: bytes) -> int:
        consumed = int(super().received(data))
        if self.completed and self.received_at is None:
            self.received_at = time.monotonic()
        return consumed


class _StampedTask(WSGITask):
    def get_environment(self) -> dict[str, Any]:
        environ: dict[str, Any] = super().get_environment()
        environ[ENVIRON_KEY] = getattr(self.request, "received_at", None)
        return environ


class StampedChannel(HTTPChannel):
    """waitress's channel, with requests stamped on arrival (server.channel_class)."""

    parser_class = _StampedParser
    task_class = _StampedTask


def seconds_waited(headers: dict[str, Any] | None) -> float:
    """How long ago the request arrived, from the edge's header (0: unknown, e.g. Socket Mode)."""
    values = (headers or {}).get(HEADER) or []
    value = values[0] if isinstance(values, list) and values else values
    try:
        return max(0.0, time.monotonic() - float(value))
    except (TypeError, ValueError):
        return 0.0
