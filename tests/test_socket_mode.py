"""Socket Mode end to end: `smsbot serve` as a real process with an app-level token, connected to a
local server that speaks Slack's Socket Mode protocol; the Web API is the strict stand-in."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.store.db import Database
from bot.store.grants import create_grant
from tests.support import slack_rules
from tests.support.bot import submission, values
from tests.support.serve import start_serve
from tests.support.signing import command_fields
from tests.support.slack_api import SlackStandIn
from tests.support.socket_mode import SocketModeServer
from tests.test_sim_names import suggestion

SENDER, APPROVER = "U0SENDER", "U0APPROVER"
ACK_DEADLINE = 3.0  # Slack shows the user an error when an envelope is not acked within 3 s


@dataclass
class SocketBot:
    proc: subprocess.Popen[str]
    base: str
    slack: SlackStandIn
    socket: SocketModeServer

    def command(self, text: str, user: str = SENDER, **kw: Any) -> float:
        """Send `/sms text` as a slash_commands envelope; the seconds until it was acked."""
        envelope = self.socket.send(
            "slash_commands", command_fields(text, user=user, channel="C0NOC", **kw), True
        )
        return self.socket.wait_ack(envelope).seconds

    def interactive(self, payload: dict[str, Any]) -> float:
        envelope = self.socket.send("interactive", payload, True)
        return self.socket.wait_ack(envelope).seconds


def _env(db_url: str, slack: SlackStandIn, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": db_url,
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_APP_TOKEN": "xapp-1-test",
        "SLACK_API_URL": slack.url,
        "SMSBOT_ADMINS": "UADMIN",
        "SMSBOT_APPROVAL_CHANNEL": "C0APPROVE",
        "SMSBOT_SOCKET_GRACE_SECONDS": "2",
        **extra,
    }


@pytest.fixture
def socket_bot(db_url: str) -> Iterator[SocketBot]:
    db = Database(db_url)
    with db.session() as session:
        create_grant(session, subject=SENDER, scope="*", role="sender", actor="UADMIN")
        create_grant(
            session,
            subject="U0CAREFUL",
            scope="*",
            role="sender",
            actor="UADMIN",
            approval_required=True,
        )
        create_grant(session, subject=APPROVER, scope="*", role="approver", actor="UADMIN")
    db.dispose()
    socket = SocketModeServer().start()
    slack = SlackStandIn(socket=socket).start()
    proc, port = start_serve(_env(db_url, slack))
    try:
        yield SocketBot(proc, f"http://127.0.0.1:{port}", slack, socket)
        assert slack.payload_refusals() == []
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        slack.stop()
        socket.stop()


def _submission(view_call: Any, user: str = SENDER, **kw: Any) -> dict[str, Any]:
    return submission(view_call.args["view"], view_call.answer["view"]["id"], values(**kw), user)


def test_command_modal_submission_thread_over_the_socket(socket_bot: SocketBot) -> None:
    assert socket_bot.command("8944 0000 0000 0000 0010 reset modem") < ACK_DEADLINE
    opened = socket_bot.slack.wait_for("views.open")[0]
    assert opened.args["view"]["callback_id"] == "send_sms"
    assert socket_bot.interactive(_submission(opened)) < ACK_DEADLINE
    reply = socket_bot.slack.wait_for(
        "chat.postMessage", lambda c: "Accepted by the portal" in c.args.get("text", "")
    )[0]
    assert reply.args["channel"] == "C0NOC" and reply.args["thread_ts"]


def test_field_errors_come_back_in_the_ack_payload(socket_bot: SocketBot) -> None:
    socket_bot.command("")
    opened = socket_bot.slack.wait_for("views.open")[0]
    envelope = socket_bot.socket.send("interactive", _submission(opened, iccid="12"), True)
    ack = socket_bot.socket.wait_ack(envelope)
    assert ack.payload is not None and ack.payload["response_action"] == "errors"
    assert "iccid" in ack.payload["errors"]


def test_approval_click_over_the_socket(socket_bot: SocketBot) -> None:
    socket_bot.command("", user="U0CAREFUL")
    opened = socket_bot.slack.wait_for("views.open")[0]
    socket_bot.interactive(_submission(opened, user="U0CAREFUL"))
    asked = socket_bot.slack.wait_for(
        "chat.postMessage", lambda c: c.args["channel"] == "C0APPROVE"
    )[0]
    buttons = next(b for b in asked.args["blocks"] if b["block_id"] == "approval_buttons")
    request_id = buttons["elements"][0]["value"]
    click = {
        "type": "block_actions",
        "team": {"id": "T0001", "domain": "x"},
        "user": {"id": APPROVER, "username": "approver", "team_id": "T0001"},
        "api_app_id": "A0001",
        "trigger_id": "T.click",
        "channel": {"id": "C0APPROVE", "name": "approvals"},
        "container": {"type": "message", "message_ts": asked.answer["ts"]},
        "message": {"ts": asked.answer["ts"], "text": "x"},
        "response_url": socket_bot.slack.response_url("click"),
        "actions": [
            {
                "type": "button",
                "action_id": "approve_request",
                "block_id": "approval_buttons",
                "value": request_id,
                "action_ts": "1.2",
            }
        ],
    }
    assert socket_bot.interactive(click) < ACK_DEADLINE
    socket_bot.slack.wait_for(
        "chat.postMessage", lambda c: "Accepted by the portal" in c.args.get("text", "")
    )


@pytest.mark.parametrize("how", ["refresh_requested", "dropped"])
def test_reconnects_and_the_next_envelope_is_acked_in_time(socket_bot: SocketBot, how: str) -> None:
    socket_bot.socket.wait_connected(1)
    assert socket_bot.command("help") < ACK_DEADLINE  # settled on its connection
    before = socket_bot.socket.connects
    if how == "refresh_requested":
        socket_bot.socket.request_refresh()
    else:
        socket_bot.socket.drop()
    socket_bot.socket.wait_connected(before + 1)  # a new connection, opened by the client
    seconds = socket_bot.command("help")
    assert seconds < 2.0, f"first envelope after reconnecting acked in {seconds:.2f} s"


def test_no_slack_route_over_http_and_healthz_follows_the_socket(socket_bot: SocketBot) -> None:
    events = httpx.post(f"{socket_bot.base}/slack/events", content=b"command=%2Fsms&text=help")
    assert events.status_code == 404
    deadline = time.monotonic() + 30
    while (health := httpx.get(f"{socket_bot.base}/healthz")).json()["socket"] != "connected":
        assert time.monotonic() < deadline, health.json()
        time.sleep(0.05)
    assert health.status_code == 200
    socket_bot.socket.stop()  # Slack unreachable: no reconnect can succeed
    deadline = time.monotonic() + 30
    while (health := httpx.get(f"{socket_bot.base}/healthz")).status_code != 503:
        assert time.monotonic() < deadline, health.json()
        time.sleep(0.1)
    assert health.json()["socket"].startswith("disconnected")


def _serve_once(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    full = {
        "PATH": "/usr/bin:/bin",
        "HOST": "127.0.0.1",
        "PORT": "0",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "bot", "serve"], env=full, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("xapp-1-revoked", "SLACK_APP_TOKEN: Slack refused it (invalid_auth)"),
        ("xoxb-not-an-app-token", "SLACK_APP_TOKEN: must be an app-level token"),
    ],
)
def test_a_refused_app_token_is_one_line_exit_2(tmp_path: Path, token: str, expected: str) -> None:
    socket = SocketModeServer().start()
    slack = SlackStandIn(socket=socket).start()
    slack.state.bad_tokens.add("xapp-1-revoked")
    try:
        done = _serve_once(
            {"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_APP_TOKEN": token, "SLACK_API_URL": slack.url},
            tmp_path,
        )
    finally:
        slack.stop()
        socket.stop()
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith(f"smsbot: {expected}")
    assert "Traceback" not in done.stderr


def test_a_refused_bot_token_is_one_line_exit_2(tmp_path: Path) -> None:
    slack = SlackStandIn().start()
    slack.state.bad_tokens.add("xoxb-revoked")
    try:
        done = _serve_once(
            {
                "SLACK_BOT_TOKEN": "xoxb-revoked",
                "SLACK_SIGNING_SECRET": "s",
                "SLACK_API_URL": slack.url,
            },
            tmp_path,
        )
    finally:
        slack.stop()
    assert done.returncode == 2 and "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("smsbot: SLACK_BOT_TOKEN: auth.test") and "invalid_auth" in last


def test_http_mode_refuses_to_start_without_a_signing_secret(tmp_path: Path) -> None:
    slack = SlackStandIn().start()
    try:
        done = _serve_once({"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_API_URL": slack.url}, tmp_path)
    finally:
        slack.stop()
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("smsbot: SLACK_SIGNING_SECRET: required")


def test_sigterm_closes_the_socket_and_exits_0(socket_bot: SocketBot) -> None:
    socket_bot.socket.wait_connected(1)
    assert socket_bot.command("help") < ACK_DEADLINE
    socket_bot.proc.send_signal(signal.SIGTERM)
    assert socket_bot.proc.wait(timeout=15) == 0
    deadline = time.monotonic() + 10
    while socket_bot.socket.open_connections():
        assert time.monotonic() < deadline, "the Socket Mode connection stayed open"
        time.sleep(0.02)


def test_the_sim_picker_is_answered_over_the_socket(socket_bot: SocketBot) -> None:
    socket_bot.command("")
    opened = socket_bot.slack.wait_for("views.open")[0]
    view = {**opened.args["view"], "id": opened.answer["view"]["id"]}
    typed = "8944 0000 0000 0000 0010"
    envelope = socket_bot.socket.send("interactive", suggestion(view, typed, "U0CAREFUL"), True)
    ack = socket_bot.socket.wait_ack(envelope)
    assert ack.seconds < ACK_DEADLINE
    assert ack.payload is not None and slack_rules.check_options_ack(ack.payload) == []
    assert [o["value"] for o in ack.payload["options"]] == ["89440000000000000010"]
