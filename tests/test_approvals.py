"""Approvals in the core: rules, quorum, expiry, edits after approval, one decision under races."""

from __future__ import annotations

import io
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import text, update

from bot.approvals import Approvals
from bot.authz import Principal
from bot.portal.sandbox import SandboxServer
from bot.service import SendCommand, SendService
from bot.sms.message import Draft
from bot.store import audit
from bot.store.db import Database
from bot.store.grants import create_grant, list_grants, revoke_grant
from bot.store.inventory import import_csv, set_group_policy
from bot.store.models import SmsRequest

MANX = "89440000000000000010"
REQUESTER = Principal("U0REQ", (), "C0NOC")
APPROVER = Principal("U0APP1", (), "C0APPROVE")
APPROVER2 = Principal("U0APP2", (), "C0APPROVE")


@pytest.fixture
def approvals(service: SendService, database: Database) -> Approvals:
    with database.session() as session:
        create_grant(
            session,
            subject="U0REQ",
            scope="*",
            role="sender",
            actor="UADMIN",
            approval_required=True,
        )
        for user in ("U0APP1", "U0APP2", "U0APP3"):
            create_grant(session, subject=user, scope="*", role="approver", actor="UADMIN")
    return Approvals(service)


def two_approver_group(database: Database) -> None:
    """Put the SIM in a group that needs two approvers, asked in its own channel."""
    with database.session() as session:
        set_group_policy(
            session,
            "critical",
            actor="cli:test",
            approval_required=True,
            approval_channel="C0CRIT",
            approvals_needed=2,
        )
        import_csv(session, io.StringIO(f"iccid,group\n{MANX},critical\n"), "cli:test")


def request(service: SendService, text: str = "reset modem") -> int:
    submission = service.submit(SendCommand(REQUESTER, Draft(MANX, text), "slack"))
    assert submission.status == "awaiting_approval", submission.reason
    assert submission.request is not None
    return submission.request.id


def events(database: Database) -> list[str]:
    with database.session() as session:
        return [r.event for r in audit.query(session) if not r.event.startswith("grant_")]


def sends(sandbox: SandboxServer) -> int:
    return len(sandbox.portal.requests_for("send_sms"))


def test_approval_sends_once_and_audits_each_step(
    approvals: Approvals, service: SendService, database: Database, sandbox: SandboxServer
) -> None:
    rid = request(service)
    with database.session() as session:
        req = session.get(SmsRequest, rid)
        assert req is not None and req.approval_channel == "C0APPROVE"
        assert req.approvals_needed == 1 and req.expires_at is not None
    assert sends(sandbox) == 0
    decision = approvals.decide(rid, APPROVER, "approve")
    assert decision.status == "approved"
    assert decision.execution is not None and decision.execution.request.state == "accepted"
    assert sends(sandbox) == 1
    assert events(database) == ["requested", "approval_requested", "approved", "sending", "sent"]
    req = service.get_request(rid)
    assert req is not None
    with database.session() as session:
        approved = next(r for r in audit.query(session) if r.event == "approved")
    assert approved.actor == "U0APP1" and req.request_hash in approved.details
    again = approvals.decide(rid, APPROVER2, "approve")
    assert again.status == "already_decided" and sends(sandbox) == 1


def test_self_approval_is_refused(
    approvals: Approvals, service: SendService, database: Database
) -> None:
    with database.session() as session:
        create_grant(session, subject="U0REQ", scope="*", role="approver", actor="UADMIN")
    rid = request(service)
    decision = approvals.decide(rid, REQUESTER, "approve")
    assert decision.status == "refused" and "your own request" in decision.message
    assert events(database)[-1] == "approver_refused"
    assert service.get_request(rid).state == "awaiting_approval"  # type: ignore[union-attr]


def test_non_approver_is_refused(
    approvals: Approvals, service: SendService, database: Database
) -> None:
    rid = request(service)
    decision = approvals.decide(rid, Principal("U0NOBODY"), "approve")
    assert decision.status == "refused" and "`approver` role" in decision.message
    assert events(database)[-1] == "approver_refused"


def test_reject_with_reason(
    approvals: Approvals, service: SendService, database: Database, sandbox: SandboxServer
) -> None:
    rid = request(service)
    decision = approvals.decide(rid, APPROVER, "reject", reason="wrong SIM")
    assert decision.status == "declined"
    req = service.get_request(rid)
    assert req is not None and req.state == "declined" and req.decision_reason == "wrong SIM"
    assert events(database)[-1] == "rejected"
    assert approvals.decide(rid, APPROVER2, "approve").status == "already_decided"
    assert sends(sandbox) == 0


