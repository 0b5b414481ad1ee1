"""The send pipeline: the one path every front end (Slack, CLI) takes to send an SMS.

    submit:  validate → authorize → (confirm warnings) → record the request
    execute: re-authorize → claim (conditional state change) → POST → record the outcome

Every step writes an audit row in the same transaction as the change it records. A request is
sent at most once: `execute` claims it with `UPDATE … WHERE state IN (sendable)`, and only the
caller whose update changed a row posts the XML. An unknown outcome is never resent.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot import metrics
from bot.authz import Principal
from bot.portal.client import PortalClient
from bot.portal.outcome import SendOutcome
from bot.portal.protocol import SendSms
from bot.sms.message import CheckedMessage, Draft, SimInfo, check_draft, normalize_iccid_only
from bot.sms.problems import Problem
from bot.sms.uid import generate_sms_uid
from bot.store import audit
from bot.store.db import Database
from bot.store.grants import AccessDecision, aware, check_access
from bot.store.inventory import get_group, get_sim
from bot.store.models import SmsRequest

Source = Literal["cli", "slack"]
SubmitStatus = Literal[
    "invalid", "needs_confirmation", "denied", "duplicate", "recorded", "awaiting_approval"
]
SENDABLE_STATES = ("recorded", "approved")
FINAL_STATES = ("accepted", "rejected", "unknown", "refused", "expired", "cancelled")
_AUDIT_TEXT_LIMIT = 4000


@dataclass(frozen=True)
class SendCommand:
    """What a front end hands the pipeline."""

    principal: Principal
    draft: Draft
    source: Source
    #: Same key → same request (Slack retries, double submits, a re-run CLI command).
    idempotency_key: str | None = None
    #: The user has seen the warnings and wants to send anyway.
    confirmed: bool = False


@dataclass
class Submission:
    status: SubmitStatus
    problems: list[Problem] = field(default_factory=list)
    checked: CheckedMessage | None = None
    sim: SimInfo | None = None
    request: SmsRequest | None = None
    audit_seq: int | None = None
    reason: str = ""

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.is_error]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if not p.is_error]


@dataclass
class Execution:
    """The result of `execute`: the request as it now stands and, if this call sent it, how."""

    request: SmsRequest
    outcome: SendOutcome | None
    audit_seq: int | None
    #: False when another caller had already claimed the request (nothing was sent by this call).
    sent_by_this_call: bool


def request_hash(iccid: str, text: str, coding: str, origin: str | None, uid: str) -> str:
    """Binds approvals and idempotency to the exact request."""
    form = audit.canonical_json(
        {
            "iccid": iccid,
            "message_text": text,
            "data_coding": coding,
            "origin": origin,
            "sms_uid": uid,
        }
    )
    return hashlib.sha256(form.encode("utf-8")).hexdigest()


def _input_details(cmd: SendCommand) -> dict[str, Any]:
    d = cmd.draft
    return {
        "input": {
            "iccid": d.iccid[:64],
            "message_text": d.message_text[:_AUDIT_TEXT_LIMIT],
            "message_length": len(d.message_text),
            "data_coding": d.data_coding[:32],
            "origin": (d.origin or "")[:64] or None,
            "sms_uid": (d.sms_uid or "")[:64] or None,
        },
        "source": cmd.source,
        "groups": list(cmd.principal.group_ids),
        "channel": cmd.principal.channel_id,
    }


def _problem_list(problems: list[Problem]) -> list[dict[str, str]]:
    return [
        {"field": p.field, "code": p.code, "severity": p.severity, "message": p.message}
        for p in problems
    ]


class SendService:
    """The pipeline, bound to a database and a portal client."""

    def __init__(self, db: Database, portal: PortalClient, admins: frozenset[str] = frozenset()):
        self.db = db
        self.portal = portal
        self.admins = admins

    # ---- submit ------------------------------------------------------------------------------
    def submit(self, cmd: SendCommand) -> Submission:
        result = self._submit(cmd)
        metrics.SUBMISSIONS.labels(result.status, cmd.source).inc()
        return result

    def _submit(self, cmd: SendCommand) -> Submission:
        actor = cmd.principal.user_id
        with self.db.session() as session:
            if cmd.idempotency_key:
                existing = self._by_key(session, cmd.idempotency_key)
                if existing is not None:
                    return self._duplicate(session, cmd, existing)
            iccid = normalize_iccid_only(cmd.draft.iccid)
            sim = get_sim(session, iccid)
            checked = check_draft(cmd.draft, sim)
            details = _input_details(cmd)
            if checked.errors:
                row = audit.append(
                    session,
                    "invalid",
                    actor,
                    iccid=iccid[:22] or None,
                    details={**details, "problems": _problem_list(checked.problems)},
                )
                return Submission(
                    "invalid",
                    checked.problems,
                    checked,
                    sim,
                    audit_seq=row.seq,
                    reason="the request has errors",
                )
            access = check_access(
                session,
                cmd.principal,
                "sender",
                checked.iccid,
                sim.group_name if sim else None,
                self.admins,
            )
            if not access.allowed:
                row = audit.append(
                    session,
                    "denied",
                    actor,
                    iccid=checked.iccid,
                    details={**details, "role": "sender", "reason": access.reason},
                )
                return Submission(
                    "denied",
                    checked.problems,
                    checked,
                    sim,
                    audit_seq=row.seq,
                    reason=access.reason,
                )
            if checked.warnings and not cmd.confirmed:
                row = audit.append(
                    session,
                    "needs_confirmation",
                    actor,
                    iccid=checked.iccid,
                    details={**details, "problems": _problem_list(checked.warnings)},
                )
                return Submission(
                    "needs_confirmation",
                    checked.problems,
                    checked,
                    sim,
                    audit_seq=row.seq,
                    reason="confirm the warnings to send",
                )
            if checked.sms_uid is not None and self._uid_taken(session, checked.sms_uid):
                problem = Problem(
                    "sms_uid",
                    "duplicate",
                    f"SMS uid {checked.sms_uid} was already used: each message needs its own. "
                    "Leave it empty to have one generated.",
                )
                row = audit.append(
                    session,
                    "invalid",
                    actor,
                    iccid=checked.iccid,
                    details={**details, "problems": _problem_list([problem])},
                )
                return Submission(
                    "invalid",
                    [*checked.problems, problem],
                    checked,
                    sim,
                    audit_seq=row.seq,
                    reason="the SMS uid was already used",
                )
        try:
            return self._record(cmd, checked, sim, access)
        except IntegrityError:
            # Lost a race: the same idempotency key, or the same user-given sms_uid, was recorded
            # by a concurrent call between our check and our insert.
            with self.db.session() as session:
                if cmd.idempotency_key:
                    existing = self._by_key(session, cmd.idempotency_key)
                    if existing is not None:
                        return self._duplicate(session, cmd, existing)
                problem = Problem(
                    "sms_uid",
                    "duplicate",
                    "That SMS uid was just used by another request: leave it empty.",
                )
                row = audit.append(
                    session,
                    "invalid",
                    actor,
                    iccid=checked.iccid,
                    details={**_input_details(cmd), "problems": _problem_list([problem])},
                )
                return Submission(
                    "invalid",
                    [problem],
                    checked,
                    sim,
                    audit_seq=row.seq,
                    reason="the SMS uid was already used",
                )

    def _record(
        self,
        cmd: SendCommand,
        checked: CheckedMessage,
        sim: SimInfo | None,
        access: AccessDecision,
    ) -> Submission:
        with self.db.session() as session:
            group = get_group(session, sim.group_name if sim else None)
            needs_approval = access.approval_required or bool(group and group.approval_required)
            uid = checked.sms_uid or self._fresh_uid(session)
            req = SmsRequest(
                idempotency_key=cmd.idempotency_key,
                sms_uid=uid,
                iccid=checked.iccid,
                message_text=checked.message_text,
                data_coding=checked.data_coding,
                origin=checked.origin,
                sim_type=sim.sim_type if sim else None,
                request_hash=request_hash(
                    checked.iccid, checked.message_text, checked.data_coding, checked.origin, uid
                ),
                requester=cmd.principal.user_id,
                requester_groups=",".join(cmd.principal.group_ids),
                channel_id=cmd.principal.channel_id,
                source=cmd.source,
                warnings=audit.canonical_json(_problem_list(checked.warnings)),
                state="awaiting_approval" if needs_approval else "recorded",
                grant_id=access.grant.id if access.grant else None,
                sandbox=self.portal.sandbox,
                created_at=audit.utc_now(),
            )
            session.add(req)
            session.flush()
            row = audit.append(
                session,
                "requested",
                cmd.principal.user_id,
                request_id=req.id,
                iccid=req.iccid,
                details={
                    "sms_uid": uid,
                    "message_text": req.message_text,
                    "data_coding": req.data_coding,
                    "origin": req.origin,
                    "request_hash": req.request_hash,
                    "authorized_by": access.basis,
                    "approval_required": needs_approval,
                    "confirmed_warnings": [p.code for p in checked.warnings],
                    "source": cmd.source,
                    "channel": cmd.principal.channel_id,
                },
            )
            status: SubmitStatus = "awaiting_approval" if needs_approval else "recorded"
            return Submission(
                status, checked.problems, checked, sim, request=req, audit_seq=row.seq
            )

    def _duplicate(self, session: Session, cmd: SendCommand, existing: SmsRequest) -> Submission:
        row = audit.append(
            session,
            "duplicate",
            cmd.principal.user_id,
            request_id=existing.id,
            iccid=existing.iccid,
            details={"idempotency_key": cmd.idempotency_key, "state": existing.state},
        )
        return Submission(
            "duplicate",
            request=existing,
            audit_seq=row.seq,
            reason=f"already submitted as request #{existing.id}",
        )

    @staticmethod
    def _by_key(session: Session, key: str) -> SmsRequest | None:
        return session.execute(
            select(SmsRequest).where(SmsRequest.idempotency_key == key)
        ).scalar_one_or_none()

    @staticmethod
    def _uid_taken(session: Session, uid: str) -> bool:
        return (
            session.execute(select(SmsRequest.id).where(SmsRequest.sms_uid == uid)).first()
            is not None
        )

    def _fresh_uid(self, session: Session) -> str:
        while True:
            uid = generate_sms_uid()
            if not self._uid_taken(session, uid):
                return uid

    # ---- execute -----------------------------------------------------------------------------
    def execute(self, request_id: int, actor: str) -> Execution:
        """Send a recorded (or approved) request, once. Safe to call any number of times."""
        with self.db.session() as session:
            req = session.get(SmsRequest, request_id)
            if req is None:
                raise LookupError(f"no request #{request_id}")
            sim = get_sim(session, req.iccid)
            principal = Principal(
                req.requester, tuple(filter(None, req.requester_groups.split(","))), req.channel_id
            )
            access = check_access(
                session,
                principal,
                "sender",
                req.iccid,
                sim.group_name if sim else None,
                self.admins,
            )
            if not access.allowed and req.state in SENDABLE_STATES:
                claimed = self._transition(
                    session,
                    req.id,
                    SENDABLE_STATES,
                    "refused",
                    completed_at=audit.utc_now(),
                    outcome_reason=access.reason,
                )
                if claimed:
                    row = audit.append(
                        session,
                        "denied",
                        actor,
                        request_id=req.id,
                        iccid=req.iccid,
                        details={"role": "sender", "reason": access.reason, "at": "send"},
                    )
                    session.refresh(req)
                    return Execution(req, None, row.seq, False)
            now = audit.utc_now()
            if not self._transition(session, req.id, SENDABLE_STATES, "sending", sent_at=now):
                session.refresh(req)
                return Execution(req, None, None, False)
            audit.append(
                session,
                "sending",
                actor,
                request_id=req.id,
                iccid=req.iccid,
                details={
                    "sms_uid": req.sms_uid,
                    "portal": self.portal.url,
                    "sandbox": self.portal.sandbox,
                },
            )
            message = SendSms(req.iccid, req.message_text, req.data_coding, req.origin, req.sms_uid)
            redacted = self.portal.redacted_request(message)

        outcome = self.portal.send_sms(message)
        metrics.SENDS.labels(outcome.status).inc()
        metrics.PORTAL_SECONDS.observe(outcome.elapsed_ms / 1000)

        with self.db.session() as session:
            completed = audit.utc_now()
            self._transition(
                session,
                request_id,
                ("sending",),
                outcome.status,
                completed_at=completed,
                outcome_category=outcome.category,
                outcome_reason=outcome.summary,
                portal_http_status=outcome.http_status,
                portal_request_xml=redacted,
                portal_attempts=outcome.attempts,
                portal_ms=round(outcome.elapsed_ms, 3),
            )
            event = {"accepted": "sent", "rejected": "failed", "unknown": "outcome_unknown"}[
                outcome.status
            ]
            row = audit.append(
                session,
                event,
                actor,
                request_id=request_id,
                iccid=message.iccid,
                details={
                    "sms_uid": message.sms_uid,
                    "outcome": outcome.status,
                    "category": outcome.category,
                    "reason": outcome.reason,
                    "http_status": outcome.http_status,
                    "attempts": outcome.attempts,
                    "reached_portal": outcome.reached_portal,
                    "portal_ms": round(outcome.elapsed_ms, 1),
                    "sandbox": outcome.sandbox,
                },
            )
            req = session.get(SmsRequest, request_id)
            assert req is not None
            return Execution(req, outcome, row.seq, True)

    @staticmethod
    def _transition(
        session: Session,
        request_id: int,
        from_states: tuple[str, ...],
        to_state: str,
        **values: Any,
    ) -> bool:
        """Conditional state change: True only for the one caller that made it."""
        result = session.execute(
            update(SmsRequest)
            .where(SmsRequest.id == request_id, SmsRequest.state.in_(from_states))
            .values(state=to_state, **values)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    # ---- both ----------------------------------------------------------------------------------
    def send(self, cmd: SendCommand) -> tuple[Submission, Execution | None]:
        """Submit and, when nothing stands in the way, execute (the CLI's one call)."""
        submission = self.submit(cmd)
        if submission.status == "recorded" and submission.request is not None:
            return submission, self.execute(submission.request.id, cmd.principal.user_id)
        if submission.status == "duplicate" and submission.request is not None:
            # A repeated key never sends again; it reports the original request as it stands.
            return submission, Execution(submission.request, None, None, False)
        return submission, None

    def get_request(self, request_id: int) -> SmsRequest | None:
        with self.db.session() as session:
            return session.get(SmsRequest, request_id)


def elapsed_ms(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    a, b = aware(start), aware(end)
    assert a is not None and b is not None
    return (b - a).total_seconds() * 1000
