"""The lifecycle rendered in Slack from the audit stream, whoever caused each change: the CLI
(approvals, break-glass decisions, cancel, expiry), the jobs (delivery polls), the portal
(pushed receipts), and a bot killed right after the ack (recovered by a worker process)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from bot.store import audit
from bot.store.models import SmsRequest
from tests.support.bot import Bot, running_bot, submission, values
from tests.support.lifecycle import run_job, wait_until
from tests.support.serve import serve_http
from tests.support.signing import SlackClient
from tests.support.slack_api import Call, SlackStandIn

REQUESTER = "U0REQ"
SENDER = "U0SENDER"
MANX = "89440000000000000010"
SECRET = "test-signing-secret"


def _texts(bot: Bot, channel: str | None = None) -> list[Call]:
    return [
        c
        for c in bot.slack.calls("chat.postMessage")
        if channel is None or c.args.get("channel") == channel
    ]


def test_a_cli_request_is_asked_in_slack_and_a_cli_break_glass_closes_it(  # type: ignore[no-untyped-def]
    bot: Bot, smsbot, monkeypatch
) -> None:
    monkeypatch.setenv("SMSBOT_APPROVAL_CHANNEL", "C0APPROVE")
    bot.grant(REQUESTER, approval_required=True)
    sent = smsbot("send", "--as", REQUESTER, "--iccid", MANX, "--text", "reset modem")
    assert sent.code == 5, sent.out + sent.err
    # The bot, not the CLI, posts the approval request: rendered from the audit stream.
    asked = bot.slack.wait_for("chat.postMessage", lambda c: c.args.get("channel") == "C0APPROVE")[
        0
    ]
    assert "Approval needed for SMS request #1" in asked.args["text"]
    assert any(b.get("block_id") == "approval_buttons" for b in asked.args["blocks"])
    decided = smsbot(
        "approvals", "approve", "1", "--as", "UADMIN", "--reason", "pager storm, approver asleep"
    )
    assert decided.code == 0, decided.err
    closed = bot.slack.wait_for("chat.update", lambda c: c.args.get("channel") == "C0APPROVE")[0]
    assert "Approved by <@UADMIN>" in closed.args["text"] and "break-glass" in closed.args["text"]
    assert all(b.get("block_id") != "approval_buttons" for b in closed.args["blocks"])
    # The outcome goes to the approval message's thread (a CLI request has no thread of its own).
    outcome = bot.slack.wait_for(
        "chat.postMessage", lambda c: "Accepted by the portal" in c.args.get("text", "")
    )[0]
    assert outcome.args.get("thread_ts") == asked.answer["ts"]
    assert len(_texts(bot, "C0APPROVE")) == 2  # the request and its outcome, nothing twice


def test_a_cli_cancel_and_a_cli_expiry_close_the_buttons(bot: Bot, smsbot, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SMSBOT_APPROVAL_CHANNEL", "C0APPROVE")
    bot.grant(REQUESTER, approval_required=True)
    assert smsbot("send", "--as", REQUESTER, "--iccid", MANX, "--text", "one").code == 5
    assert smsbot("send", "--as", REQUESTER, "--iccid", MANX, "--text", "two").code == 5
    bot.slack.wait_for("chat.postMessage", lambda c: c.args.get("channel") == "C0APPROVE", count=2)
    cancelled = smsbot("requests", "cancel", "1", "--as", REQUESTER)
    assert cancelled.code == 0, cancelled.err
    closed = bot.slack.wait_for("chat.update", lambda c: "Cancelled by" in c.args.get("text", ""))
    assert closed[0].args["channel"] == "C0APPROVE"
    with bot.runtime.db.session() as session:
        req = session.get(SmsRequest, 2)
        assert req is not None
        req.expires_at = audit.utc_now().replace(year=2020)
    # `approvals list` expires what is overdue; the bot shows it.
    assert smsbot("approvals", "list").code == 0
    bot.slack.wait_for("chat.update", lambda c: "Expired at" in c.args.get("text", ""))
    assert bot.portal_sends == []


def test_delivery_reaches_the_thread_by_polling_alone_once(db_url: str) -> None:
    with running_bot(db_url, SMSBOT_SANDBOX_DELIVER_SECONDS="0") as bot:
        bot.grant(SENDER)
        bot.submit(bot.open_modal(), values())
        bot.slack.wait_for("chat.postMessage", lambda c: "Accepted" in c.args.get("text", ""))
        for _ in range(2):
            run_job(bot.runtime, "poll_delivery")
        shown = bot.slack.wait_for(
            "chat.postMessage", lambda c: c.args.get("text", "").startswith(":inbox_tray:")
        )
        assert len(shown) == 1 and "s after sending" in shown[0].args["text"]
        assert "thread_ts" in shown[0].args
        # The parent shows it too.
        bot.slack.wait_for("chat.update", lambda c: "delivery: *delivered*" in str(c.args))
        assert bot.events().count("delivered") == 1


def _modal_send(client: SlackClient, slack: SlackStandIn, user: str = SENDER) -> None:
    assert client.command("", user=user).status_code == 200
    opened = slack.wait_for("views.open")[0]
    view_id = opened.answer["view"]["id"]
    assert client.interaction(submission(opened.args["view"], view_id, values(), user)).text == ""


def _grant(db_url: str, user: str) -> None:
    from bot.store.db import Database
    from bot.store.grants import create_grant

    db = Database(db_url)
    with db.session() as session:
        create_grant(session, subject=user, scope="*", role="sender", actor="UADMIN")
    db.dispose()


def test_delivery_reaches_the_thread_by_push_alone_once(db_url: str) -> None:
    _grant(db_url, SENDER)
    env = {
        "SMSBOT_SANDBOX_RECEIPTS": "on",
        "SMSBOT_SANDBOX_DELIVER_SECONDS": "0.5",
        "SMSBOT_RECEIPT_PASSPHRASE": "pushed",
        "SMSBOT_POLL_SCHEDULE": "1h",  # no poll within this test: the receipt alone
    }
    with serve_http(db_url, SECRET, **env) as (_, port, slack):
        client = SlackClient(f"http://127.0.0.1:{port}/slack/events", SECRET)
        _modal_send(client, slack)
        shown = slack.wait_for(
            "chat.postMessage", lambda c: c.args.get("text", "").startswith(":inbox_tray:")
        )
        assert "thread_ts" in shown[0].args
        client.close()
    from bot.store.db import Database

    db = Database(db_url)
    with db.read() as session:
        rows = [r for r in audit.query(session) if r.event == "delivered"]
    db.dispose()
    assert len(rows) == 1 and '"source":"receipt"' in rows[0].details
    assert len([c for c in slack.calls("chat.postMessage") if "inbox_tray" in c.args["text"]]) == 1


def _worker_once(
    db_url: str, slack: SlackStandIn, **extra: str
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_API_URL": slack.url,
        **extra,
    }
    env.pop("SLACK_APP_TOKEN", None)
    return subprocess.run(
        [sys.executable, "-m", "bot", "worker", "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _killed_after_the_ack(db_url: str) -> SlackStandIn:
    """A form submitted to `smsbot serve` (its jobs left to workers) that is killed -9 right
    after the ack: the request is recorded, nothing sent, nobody told. Returns the stand-in."""
    _grant(db_url, SENDER)
    slack = SlackStandIn().start()
    with serve_http(db_url, SECRET, SMSBOT_SERVE_JOBS="off") as (proc, port, serve_slack):
        client = SlackClient(f"http://127.0.0.1:{port}/slack/events", SECRET)
        _modal_send(client, serve_slack)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        client.close()
        assert [c.method for c in serve_slack.calls("chat.postMessage")] == []
    return slack


def test_killed_after_the_ack_a_worker_sends_it_once_and_tells_the_user(db_url: str) -> None:
    slack = _killed_after_the_ack(db_url)
    # The sandbox reports delivery 5 s after a send by default: two worker runs on a slow
    # machine can span that, and the second would then post a "Delivered" reply (a third
    # message) — not what this test is about.
    no_delivery = {"SMSBOT_SANDBOX_DELIVER_SECONDS": "3600"}
    try:
        done = _worker_once(db_url, slack, **no_delivery)
        assert done.returncode == 0, done.stderr
        assert "dispatch: ok: 1 send(s) started, 0 abandoned" in done.stdout
        parent = slack.wait_for("chat.postMessage", lambda c: "SMS request #1" in c.args["text"])
        outcome = slack.wait_for("chat.postMessage", lambda c: "Accepted" in c.args["text"])[0]
        assert outcome.args["thread_ts"] == parent[0].answer["ts"]
        again = _worker_once(db_url, slack, **no_delivery)
        assert "dispatch: ok: 0 send(s) started" in again.stdout
        assert len(slack.calls("chat.postMessage")) == 2
    finally:
        slack.stop()


def test_killed_after_the_ack_and_too_old_it_is_abandoned_and_the_user_told(db_url: str) -> None:
    slack = _killed_after_the_ack(db_url)
    try:
        done = _worker_once(db_url, slack, SMSBOT_RECOVER_CUTOFF_MINUTES="0.0001")
        assert done.returncode == 0, done.stderr
        assert "0 send(s) started, 1 abandoned" in done.stdout
        told = slack.wait_for("chat.postMessage", lambda c: "older than" in c.args["text"])[0]
        assert "thread_ts" in told.args
        retry = [b for b in told.args["blocks"] if b.get("block_id") == "retry"]
        assert retry and retry[0]["elements"][0]["action_id"] == "retry_request"
    finally:
        slack.stop()


def test_status_merges_the_portal_log_with_approvals_audit_and_device_replies(  # type: ignore[no-untyped-def]
    bot: Bot, smsbot, monkeypatch
) -> None:
    import httpx

    monkeypatch.setenv("SMSBOT_APPROVAL_CHANNEL", "C0APPROVE")
    bot.grant(REQUESTER, approval_required=True)
    assert smsbot("send", "--as", REQUESTER, "--iccid", MANX, "--text", "status?").code == 5
    assert smsbot("approvals", "approve", "1", "--as", "UADMIN", "--reason", "night").code == 0
    reply = (
        b'<post_sms version="1" api_did="1"><passphrase>receipt-pass</passphrase>'
        b"<iccid>" + MANX.encode() + b"</iccid><timestamp>27/11/2026 03:01:02</timestamp>"
        b"<message_text>battery 12%</message_text></post_sms>"
    )
    assert httpx.post(f"{bot.base}/portal/receipts", content=reply).status_code == 200
    shown = smsbot("status", MANX)
    assert shown.code == 0, shown.err
    line = next(x for x in shown.out.splitlines() if x.startswith("#1 "))
    assert "accepted" in line and "approved_by=UADMIN" in line and "audit=#" in line
    assert "request #1" in shown.out.split("portal SMS log:")[1]
    assert "device replies:\n  27/11/2026 03:01:02 'battery 12%'" in shown.out
    url = bot.slack.response_url("st")
    bot.client.command(f"status {MANX}", user="UADMIN", response_url=url)
    slack_text = bot.slack.wait_for("response/st")[0].args["text"]
    assert "approved by <@UADMIN>" in slack_text and "· audit #" in slack_text
    assert "· request #1" in slack_text and "*Device replies*" in slack_text
    assert "battery 12%" in slack_text


def test_unknown_outcomes_reconciled_both_ways_are_told_in_the_thread(db_url: str) -> None:
    with running_bot(
        db_url, SMSBOT_PORTAL_DEADLINE="1", SMSBOT_RECONCILE_GRACE_MINUTES="0.001"
    ) as bot:
        assert bot.runtime.sandbox is not None
        portal = bot.runtime.sandbox.portal
        bot.grant(SENDER)
        # The first reaches the portal, whose answer comes after the bot stopped waiting.
        portal.set_fault("none", latency=2.0)
        bot.submit(bot.open_modal(), values(text="late answer"))
        bot.slack.wait_for("chat.postMessage", lambda c: "Outcome unknown" in c.args["text"])
        wait_until(lambda: portal.state.log.count(MANX) == 1, what="logged by the portal")
        # The second never gets processed.
        portal.hang_seconds = 2.0
        portal.set_fault("timeout")
        bot.submit(bot.open_modal(), values(text="lost"))
        bot.slack.wait_for(
            "chat.postMessage", lambda c: "Outcome unknown" in c.args["text"], count=2
        )
        portal.set_fault("none")
        assert "1 found (accepted), 1 not_sent" in run_job(bot.runtime, "reconcile_unknown").summary
        found = bot.slack.wait_for("chat.postMessage", lambda c: ":mag:" in c.args["text"])[0]
        assert "*accepted*" in found.args["text"] and "thread_ts" in found.args
        lost = bot.slack.wait_for(
            "chat.postMessage", lambda c: "not in the portal's SMS log" in c.args["text"]
        )[0]
        assert any(b.get("block_id") == "retry" for b in lost.args["blocks"])
        with bot.runtime.db.read() as session:
            states = [r.state for r in session.query(SmsRequest).order_by(SmsRequest.id)]
        assert states == ["accepted", "not_sent"]