def test_expired_request_cannot_be_approved(
    approvals: Approvals, service: SendService, database: Database, sandbox: SandboxServer
) -> None:
    rid = request(service)
    with database.session() as session:
        session.execute(
            update(SmsRequest)
            .where(SmsRequest.id == rid)
            .values(expires_at=audit.utc_now() - timedelta(seconds=1))
        )
    decision = approvals.decide(rid, APPROVER, "approve")
    assert decision.status == "expired" and "cannot be approved" in decision.message
    assert service.get_request(rid).state == "expired"  # type: ignore[union-attr]
    assert events(database)[-1] == "expired"
    assert sends(sandbox) == 0


def test_expire_due_closes_each_request_once(
    approvals: Approvals, service: SendService, database: Database
) -> None:
    old, fresh = request(service), request(service, "other")
    with database.session() as session:
        session.execute(
            update(SmsRequest)
            .where(SmsRequest.id == old)
            .values(expires_at=audit.utc_now() - timedelta(minutes=1))
        )
    assert [r.id for r in approvals.expire_due()] == [old]
    assert approvals.expire_due() == []
    assert [r.id for r in approvals.pending()] == [fresh]
    assert events(database).count("expired") == 1


def test_edit_after_approval_is_never_sent(
    approvals: Approvals, service: SendService, database: Database, sandbox: SandboxServer
) -> None:
    two_approver_group(database)
    rid = request(service)
    assert approvals.decide(rid, APPROVER, "approve").status == "pending"
    with database.engine.begin() as conn:  # someone edits the row behind the bot's back
        conn.execute(
            text("UPDATE sms_requests SET message_text = 'factory reset' WHERE id = :i"), {"i": rid}
        )
    decision = approvals.decide(rid, APPROVER2, "approve")
    assert decision.status == "requester_refused"
    assert sends(sandbox) == 0
    assert service.get_request(rid).state == "refused"  # type: ignore[union-attr]


def test_quorum_needs_two_distinct_approvers(
    approvals: Approvals, service: SendService, database: Database, sandbox: SandboxServer
) -> None:
    two_approver_group(database)
    rid = request(service)
    assert service.get_request(rid).approval_channel == "C0CRIT"  # type: ignore[union-attr]
    first = approvals.decide(rid, APPROVER, "approve")
    assert first.status == "pending" and "1 of 2" in first.message
    assert approvals.decide(rid, APPROVER, "approve").status == "pending"  # same person again
    assert sends(sandbox) == 0
    assert approvals.decide(rid, APPROVER2, "approve").status == "approved"
    assert sends(sandbox) == 1
    assert len(approvals.approvals_of(rid)) == 2


def test_requester_revoked_before_decision(
    approvals: Approvals, service: SendService, database: Database, sandbox: SandboxServer
) -> None:
    rid = request(service)
    with database.session() as session:
        grant_id = next(g.id for g in list_grants(session) if g.subject == "U0REQ")
        revoke_grant(session, grant_id, "UADMIN")
    decision = approvals.decide(rid, APPROVER, "approve")
    assert decision.status == "requester_refused"
    assert sends(sandbox) == 0


def test_no_approval_channel_means_refused_not_sent(
    database: Database, portal: object, sandbox: SandboxServer
) -> None:
    service = SendService(database, portal)  # type: ignore[arg-type]
    with database.session() as session:
        create_grant(
            session,
            subject="U0REQ",
            scope="*",
            role="sender",
            actor="UADMIN",
            approval_required=True,
        )
    submission = service.submit(SendCommand(REQUESTER, Draft(MANX, "hi"), "slack"))
    assert submission.status == "denied" and "no approval channel" in submission.reason
    assert sends(sandbox) == 0


def test_many_simultaneous_approvals_make_one_decision_and_one_send(
    approvals: Approvals, service: SendService, sandbox: SandboxServer
) -> None:
    rid = request(service)
    barrier = threading.Barrier(12)
    clickers = [APPROVER, APPROVER2, Principal("U0APP3")] * 4

    def click(p: Principal) -> str:
        barrier.wait(timeout=10)
        return approvals.decide(rid, p, "approve").status

    with ThreadPoolExecutor(12) as pool:
        statuses = list(pool.map(click, clickers))
    assert statuses.count("approved") == 1
    assert sends(sandbox) == 1
    assert len(approvals.approvals_of(rid)) == 1
