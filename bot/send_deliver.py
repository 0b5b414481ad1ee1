"""The second half of the send pipeline — execute: re-authorize → claim (a conditional state
change) → POST → record the outcome — and settling the sends a stop or a crash cut off.

`SendService` (bot.service) inherits it: the same database, portal client, settings and
in-flight bookkeeping, declared below."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from bot import metrics
from bot.authz import GroupDirectory, Principal
from bot.lifecycle import queue_guard, settle
from bot.portal.client import PortalClient
from bot.portal.outcome import SendOutcome
from bot.portal.protocol import SendSms
from bot.request_facts import SENDABLE_STATES, approval_intact, requester_of
from bot.send_types import Execution
from bot.store import audit
from bot.store.db import Database, retry_on_disconnect
from bot.store.grants import check_access
from bot.store.inventory import get_sim
from bot.store.models import SmsRequest
from bot.store.requests import transition

_OUTCOME_EVENTS = {"accepted": "sent", "rejected": "failed", "unknown": "outcome_unknown"}


class Delivering:
    db: Database
    portal: PortalClient
    #: When an accepted message's delivery is first asked (the poll_delivery job).
    first_poll: timedelta
    #: Sends this process cut off (Ctrl-C, a stop), to record as `unknown`.
    interrupted: list[int]
    #: Requests this process is sending right now (between claim and recorded outcome).
    in_flight: set[int]
    admins: frozenset[str]
    queue_caps: dict[str, int]
    directory: GroupDirectory | None

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

    def _sending_entry(self, req: SmsRequest, actor: str) -> audit.Entry:
        portal = {"portal": self.portal.url, "sandbox": self.portal.sandbox}
        return audit.Entry("sending", actor, req.id, req.iccid, {"sms_uid": req.sms_uid, **portal})

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
