"""Team-channel approvals over real HTTP: Approve / Reject buttons, the reject-reason modal,
self-approval and non-approvers refused, expiry, and two bot processes racing on one database."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text, update

from bot.authz import Principal
from bot.portal.sandbox import SANDBOX_CREDENTIALS, SandboxServer
from bot.service import SendCommand, SendService
from bot.sms.message import Draft
from bot.store import audit
from bot.store.db import Database
from bot.store.grants import create_grant
from bot.store.inventory import import_csv, set_group_policy
from bot.store.models import SmsRequest
from tests.support.bot import SECRET, Bot, button_click, values
from tests.support.serve import start_serve
from tests.support.signing import SlackClient
from tests.support.slack_api import SlackStandIn

MANX = "89440000000000000010"
REQUESTER = "U0REQ"
APPROVER = "U0APP"


@pytest.fixture
def approval_bot(bot: Bot) -> Bot:
    bot.grant(REQUESTER, approval_required=True)
    bot.grant(APPROVER, role="approver")
    return bot


def click(
    client: SlackClient, action_id: str, request_id: int, user: str, channel: str = "C0APPROVE"
) -> None:
    """A signed click on an approval button, as Slack posts it."""
    payload = button_click(action_id, request_id, user, channel)
    response = client.interaction(payload)
    assert response.status_code == 200


def request_via_slack(bot: Bot, text: str = "reset modem") -> int:
    modal = bot.open_modal(user=REQUESTER)
    assert bot.submit(modal, values(text=text), user=REQUESTER).text == ""
    # the note in the requester's thread comes after the approval message is stored
    bot.slack.wait_for("chat.postMessage", lambda c: "Approval asked" in c.args.get("text", ""))
    with bot.runtime.db.session() as session:
        return session.query(SmsRequest).one().id


def test_approval_flow_end_to_end(approval_bot: Bot) -> None:
    bot = approval_bot
    rid = request_via_slack(bot, "reset <modem>")
    ask = bot.slack.wait_for("chat.postMessage", lambda c: c.args.get("channel") == "C0APPROVE")[0]
    shown = json.dumps(ask.args["blocks"], ensure_ascii=False)
    assert "reset <modem>" in shown and MANX in shown and f"<@{REQUESTER}>" in shown
    buttons = next(b for b in ask.args["blocks"] if b["block_id"] == "approval_buttons")
    assert [(e["action_id"], e["value"]) for e in buttons["elements"]] == [
        ("approve_request", str(rid)),
        ("reject_request", str(rid)),
    ]
    note = bot.slack.wait_for(
        "chat.postMessage", lambda c: "Approval asked in <#C0APPROVE>" in c.args.get("text", "")
    )
    assert note[0].args["channel"] == "C0NOC"  # in the requester's thread
    assert bot.portal_sends == []

    click(bot.client, "approve_request", rid, APPROVER)
    closed = bot.slack.wait_for("chat.update", lambda c: c.args.get("channel") == "C0APPROVE")[0]
    assert "Approved by <@U0APP>" in closed.args["text"]
    assert all(b["block_id"] != "approval_buttons" for b in closed.args["blocks"])
    outcome = bot.slack.wait_for(
        "chat.postMessage", lambda c: "Accepted by the portal" in c.args.get("text", "")
    )[0]
    assert outcome.args["channel"] == "C0NOC" and "approved by <@U0APP>" in outcome.args["text"]
    assert len(bot.portal_sends) == 1
    assert bot.events() == ["requested", "approval_requested", "approved", "sending", "sent"]


@pytest.mark.parametrize(
    ("clicker", "words"), [(REQUESTER, "your own request"), ("U0NOBODY", "`approver` role")]
)
def test_self_approval_and_non_approvers_are_refused(
    approval_bot: Bot, clicker: str, words: str
) -> None:
    bot = approval_bot
    bot.grant(REQUESTER, role="approver")  # even an approver cannot approve their own request
    rid = request_via_slack(bot)
    click(bot.client, "approve_request", rid, clicker)
    refusal = bot.slack.wait_for("chat.postEphemeral")[0]
    assert refusal.args["user"] == clicker and words in refusal.args["text"]
    assert bot.events()[-1] == "approver_refused"
    assert bot.portal_sends == []
    with bot.runtime.db.session() as session:
        assert session.get(SmsRequest, rid).state == "awaiting_approval"  # type: ignore[union-attr]


def test_reject_asks_for_a_reason(approval_bot: Bot) -> None:
    bot = approval_bot
    rid = request_via_slack(bot)
    click(bot.client, "reject_request", rid, APPROVER)
    modal = bot.slack.wait_for(
        "views.open", lambda c: c.args["view"]["callback_id"] == "reject_request"
    )[0]
    view = {
        **modal.args["view"],
        "id": "V0REJ",
        "state": {
            "values": {"reason": {"reason": {"type": "plain_text_input", "value": "wrong pump"}}}
        },
    }
    payload = {
        "type": "view_submission",
        "user": {"id": APPROVER},
        "team": {"id": "T0001"},
        "api_app_id": "A0001",
        "trigger_id": "T.r",
        "view": view,
    }
    assert bot.client.interaction(payload).status_code == 200
    closed = bot.slack.wait_for("chat.update", lambda c: c.args.get("channel") == "C0APPROVE")[0]
    assert "Rejected by <@U0APP>" in closed.args["text"] and "wrong pump" in closed.args["text"]
    bot.slack.wait_for(
        "chat.postMessage",
        lambda c: "Rejected by" in c.args.get("text", "") and c.args.get("channel") == "C0NOC",
    )
    assert bot.events()[-1] == "rejected"
    assert bot.portal_sends == []


def test_expired_request_says_so_and_cannot_be_approved(approval_bot: Bot) -> None:
    bot = approval_bot
    rid = request_via_slack(bot)
    with bot.runtime.db.session() as session:
        session.execute(
            update(SmsRequest)
            .where(SmsRequest.id == rid)
            .values(expires_at=audit.utc_now() - timedelta(seconds=1))
        )
    expire = bot.runtime.jobs.registry.get("expire_approvals")
    assert expire is not None
    assert bot.runtime.jobs.run(expire, force=True).summary == "1 expired"
    closed = bot.slack.wait_for("chat.update", lambda c: c.args.get("channel") == "C0APPROVE")[0]
    assert "Expired" in closed.args["text"]
    click(bot.client, "approve_request", rid, APPROVER)
    late = bot.slack.wait_for("chat.postEphemeral")[0]
    assert "already expired" in late.args["text"]
    assert bot.portal_sends == []


def test_no_approval_channel_refuses_on_the_form(db_url: str) -> None:
    from tests.support.bot import running_bot

    with running_bot(db_url, SMSBOT_APPROVAL_CHANNEL=None) as bot:
        bot.grant(REQUESTER, approval_required=True)
        body = bot.submit(bot.open_modal(user=REQUESTER), values(), user=REQUESTER).json()
        assert body["response_action"] == "errors"
        assert "no approval channel" in body["errors"]["iccid"]
        assert bot.portal_sends == []


# ---- two bot processes, one database, 20 simultaneous clicks ------------------------------------
def _serve(db_url: str, slack_url: str, portal_url: str) -> tuple[subprocess.Popen[str], str]:
    proc, port = start_serve(
        {
            "DATABASE_URL": db_url,
            "SLACK_BOT_TOKEN": "xoxb-test",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": slack_url,
            "SMSBOT_PORTAL": "live",
            "M2M_API_URL": portal_url,
            "M2M_API_ID": SANDBOX_CREDENTIALS.api_id,
            "M2M_USERNAME": SANDBOX_CREDENTIALS.username,
            "M2M_PASSWORD": SANDBOX_CREDENTIALS.password,
            "SMSBOT_APPROVAL_CHANNEL": "C0APPROVE",
            "SMSBOT_RECEIPT_PASSPHRASE": "receipt-pass",
        }
    )
    return proc, f"http://127.0.0.1:{port}/slack/events"


@pytest.fixture
def two_bots(db_url: str) -> Iterator[tuple[list[SlackClient], SlackStandIn, SandboxServer]]:
    slack = SlackStandIn().start()
    portal = SandboxServer().start()
    procs = [_serve(db_url, slack.url, portal.url) for _ in range(2)]
    clients = [SlackClient(url, SECRET) for _, url in procs]
    try:
        yield clients, slack, portal
    finally:
        for client in clients:
            client.close()
        for proc, _ in procs:
            proc.terminate()
            proc.wait(timeout=10)
        portal.stop()
        slack.stop()


def test_two_processes_twenty_clicks_one_send(
    db_url: str, two_bots: tuple[list[SlackClient], SlackStandIn, SandboxServer], tmp_path: Path
) -> None:
    clients, slack, portal = two_bots
    db = Database(db_url)
    approvers = ["U0APP1", "U0APP2", "U0APP3", "U0APP4"]
    with db.session() as session:
        create_grant(
            session,
            subject=REQUESTER,
            scope="*",
            role="sender",
            actor="UADMIN",
            approval_required=True,
        )
        for user in approvers:
            create_grant(session, subject=user, scope="*", role="approver", actor="UADMIN")
    from bot.portal.client import PortalClient

    with PortalClient(portal.url, SANDBOX_CREDENTIALS) as portal_client:
        service = SendService(db, portal_client, approval_channel="C0APPROVE")
        submission = service.submit(
            SendCommand(Principal(REQUESTER), Draft(MANX, "reboot"), "slack")
        )
    assert submission.status == "awaiting_approval" and submission.request is not None
    rid = submission.request.id

    barrier = threading.Barrier(20)

    def one(i: int) -> None:
        barrier.wait(timeout=20)
        click(clients[i % 2], "approve_request", rid, approvers[i % 4])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    # Every click is answered: one decision — the outcome goes to the requester (a DM: this
    # request was made outside Slack, so it has no thread) — and 19 ephemeral "already decided".
    outcome = slack.wait_for(
        "chat.postMessage", lambda c: "Accepted by the portal" in c.args.get("text", ""), timeout=60
    )
    assert outcome[0].args["channel"] == "D0REQ"
    refusals = slack.wait_for("chat.postEphemeral", count=19, timeout=60)
    assert all(f"Request #{rid} is already" in c.args["text"] for c in refusals)
    # The outcome message is written after the outcome is recorded: the state is final now.
    with db.session() as session:
        assert session.get(SmsRequest, rid).state == "accepted"  # type: ignore[union-attr]
    assert len(portal.portal.requests_for("send_sms")) == 1
    with db.session() as session:
        rows = audit.query(session, request_id=rid)
        assert audit.verify(session).ok
    events = [r.event for r in rows]
    assert events.count("approved") == 1 and events.count("sent") == 1
    # Both processes render the audit stream; each event was shown once: the request message,
    # the approval message, the note that approval was asked, the decision, the outcome.
    texts = [c.args.get("text", "") for c in slack.calls("chat.postMessage")]
    for shown in (
        f"SMS request #{rid} to",
        "Approval needed",
        "Approval asked",
        "Approved by",
        "Accepted",
    ):
        assert sum(shown in t for t in texts) == 1, (shown, texts)
    assert len(texts) == 5
    # A worker beside them (the live portal, this Slack) renders nothing again and sends nothing.
    worker = subprocess.run(
        [sys.executable, "-m", "bot", "worker", "--once"],
        env={
            **os.environ,
            "DATABASE_URL": db_url,
            "SLACK_BOT_TOKEN": "xoxb-test",
            "SLACK_API_URL": slack.url,
            "SMSBOT_PORTAL": "live",
            "M2M_API_URL": portal.url,
            "M2M_API_ID": SANDBOX_CREDENTIALS.api_id,
            "M2M_USERNAME": SANDBOX_CREDENTIALS.username,
            "M2M_PASSWORD": SANDBOX_CREDENTIALS.password,
            "SMSBOT_RECEIPT_PASSPHRASE": "receipt-pass",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert worker.returncode == 0, worker.stderr
    # Its own news only: the delivery its poll found (once the sandbox delivered), nothing of
    # what the two processes had shown.
    texts = [c.args.get("text", "") for c in slack.calls("chat.postMessage")]
    assert all(t.startswith(":inbox_tray: Delivered") for t in texts[5:]) and len(texts) <= 6
    for shown in (f"SMS request #{rid} to", "Approval needed", "Approval asked", "Approved by"):
        assert sum(shown in t for t in texts) == 1, (shown, texts)
    assert len(portal.portal.requests_for("send_sms")) == 1
    db.dispose()


def test_edit_after_approval_is_never_sent_over_slack(approval_bot: Bot) -> None:
    bot = approval_bot
    bot.grant("U0APP2", role="approver")
    with bot.runtime.db.session() as session:
        set_group_policy(
            session,
            "critical",
            actor="cli:test",
            approval_required=True,
            approval_channel="C0APPROVE",
            approvals_needed=2,
        )
        import_csv(session, io.StringIO(f"iccid,group\n{MANX},critical\n"), "cli:test")
    rid = request_via_slack(bot, "reboot")
    click(bot.client, "approve_request", rid, APPROVER)
    bot.slack.wait_for(
        "chat.postMessage", lambda c: "approved. Approval 1 of 2" in c.args.get("text", "")
    )
    with bot.runtime.db.engine.begin() as conn:  # the row is changed behind the bot's back
        conn.execute(
            text("UPDATE sms_requests SET message_text = 'factory reset' WHERE id = :i"), {"i": rid}
        )
    click(bot.client, "approve_request", rid, "U0APP2")
    closed = bot.slack.wait_for("chat.update", lambda c: c.args.get("channel") == "C0APPROVE")[0]
    assert "changed after it was made" in closed.args["text"]
    assert bot.portal_sends == []
    assert bot.events()[-1] == "denied"


def test_removed_from_the_on_call_group_after_asking_is_not_sent(bot: Bot) -> None:
    """The requester's user groups are asked of Slack again at decision time."""
    bot.slack.state.usergroups["S0ONCALL"] = [REQUESTER]
    bot.grant("S0ONCALL", approval_required=True)
    bot.grant(APPROVER, role="approver")
    rid = request_via_slack(bot)
    bot.slack.state.usergroups["S0ONCALL"] = []  # off call now
    click(bot.client, "approve_request", rid, APPROVER)
    closed = bot.slack.wait_for("chat.update", lambda c: c.args.get("channel") == "C0APPROVE")[0]
    assert "Closed" in closed.args["text"]
    assert bot.portal_sends == []
    with bot.runtime.db.session() as session:
        assert session.get(SmsRequest, rid).state == "refused"  # type: ignore[union-attr]


