"""The Slack front end over real HTTP: the app in HTTP mode on 127.0.0.1, a Slack Web API stand-in
that records calls, the sandbox portal, and correctly signed (or forged) requests."""

from __future__ import annotations

import io
import json
import re
import time

import httpx
import pytest

from bot.store import audit
from bot.store.inventory import import_csv
from bot.store.models import SmsRequest
from tests.support.bot import Bot, values
from tests.support.signing import SlackClient
from tests.support.slack_api import Call

MANX = "89440000000000000010"
SENDER = "U0SENDER"


# ---- request signing -----------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["forged", "unsigned", "stale"])
def test_badly_signed_requests_get_401_and_nothing_happens(bot: Bot, case: str) -> None:
    body = b"command=%2Fsms&text=&user_id=U0X&channel_id=C0NOC&trigger_id=T.1&team_id=T0001"
    if case == "forged":
        response = SlackClient(bot.client.url, "not-the-secret").post(body)
    elif case == "unsigned":
        response = httpx.post(
            bot.client.url,
            content=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    else:
        response = bot.client.post(body, timestamp=time.time() - 6 * 60)
    assert response.status_code == 401
    assert bot.slack.calls("views.open") == []
    assert bot.events() == []


# ---- /sms ---------------------------------------------------------------------------------------
def test_sms_opens_the_send_modal_with_the_spec_ids(bot: Bot) -> None:
    call = bot.open_modal()
    view = call.args["view"]
    assert view["callback_id"] == "send_sms"
    inputs = {
        b["block_id"]: b["element"]["action_id"] for b in view["blocks"] if b["type"] == "input"
    }
    for name in ("iccid", "message_text", "data_coding", "origin", "sms_uid"):
        assert inputs[name] == name
    coding = next(b for b in view["blocks"] if b["block_id"] == "data_coding")["element"]
    assert [o["value"] for o in coding["options"]] == ["default", "binary"]


def test_prefilled_modal_unescapes_slack_markup(bot: Bot) -> None:
    with bot.runtime.db.session() as session:
        import_csv(
            session, io.StringIO(f"iccid,label,sim_type\n{MANX},pump 7,Manx Telecom\n"), "cli:test"
        )
    call = bot.open_modal("8944 0000 0000 0000 0010 reset &lt;now&gt; &amp; <https://x.io|x.io>")
    blocks = {b["block_id"]: b for b in call.args["view"]["blocks"]}
    assert blocks["iccid"]["element"]["initial_option"]["value"] == MANX
    assert blocks["message_text"]["element"]["initial_value"] == "reset <now> & x.io"
    assert "pump 7" in blocks["sim_info"]["elements"][0]["text"]
    assert "Manx Telecom" in blocks["sim_info"]["elements"][0]["text"]
    assert blocks["counter"]["elements"][0]["text"].startswith("18/160")


def test_help_and_unknown_subcommands_answer_in_the_ack(bot: Bot) -> None:
    help_response = bot.client.command("help", user=SENDER)
    assert help_response.status_code == 200 and "/sms status" in help_response.text
    unknown = bot.client.command("frobnicate now", user=SENDER)
    assert "Unknown subcommand `frobnicate`" in unknown.text and "/sms status" in unknown.text
    assert bot.slack.calls("views.open") == []


# ---- the whole flow ---------------------------------------------------------------------------
def test_command_modal_errors_submit_portal_thread_audit(bot: Bot) -> None:
    bot.grant(SENDER)
    modal = bot.open_modal()

    # field errors come back in the ack, on the right block, and nothing is sent
    response = bot.submit(modal, values(text="x" * 158 + "€["))
    assert response.status_code == 200
    body = response.json()
    assert body["response_action"] == "errors"
    assert "162/160 — `€` and `[` count as two" in body["errors"]["message_text"]
    assert bot.portal_sends == []

    # fixed: the modal closes, the request is posted, sent, and answered in its thread
    response = bot.submit(modal, values(text="reset <modem> & ]]>"))
    assert response.status_code == 200 and response.text == ""
    parent = bot.slack.wait_for("chat.postMessage", lambda c: "thread_ts" not in c.args)[0]
    assert parent.args["channel"] == "C0NOC"
    assert "`894400…0010`" in json.dumps(parent.args["blocks"], ensure_ascii=False)
    reply = bot.slack.wait_for("chat.postMessage", lambda c: "thread_ts" in c.args)[0]
    assert reply.args["channel"] == "C0NOC"
    assert "Accepted by the portal" in reply.args["text"]
    assert "sandbox: nothing was sent" in reply.args["text"]
    update = bot.slack.wait_for("chat.update")[0]
    assert update.args["ts"] == reply.args["thread_ts"]
    assert "accepted by the portal" in json.dumps(update.args["blocks"])

    (xml,) = bot.portal_sends
    assert xml.findtext("message_text") == "reset <modem> & ]]>"
    with bot.runtime.db.session() as session:
        req = session.query(SmsRequest).one()
        assert req.source == "slack" and req.state == "accepted"
        assert (req.slack_channel, req.slack_ts) == ("C0NOC", reply.args["thread_ts"])
        assert f"audit #{audit.query(session)[-1].seq}" in reply.args["text"]
        assert f"`{req.sms_uid}`" in reply.args["text"]
    assert bot.events() == ["invalid", "requested", "sending", "sent"]


def test_warnings_are_confirmed_in_the_modal_before_sending(bot: Bot) -> None:
    bot.grant(SENDER)
    modal = bot.open_modal()
    luhn_bad = "89440000000000000011"
    first = bot.submit(modal, values(iccid=luhn_bad)).json()
    assert first["response_action"] == "update"
    shown = {b["block_id"]: b for b in first["view"]["blocks"]}
    assert "Luhn" in shown["warnings"]["text"]["text"]
    assert shown["iccid"]["element"]["initial_option"]["value"] == luhn_bad  # nothing is lost
    second = bot.submit(modal, values(iccid=luhn_bad, confirm=False), view=first["view"]).json()
    assert second["response_action"] == "errors" and "confirm" in second["errors"]
    assert bot.portal_sends == []
    third = bot.submit(modal, values(iccid=luhn_bad, confirm=True), view=first["view"])
    assert third.status_code == 200 and third.text == ""
    reply = bot.slack.wait_for("chat.postMessage", lambda c: "thread_ts" in c.args)[0]
    assert "Rejected by the portal" in reply.args["text"]  # the sandbox does not know that SIM
    assert len(bot.portal_sends) == 1


def test_replacement_is_offered_then_confirmed(bot: Bot) -> None:
    bot.grant(SENDER)
    modal = bot.open_modal()
    refused = bot.submit(modal, values(text="Let’s go")).json()
    assert "use `'`" in refused["errors"]["message_text"]
    update = bot.submit(modal, values(text="Let’s go", replace=True)).json()
    assert update["response_action"] == "update"
    assert "Replaced `’` → `'`" in json.dumps(update["view"], ensure_ascii=False)
    bot.submit(modal, values(text="Let’s go", replace=True, confirm=True), view=update["view"])
    bot.slack.wait_for("chat.postMessage", lambda c: "thread_ts" in c.args)
    assert bot.portal_sends[0].findtext("message_text") == "Let's go"


def test_unauthorized_user_is_refused_on_the_form_and_audited(bot: Bot) -> None:
    modal = bot.open_modal(user="U0STRANGER")
    body = bot.submit(modal, values(), user="U0STRANGER").json()
    assert body["response_action"] == "errors"
    assert "no `sender` grant" in body["errors"]["iccid"]
    assert "<@UADMIN>" in body["errors"]["iccid"]
    assert bot.events() == ["denied"]
    assert bot.portal_sends == []


def test_user_group_grant_lets_members_send(bot: Bot) -> None:
    bot.grant("S0OPS")
    bot.slack.state.usergroups["S0OPS"] = ["U0MEMBER"]
    modal = bot.open_modal(user="U0MEMBER")
    assert bot.submit(modal, values(), user="U0MEMBER").text == ""
    bot.slack.wait_for("chat.postMessage", lambda c: "thread_ts" in c.args)
    assert len(bot.portal_sends) == 1
    assert bot.slack.calls("usergroups.users.list")[0].args["usergroup"] == "S0OPS"
    # The form's check (before the ack) uses the cache; the send itself asks Slack again, so a
    # removal counts at once: submit (1), send (2), second submit from the cache, send (3).
    second = bot.open_modal(user="U0MEMBER")
    assert bot.submit(second, values(), user="U0MEMBER").text == ""
    bot.slack.wait_for("chat.postMessage", lambda c: "thread_ts" in c.args, count=2)
    assert len(bot.slack.calls("usergroups.users.list")) == 3
    outsider = bot.submit(bot.open_modal(user="U0OUTSIDER"), values(), user="U0OUTSIDER")
    assert "no `sender` grant" in outsider.json()["errors"]["iccid"]


def test_channel_the_bot_cannot_post_in_falls_back_to_a_dm(bot: Bot) -> None:
    bot.grant(SENDER)
    bot.slack.state.not_in_channel.add("C0PRIVATE")
    modal = bot.open_modal(channel="C0PRIVATE")
    bot.submit(modal, values())
    reply = bot.slack.wait_for("chat.postMessage", lambda c: "thread_ts" in c.args)[0]
    assert reply.args["channel"] == "D0SENDER"
    assert "Accepted" in reply.args["text"]
    assert bot.slack.calls("conversations.open")[0].args["users"] == SENDER


def test_double_submit_and_slack_retries_send_once(bot: Bot) -> None:
    bot.grant(SENDER)
    modal = bot.open_modal()
    for headers in ({}, {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}, {}):
        assert bot.submit(modal, values(), extra_headers=headers).status_code == 200
    bot.slack.wait_for("chat.update")
    with bot.runtime.db.session() as session:
        assert session.query(SmsRequest).count() == 1
    assert len(bot.portal_sends) == 1
    assert bot.events().count("duplicate") == 2
    parents = [c for c in bot.slack.calls("chat.postMessage") if "thread_ts" not in c.args]
    assert len(parents) == 1


def test_typing_an_iccid_shows_the_sim(bot: Bot) -> None:
    with bot.runtime.db.session() as session:
        import_csv(
            session, io.StringIO(f"iccid,label,sim_type\n{MANX},pump 7,Manx Telecom\n"), "cli:test"
        )
    modal = bot.open_modal()
    opened = modal.answer["view"]
    view = {
        **modal.args["view"],
        "id": opened["id"],
        "hash": opened["hash"],
        "state": {"values": values(text="€€")},
    }
    payload = {
        "type": "block_actions",
        "user": {"id": SENDER},
        "team": {"id": "T0001"},
        "api_app_id": "A0001",
        "trigger_id": "T.2",
        "container": {"type": "view"},
        "view": view,
        "actions": [
            {"action_id": "iccid", "block_id": "iccid", "type": "plain_text_input", "value": MANX}
        ],
    }
    assert bot.client.interaction(payload).status_code == 200
    update = bot.slack.wait_for("views.update")[0]
    shown = {b["block_id"]: b for b in update.args["view"]["blocks"]}
    assert "pump 7" in shown["sim_info"]["elements"][0]["text"]
    assert shown["counter"]["elements"][0]["text"].startswith("4/160")
    assert update.args["hash"] == opened["hash"]
    # Typing on with the hash of the view before that update: Slack refuses it as stale
    # (hash_conflict), and the bot leaves the newer form alone, quietly.
    assert bot.client.interaction(payload).status_code == 200
    stale = bot.slack.wait_for("views.update", refused=True)[0]
    assert stale.answer["error"] == "hash_conflict"


# ---- subcommands -----------------------------------------------------------------------------
def responses(bot: Bot, count: int = 1) -> list[Call]:
    return bot.slack.wait_for("response/r1", count=count)


def test_admin_grant_revoke_and_refusal_for_others(bot: Bot) -> None:
    url = bot.slack.response_url("r1")
    bot.client.command(
        "grant <@U0BOB|bob> 8944* sender approval expires 30d", user="UADMIN", response_url=url
    )
    text = responses(bot)[0].args["text"]
    assert "Grant #1" in text and "<@U0BOB>" in text and "approval required" in text
    bot.client.command("grants", user="UADMIN", response_url=url)
    assert "#1" in responses(bot, 2)[1].args["text"]
    bot.client.command("revoke 1", user="UADMIN", response_url=url)
    assert "revoked" in responses(bot, 3)[2].args["text"]
    bot.client.command("grant <@U0EVE|eve> * admin", user="U0BOB", response_url=url)
    refusal = responses(bot, 4)[3].args["text"]
    assert "needs the `admin` role" in refusal
    assert responses(bot, 4)[3].args.get("response_type") == "ephemeral"
    with bot.runtime.db.session() as session:
        denied = [r for r in audit.query(session) if r.event == "denied"]
    assert denied and denied[0].actor == "U0BOB"


def test_bad_grant_subject_is_explained_and_audited(bot: Bot) -> None:
    url = bot.slack.response_url("r1")
    bot.client.command("grant bob * sender", user="UADMIN", response_url=url)
    assert "not a Slack user" in responses(bot)[0].args["text"]
    with bot.runtime.db.session() as session:
        assert [r.event for r in audit.query(session)] == ["grant_refused"]


def test_audit_and_status_for_auditors(bot: Bot) -> None:
    bot.grant(SENDER)
    bot.grant("U0AUDIT", role="auditor")
    modal = bot.open_modal()
    bot.submit(modal, values())
    bot.slack.wait_for("chat.update")
    url = bot.slack.response_url("r1")
    bot.client.command(f"audit {MANX}", user="U0AUDIT", response_url=url)
    text = responses(bot)[0].args["text"]
    assert "*requested*" in text and "*sent*" in text
    bot.client.command(f"status {MANX}", user="U0AUDIT", response_url=url)
    status = responses(bot, 2)[1].args["text"]
    assert "accepted by the portal" in status and "Portal SMS log" in status
    # the request is found in the portal's log by its sms_uid
    assert re.search(r"sms_uid `\w{12}` · portal log: \*(pending|delivered)\*", status)
    bot.client.command("audit", user=SENDER, response_url=url)
    assert "needs the `auditor` role" in responses(bot, 3)[2].args["text"]


# ---- HTTP endpoints ----------------------------------------------------------------------------
def test_healthz_and_metrics(bot: Bot) -> None:
    health = httpx.get(f"{bot.base}/healthz")
    assert health.status_code == 200 and health.json()["ok"] is True
    metrics = httpx.get(f"{bot.base}/metrics")
    assert metrics.status_code == 200 and "smsbot_submissions_total" in metrics.text


def test_delivery_receipt_updates_the_thread_once(bot: Bot) -> None:
    bot.grant(SENDER)
    bot.submit(bot.open_modal(), values(uid="TRACE42"))
    bot.slack.wait_for("chat.update")
    receipt = (
        b'<post_delivery_receipt version="1" api_did="0000061029"><passphrase>receipt-pass'
        b"</passphrase><iccid>" + MANX.encode() + b"</iccid><msisdn>447890000000</msisdn>"
        b"<sms_uid>TRACE42</sms_uid><status>delivered</status></post_delivery_receipt>"
    )
    for _ in range(2):  # the portal may push the same item twice
        response = httpx.post(
            f"{bot.base}/portal/receipts", content=receipt, headers={"Content-Type": "text/xml"}
        )
        assert response.status_code == 200
    shown = bot.slack.wait_for("chat.postMessage", lambda c: "Delivered" in c.args.get("text", ""))[
        0
    ]
    assert "s after sending" in shown.args["text"] and "thread_ts" in shown.args
    assert bot.events().count("delivered") == 1
    forged = receipt.replace(b"receipt-pass", b"guess")
    assert httpx.post(f"{bot.base}/portal/receipts", content=forged).status_code == 403


def test_device_reply_lands_in_the_thread_once(bot: Bot) -> None:
    bot.grant(SENDER)
    bot.submit(bot.open_modal(), values(text="status?"))
    bot.slack.wait_for("chat.update")
    reply = (
        b'<post_sms version="1" api_did="0000061028"><passphrase>receipt-pass</passphrase>'
        b"<iccid>" + MANX.encode() + b"</iccid><msisdn>447890000000</msisdn>"
        b"<timestamp>09/10/2014 16:28:15</timestamp>"
        b"<message_text>current status de-activated</message_text></post_sms>"
    )
    for _ in range(2):  # pushed twice, shown once
        response = httpx.post(
            f"{bot.base}/portal/receipts", content=reply, headers={"Content-Type": "text/xml"}
        )
        assert response.status_code == 200
    shown = bot.slack.wait_for(
        "chat.postMessage", lambda c: "Reply from the device" in c.args.get("text", "")
    )[0]
    assert "> current status de-activated" in shown.args["text"] and "thread_ts" in shown.args
    assert bot.events().count("reply_received") == 1


def test_a_confirmation_covers_only_the_warnings_it_was_given_for(bot: Bot) -> None:
    bot.grant(SENDER)
    modal = bot.open_modal()
    sim_a, sim_b = "89440000000000000011", "89440000000000000029"  # both fail Luhn
    first = bot.submit(modal, values(iccid=sim_a)).json()
    view_a = first["view"]
    # The user ticks the box for SIM A, then changes the ICCID to SIM B and an origin.
    switched = bot.submit(
        modal, values(iccid=sim_b, origin="447890123456", confirm=True), view=view_a
    ).json()
    assert switched["response_action"] == "update", "SIM B's warnings were never shown"
    assert bot.portal_sends == []
    box_a = next(b for b in view_a["blocks"] if b["block_id"] == "confirm")
    box_b = next(b for b in switched["view"]["blocks"] if b["block_id"] == "confirm")
    assert box_a["element"]["options"][0]["value"] != box_b["element"]["options"][0]["value"]
    done = bot.submit(
        modal, values(iccid=sim_b, origin="447890123456", confirm=True), view=switched["view"]
    )
    assert done.text == ""
    bot.slack.wait_for("chat.postMessage", lambda c: "thread_ts" in c.args)
    assert [s.findtext("iccid") for s in bot.portal_sends] == [sim_b]
