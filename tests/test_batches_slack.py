"""Fleet sends from Slack, over real HTTP against the Slack stand-in, on both databases:
`/sms fleet` → the form → the SIM count confirmed → one approval message for the batch → each
SIM sent once → progress on the batch's message → a summary and a CSV in its thread; Stop."""

from __future__ import annotations

import csv
import io
from typing import Any

from sqlalchemy import select

from bot.store.grants import create_grant
from bot.store.inventory import import_csv, set_group_policy
from bot.store.models import SmsBatch, SmsRequest
from tests.support.bot import Bot, button_click, running_bot, submission
from tests.support.slack_api import Call
from tests.test_batches import FLEET, GATE, SENDABLE


def _setup(bot: Bot) -> None:
    with bot.runtime.db.session() as session:
        import_csv(session, io.StringIO(FLEET), "cli:test")
        set_group_policy(session, "pumps", actor="UADMIN", approval_required=True)
        create_grant(
            session, subject="U0SENDER", scope="group:pumps", role="sender", actor="UADMIN"
        )
        create_grant(session, subject="U0BOSS", scope="group:pumps", role="approver",
                     actor="UADMIN")  # fmt: skip


def _state(group: str, text: str, confirm: str | None = None) -> dict[str, Any]:
    state: dict[str, Any] = {
        "batch_group": {
            "batch_group": {"type": "static_select", "selected_option": {"value": group}}
        },
        "message_text": {"message_text": {"type": "plain_text_input", "value": text}},
        "data_coding": {
            "data_coding": {"type": "static_select", "selected_option": {"value": "default"}}
        },
    }
    if confirm is not None:
        state["batch_confirm"] = {
            "batch_confirm": {"type": "checkboxes", "selected_options": [{"value": confirm}]}
        }
    return state


def _click(bot: Bot, action: str, batch_id: int, user: str, channel: str, ts: str) -> None:
    payload = button_click(action, batch_id, user, channel, block_id="b", message_ts=ts)
    assert bot.client.interaction(payload).status_code == 200


def _batches(bot: Bot) -> list[SmsBatch]:
    with bot.runtime.db.read() as session:
        return list(session.execute(select(SmsBatch)).scalars())


def test_a_fleet_send_from_slack_end_to_end(db_url: str) -> None:
    with running_bot(db_url, SMSBOT_BATCH_CONCURRENCY="2") as bot:
        _setup(bot)
        bot.client.command("fleet pumps reset modem", user="U0SENDER")
        opened = bot.slack.wait_for("views.open")[0]
        view = {**opened.args["view"], "id": opened.answer["view"]["id"]}
        assert view["callback_id"] == "send_batch"
        shown = {b["block_id"]: b for b in view["blocks"]}
        assert shown["batch_group"]["element"]["initial_option"]["value"] == "pumps"
        assert shown["message_text"]["element"]["initial_value"] == "reset modem"
        # First submit: the core counts the SIMs and asks for exactly that count; nothing yet.
        first = bot.client.interaction(
            submission(view, view["id"], _state("pumps", "reset modem"), "U0SENDER")
        ).json()
        assert first["response_action"] == "update"
        preview = {b["block_id"]: b for b in first["view"]["blocks"]}
        assert "*4 SIM(s)*" in preview["fleet_preview"]["text"]["text"]
        assert GATE in preview["fleet_preview"]["text"]["text"]
        assert _batches(bot) == []
        # A stale count (the group changed since) is asked again; the shown count is sent.
        stale = bot.client.interaction(
            submission(first["view"], view["id"], _state("pumps", "reset modem", "5"), "U0SENDER")
        ).json()
        assert stale["response_action"] == "update" and _batches(bot) == []
        done = bot.client.interaction(
            submission(first["view"], view["id"], _state("pumps", "reset modem", "4"), "U0SENDER")
        )
        assert done.text == ""
        (batch,) = _batches(bot)
        assert batch.state == "awaiting_approval" and batch.members == 4
        # One message for the batch in the channel, one approval message for all four SIMs.
        parent = bot.slack.wait_for(
            "chat.postMessage", lambda c: "Fleet send #1" in c.args.get("text", "")
        )[0]
        assert parent.args["channel"] == "C0NOC"
        asked = bot.slack.wait_for("chat.postMessage", lambda c: c.args["channel"] == "C0APPROVE")[
            0
        ]
        buttons = next(b for b in asked.args["blocks"] if b["block_id"] == "batch_approval_buttons")
        assert [e["action_id"] for e in buttons["elements"]] == ["approve_batch", "reject_batch"]
        assert bot.portal_sends == []
        # The requester cannot approve their own batch; an approver can, once for all.
        _click(bot, "approve_batch", batch.id, "U0SENDER", "C0APPROVE", asked.answer["ts"])
        refused = bot.slack.wait_for(
            "chat.postEphemeral", lambda c: "your own batch" in c.args.get("text", "")
        )
        assert refused
        _click(bot, "approve_batch", batch.id, "U0BOSS", "C0APPROVE", asked.answer["ts"])
        uploaded = _wait_upload(bot)
        table = list(csv.DictReader(io.StringIO(uploaded["data"].decode())))
        assert {r["iccid"]: r["state"] for r in table} == {
            **dict.fromkeys(SENDABLE, "accepted"),
            GATE: "skipped",
        }
        assert uploaded["shared"]["channel"] == "C0NOC"
        assert uploaded["shared"]["thread_ts"] == parent.answer["ts"]
        assert "finished" in uploaded["shared"]["initial_comment"]
        assert "4 accepted" in uploaded["shared"]["initial_comment"]
        # Each SIM once; no thread of its own per SIM; the approval message closed.
        assert sorted(x.findtext("iccid") for x in bot.portal_sends) == sorted(SENDABLE)
        posted = [c.args.get("text", "") for c in bot.slack.calls("chat.postMessage")]
        assert not any(t.startswith("SMS request #") for t in posted)
        closed = bot.slack.wait_for("chat.update", lambda c: c.args["channel"] == "C0APPROVE")[0]
        assert "Approved by <@U0BOSS>" in closed.args["text"]
        final = bot.slack.wait_for(
            "chat.update",
            lambda c: c.args["channel"] == "C0NOC" and ":checkered_flag: done" in str(c.args),
        )[0]
        assert "*4/4* done" in str(final.args["blocks"])
        with bot.runtime.db.read() as session:
            states = session.execute(select(SmsRequest.state)).scalars().all()
        assert sorted(states) == ["accepted"] * 4