def test_the_requester_can_cancel_a_request_awaiting_approval(approval_bot: Bot) -> None:
    bot = approval_bot
    rid = request_via_slack(bot)
    note = bot.slack.wait_for(
        "chat.postMessage", lambda c: "Approval asked" in c.args.get("text", "")
    )[0]
    button = note.args["blocks"][1]["elements"][0]
    assert button["action_id"] == "cancel_request" and button["value"] == str(rid)
    click(bot.client, "cancel_request", rid, APPROVER, channel="C0NOC")  # not theirs to cancel
    refused = bot.slack.wait_for("chat.postEphemeral")[0]
    assert "Only the requester" in refused.args["text"]
    click(bot.client, "cancel_request", rid, REQUESTER, channel="C0NOC")
    closed = bot.slack.wait_for("chat.update", lambda c: c.args.get("channel") == "C0APPROVE")[0]
    assert "Cancelled by <@U0REQ>" in closed.args["text"]
    assert not any(b.get("block_id") == "approval_buttons" for b in closed.args["blocks"])
    click(bot.client, "approve_request", rid, APPROVER)
    late = bot.slack.wait_for("chat.postEphemeral", count=2)[-1]
    assert "already cancelled" in late.args["text"]
    assert bot.portal_sends == []
    assert "cancelled" in bot.events() and "approved" not in bot.events()
