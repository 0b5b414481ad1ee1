"""Deciding a fleet send once for all its SIMs, and stopping one midway.

The batch row is locked for a decision (SELECT … FOR UPDATE; BEGIN IMMEDIATE on SQLite), so
clicks, retries and replicas are serialised per batch; state changes are conditional. An
approval is recorded on every member request, bound to that member's hash (the `approvals`
table, as for a single request), so each SIM's send checks its own approval like any other —
and a reviewer's view of a member shows who approved it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.authz import Principal
from bot.request_facts import current_hash
from bot.store import audit
from bot.store.db import Database
from bot.store.grants import aware, covers, held_grants
from bot.store.models import Approval, Grant, Sim, SmsBatch, SmsRequest
from bot.store.requests import transition

BatchDecisionStatus = Literal[
    "approved", "pending", "declined", "expired", "already_decided", "refused", "stopped",
    "not_found",
]  # fmt: skip


@dataclass
class BatchDecision:
    status: BatchDecisionStatus
    message: str
    batch: SmsBatch | None = None
    audit_seq: int | None = None


def _locked(session: Session, batch_id: int) -> SmsBatch | None:
    return session.execute(
        select(SmsBatch).where(SmsBatch.id == batch_id).with_for_update()
    ).scalar_one_or_none()


def _members(session: Session, batch_id: int, states: tuple[str, ...]) -> list[SmsRequest]:
    return list(
        session.execute(
            select(SmsRequest)
            .where(SmsRequest.batch_id == batch_id, SmsRequest.state.in_(states))
            .order_by(SmsRequest.id)
        ).scalars()
    )


#: The audit event that records a member closing in each state (as for a single request).
_CLOSING_EVENT = {
    "declined": "rejected",
    "refused": "denied",
    "expired": "expired",
    "cancelled": "cancelled",
}


def close_members(
    session: Session, batch: SmsBatch, state: str, actor: str, reason: str, via: str
) -> int:
    """Members not yet on their way (`batched`, or released and not yet claimed) closed as
    `state`, each conditionally and audited; returns how many."""
    now = audit.utc_now()
    entries = []
    for req in _members(session, batch.id, ("batched", "recorded", "approved")):
        if not transition(
            session, req.id, (req.state,), state, completed_at=now, outcome_reason=reason
        ):
            continue  # claimed for sending meanwhile: it goes on to its outcome
        entries.append(
            audit.Entry(
                _CLOSING_EVENT[state],
                actor,
                request_id=req.id,
                iccid=req.iccid,
                details={
                    "batch_id": batch.id,
                    "reason": reason,
                    "via": via,
                    "sms_uid": req.sms_uid,
                },
            )
        )
    audit.append_many(session, entries)
    return len(entries)


def _expire(session: Session, batch: SmsBatch) -> int:
    batch.state = "expired"
    batch.decided_at = audit.utc_now()
    batch.decided_by = "system"
    closed = close_members(
        session, batch, "expired", "system", "the batch's approval window passed", "system"
    )
    return audit.append(
        session,
        "batch_expired",
        "system",
        details={"batch_id": batch.id, "closed": closed},
    ).seq


def expire_due(db: Database) -> list[int]:
    """Batches whose approval window passed, closed as expired (each once)."""
    now = audit.utc_now()
    with db.read() as session:
        due = list(
            session.execute(
                select(SmsBatch.id).where(
                    SmsBatch.state == "awaiting_approval", SmsBatch.expires_at < now
                )
            ).scalars()
        )
    done = []
    for batch_id in due:
        with db.session() as session:
            batch = _locked(session, batch_id)
            if batch is not None and batch.state == "awaiting_approval":
                _expire(session, batch)
                done.append(batch_id)
    return done


def covers_every_sim(session: Session, grants: list[Grant] | None, batch_id: int) -> bool:
    """Whether the grants (`held_grants`; None: an env admin) cover every SIM of the batch."""
    if grants is None:
        return True
    rows = session.execute(
        select(SmsRequest.iccid, Sim.group_name)
        .join(Sim, Sim.iccid == SmsRequest.iccid, isouter=True)
        .where(SmsRequest.batch_id == batch_id)
    ).all()
    return all(covers(grants, iccid, group) for iccid, group in rows)


def _intact(session: Session, batch: SmsBatch) -> bool:
    """Every member still hashes to what was recorded, and together to the batch's hash."""
    members = list(
        session.execute(
            select(SmsRequest).where(SmsRequest.batch_id == batch.id).order_by(SmsRequest.id)
        ).scalars()
    )
    digest = hashlib.sha256()
    for req in members:
        if current_hash(req) != req.request_hash:
            return False
        digest.update(req.request_hash.encode())
    return len(members) == batch.members and digest.hexdigest() == batch.batch_hash


