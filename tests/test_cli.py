"""The `smsbot` CLI: same pipeline as Slack, exit statuses, one-line reasons."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.store.db import Database

MANX = "89440000000000000010"


def test_send_accepted_prints_outcome_and_audit_id(smsbot) -> None:  # type: ignore[no-untyped-def]
    result = smsbot("send", "--as", "UADMIN", "--iccid", MANX, "--text", "reset modem")
    assert result.code == 0, result.err
    assert "state=accepted" in result.out
    assert "sandbox: nothing was sent" in result.out
    assert "audit: #1 requested, #2 sending, #3 sent" in result.out


def test_send_refusals_exit_non_zero_with_one_line(smsbot) -> None:  # type: ignore[no-untyped-def]
    cases = [
        (["--as", "UNOBODY", "--text", "hi"], 1, "denied"),
        (["--as", "UADMIN", "--text", "x" * 161], 1, "161/160"),
        (["--as", "UADMIN", "--text", "Let’s"], 1, "use `'`"),
    ]
    for args, code, words in cases:
        result = smsbot("send", "--iccid", MANX, *args)
        assert result.code == code
        assert words in result.err
        assert len(result.err.strip().splitlines()) == 1


def test_send_warnings_need_yes(smsbot) -> None:  # type: ignore[no-untyped-def]
    args = ("send", "--as", "UADMIN", "--iccid", "1234567890123456789", "--text", "hi")
    first = smsbot(*args)
    assert first.code == 1 and "--yes" in first.err
    second = smsbot(*args, "--yes")
    assert second.code == 3  # the sandbox does not know that SIM: rejected by the portal
    assert "unknown iccid" in second.out


def test_replace_unsupported_then_confirm(smsbot) -> None:  # type: ignore[no-untyped-def]
    args = (
        "send",
        "--as",
        "UADMIN",
        "--iccid",
        MANX,
        "--text",
        "Let’s go…",
        "--replace-unsupported",
    )
    assert smsbot(*args).code == 1
    result = smsbot(*args, "--yes")
    assert result.code == 0 and "Let's go..." in result.out


def test_idempotency_key_sends_once(smsbot) -> None:  # type: ignore[no-untyped-def]
    args = ("send", "--as", "UADMIN", "--iccid", MANX, "--text", "hi", "--idempotency-key", "k1")
    assert smsbot(*args).code == 0
    again = smsbot(*args)
    assert again.code == 0 and "already submitted" in again.out


def test_grant_can_revoke_grants(smsbot) -> None:  # type: ignore[no-untyped-def]
    assert smsbot("can", "U0BOB", MANX).code == 1
    made = smsbot("grant", "U0BOB", "8944*", "--role", "sender", "--expires", "30d")
    assert made.code == 0 and "grant #1" in made.out
    can = smsbot("can", "U0BOB", MANX)
    assert can.code == 0 and "grant #1" in can.out
    assert "U0BOB" in smsbot("grants").out
    assert smsbot("revoke", "1").code == 0
    assert smsbot("revoke", "1").code == 1
    assert smsbot("can", "U0BOB", MANX).code == 1
    assert "revoked" in smsbot("grants", "--all").out


def test_unknown_grant_subject_is_refused_and_audited(smsbot) -> None:  # type: ignore[no-untyped-def]
    result = smsbot("grant", "bob", "*", "--role", "sender")
    assert result.code == 1 and "not a Slack user" in result.err
    listing = smsbot("audit", "list")
    assert "grant_refused" in listing.out


def test_sims_import_and_list(smsbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    good = tmp_path / "sims.csv"
    good.write_text(f"iccid,label,sim_type,group,active\n{MANX},pump 7,Manx Telecom,fleet,true\n")
    assert smsbot("sims", "import", str(good)).code == 0
    assert "pump 7" in smsbot("sims", "list").out
    bad = tmp_path / "bad.csv"
    bad.write_text("iccid,label\n89310000000000000023,ok\nnot-an-iccid,x\n12,y\n")
    result = smsbot("sims", "import", str(bad))
    assert result.code == 1 and "line 3" in result.err and "line 4" in result.err
    assert "89310000000000000023" not in smsbot("sims", "list").out


def test_audit_list_export_verify(smsbot, db_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    smsbot("send", "--as", "UADMIN", "--iccid", MANX, "--text", "hi")
    assert "sent" in smsbot("audit", "list", "--iccid", MANX).out
    out = tmp_path / "audit.jsonl"
    assert smsbot("audit", "export", "--format", "jsonl", "--output", str(out)).code == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["event"] for r in rows] == ["requested", "sending", "sent"]
    assert smsbot("audit", "export", "--format", "csv").out.startswith("seq,ts,event")
    ok = smsbot("audit", "verify")
    assert ok.code == 0 and "3 rows" in ok.out
    db = Database(db_url)
    with db.engine.begin() as conn:
        if db.is_postgresql:
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER audit_log_no_update"))
        conn.execute(text("UPDATE audit_log SET details = '{}' WHERE seq = 2"))
    db.dispose()
    broken = smsbot("audit", "verify")
    assert broken.code == 1 and "row 2" in broken.err


def test_bad_configuration_is_one_line_naming_the_variable(
    smsbot,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.setenv("PORT", "not-a-port")
    result = smsbot("db", "upgrade")
    assert result.code == 2
    assert result.err.strip().startswith("smsbot: PORT")
    assert len(result.err.strip().splitlines()) == 1


def test_usage_errors_are_one_line(smsbot) -> None:  # type: ignore[no-untyped-def]
    result = smsbot("send", "--as", "UADMIN")
    assert result.code == 2 and len(result.err.strip().splitlines()) == 1


def test_every_command_has_help() -> None:
    commands = [
        "serve",
        "db upgrade",
        "send",
        "sims import",
        "sims list",
        "grant",
        "revoke",
        "grants",
        "can",
        "audit list",
        "audit export",
        "audit verify",
        "sandbox",
    ]
    for command in commands:
        result = subprocess.run(
            [sys.executable, "-m", "bot", *command.split(), "--help"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, (command, result.stderr)
        assert "Usage:" in result.stdout


def test_sandbox_command_serves_the_portal(tmp_path: Path) -> None:
    """`smsbot sandbox --port N` is a real server the client can talk to."""
    import socket

    from bot.portal.client import PortalClient
    from bot.portal.protocol import SendSms
    from bot.portal.sandbox import SANDBOX_CREDENTIALS

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "sandbox", "--port", str(port)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # printed once the socket is bound
        assert f":{port}/" in first
        with PortalClient(f"http://127.0.0.1:{port}/", SANDBOX_CREDENTIALS) as client:
            assert client.send_sms(SendSms(MANX, "hi")).status == "accepted"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_groups_and_break_glass_approvals(smsbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sims = tmp_path / "sims.csv"
    sims.write_text(f"iccid,label,group\n{MANX},pump,critical\n")
    assert smsbot("sims", "import", str(sims)).code == 0
    made = smsbot(
        "groups",
        "set",
        "critical",
        "--approval-required",
        "--approval-channel",
        "C0CRIT",
        "--approvals-needed",
        "1",
    )
    assert made.code == 0 and "approval required (1 approver(s)) in C0CRIT" in made.out
    assert "critical: approval required" in smsbot("groups", "list").out
    assert smsbot("grant", "U0BOB", "*", "--role", "sender").code == 0
    waiting = smsbot("send", "--as", "U0BOB", "--iccid", MANX, "--text", "reset")
    assert waiting.code == 5 and "awaits approval" in waiting.out
    assert "#1" in smsbot("approvals", "list").out
    not_admin = smsbot("approvals", "approve", "1", "--as", "U0BOB", "--reason", "urgent")
    assert not_admin.code == 1 and "not an admin" in not_admin.err
    approved = smsbot("approvals", "approve", "1", "--as", "UADMIN", "--reason", "pager duty")
    assert approved.code == 0 and "accepted" in approved.out
    assert "no requests await approval" in smsbot("approvals", "list").out
    log = smsbot("audit", "list").out
    assert "break_glass" in log and "pager duty" in log


def test_send_settles_sends_a_stopped_process_left_behind(smsbot, db_url: str) -> None:  # type: ignore[no-untyped-def]
    """A CLI-only deployment has no `serve` sweeping: `send` settles stale rows itself."""
    from datetime import timedelta

    from sqlalchemy import update

    from bot.store import audit
    from bot.store.models import SmsRequest

    assert smsbot("send", "--as", "UADMIN", "--iccid", MANX, "--text", "first").code == 0
    database = Database(db_url)
    with database.session() as session:
        session.execute(
            update(SmsRequest).values(
                state="sending", sent_at=audit.utc_now() - timedelta(minutes=10)
            )
        )
    assert smsbot("send", "--as", "UADMIN", "--iccid", MANX, "--text", "second").code == 0
    with database.session() as session:
        states = [r.state for r in session.query(SmsRequest).order_by(SmsRequest.id)]
    database.dispose()
    assert states == ["unknown", "accepted"]


def test_status_ties_requests_to_the_portal_log(smsbot) -> None:  # type: ignore[no-untyped-def]
    sent = smsbot("send", "--as", "UADMIN", "--iccid", MANX, "--text", "hi", "--sms-uid", "TRACE7")
    assert sent.code == 0
    shown = smsbot("status", MANX.replace("0000", "0000 ", 1))
    assert shown.code == 0, shown.err
    # The embedded sandbox keeps its log in the database: the next command's portal has it.
    assert f"SIM {MANX}" in shown.out and "sms_uid=TRACE7" in shown.out
    assert "accepted" in shown.out and "portal=pending" in shown.out
    assert "TRACE7 pending" in shown.out.split("portal SMS log:")[1]


def test_requests_show_prints_the_request_and_its_timeline(smsbot) -> None:  # type: ignore[no-untyped-def]
    sent = smsbot("send", "--as", "UADMIN", "--iccid", MANX, "--text", "reset\x1b[2J now")
    assert sent.code == 1  # ESC is not in the GSM alphabet: refused, nothing recorded
    assert smsbot("send", "--as", "UADMIN", "--iccid", MANX, "--text", "reset modem").code == 0
    shown = smsbot("requests", "show", "1")
    assert shown.code == 0, shown.err
    assert "request #1  state=accepted" in shown.out and "'reset modem'" in shown.out
    timeline = shown.out.split("timeline:")[1]
    assert [w for w in ("requested", "sending", "sent") if w in timeline] == [
        "requested",
        "sending",
        "sent",
    ]
    missing = smsbot("requests", "show", "99")
    assert missing.code == 1 and "no request #99" in missing.err


def test_requests_cancel_is_for_the_requester_only(smsbot, database, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from bot.store.grants import create_grant

    monkeypatch.setenv("SMSBOT_APPROVAL_CHANNEL", "C0APPROVE")
    with database.session() as session:
        create_grant(
            session,
            subject="U0REQ",
            scope="*",
            role="sender",
            actor="UADMIN",
            approval_required=True,
        )
    env_channel = ("--channel", "C0NOC")
    asked = smsbot("send", "--as", "U0REQ", *env_channel, "--iccid", MANX, "--text", "hi")
    assert asked.code == 5, asked.err  # awaiting approval
    other = smsbot("requests", "cancel", "1", "--as", "U0OTHER")
    assert other.code == 1 and "Only the requester" in other.err
    mine = smsbot("requests", "cancel", "1", "--as", "U0REQ")
    assert mine.code == 0 and "cancelled" in mine.out
    again = smsbot("requests", "cancel", "1", "--as", "U0REQ")
    assert again.code == 1 and "already cancelled" in again.err
