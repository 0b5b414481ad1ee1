"""The reviewer's view `sms_audit_view`: one row per request with who, what, to which SIM,
approved by whom, the outcome and the delivery — one query, on SQLite and PostgreSQL."""

from __future__ import annotations

import io

from sqlalchemy import text

from bot.approvals import Approvals
from bot.authz import Principal
from bot.lifecycle.delivery import apply_delivery
from bot.service import SendCommand, SendService
from bot.sms.message import Draft
from bot.store.db import Database
from bot.store.grants import create_grant
from bot.store.inventory import import_csv, set_group_policy

MANX = "89440000000000000010"
KPN_C = "89310000000000000023"


def test_one_row_per_request_answers_who_what_approved_outcome_delivered(
    database: Database, service: SendService
) -> None:
    with database.session() as session:
        import_csv(
            session,
            io.StringIO(
                "iccid,label,sim_type,group\n"
                f"{MANX},pump 7 Harbour Rd,Manx Telecom,\n"
                f"{KPN_C},meter,Multinet KPN C,critical\n"
            ),
            "cli:test",
        )
        set_group_policy(
            session,
            "critical",
            actor="cli:test",
            approval_required=True,
            approval_channel="C0APPROVE",
            approvals_needed=2,
        )
        for user in ("U0REQ", "U0APP1", "U0APP2"):
            role = "sender" if user == "U0REQ" else "approver"
            create_grant(session, subject=user, scope="*", role=role, actor="UADMIN")
    _, text_run = service.send(SendCommand(Principal("U0REQ"), Draft(MANX, "reset modem"), "cli"))
    assert text_run is not None and text_run.request.state == "accepted"
    with database.session() as session:
        apply_delivery(session, text_run.request, "delivered", source="receipt")
    binary_sub, _ = service.send(
        SendCommand(
            Principal("U0REQ", channel_id="C0NOC"),
            Draft(KPN_C, "AAH//oB/", data_coding="binary"),
            "slack",
        )
    )
    assert binary_sub.status == "awaiting_approval" and binary_sub.request is not None
    approvals = Approvals(service)
    approvals.decide(binary_sub.request.id, Principal("U0APP1"), "approve")
    decision = approvals.decide(binary_sub.request.id, Principal("U0APP2"), "approve")
    assert decision.status == "approved"

    with database.read() as session:
        rows = session.execute(text("SELECT * FROM sms_audit_view ORDER BY request_id")).mappings()
        first, second = [dict(r) for r in rows]
    assert first["requester"] == "U0REQ" and first["iccid"] == MANX
    assert first["sim_label"] == "pump 7 Harbour Rd" and first["message_text"] == "reset modem"
    assert first["message_hex"] is None and first["approvers"] is None
    assert first["state"] == "accepted" and first["delivery_status"] == "delivered"
    assert first["delivered_at"] is not None and first["origin_front_end"] == "cli"
    assert first["first_audit_seq"] < first["last_audit_seq"] and first["audit_events"] == 4
    assert second["message_hex"] == "0001fffe807f" and second["data_coding"] == "binary"
    assert second["approvers"] == "U0APP1,U0APP2" and second["approved_at"] is not None
    assert second["sim_group"] == "critical" and second["channel_id"] == "C0NOC"
    assert second["state"] == "accepted" and second["sms_uid"] == binary_sub.request.sms_uid
    for column in (
        "request_id",
        "created_at",
        "requester",
        "iccid",
        "sim_label",
        "message_text",
        "data_coding",
        "origin",
        "sms_uid",
        "approvers",
        "state",
        "outcome_reason",
        "delivery_status",
        "delivered_at",
    ):
        assert column in first  # the SPEC's promised columns


def test_the_view_answers_the_auditors_questions_by_sim_and_time(
    database: Database, service: SendService
) -> None:
    for i in range(3):
        service.send(SendCommand(Principal("UADMIN"), Draft(MANX, f"m{i}"), "cli"))
    with database.read() as session:
        count = session.execute(
            text(
                "SELECT COUNT(*) FROM sms_audit_view WHERE iccid = :i AND state = 'accepted' "
                "AND created_at >= :since"
            ),
            {"i": MANX, "since": "2000-01-01"},
        ).scalar_one()
    assert count == 3