def decide_batch(
    db: Database,
    batch_id: int,
    principal: Principal,
    verdict: Literal["approve", "reject"],
    admins: frozenset[str],
    *,
    reason: str | None = None,
    via: str = "slack",
) -> BatchDecision:
    actor = principal.user_id
    with db.session() as session:
        batch = _locked(session, batch_id)
        if batch is None:
            return BatchDecision("not_found", f"There is no batch #{batch_id}.")
        expires = aware(batch.expires_at)
        if batch.state == "awaiting_approval" and expires and expires <= audit.utc_now():
            seq = _expire(session, batch)
            return BatchDecision(
                "expired", f"Batch #{batch.id} expired: it can no longer be approved.", batch, seq
            )
        if batch.state != "awaiting_approval":
            return BatchDecision(
                "already_decided", f"Batch #{batch.id} is already {batch.state}.", batch
            )

        def refuse(why: str) -> BatchDecision:
            row = audit.append(
                session,
                "approver_refused",
                actor,
                details={"batch_id": batch.id, "verdict": verdict, "reason": why, "via": via},
            )
            return BatchDecision("refused", why, batch, row.seq)

        if actor == batch.requester:
            return refuse("You cannot decide on your own batch: another approver must.")
        approver = held_grants(session, principal, "approver", admins)
        if not covers_every_sim(session, approver, batch.id):
            return refuse(
                f"You need the `approver` role for every SIM of batch #{batch.id} to decide it."
            )
        now = audit.utc_now()
        if verdict == "reject":
            batch.state, batch.decided_at, batch.decided_by = "declined", now, actor
            batch.decision_reason = reason
            closed = close_members(
                session, batch, "declined", actor, reason or "batch rejected", via
            )
            row = audit.append(
                session,
                "batch_rejected",
                actor,
                details={"batch_id": batch.id, "reason": reason, "via": via, "closed": closed},
            )
            return BatchDecision("declined", f"Batch #{batch.id} rejected.", batch, row.seq)
        if not _intact(session, batch):
            batch.state, batch.decided_at, batch.decided_by = "refused", now, actor
            closed = close_members(
                session, batch, "refused", actor, "the batch changed after it was made", via
            )
            row = audit.append(
                session,
                "denied",
                actor,
                details={"batch_id": batch.id, "reason": "the batch changed", "closed": closed},
            )
            return BatchDecision(
                "refused", "The batch changed after it was made: closed, nothing sent.", batch
            )
        members = _members(session, batch.id, ("batched",))
        already = (
            session.execute(
                select(func.count())
                .select_from(Approval)
                .where(Approval.request_id == members[0].id, Approval.approver == actor)
            ).scalar_one()
            if members
            else 0
        )
        if already:
            return BatchDecision(
                "pending", "You have approved this batch already; it needs another approver.", batch
            )
        session.add_all(
            Approval(
                request_id=req.id,
                approver=actor,
                request_hash=req.request_hash,
                via=f"batch:{via}"[:16],
                reason=reason,
                created_at=now,
            )
            for req in members
        )
        session.flush()
        count = session.execute(
            select(func.count(func.distinct(Approval.approver)))
            .select_from(Approval)
            .join(SmsRequest, SmsRequest.id == Approval.request_id)
            .where(SmsRequest.batch_id == batch.id)
        ).scalar_one()
        needed = max(1, batch.approvals_needed)
        row = audit.append(
            session,
            "batch_approved",
            actor,
            details={
                "batch_id": batch.id,
                "batch_hash": batch.batch_hash,
                "approvals": count,
                "needed": needed,
                "via": via,
                "reason": reason,
                "members": len(members),
            },
        )
        if count < needed:
            return BatchDecision(
                "pending",
                f"Approval {count} of {needed} recorded; {needed - count} more needed.",
                batch,
                row.seq,
            )
        batch.state, batch.decided_at, batch.decided_by = "sending", now, actor
        return BatchDecision(
            "approved", f"Batch #{batch.id} approved: sending to {len(members)} SIM(s).", batch,
            row.seq,
        )  # fmt: skip


def stop_batch(
    db: Database, batch_id: int, principal: Principal, admins: frozenset[str], *, via: str
) -> BatchDecision:
    """The requester (or an admin) stops a batch: SIMs not yet on their way are cancelled;
    those already sending finish and are reported."""
    actor = principal.user_id
    with db.session() as session:
        batch = _locked(session, batch_id)
        if batch is None:
            return BatchDecision("not_found", f"There is no batch #{batch_id}.")
        if actor != batch.requester and actor not in admins:
            row = audit.append(
                session,
                "denied",
                actor,
                details={"batch_id": batch.id, "action": "stop", "via": via,
                         "reason": "not the requester or an admin"},
            )  # fmt: skip
            return BatchDecision(
                "refused", f"Only the requester or an admin can stop batch #{batch.id}.", batch,
                row.seq,
            )  # fmt: skip
        if batch.state not in ("awaiting_approval", "sending"):
            return BatchDecision(
                "already_decided", f"Batch #{batch.id} is already {batch.state}.", batch
            )
        batch.state = "stopped"
        if batch.decided_at is None:
            batch.decided_at, batch.decided_by = audit.utc_now(), actor
        closed = close_members(
            session, batch, "cancelled", actor, f"batch #{batch.id} stopped by {actor}", via
        )
        row = audit.append(
            session,
            "batch_stopped",
            actor,
            details={"batch_id": batch.id, "cancelled": closed, "via": via},
        )
        return BatchDecision(
            "stopped",
            f"Batch #{batch.id} stopped: {closed} SIM(s) will not be sent to.",
            batch,
            row.seq,
        )
