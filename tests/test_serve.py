"""`smsbot serve` as a real process: HTTP mode on a free port, healthz, a signed command."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.config import load_settings
from bot.slack.server import mode
from tests.support.serve import serve_http
from tests.support.signing import SlackClient
from tests.support.slack_api import SlackStandIn


def test_mode_follows_the_app_token() -> None:
    assert mode(load_settings(SLACK_APP_TOKEN=None)) == "http"
    assert mode(load_settings(SLACK_APP_TOKEN="xapp-1")) == "socket"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, SlackStandIn]]:
    with serve_http(f"sqlite:///{tmp_path / 'serve.db'}", "serve-secret") as (_, port, slack):
        yield f"http://127.0.0.1:{port}", slack


def test_serve_http_mode(served: tuple[str, SlackStandIn]) -> None:
    base, slack = served
    # The "listening" line is logged after the socket is bound: no retrying needed.
    health = httpx.get(f"{base}/healthz")
    assert health.status_code == 200 and health.json()["portal"] == "sandbox"
    client = SlackClient(f"{base}/slack/events", "serve-secret")
    assert "/sms status" in client.command("help", user="U0X").text
    assert client.command("", user="U0X").status_code == 200
    slack.wait_for("views.open")
    assert (
        SlackClient(f"{base}/slack/events", "wrong").command("help", user="U0X").status_code == 401
    )
    client.close()
