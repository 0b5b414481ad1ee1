"""The send pipeline: the one path every front end (Slack, CLI) takes to send an SMS.

    submit:  validate → authorize → (confirm warnings) → record the request
    execute: re-authorize → claim (conditional state change) → POST → record the outcome
             (bot.send_deliver, which SendService inherits)

Every step writes an audit row in the same transaction as the change it records. A request is
sent at most once: it is claimed with `UPDATE … WHERE state IN (sendable)` (or recorded already
claimed), and only the caller whose change took effect posts the XML. An unknown outcome is never
resent.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from bot import metrics, rate_limits, templates
from bot.authz import GroupDirectory, Principal
from bot.config import Rate
from bot.lifecycle import queue_guard
from bot.lifecycle.retry import retry_request
from bot.portal.client import PortalClient
from bot.request_facts import (
    NOT_SENT_STATES,
    SENDABLE_STATES,
    approval_intact,
    current_hash,
    request_hash,
    requester_of,
    retryable,
)
from bot.send_deliver import Delivering
from bot.send_types import (
    BUSY_REASON,
    Execution,
    SendCommand,
    Source,
    Submission,
    SubmitStatus,
)
from bot.sim_names import looks_like_iccid, mostly_digits
from bot.sim_names import resolve as resolve_sim
from bot.sms.binary import payload_hex
from bot.sms.message import CheckedMessage, SimInfo, check_draft, normalize_iccid_only
from bot.sms.problems import Problem
from bot.sms.uid import generate_sms_uid
from bot.store import audit
from bot.store.db import Database, is_busy, retry_on_disconnect
from bot.store.grants import AccessDecision, check_access
from bot.store.inventory import get_sim_and_group
from bot.store.models import SimGroup, SmsRequest
from bot.submit_checks import (
    confirmed,
    input_details,
    principal_problem,
    problem_list,
    uid_taken_problem,
)

__all__ = [
    "NOT_SENT_STATES",
    "SENDABLE_STATES",
    "Execution",
    "SendCommand",
    "SendService",
    "Source",
    "Submission",
    "SubmitStatus",
    "approval_intact",
    "current_hash",
    "request_hash",
    "requester_of",
    "retryable",
]
#: A repeated submission (Slack retries, a double click): built once, it is on every form's path.
_BY_KEY = select(SmsRequest).where(SmsRequest.idempotency_key == bindparam("key"))


class SendService(Delivering):
    """The pipeline, bound to a database and a portal client."""

    def __init__(
        self,
        db: Database,
        portal: PortalClient,
        admins: frozenset[str] = frozenset(),
        *,
        approval_channel: str | None = None,
        approval_ttl: timedelta = timedelta(minutes=60),
        queue_caps: dict[str, int] | None = None,
        first_poll: timedelta = timedelta(minutes=1),
        rate_user: Rate | None = None,
        rate_sim: Rate | None = None,
    ) -> None:
        self.db = db
        self.portal = portal
        self.admins = admins
        #: Where approvals are asked when the SIM's group names no channel of its own.
        self.approval_channel = approval_channel
        self.approval_ttl = approval_ttl
        #: Undelivered messages per SIM each SIM type's operator queues (the queue guard).
        self.queue_caps = {"multinet kpn c": 60} if queue_caps is None else queue_caps
        #: When an accepted message's delivery is first asked (the poll_delivery job).
        self.first_poll = first_poll
        #: Guard rails per user and per SIM (None: no limit).
        self.rate_user = rate_user
        self.rate_sim = rate_sim
        #: Who is in which user group, asked again at decision and send time (the Slack front
        #: end sets it; None in a process without Slack).
        self.directory: GroupDirectory | None = None
        #: Requests whose send was cut off in this process (Ctrl-C, a lost database) after they
        #: were claimed: their outcome is unknown, and `settle_interrupted` records it.
        self.interrupted: list[int] = []
        #: Requests this process is sending right now (between claim and recorded outcome).
        self.in_flight: set[int] = set()

    # ---- submit ------------------------------------------------------------------------------
    def submit(
        self, cmd: SendCommand, *, claim: bool = False, wait_seconds: float | None = None
    ) -> Submission:
        """Validate, authorize and record. With `claim`, a request that needs no approval is
        recorded already claimed for sending (one transaction instead of two); the caller must
        then call `deliver`. `wait_seconds` bounds the transaction's waits — SQLite's write lock,
        PostgreSQL's row locks and statements (a Slack ack must come within 3 s): past it the
        answer is `busy` and nothing is recorded or sent."""
        try:
            result = retry_on_disconnect(lambda: self._submit(cmd, claim, wait_seconds))
        except OperationalError as exc:
            if not is_busy(exc):
                raise
            result = Submission("busy", reason=BUSY_REASON)
        except IntegrityError:
            # Lost a race between check and insert: the same idempotency key, or the same
            # user-given sms_uid, was recorded by a concurrent call — or a generated sms_uid
            # collided, and a second draw is as good as the first.
            result = self._after_race(cmd, claim, wait_seconds)
        metrics.SUBMISSIONS.labels(result.status, cmd.source).inc()
        return result

    def _submit(self, cmd: SendCommand, claim: bool, wait_seconds: float | None) -> Submission:
        with self.db.session(wait_seconds=wait_seconds) as session:
            unusable = principal_problem(cmd)
            if unusable is not None:
                row = audit.append(
                    session,
                    "invalid",
                    cmd.principal.user_id,
                    details={**input_details(cmd), "problems": problem_list([unusable])},
                )
                return Submission(
                    "invalid", [unusable], None, None, audit_seq=row.seq, reason=unusable.message
                )
            if cmd.idempotency_key:
                repeated = self._repeated_key(session, cmd)
                if repeated is not None:
                    return repeated
            if cmd.input_problems:
                seq = self._audit_invalid(session, cmd, *cmd.input_problems)
                reason = cmd.input_problems[0].message
                return Submission("invalid", list(cmd.input_problems), audit_seq=seq, reason=reason)
            draft = cmd.draft
            if draft.iccid.strip() and not looks_like_iccid(draft.iccid):
                # A label, an MSISDN or a label prefix ("pump 7"): one SIM, or the choices.
                named = resolve_sim(session, draft.iccid)
                if named.iccid is not None:
                    draft = replace(draft, iccid=named.iccid)
                elif any(ch.isalpha() for ch in draft.iccid) and (
                    named.ambiguous or not mostly_digits(draft.iccid)
                ):
                    problem = Problem(
                        "iccid",
                        "ambiguous" if named.ambiguous else "unknown_sim",
                        named.problem() or "",
                    )
                    seq = self._audit_invalid(session, cmd, problem)
                    return Submission("invalid", [problem], audit_seq=seq, reason=problem.message)
            iccid = normalize_iccid_only(draft.iccid)
            sim, group = get_sim_and_group(session, iccid)
            if cmd.template is not None:
                filled = templates.fill(
                    templates.active(session, cmd.template),
                    cmd.template,
                    dict(cmd.variables),
                    sim,
                )
                if filled.problems:
                    seq = self._audit_invalid(session, cmd, *filled.problems)
                    reason = filled.problems[0].message
                    return Submission("invalid", filled.problems, audit_seq=seq, reason=reason)
                draft = replace(draft, message_text=filled.text, data_coding=filled.data_coding)
            checked = check_draft(draft, sim)

            def refuse(status: SubmitStatus, event: str, summary: str, **extra: Any) -> Submission:
                row = audit.append(
                    session,
                    event,
                    cmd.principal.user_id,
                    iccid=checked.iccid[:22] or None,
                    details={**input_details(cmd), **extra},
                )
                return Submission(
                    status, checked.problems, checked, sim, audit_seq=row.seq, reason=summary
                )

            if checked.errors:
                return refuse(
                    "invalid",
                    "invalid",
                    "the request has errors",
                    problems=problem_list(checked.problems),
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
                return refuse(
                    "denied", "denied", access.reason, role="sender", reason=access.reason
                )
            if checked.warnings and not confirmed(cmd, checked):
                return refuse(
                    "needs_confirmation",
                    "needs_confirmation",
                    "confirm the warnings to send",
                    problems=problem_list(checked.warnings),
                )
            full = queue_guard.refusal(
                session, checked.iccid, sim.sim_type if sim else None, self.queue_caps
            )
            if full is not None:
                return refuse("denied", "denied", full, reason=full, guard="queue")
            limited = rate_limits.refusal(
                session, cmd.principal.user_id, checked.iccid, self.rate_user, self.rate_sim
            )
            if limited is not None:
                guard, why = limited
                return refuse("denied", "denied", why, reason=why, guard=guard)
            if checked.sms_uid is not None and self._uid_taken(session, checked.sms_uid):
                problem = uid_taken_problem(checked.sms_uid)
                row = audit.append(
                    session,
                    "invalid",
                    cmd.principal.user_id,
                    iccid=checked.iccid,
                    details={**input_details(cmd), "problems": problem_list([problem])},
                )
                return Submission(
                    "invalid",
                    [*checked.problems, problem],
                    checked,
                    sim,
                    audit_seq=row.seq,
                    reason="the SMS uid was already used",
                )
            return self._record(session, cmd, checked, sim, group, access, claim)

    def _record(
        self,
        session: Session,
        cmd: SendCommand,
        checked: CheckedMessage,
        sim: SimInfo | None,
        group: SimGroup | None,
        access: AccessDecision,
        claim: bool,
    ) -> Submission:
        group_requires = bool(group and group.approval_required)
        needs_approval = access.approval_required or group_requires
        approval_channel = (group.approval_channel if group else None) or self.approval_channel
        if needs_approval and approval_channel is None:
            reason = (
                "this SIM needs approval before sending, but no approval channel is configured "
                "(the SIM group's approval channel or SMSBOT_APPROVAL_CHANNEL): ask an admin"
            )
            row = audit.append(
                session,
                "denied",
                cmd.principal.user_id,
                iccid=checked.iccid,
                details={**input_details(cmd), "reason": reason},
            )
            return Submission(
                "denied", checked.problems, checked, sim, audit_seq=row.seq, reason=reason
            )
        claimed = claim and not needs_approval
        state = "awaiting_approval" if needs_approval else ("sending" if claimed else "recorded")
        uid = checked.sms_uid or self._fresh_uid(session)
        now = audit.utc_now()
        req = SmsRequest(
            idempotency_key=cmd.idempotency_key,
            sms_uid=uid,
            iccid=checked.iccid,
            message_text=checked.message_text,
            payload_hex=payload_hex(checked.message_text, checked.data_coding),
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
            warnings=audit.canonical_json(problem_list(checked.warnings)),
            state=state,
            grant_id=access.grant.id if access.grant else None,
            sandbox=self.portal.sandbox,
            created_at=now,
            sent_at=now if claimed else None,
            approval_channel=approval_channel if needs_approval else None,
            approvals_needed=(
                max(1, group.approvals_needed if group and group_requires else 1)
                if needs_approval
                else 0
            ),
            expires_at=now + self.approval_ttl if needs_approval else None,
            retry_of=cmd.retry_of,
            template_name=cmd.template,
        )
        session.add(req)
        session.flush()
        # The transaction's audit rows are appended together: one call, one head lock.
        entries = [
            audit.Entry(
                "requested",
                cmd.principal.user_id,
                req.id,
                req.iccid,
                {
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
                    "retry_of": cmd.retry_of,
                    "template": cmd.template,
                    "variables": dict(cmd.variables) if cmd.template else None,
                },
            )
        ]
        if claimed:
            entries.append(self._sending_entry(req, cmd.principal.user_id))
        if needs_approval:
            entries.append(
                audit.Entry(
                    "approval_requested",
                    cmd.principal.user_id,
                    req.id,
                    req.iccid,
                    {
                        "channel": approval_channel,
                        "approvals_needed": req.approvals_needed,
                        "expires_at": audit.format_ts(now + self.approval_ttl),
                        "request_hash": req.request_hash,
                    },
                )
            )
        row = audit.append_many(session, entries)[0]
        status: SubmitStatus = "awaiting_approval" if needs_approval else "recorded"
        return Submission(
            status, checked.problems, checked, sim, request=req, audit_seq=row.seq, claimed=claimed
        )

    def _after_race(self, cmd: SendCommand, claim: bool, wait_seconds: float | None) -> Submission:
        if not cmd.draft.sms_uid:
            with self.db.read() as session:
                keyed = self._by_key(session, cmd.idempotency_key or "")
            if keyed is None:
                # Not the key: the generated uid collided. Once more (a second collision is
                # beyond any real chance; it would surface as an error, never a duplicate).
                return self._submit(cmd, claim, wait_seconds)
        with self.db.session() as session:
            if cmd.idempotency_key:
                repeated = self._repeated_key(session, cmd)
                if repeated is not None:
                    return repeated
            problem = uid_taken_problem(cmd.draft.sms_uid)
            row = audit.append(
                session,
                "invalid",
                cmd.principal.user_id,
                iccid=normalize_iccid_only(cmd.draft.iccid)[:22] or None,
                details={**input_details(cmd), "problems": problem_list([problem])},
            )
            return Submission(
                "invalid", [problem], audit_seq=row.seq, reason="the SMS uid was already used"
            )

    def _repeated_key(self, session: Session, cmd: SendCommand) -> Submission | None:
        """The answer to a key seen before: the original request for its requester, a refusal
        for anyone else (a key is one person's request); None for a new key."""
        assert cmd.idempotency_key is not None
        existing = self._by_key(session, cmd.idempotency_key)
        if existing is None:
            return None
        if existing.requester == cmd.principal.user_id:
            return self._duplicate(session, cmd, existing)
        problem = Problem(
            "request",
            "key_taken",
            "This form was already submitted by someone else: open a new one.",
        )
        row = audit.append(
            session,
            "invalid",
            cmd.principal.user_id,
            request_id=existing.id,
            details={**input_details(cmd), "problems": problem_list([problem])},
        )
        return Submission("invalid", [problem], audit_seq=row.seq, reason=problem.message)

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
    def _audit_invalid(session: Session, cmd: SendCommand, *problems: Problem) -> int:
        return audit.append(
            session,
            "invalid",
            cmd.principal.user_id,
            details={**input_details(cmd), "problems": problem_list(list(problems))},
        ).seq

    @staticmethod
    def _by_key(session: Session, key: str) -> SmsRequest | None:
        return session.execute(_BY_KEY, {"key": key}).scalar_one_or_none()

    @staticmethod
    def _uid_taken(session: Session, uid: str) -> bool:
        found = session.execute(select(SmsRequest.id).where(SmsRequest.sms_uid == uid)).first()
        return found is not None

    @staticmethod
    def _fresh_uid(session: Session) -> str:
        """A new random sms_uid (62^12 values): the unique index decides the astronomically rare
        collision (`submit` then tries again once), not a lookup on every send."""
        return generate_sms_uid()

    # ---- both ----------------------------------------------------------------------------------
    def send(self, cmd: SendCommand) -> tuple[Submission, Execution | None]:
        """Submit and, when nothing stands in the way, send at once (the CLI's one call)."""
        submission = self.submit(cmd, claim=True)
        if submission.claimed and submission.request is not None:
            return submission, self.deliver(submission.request, cmd.principal.user_id)
        if submission.status == "duplicate" and submission.request is not None:
            # A repeated key never sends again; it reports the original request as it stands.
            return submission, Execution(submission.request, None, None, False)
        return submission, None

    # ---- lifecycle (bot.lifecycle): what became of sends cut off, sending again ---------------
    def retry(self, request_id: int, principal: Principal, source: Source) -> Submission:
        """The same message again as a new request (see bot.lifecycle.retry)."""
        return retry_request(self, request_id, principal, source)

    def get_request(self, request_id: int) -> SmsRequest | None:
        with self.db.session() as session:
            return session.get(SmsRequest, request_id)
