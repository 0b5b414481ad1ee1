"""Settling sends cut off mid-call (the `settle_stale_sends` job): a request `sending` longer than
the portal call's overall deadline plus a margin was left by a process that stopped between the
POST and the answer; its outcome is `unknown` — accounted for, never resent — until `reconcile`
finds it in the portal's SMS log (or not)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.jobs.registry import JobContext, job
from bot.store import audit
from bot.store.db import Database
from bot.store.models import SmsRequest
from bot.store.requests import transition_audited

#: Seconds past the portal deadline before a claimed send counts as abandoned (recording the
#: answer, and other replicas' clocks).
STALE_MARGIN_SECONDS = 60
CHECK_THE_LOG = (
    "The message may or may not have been sent; check the SIM's SMS log before sending again"
)


def settle(db: Database, request_id: int, reason: str, evidence: str) -> SmsRequest | None:
    """`sending` → `unknown`, audited; the request when this call settled it."""
    with db.session() as session:
        return transition_audited(
            session,
            request_id,
            ("sending",),
            "unknown",
            event="outcome_unknown",
            actor="system",
            details={"outcome": "unknown", "settled": True, "reason": evidence},
            completed_at=audit.utc_now(),
            outcome_reason=reason,
        )


def settle_stale_sends(db: Database, older_than: timedelta) -> list[SmsRequest]:
    """Every request claimed for sending longer ago than `older_than` becomes `unknown`."""
    cutoff = audit.utc_now() - older_than
    with db.read() as session:
        stale = (
            session.execute(
                select(SmsRequest.id).where(
                    SmsRequest.state == "sending", SmsRequest.sent_at < cutoff
                )
            )
            .scalars()
            .all()
        )
    reason = (
        "outcome unknown: the bot stopped before the portal's answer was recorded. " + CHECK_THE_LOG
    )
    settled: list[SmsRequest] = []
    for request_id in stale:
        req = settle(db, request_id, reason, "no outcome recorded after the request was claimed")
        if req is not None:
            settled.append(req)
    return settled


@job(
    "settle_stale_sends",
    timedelta(seconds=30),
    "sends with no outcome past the portal deadline (+60 s) become unknown",
)
def settle_stale_sends_job(ctx: JobContext) -> str:
    settled = ctx.runtime.service.settle_stale_sends()
    return f"{len(settled)} settled as unknown"
