"""A SIM's messages as the core sees them: our latest requests, tied by sms_uid to the portal's
SMS log (for an `unknown` outcome, the answer to "did it go out?"). Front ends render it."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.portal.client import PortalError
from bot.portal.protocol import SmsLogEntry
from bot.service import SendService
from bot.sms.iccid import normalize_iccid
from bot.sms.message import SimInfo
from bot.store.inventory import get_sim
from bot.store.models import Approval, AuditEvent, DeviceReply, SmsRequest
from bot.store.requests import recent_for_sim


@dataclass(frozen=True)
class RequestFacts:
    """What our records add to a request line: who approved it, its latest audit row."""

    approvers: list[str]
    last_audit: int | None


@dataclass(frozen=True)
class SimStatus:
    iccid: str
    sim: SimInfo | None
    requests: list[SmsRequest]
    portal_log: list[SmsLogEntry] = field(default_factory=list)
    #: Why the portal's log could not be read (None when it was).
    portal_error: str | None = None
    facts: dict[int, RequestFacts] = field(default_factory=dict)
    #: The SIM's latest replies from the device (newest first).
    replies: list[DeviceReply] = field(default_factory=list)

    def in_portal(self, req: SmsRequest) -> str | None:
        """The portal's status for this request's sms_uid, when its log has it."""
        return next((e.status for e in self.portal_log if e.sms_uid == req.sms_uid), None)

    def ours(self, entry: SmsLogEntry) -> int | None:
        """The request of ours a portal log entry is (by sms_uid), if any."""
        return next(
            (r.id for r in self.requests if entry.sms_uid and r.sms_uid == entry.sms_uid), None
        )

    def about(self, req: SmsRequest) -> RequestFacts:
        return self.facts.get(req.id, RequestFacts([], None))


def _facts(session: Session, requests: list[SmsRequest]) -> dict[int, RequestFacts]:
    ids = [r.id for r in requests]
    if not ids:
        return {}
    approvers: dict[int, list[str]] = {i: [] for i in ids}
    for request_id, approver in session.execute(
        select(Approval.request_id, Approval.approver)
        .where(Approval.request_id.in_(ids))
        .order_by(Approval.id)
    ):
        approvers[request_id].append(approver)
    last = dict(
        session.execute(
            select(AuditEvent.request_id, func.max(AuditEvent.seq))
            .where(AuditEvent.request_id.in_(ids))
            .group_by(AuditEvent.request_id)
        ).all()
    )
    return {i: RequestFacts(approvers[i], last.get(i)) for i in ids}


def _replies(session: Session, iccid: str, limit: int) -> list[DeviceReply]:
    return list(
        session.execute(
            select(DeviceReply)
            .where(DeviceReply.iccid == iccid)
            .order_by(DeviceReply.id.desc())
            .limit(limit)
        ).scalars()
    )


def sim_status(service: SendService, raw_iccid: str, limit: int = 10) -> SimStatus:
    iccid = normalize_iccid(raw_iccid)
    with service.db.read() as session:
        sim = get_sim(session, iccid)
        requests = recent_for_sim(session, iccid, limit)
        facts = _facts(session, requests)
        replies = _replies(session, iccid, 5)
    if not (iccid.isascii() and iccid.isdigit()):
        return SimStatus(
            iccid,
            sim,
            requests,
            portal_error="not an ICCID: the portal was not asked",
            facts=facts,
            replies=replies,
        )
    try:
        log = service.portal.query_sms_mt_details(iccid, lastx=min(limit, 20))
    except PortalError as exc:
        return SimStatus(iccid, sim, requests, portal_error=str(exc), facts=facts, replies=replies)
    return SimStatus(iccid, sim, requests, log, facts=facts, replies=replies)
