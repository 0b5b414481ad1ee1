"""Hostile text end to end, over real HTTP: an SMS text, a SIM label, a reject reason and a device
reply that try to ping, mention or hide a link are shown as literal text everywhere."""

from __future__ import annotations

import io
from typing import Any

import httpx

from bot.store.inventory import import_csv
from tests.support.bot import Bot, values
from tests.support.slack_api import Call
from tests.support.slack_display import message_controls, rich_texts
from tests.test_slack_approvals import click

SENDER, APPROVER = "U0SENDER", "U0APPROVER"
MANX = "89440000000000000010"
PHISH = "<https://evil.example/login|portal login> <!channel>"
LABEL = "pump 7 <!here> <@U0BOSS>"


def _controls(call: Call) -> list[str]:
    return message_controls(call.args.get("text", ""), call.args.get("blocks"))


def _allowed(controls: list[str]) -> bool:
    """Only mentions our templates put there: users and channels by id."""
    return all(c.startswith(("@U0SENDER", "@U0APPROVER", "#C0APPROVE")) for c in controls)


def test_hostile_text_is_literal_from_request_to_device_reply(bot: Bot) -> None:
    with bot.runtime.db.session() as session:
        import_csv(
            session, io.StringIO(f"iccid,label,sim_type\n{MANX},{LABEL},Manx Telecom\n"), "t"
        )
    bot.grant(SENDER, approval_required=True)
    bot.grant(APPROVER, role="approver")
    bot.submit(bot.open_modal(), values(text=PHISH))

    asked = bot.slack.wait_for("chat.postMessage", lambda c: c.args["channel"] == "C0APPROVE")[0]
    # The approver reads exactly what will be sent, and nothing from data is markup.
    assert rich_texts(asked.args["blocks"]) == [PHISH]
    assert _allowed(_controls(asked)), _controls(asked)
    parent = bot.slack.wait_for("chat.postMessage", lambda c: c.args["channel"] == "C0NOC")[0]
    assert rich_texts(parent.args["blocks"]) == [PHISH]
    assert _allowed(_controls(parent)), _controls(parent)

    request_id = next(b for b in asked.args["blocks"] if b["block_id"] == "approval_buttons")[
        "elements"
    ][0]["value"]
    click(bot.client, "reject_request", int(request_id), APPROVER)
    modal = bot.slack.wait_for(
        "views.open", lambda c: c.args["view"]["callback_id"] == "reject_request"
    )[0]
    reason = {"type": "plain_text_input", "value": "<!everyone> see <https://x.io|y>"}
    reject_view = {
        "type": "view_submission",
        "user": {"id": APPROVER, "team_id": "T0001"},
        "team": {"id": "T0001"},
        "api_app_id": "A0001",
        "trigger_id": "T.r",
        "view": {
            **modal.args["view"],
            "id": "V0REJ",
            "state": {"values": {"reason": {"reason": reason}}},
        },
    }
    assert bot.client.interaction(reject_view).status_code == 200
    decided = bot.slack.wait_for("chat.update", lambda c: c.args["channel"] == "C0APPROVE")[0]
    assert _allowed(_controls(decided)), _controls(decided)
    assert "&lt;!everyone&gt;" in decided.args["text"]

    reply = (
        b'<post_sms version="1"><passphrase>receipt-pass</passphrase>'
        b"<iccid>" + MANX.encode() + b"</iccid><timestamp>&lt;!here&gt;</timestamp>"
        b"<message_text>&lt;https://evil.example|click&gt; &lt;!channel&gt;</message_text>"
        b"</post_sms>"
    )
    assert httpx.post(f"{bot.base}/portal/receipts", content=reply).status_code == 200
    device = bot.slack.wait_for(
        "chat.postMessage", lambda c: "Reply from the device" in c.args.get("text", "")
    )[0]
    assert _controls(device) == []
    assert "&lt;https://evil.example|click&gt; &lt;!channel&gt;" in device.args["text"]
    every: list[Any] = bot.slack.calls("chat.postMessage") + bot.slack.calls("chat.update")
    assert all(_allowed(_controls(c)) for c in every)