def _wait_upload(bot: Bot) -> dict[str, Any]:
    bot.slack.wait_for("files.completeUploadExternal", timeout=30)
    (uploaded,) = bot.slack.uploaded()
    return uploaded


def test_a_fleet_send_stopped_from_slack_sends_nothing(bot: Bot) -> None:
    _setup(bot)
    bot.client.command("fleet", user="U0SENDER")
    opened = bot.slack.wait_for("views.open")[0]
    view = {**opened.args["view"], "id": opened.answer["view"]["id"]}
    assert (
        "initial_option" not in {b["block_id"]: b for b in view["blocks"]}["batch_group"]["element"]
    )
    state = _state("pumps", "APN=x", "4")
    assert bot.client.interaction(submission(view, view["id"], state, "U0SENDER")).text == ""
    parent = bot.slack.wait_for(
        "chat.postMessage", lambda c: "Fleet send #1" in c.args.get("text", "")
    )[0]
    stop = _stop_button(parent)
    assert stop["action_id"] == "stop_batch"
    _click(bot, "stop_batch", 1, "U0BOSS", "C0NOC", parent.answer["ts"])  # not theirs
    bot.slack.wait_for(
        "chat.postEphemeral", lambda c: "Only the requester or an admin" in c.args.get("text", "")
    )
    _click(bot, "stop_batch", 1, "U0SENDER", "C0NOC", parent.answer["ts"])
    bot.slack.wait_for(
        "chat.postMessage", lambda c: "Stopped by <@U0SENDER>" in c.args.get("text", "")
    )
    bot.slack.wait_for("files.completeUploadExternal", timeout=30)
    (batch,) = _batches(bot)
    assert batch.state == "stopped" and bot.portal_sends == []
    with bot.runtime.db.read() as session:
        assert set(session.execute(select(SmsRequest.state)).scalars()) == {"cancelled"}


def _stop_button(call: Call) -> dict[str, Any]:
    actions = next(b for b in call.args["blocks"] if b["block_id"] == "batch_actions")
    button: dict[str, Any] = actions["elements"][0]
    return button


def test_the_home_tab_shows_my_batches_and_batches_to_approve(bot: Bot) -> None:
    _setup(bot)
    for user in ("U0SENDER", "U0BOSS"):
        bot.client.event({"type": "app_home_opened", "user": user, "tab": "home"})
    bot.client.command("fleet pumps ping", user="U0SENDER")
    opened = bot.slack.wait_for("views.open")[0]
    view = {**opened.args["view"], "id": opened.answer["view"]["id"]}
    state = _state("pumps", "ping", "4")
    assert bot.client.interaction(submission(view, view["id"], state, "U0SENDER")).text == ""
    boss = bot.slack.wait_for(
        "views.publish",
        lambda c: c.args["user_id"] == "U0BOSS" and "approve_batch" in str(c.args["view"]),
    )[-1]
    assert "Fleet send #1" in str(boss.args["view"]) and "Approve all 4" in str(boss.args["view"])
    mine = bot.slack.wait_for(
        "views.publish",
        lambda c: c.args["user_id"] == "U0SENDER" and "Fleet send #1" in str(c.args["view"]),
    )[-1]
    # The batch's SIMs are not listed one by one among my requests.
    ids = [b["block_id"] for b in mine.args["view"]["blocks"]]
    assert "my_batch_1" in ids and not [i for i in ids if i.startswith("mine_") and i[5:].isdigit()]
