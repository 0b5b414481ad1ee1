"""Serving the Slack app: Socket Mode or HTTP mode."""

from __future__ import annotations

from bot.config import Settings


def run(settings: Settings) -> None:
    raise SystemExit("smsbot serve: the Slack front end is not built yet")
