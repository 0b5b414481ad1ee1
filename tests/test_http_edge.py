"""The HTTP edge in front of Bolt: body caps, signatures checked before anything else, malformed
requests answered 400/401 (never 500), nothing from an unsigned body in the logs, many stalled
connections that do not stop the bot, and an idle server that uses no CPU."""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from pathlib import Path

import httpx
import pytest

from tests.support.bot import Bot
from tests.support.serve import serve_http
from tests.support.signing import interaction_body, signed_headers

SECRET = "test-signing-secret"


def test_a_body_over_the_cap_is_refused_before_the_signature(bot: Bot) -> None:
    response = httpx.post(bot.client.url, content=b"x" * (128 * 1024 + 1))
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": "v0=00"}, 401),
        ({"X-Slack-Request-Timestamp": "1.7e9", "X-Slack-Signature": "v0=00"}, 401),
        ({}, 401),
    ],
)
def test_bad_signature_headers_are_401(bot: Bot, headers: dict[str, str], status: int) -> None:
    response = httpx.post(bot.client.url, content=b"command=%2Fsms", headers=headers)
    assert response.status_code == status


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xfe\x00 not utf-8",
        b"payload=%7Bnot+json",
        b"payload=%5B1%2C2%5D",
        b"something=else",
    ],
)
def test_signed_but_malformed_bodies_are_400(bot: Bot, body: bytes) -> None:
    assert bot.client.post(body).status_code == 400
    assert bot.events() == []


def test_a_non_ascii_button_value_is_answered_not_500(bot: Bot) -> None:
    payload = {
        "type": "block_actions",
        "user": {"id": "U0X", "team_id": "T0001"},
        "team": {"id": "T0001"},
        "api_app_id": "A0001",
        "trigger_id": "T.x",
        "channel": {"id": "C0APPROVE"},
        "actions": [{"action_id": "approve_request", "value": "²", "type": "button"}],
    }
    assert bot.client.interaction(payload).status_code == 200
    told = bot.slack.wait_for("chat.postEphemeral")[0]
    assert "does not name a request" in told.args["text"]


def test_an_unsigned_body_never_reaches_the_log(bot: Bot, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    body = b"command=%2Fsms&text=MARKER\n2026-01-01 INFO forged: admin granted" + b"y" * 10_000
    assert httpx.post(bot.client.url, content=body).status_code == 401
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "MARKER" not in logged and "forged" not in logged
    assert "without a valid Slack signature (10" in logged


def _stall(port: int) -> socket.socket:
    """A connection that announces a body and never finishes sending it."""
    conn = socket.create_connection(("127.0.0.1", port))
    conn.sendall(
        b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-"
        b"urlencoded\r\nContent-Length: 1000\r\n\r\ncommand=%2F"
    )
    return conn


def test_two_hundred_stalled_connections_do_not_stop_the_bot(bot: Bot) -> None:
    port = int(bot.base.rsplit(":", 1)[1])
    stalled = [_stall(port) for _ in range(200)]
    try:
        started = time.monotonic()
        assert httpx.get(f"{bot.base}/healthz", timeout=5).status_code == 200
        assert "/sms status" in bot.client.command("help", user="U0X").text
        assert time.monotonic() - started < 5
    finally:
        for conn in stalled:
            conn.close()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_an_idle_server_uses_no_cpu(tmp_path: Path) -> None:
    with serve_http(f"sqlite:///{tmp_path / 'idle.db'}", SECRET) as (proc, port, _):
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
        before, started = _cpu_seconds(proc.pid), time.monotonic()
        time.sleep(3)  # measuring idleness: the interval is the measurement, not a wait
        used = _cpu_seconds(proc.pid) - before
        share = used / (time.monotonic() - started)
    assert share < 0.05, f"idle serve used {share:.0%} of a core"


def test_signed_json_and_form_bodies_still_work(bot: Bot) -> None:
    empty = interaction_body({"type": "block_actions", "actions": [], "user": {"id": "U0X"}})
    assert bot.client.post(empty).status_code == 400  # Slack never sends one: Bolt would crash
    raw = json.dumps({"type": "url_verification", "challenge": "c"}).encode()
    headers = signed_headers(SECRET, raw) | {"Content-Type": "application/json"}
    answer = httpx.post(bot.client.url, content=raw, headers=headers)
    assert answer.status_code == 200 and answer.json()["challenge"] == "c"
