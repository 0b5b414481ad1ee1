"""Approvals: one decision per request, decided in the database.

A decision locks the request row (SELECT … FOR UPDATE; BEGIN IMMEDIATE on SQLite), so concurrent
clicks, retries and bot processes are serialized per request and see each other's effects; the
state change awaiting_approval → approved/declined/expired is conditional, and only the caller
that makes `approved` happen executes the send (which itself claims the request conditionally).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.authz import Principal
from bot.service import Execution, SendService, current_hash
from bot.store import audit
from bot.store.grants import aware, check_access, who_can_grant
from bot.store.inventory import get_sim
from bot.store.models import Approval, AuditEvent, SmsRequest
from bot.store.requests import transition

Verdict = Literal["approve", "reject"]
DecisionStatus = Literal[
    "approved",  # the quorum is reached: sent (see execution)
    "pending",  # this approval counted; more approvers are needed
    "declined",  # rejected by this approver
    "expired",
    "already_decided",
    "refused",  # this clicker may not decide
    "requester_refused",  # the requester lost the right to send: nothing will be sent
    "cancelled",  # withdrawn by the requester before a decision
    "not_found",
]


@dataclass
class Decision:
    status: DecisionStatus
    message: str
    request: SmsRequest | None = None
    audit_seq: int | None = None
    execution: Execution | None = None


class Approvals:
    def __init__(self, service: SendService) -> None:
        self.service = service
        self.db = service.db

    def _close(
        self, session: Session, req: SmsRequest, state: str, actor: str, reason: str | None = None
    ) -> bool:
        """Decide an open request (approved, declined, expired, refused); False if it was no
        longer awaiting approval."""
        now = audit.utc_now()
        changed = transition(
            session,
            req.id,
            ("awaiting_approval",),
            state,
            decided_at=now,
            decided_by=actor,
            decision_reason=reason,
            completed_at=now if state != "approved" else None,
        )
        session.refresh(req)
        return changed

    def _expire(self, session: Session, req: SmsRequest, actor: str) -> AuditEvent | None:
        """Close an overdue request as expired and audit it; None if it was no longer open."""
        expires = aware(req.expires_at)
        if not self._close(session, req, "expired", "system"):
            return None
        return audit.append(
            session,
            "expired",
            actor,
            request_id=req.id,
            iccid=req.iccid,
            details={"expired_at": audit.format_ts(expires) if expires else None},
        )

    def cancel(self, request_id: int, principal: Principal, *, via: str = "slack") -> Decision:
        """The requester withdraws a request awaiting approval: it is closed as `cancelled` and
        can no longer be approved. Anyone else is refused (audited)."""
        actor = principal.user_id
        with self.db.session() as session:
            req = session.execute(
                select(SmsRequest).where(SmsRequest.id == request_id).with_for_update()
            ).scalar_one_or_none()
            if req is None:
                return Decision("not_found", f"There is no request #{request_id}.")
            if req.requester != actor:
                audit.append(
                    session,
                    "denied",
                    actor,
                    request_id=req.id,
                    iccid=req.iccid,
                    details={"action": "cancel", "via": via, "reason": "not the requester"},
                )
                return Decision("refused", f"Only the requester can cancel request #{req.id}.", req)
            if not self._close(session, req, "cancelled", actor, "cancelled by the requester"):
                return Decision(
                    "already_decided", f"Request #{req.id} is already {req.state}.", req
                )
            row = audit.append(
                session,
                "cancelled",
                actor,
                request_id=req.id,
                iccid=req.iccid,
                details={"via": via, "sms_uid": req.sms_uid},
            )
            return Decision(
                "cancelled", f"Request #{req.id} cancelled: nothing was sent.", req, row.seq
            )

    def decide(
        self,
        request_id: int,
        principal: Principal,
        verdict: Verdict,
        *,
        reason: str | None = None,
        via: str = "slack",
        break_glass: bool = False,
    ) -> Decision:
        decision = self._decide(request_id, principal, verdict, reason, via, break_glass)
        if decision.status == "approved" and decision.request is not None:
            decision.execution = self.service.execute(decision.request.id, principal.user_id)
            decision.request = decision.execution.request
        return decision

    def _decide(
        self,
        request_id: int,
        principal: Principal,
        verdict: Verdict,
        reason: str | None,
        via: str,
        break_glass: bool,
    ) -> Decision:
        actor = principal.user_id
        # The requester's groups as they are now, looked up before the row is locked.
        requester = self.service.requester_now(request_id)
        with self.db.session() as session:
            req = session.execute(
                select(SmsRequest).where(SmsRequest.id == request_id).with_for_update()
            ).scalar_one_or_none()
            if req is None or requester is None:
                return Decision("not_found", f"There is no request #{request_id}.")
            expires = aware(req.expires_at)
            if req.state == "awaiting_approval" and expires and expires <= audit.utc_now():
                row = self._expire(session, req, actor)
                assert row is not None  # the row is locked: nobody else can close it meanwhile
                return Decision(
                    "expired",
                    f"Request #{req.id} expired at "
                    f"{expires:%H:%M} UTC: it cannot be approved any more.",
                    req,
                    row.seq,
                )
            if req.state != "awaiting_approval":
                by = (
                    f" by <@{req.decided_by}>"
                    if req.decided_by and req.decided_by[0] in "UW"
                    else ""
                )
                return Decision(
                    "already_decided", f"Request #{req.id} is already {req.state}{by}.", req
                )

            def refuse(why: str) -> Decision:
                row = audit.append(
                    session,
                    "approver_refused",
                    actor,
                    request_id=req.id,
                    iccid=req.iccid,
                    details={"verdict": verdict, "reason": why, "via": via},
                )
                return Decision("refused", why, req, row.seq)

            if actor == req.requester:
                return refuse("You cannot decide on your own request: another approver must.")
            sim = get_sim(session, req.iccid)
            group = sim.group_name if sim else None
            access = check_access(
                session, principal, "approver", req.iccid, group, self.service.admins
            )
            if not access.allowed:
                granters = who_can_grant(session, self.service.admins)
                ask = ", ".join(f"<@{u}>" for u in granters) or "an smsbot admin"
                return refuse(
                    f"You need the `approver` role for SIM {req.iccid} to decide on "
                    f"this request; ask {ask}."
                )
            # The requester's right to send is checked again now, not only at request time.
            sender = check_access(
                session, requester, "sender", req.iccid, group, self.service.admins
            )
            if not sender.allowed:
                self._close(session, req, "refused", actor, sender.reason)
                row = audit.append(
                    session,
                    "denied",
                    req.requester,
                    request_id=req.id,
                    iccid=req.iccid,
                    details={
                        "role": "sender",
                        "reason": sender.reason,
                        "at": "decision",
                        "decided_by": actor,
                    },
                )
                return Decision(
                    "requester_refused",
                    "The requester may no longer send to this "
                    f"SIM ({sender.reason}); the request is closed.",
                    req,
                    row.seq,
                )
            if verdict == "reject":
                self._close(session, req, "declined", actor, reason)
                row = audit.append(
                    session,
                    "rejected",
                    actor,
                    request_id=req.id,
                    iccid=req.iccid,
                    details={"reason": reason, "via": via, "break_glass": break_glass},
                )
                return Decision("declined", f"Request #{req.id} rejected.", req, row.seq)
            digest = current_hash(req)
            if digest != req.request_hash:
                self._close(
                    session,
                    req,
                    "refused",
                    actor,
                    "the request changed after it was made; not sent",
                )
                row = audit.append(
                    session,
                    "denied",
                    actor,
                    request_id=req.id,
                    iccid=req.iccid,
                    details={"reason": "the request changed after it was made", "at": "decision"},
                )
                return Decision(
                    "requester_refused",
                    "The request changed after it was made: it is closed and will not be sent.",
                    req,
                    row.seq,
                )
            mine = session.execute(
                select(Approval.id).where(Approval.request_id == req.id, Approval.approver == actor)
            ).first()
            if mine is not None:
                return Decision(
                    "pending",
                    "You have approved this request already; it needs another approver.",
                    req,
                )
            session.add(
                Approval(
                    request_id=req.id,
                    approver=actor,
                    request_hash=digest,
                    via=via,
                    reason=reason,
                    created_at=audit.utc_now(),
                )
            )
            session.flush()
            count = session.execute(
                select(func.count()).select_from(Approval).where(Approval.request_id == req.id)
            ).scalar_one()
            needed = max(1, req.approvals_needed)
            row = audit.append(
                session,
                "approved",
                actor,
                request_id=req.id,
                iccid=req.iccid,
                details={
                    "request_hash": digest,
                    "approvals": count,
                    "needed": needed,
                    "via": via,
                    "break_glass": break_glass,
                    "reason": reason,
                    "authorized_by": access.basis,
                },
            )
            if count < needed:
                return Decision(
                    "pending",
                    f"Approval {count} of {needed} recorded; {needed - count} more needed.",
                    req,
                    row.seq,
                )
            self._close(session, req, "approved", actor)
            return Decision("approved", f"Request #{req.id} approved.", req, row.seq)

    def expire_due(self) -> list[SmsRequest]:
        """Close every request whose approval window has passed (each exactly once).

        One transaction per request: holding the audit head while locking another request row
        could deadlock with a decision that locked that row first."""
        now = audit.utc_now()
        with self.db.read() as session:
            due = (
                session.execute(
                    select(SmsRequest.id).where(
                        SmsRequest.state == "awaiting_approval", SmsRequest.expires_at < now
                    )
                )
                .scalars()
                .all()
            )
        expired: list[SmsRequest] = []
        for request_id in due:
            with self.db.session() as session:
                req = session.get(SmsRequest, request_id)
                if req is not None and self._expire(session, req, "system") is not None:
                    expired.append(req)  # (else decided meanwhile)
        return expired

    def pending(self) -> list[SmsRequest]:
        with self.db.session() as session:
            return list(
                session.execute(
                    select(SmsRequest)
                    .where(SmsRequest.state == "awaiting_approval")
                    .order_by(SmsRequest.id)
                ).scalars()
            )

    def approvals_of(self, request_id: int) -> list[Approval]:
        with self.db.session() as session:
            return list(
                session.execute(
                    select(Approval).where(Approval.request_id == request_id).order_by(Approval.id)
                ).scalars()
            )
