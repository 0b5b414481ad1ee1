"""A fleet send asked for: every active SIM of a group (or a list of SIMs) checked as one
request would be, then recorded in one transaction as a batch and one request per SIM.

The text is checked once for what is wrong with the text itself (refusing the whole batch, on
the message field); what is wrong for one SIM — its type's rules, no `sender` grant for it, its
rate limit, its queue — skips that SIM, and the batch lists the skipped with the reason. A batch
counts as one request against the requester's rate limit; each SIM's own limit applies.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from bot import rate_limits, templates
from bot.authz import Principal
from bot.config import Rate
from bot.lifecycle import queue_guard
from bot.request_facts import request_hash
from bot.send_types import BUSY_REASON, Source
from bot.sim_names import resolve as resolve_sim
from bot.sms.binary import payload_hex
from bot.sms.message import Draft, SimInfo, check_draft
from bot.sms.problems import Problem
from bot.sms.uid import generate_sms_uid
from bot.store import audit
from bot.store.db import Database, is_busy
from bot.store.grants import covering, covers, held_grants
from bot.store.models import Sim, SimGroup, SmsBatch, SmsRequest

#: The most SIMs one batch may hold (a bigger fleet is several batches, each decided).
BATCH_MAX = 1000

BatchStatus = Literal[
    "invalid", "denied", "needs_confirmation", "sending", "awaiting_approval", "duplicate", "busy"
]


@dataclass(frozen=True)
class BatchCommand:
    principal: Principal
    source: Source
    message_text: str = ""
    data_coding: str = "default"
    #: Every active SIM of this group …
    group: str | None = None
    #: … or these SIMs (ICCIDs, labels, MSISDNs).
    sims: tuple[str, ...] = ()
    idempotency_key: str | None = None
    template: str | None = None
    variables: tuple[tuple[str, str], ...] = ()
    #: The user has seen the SIM count and the warnings and wants to send.
    confirmed: bool = False
    #: The number of SIMs the user was shown when confirming: a different count now (the group
    #: changed meanwhile) asks again.
    expected_members: int | None = None
    input_problems: tuple[Problem, ...] = ()


@dataclass(frozen=True)
class Skip:
    iccid: str
    label: str | None
    reason: str


@dataclass
class Member:
    sim: SimInfo
    text: str
    coding: str
    warnings: list[Problem]
    needs_approval: bool
    approvals_needed: int
    approval_channel: str | None


@dataclass
class BatchSubmission:
    status: BatchStatus
    reason: str = ""
    problems: list[Problem] = field(default_factory=list)
    batch: SmsBatch | None = None
    members: int = 0
    skipped: list[Skip] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    audit_seq: int | None = None


@dataclass(frozen=True)
class BatchPolicy:
    admins: frozenset[str]
    approval_channel: str | None
    approval_ttl: timedelta
    queue_caps: dict[str, int]
    rate_user: Rate | None
    rate_sim: Rate | None
    concurrency: int
    sandbox: bool


def _details(cmd: BatchCommand) -> dict[str, object]:
    return {
        "group": cmd.group,
        "sims": list(cmd.sims)[:50],
        "sims_named": len(cmd.sims),
        "message_text": cmd.message_text[:1000],
        "data_coding": cmd.data_coding,
        "template": cmd.template,
        "variables": dict(cmd.variables) if cmd.template else None,
        "source": cmd.source,
        "channel": cmd.principal.channel_id,
    }


def _refuse(
    session: Session,
    cmd: BatchCommand,
    status: BatchStatus,
    reason: str,
    problems: list[Problem] | None = None,
    skipped: list[Skip] | None = None,
) -> BatchSubmission:
    row = audit.append(
        session,
        status,
        cmd.principal.user_id,
        details={
            **_details(cmd),
            "batch": True,
            "reason": reason,
            "problems": [
                {"field": p.field, "code": p.code, "message": p.message} for p in problems or []
            ],
            "skipped": [s.__dict__ for s in (skipped or [])][:100],
        },
    )
    return BatchSubmission(status, reason, problems or [], skipped=skipped or [], audit_seq=row.seq)


def _targets(session: Session, cmd: BatchCommand) -> tuple[list[Sim], str | None]:
    """The SIMs named (active ones of the group, or each of the list), or why none."""
    if (cmd.group is None) == (not cmd.sims):
        return [], "name a group or a list of SIMs, one of them"
    if cmd.group is not None:
        sims = list(
            session.execute(
                select(Sim)
                .where(Sim.group_name == cmd.group, Sim.active.is_(True))
                .order_by(Sim.iccid)
            ).scalars()
        )
        if not sims:
            return [], f"group `{cmd.group}` has no active SIMs (`smsbot sims list`)"
        return sims, None
    found: dict[str, Sim] = {}
    for name in cmd.sims:
        named = resolve_sim(session, name)
        sim = session.get(Sim, named.iccid) if named.iccid else None
        if sim is None:
            why = named.problem() or f"SIM `{name}` is not in the inventory"
            return [], f"{why} (a fleet send goes to inventory SIMs only)"
        found[sim.iccid] = sim
    return list(found.values()), None


def submit_batch(
    db: Database, cmd: BatchCommand, policy: BatchPolicy, wait_seconds: float | None = None
) -> BatchSubmission:
    """`wait_seconds` bounds the transaction's waits — SQLite's write lock, PostgreSQL's locks
    and statements (Slack's form must be answered within 3 s): past it the answer is `busy` and
    nothing is recorded."""
    try:
        with db.session(wait_seconds=wait_seconds) as session:
            return _submit(session, cmd, policy)
    except OperationalError as exc:
        if not is_busy(exc):
            raise
        return BatchSubmission("busy", BUSY_REASON)


def _submit(session: Session, cmd: BatchCommand, policy: BatchPolicy) -> BatchSubmission:
    user = cmd.principal.user_id
    if cmd.input_problems:
        return _refuse(
            session, cmd, "invalid", cmd.input_problems[0].message, list(cmd.input_problems)
        )
    if cmd.idempotency_key:
        existing = session.execute(
            select(SmsBatch).where(SmsBatch.idempotency_key == cmd.idempotency_key)
        ).scalar_one_or_none()
        if existing is not None:
            return BatchSubmission(
                "duplicate",
                f"already submitted as batch #{existing.id}",
                batch=existing,
                members=existing.members,
            )
    sims, problem = _targets(session, cmd)
    if problem is not None:
        return _refuse(session, cmd, "invalid", problem, [Problem("request", "targets", problem)])
    if len(sims) > BATCH_MAX:
        why = f"{len(sims)} SIMs is more than one batch may hold ({BATCH_MAX}): split it"
        return _refuse(session, cmd, "invalid", why, [Problem("request", "too_many", why)])
    grants = held_grants(session, cmd.principal, "sender", policy.admins)
    groups = {g.name: g for g in session.execute(select(SimGroup)).scalars()}
    # One query for every SIM's rate limit (not one per SIM: the form waits for this).
    over_rate = rate_limits.sim_refusals(session, [s.iccid for s in sims], policy.rate_sim)
    members: list[Member] = []
    skipped: list[Skip] = []
    for sim in sims:
        info = SimInfo(sim.iccid, sim.label, sim.sim_type, sim.group_name, sim.active)
        text, coding = cmd.message_text, cmd.data_coding
        if cmd.template is not None:
            filled = templates.fill(
                templates.active(session, cmd.template), cmd.template, dict(cmd.variables), info
            )
            if filled.problems:
                if filled.problems[0].code == "wrong_sim":
                    skipped.append(Skip(sim.iccid, sim.label, filled.problems[0].message))
                    continue
                return _refuse(session, cmd, "invalid", filled.problems[0].message, filled.problems)
            text, coding = filled.text, filled.data_coding
        checked = check_draft(Draft(iccid=sim.iccid, message_text=text, data_coding=coding), info)
        text_errors = [p for p in checked.errors if p.field == "message_text"]
        if text_errors and not any(p.field == "data_coding" for p in checked.errors):
            # Wrong whatever the SIM: the whole batch is refused, on the message field.
            return _refuse(session, cmd, "invalid", text_errors[0].message, text_errors)
        if checked.errors:
            skipped.append(Skip(sim.iccid, sim.label, checked.errors[0].message))
            continue
        if not covers(grants, sim.iccid, sim.group_name):
            skipped.append(Skip(sim.iccid, sim.label, "you have no `sender` grant for this SIM"))
            continue
        full = queue_guard.refusal(session, sim.iccid, sim.sim_type, policy.queue_caps)
        if full is not None:
            skipped.append(Skip(sim.iccid, sim.label, full))
            continue
        if sim.iccid in over_rate:
            skipped.append(Skip(sim.iccid, sim.label, over_rate[sim.iccid]))
            continue
        group = groups.get(sim.group_name or "")
        group_requires = bool(group and group.approval_required)
        # As for a single request, one covering grant that needs no approval wins.
        matching = covering(grants, sim.iccid, sim.group_name)
        grant_requires = bool(matching) and all(g.approval_required for g in matching)
        members.append(
            Member(
                info,
                checked.message_text,
                checked.data_coding,
                checked.warnings,
                grant_requires or group_requires,
                max(1, group.approvals_needed) if group and group_requires else 1,
                (group.approval_channel if group else None) or policy.approval_channel,
            )
        )
    if not members:
        why = "none of the SIMs can be sent to" + (f": {skipped[0].reason}" if skipped else "")
        return _refuse(session, cmd, "denied", why, skipped=skipped)
    limited = rate_limits.refusal(session, user, "", policy.rate_user, None)
    if limited is not None:
        return _refuse(session, cmd, "denied", limited[1], skipped=skipped)
    warnings = sorted({f"{p.message}" for m in members for p in m.warnings})
    count_changed = cmd.expected_members is not None and cmd.expected_members != len(members)
    if not cmd.confirmed or count_changed:
        why = f"confirm the send to {len(members)} SIM(s)" + (
            f" (it was {cmd.expected_members} when you looked)" if count_changed else ""
        )
        refusal = _refuse(session, cmd, "needs_confirmation", why, skipped=skipped)
        refusal.members = len(members)
        refusal.warnings = warnings
        return refusal
    needs_approval = any(m.needs_approval for m in members)
    channel = next((m.approval_channel for m in members if m.needs_approval), None)
    if needs_approval and channel is None:
        why = (
            "some of these SIMs need approval before sending, but no approval channel is "
            "configured (the SIM group's approval channel or SMSBOT_APPROVAL_CHANNEL)"
        )
        return _refuse(session, cmd, "denied", why, skipped=skipped)
    return _record(session, cmd, policy, members, skipped, needs_approval, channel, warnings)


def _record(
    session: Session,
    cmd: BatchCommand,
    policy: BatchPolicy,
    members: list[Member],
    skipped: list[Skip],
    needs_approval: bool,
    channel: str | None,
    warnings: list[str],
) -> BatchSubmission:
    user = cmd.principal.user_id
    now = audit.utc_now()
    quorum = max((m.approvals_needed for m in members if m.needs_approval), default=0)
    batch = SmsBatch(
        idempotency_key=cmd.idempotency_key,
        requester=user,
        channel_id=cmd.principal.channel_id,
        source=cmd.source,
        group_name=cmd.group,
        message_text=members[0].text,
        data_coding=members[0].coding,
        template_name=cmd.template,
        batch_hash="",
        members=len(members),
        skipped=json.dumps([s.__dict__ for s in skipped]),
        state="awaiting_approval" if needs_approval else "sending",
        concurrency=policy.concurrency,
        approvals_needed=quorum if needs_approval else 0,
        approval_channel=channel if needs_approval else None,
        created_at=now,
        expires_at=now + policy.approval_ttl if needs_approval else None,
    )
    session.add(batch)
    session.flush()
    rows = []
    for m in members:
        uid = generate_sms_uid()
        rows.append(
            SmsRequest(
                sms_uid=uid,
                iccid=m.sim.iccid,
                message_text=m.text,
                payload_hex=payload_hex(m.text, m.coding),
                data_coding=m.coding,
                origin=None,
                sim_type=m.sim.sim_type,
                request_hash=request_hash(m.sim.iccid, m.text, m.coding, None, uid),
                requester=user,
                requester_groups=",".join(cmd.principal.group_ids),
                channel_id=cmd.principal.channel_id,
                source=cmd.source,
                warnings=audit.canonical_json(
                    [{"field": p.field, "code": p.code, "message": p.message} for p in m.warnings]
                ),
                state="batched",
                sandbox=policy.sandbox,
                created_at=now,
                approvals_needed=batch.approvals_needed,
                template_name=cmd.template,
                batch_id=batch.id,
            )
        )
    session.add_all(rows)
    session.flush()
    digest = hashlib.sha256()
    for req in sorted(rows, key=lambda r: r.id):
        digest.update(req.request_hash.encode())
    batch.batch_hash = digest.hexdigest()
    row = audit.append(
        session,
        "batch_requested",
        user,
        details={
            **_details(cmd),
            "batch_id": batch.id,
            "members": len(rows),
            "skipped": [s.__dict__ for s in skipped][:100],
            "skipped_count": len(skipped),
            "batch_hash": batch.batch_hash,
            "approval_required": needs_approval,
            "confirmed_warnings": warnings[:20],
        },
    )
    audit.append_many(
        session,
        [
            audit.Entry(
                "requested",
                user,
                request_id=req.id,
                iccid=req.iccid,
                details={
                    "batch_id": batch.id,
                    "sms_uid": req.sms_uid,
                    "message_text": req.message_text,
                    "data_coding": req.data_coding,
                    "request_hash": req.request_hash,
                    "source": cmd.source,
                },
            )
            for req in rows
        ],
    )
    if needs_approval:
        audit.append(
            session,
            "batch_approval_requested",
            user,
            details={
                "batch_id": batch.id,
                "channel": channel,
                "approvals_needed": batch.approvals_needed,
                "expires_at": audit.format_ts(batch.expires_at) if batch.expires_at else None,
                "batch_hash": batch.batch_hash,
            },
        )
    return BatchSubmission(
        "awaiting_approval" if needs_approval else "sending",
        f"batch #{batch.id}: {len(rows)} SIM(s)",
        batch=batch,
        members=len(rows),
        skipped=skipped,
        warnings=warnings,
        audit_seq=row.seq,
    )
