"""The send pipeline: the one path every front end (Slack, CLI) takes to send an SMS.

    submit:  validate → authorize → (confirm warnings) → record the request
    execute: re-authorize → claim (conditional state change) → POST → record the outcome

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
from sqlalchemy.orm.attributes import set_committed_value

from bot import metrics, rate_limits, templates
from bot.authz import GroupDirectory, Principal
from bot.config import Rate
from bot.lifecycle import queue_guard, settle
from bot.lifecycle.retry import retry_request
from bot.portal.client import PortalClient
from bot.portal.outcome import SendOutcome
from bot.portal.protocol import SendSms
from bot.request_facts import (
    NOT_SENT_STATES,
    SENDABLE_STATES,
    approval_intact,
    current_hash,
    request_hash,
    requester_of,
    retryable,
)
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
from bot.store.inventory import get_sim, get_sim_and_group
from bot.store.models import SimGroup, SmsRequest
from bot.store.requests import transition
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
_OUTCOME_EVENTS = {"accepted": "sent", "rejected": "failed", "unknown": "outcome_unknown"}

#: A repeated submission (Slack retries, a double click): built once, it is on every form's path.
_BY_KEY = select(SmsRequest).where(SmsRequest.idempotency_key == bindparam("key"))


class SendService:
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

    def _sending_entry(self, req: SmsRequest, actor: str) -> audit.Entry:
        portal = {"portal": self.portal.url, "sandbox": self.portal.sandbox}
        return audit.Entry("sending", actor, req.id, req.iccid, {"sms_uid": req.sms_uid, **portal})

    # ---- execute -----------------------------------------------------------------------------
    def requester_now(self, request_id: int) -> Principal | None:
        """The requester of a recorded request with their user groups as they are now: looked
        up again (no cache) when a directory is known, so someone removed from the on-call group
        that gave them `sender` is no longer approved or sent for. Without a directory (a
        CLI-only process) the groups recorded with the request count. Called before any row is
        locked: the lookup is a network call."""
        with self.db.session() as session:
            req = session.get(SmsRequest, request_id)
            if req is None:
                return None
            recorded = requester_of(req)
        if self.directory is None or recorded.user_id[:1] not in ("U", "W"):
            return recorded
        groups = self.directory.groups_of(recorded.user_id, fresh=True)
        return Principal(recorded.user_id, groups, recorded.channel_id)

    def execute(self, request_id: int, actor: str) -> Execution:
        """Send a recorded (or approved) request, once. Safe to call any number of times:
        authorization is checked again, and only the caller that claims the request sends it."""
        principal = self.requester_now(request_id)
        with self.db.session() as session:
            req = session.get(SmsRequest, request_id)
            if req is None or principal is None:
                raise LookupError(f"no request #{request_id}")
            if req.state not in SENDABLE_STATES:
                return Execution(req, None, None, False)
            sim = get_sim(session, req.iccid)
            access = check_access(
                session,
                principal,
                "sender",
                req.iccid,
                sim.group_name if sim else None,
                self.admins,
            )
            reason = None if access.allowed else access.reason
            if reason is None and req.state == "approved" and not approval_intact(session, req):
                reason = "the request no longer matches what was approved: not sent"
            if reason is None:
                reason = queue_guard.refusal(session, req.iccid, req.sim_type, self.queue_caps)
            if reason is not None:
                refused = transition(
                    session,
                    req.id,
                    SENDABLE_STATES,
                    "refused",
                    completed_at=audit.utc_now(),
                    outcome_reason=reason,
                )
                row = None
                if refused:
                    row = audit.append(
                        session,
                        "denied",
                        actor,
                        request_id=req.id,
                        iccid=req.iccid,
                        details={"role": "sender", "reason": reason, "at": "send"},
                    )
                session.refresh(req)
                return Execution(req, None, row.seq if row else None, False)
            sent_at = audit.utc_now()
            if not transition(session, req.id, SENDABLE_STATES, "sending", sent_at=sent_at):
                session.refresh(req)
                return Execution(req, None, None, False)
            # Mirror the claim on the loaded object without marking it dirty.
            set_committed_value(req, "state", "sending")
            set_committed_value(req, "sent_at", sent_at)
            audit.append_many(session, [self._sending_entry(req, actor)])
        return self.deliver(req, actor)

    def deliver(self, req: SmsRequest, actor: str) -> Execution:
        """POST a request this caller has claimed (state `sending`) and record the outcome."""
        self.in_flight.add(req.id)
        try:
            return self._deliver(req, actor)
        except BaseException:
            self.interrupted.append(req.id)
            raise
        finally:
            self.in_flight.discard(req.id)

    def settle_in_flight(self, why: str) -> list[int]:
        """Record `unknown` for sends still running when the process must stop: their answer
        will not be recorded (a late one is refused by the conditional state change)."""
        self.interrupted.extend(self.in_flight)
        return self.settle_interrupted(why)

    def settle_interrupted(self, why: str) -> list[int]:
        """Record `unknown` for the sends this process cut off (see `interrupted`)."""
        settled = []
        while self.interrupted:
            request_id = self.interrupted.pop()
            if self._settle(request_id, f"outcome unknown: {why}. {settle.CHECK_THE_LOG}", why):
                settled.append(request_id)
        return settled

    def _deliver(self, req: SmsRequest, actor: str) -> Execution:
        message = SendSms(req.iccid, req.message_text, req.data_coding, req.origin, req.sms_uid)
        outcome = self.portal.send_sms(message)
        metrics.SENDS.labels(outcome.status).inc()
        metrics.PORTAL_SECONDS.observe(outcome.elapsed_ms / 1000)
        values: dict[str, Any] = {
            "state": outcome.status,
            "completed_at": audit.utc_now(),
            "outcome_category": outcome.category,
            "outcome_reason": outcome.summary,
            "portal_http_status": outcome.http_status,
            "portal_request_xml": self.portal.redacted_request(message),
            "portal_attempts": outcome.attempts,
            "portal_ms": round(outcome.elapsed_ms, 3),
        }
        if outcome.status == "accepted":
            values["next_poll_at"] = values["completed_at"] + self.first_poll

        def record() -> Execution | int:
            with self.db.session() as session:
                if not transition(session, req.id, ("sending",), **values):
                    return self._late_outcome(session, req, outcome, actor)
                row = audit.append(
                    session,
                    _OUTCOME_EVENTS[outcome.status],
                    actor,
                    request_id=req.id,
                    iccid=req.iccid,
                    details={
                        "sms_uid": req.sms_uid,
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
            return row.seq

        # The answer is recorded even if the database connection died during the POST.
        recorded = retry_on_disconnect(record)
        if isinstance(recorded, Execution):
            return recorded
        # The row now holds exactly these values: mirror them instead of reading it back.
        for name, value in values.items():
            setattr(req, name, value)
        return Execution(req, outcome, recorded, True)

    def _late_outcome(
        self, session: Session, req: SmsRequest, outcome: SendOutcome, actor: str
    ) -> Execution:
        """The row left `sending` while the portal answered (settled as unknown by another
        process): what the row says stands. The answer is audited as evidence, never applied,
        and the caller reports the row, so nobody is told something the row contradicts."""
        stored = session.get(SmsRequest, req.id)
        assert stored is not None
        row = audit.append(
            session,
            "late_outcome",
            actor,
            request_id=req.id,
            iccid=req.iccid,
            details={
                "sms_uid": req.sms_uid,
                "portal_outcome": outcome.status,
                "reason": outcome.reason,
                "row_state": stored.state,
            },
        )
        session.expunge(stored)
        return Execution(stored, None, row.seq, True)

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
    @property
    def stale_after(self) -> timedelta:
        """When a claimed send without an outcome is surely abandoned: the portal call's overall
        deadline (after which no answer is ever recorded) plus a margin."""
        return timedelta(seconds=self.portal.deadline + settle.STALE_MARGIN_SECONDS)

    def settle_stale_sends(self, older_than: timedelta | None = None) -> list[SmsRequest]:
        return settle.settle_stale_sends(
            self.db, self.stale_after if older_than is None else older_than
        )

    def _settle(self, request_id: int, reason: str, evidence: str) -> SmsRequest | None:
        return settle.settle(self.db, request_id, reason, evidence)

    def retry(self, request_id: int, principal: Principal, source: Source) -> Submission:
        """The same message again as a new request (see bot.lifecycle.retry)."""
        return retry_request(self, request_id, principal, source)

    def get_request(self, request_id: int) -> SmsRequest | None:
        with self.db.session() as session:
            return session.get(SmsRequest, request_id)
