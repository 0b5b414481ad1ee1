"""Reconciling `unknown` outcomes (the `reconcile_unknown` job): the portal's SMS log is asked,
by ICCID, for the request's sms_uid.

- Found: the message did reach the portal → `accepted`, with the log's delivery state.
- Not found, sent longer ago than SMSBOT_RECONCILE_GRACE_MINUTES, and the log reaches back past
  the send (it is not simply too short to show it) → `not_sent`, which may be retried.
- Otherwise it stays `unknown` and is asked again on the next run.
Each change is conditional (`unknown` → …) and audited with the evidence.
"""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from bot.jobs.registry import JobContext, job
from bot.lifecycle.delivery import LASTX_MAX, RUN_SECONDS, apply_log_entry, portal_time
from bot.portal.client import PortalError
from bot.portal.protocol import SmsLogEntry
from bot.store import audit
from bot.store.db import Database
from bot.store.grants import aware
from bot.store.models import SmsRequest
from bot.store.requests import transition_audited


def _evidence(log: list[SmsLogEntry]) -> dict[str, Any]:
    return {
        "log_entries": len(log),
        "log_newest": log[0].sent_timestamp if log else None,
        "log_oldest": log[-1].sent_timestamp if log else None,
    }


def _log_reaches_back(log: list[SmsLogEntry], sent_at: datetime | None) -> bool:
    """Does the log cover the moment of the send? (A full page whose oldest entry is newer than
    the send says nothing about it.)"""
    if len(log) < LASTX_MAX:
        return True
    oldest = portal_time(log[-1].sent_timestamp)
    return oldest is not None and sent_at is not None and oldest <= sent_at


def found(db: Database, req: SmsRequest, entry: SmsLogEntry) -> bool:
    with db.session() as session:
        if not transition_audited(
            session,
            req.id,
            ("unknown",),
            "accepted",
            event="reconciled",
            actor="system",
            details={
                "outcome": "accepted",
                "portal_status": entry.status,
                "portal_sent": entry.sent_timestamp,
            },
            outcome_reason="accepted: found in the portal's SMS log after an unknown outcome",
        ):
            return False
        apply_log_entry(session, req, entry, "reconcile")
        return True


def not_found(db: Database, req: SmsRequest, log: list[SmsLogEntry], grace: float) -> bool:
    with db.session() as session:
        return (
            transition_audited(
                session,
                req.id,
                ("unknown",),
                "not_sent",
                event="not_sent",
                actor="system",
                details={"grace_minutes": grace, **_evidence(log)},
                outcome_reason=(
                    f"not sent: its sms_uid is not in the portal's SMS log {grace:g} minutes "
                    "after the attempt; it may be sent again"
                ),
            )
            is not None
        )


@job(
    "reconcile_unknown",
    timedelta(seconds=60),
    "look up unknown outcomes in the portal's SMS log: found → accepted, absent after the "
    "grace period → not_sent",
)
def reconcile_unknown(ctx: JobContext) -> str:
    runtime = ctx.runtime
    grace = runtime.settings.SMSBOT_RECONCILE_GRACE_MINUTES
    cutoff = audit.utc_now() - timedelta(minutes=grace)
    with runtime.db.read() as session:
        # Whether each is past the grace period is decided in SQL, with the same clock.
        unknown = session.execute(
            select(SmsRequest, (SmsRequest.sent_at < cutoff).label("past_grace"))
            .where(SmsRequest.state == "unknown")
            .order_by(SmsRequest.id)
        ).all()
    by_sim: dict[str, list[tuple[SmsRequest, bool]]] = defaultdict(list)
    for req, past_grace in unknown:
        by_sim[req.iccid].append((req, bool(past_grace)))
    accepted = absent = errors = 0
    stop_at = time.monotonic() + RUN_SECONDS
    for iccid, requests in by_sim.items():
        if time.monotonic() > stop_at:
            break  # the rest next run: a run stays well inside its lease
        try:
            log = runtime.portal.query_sms_mt_details(iccid, lastx=LASTX_MAX)
        except PortalError:
            errors += 1
            continue
        by_uid = {e.sms_uid: e for e in log if e.sms_uid}
        for req, past_grace in requests:
            entry = by_uid.get(req.sms_uid)
            if entry is not None:
                accepted += found(runtime.db, req, entry)
            elif past_grace and _log_reaches_back(log, aware(req.sent_at)):
                absent += not_found(runtime.db, req, log, grace)
    return (
        f"{len(unknown)} unknown: {accepted} found (accepted), {absent} not_sent, "
        f"{errors} portal error(s)"
    )
