"""Delivery state: one function (`apply_delivery`) moves it, from pushed receipts and from polls
alike, only ever forward (nothing → pending → the portal's other words → final), decided by one
conditional UPDATE: however many copies of the same news arrive at once, on however many
replicas, exactly one changes the row and writes the audit row that front ends render.

The `poll_delivery` job asks the portal's SMS log (query_sms_mt_details) about accepted requests
without a final delivery state, on a back-off schedule (SMSBOT_POLL_SCHEDULE), one query per SIM
covering all its pending requests, until final or SMSBOT_DELIVERY_GIVE_UP_HOURS after sending,
then `not_confirmed`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, case, func, or_, select, update
from sqlalchemy.orm import Session

from bot.jobs.registry import JobContext, job
from bot.portal.client import PortalError
from bot.portal.protocol import SmsLogEntry
from bot.store import audit
from bot.store.db import Database
from bot.store.grants import aware
from bot.store.models import SmsRequest

Source = Literal["receipt", "poll", "reconcile", "give_up"]

#: Delivery states after which nothing changes any more.
FINAL_STATES = frozenset(
    {"delivered", "failed", "expired", "undeliverable", "rejected", "not_confirmed"}
)
STATUS_COLUMN = 40
#: The most messages one query_sms_mt_details returns.
LASTX_MAX = 20
#: The most seconds one run of a portal-querying job spends (its lease is 120 s).
RUN_SECONDS = 60.0


def rank(status: str | None) -> int:
    """Where a delivery state stands: it may only move to a higher rank."""
    if not status:
        return 0
    if status == "pending":
        return 1
    return 3 if status in FINAL_STATES else 2


def _rank_sql() -> ColumnElement[int]:
    column = SmsRequest.delivery_status
    return case(
        (column.is_(None), 0),
        (column == "pending", 1),
        (column.in_(sorted(FINAL_STATES)), 3),
        else_=2,
    )


def not_final() -> ColumnElement[bool]:
    column = SmsRequest.delivery_status
    return or_(column.is_(None), column.not_in(sorted(FINAL_STATES)))


def normalize_status(status: str) -> str:
    """The portal's word, trimmed and lower-cased (shown verbatim when we do not know it)."""
    return " ".join(status.split()).lower()[:STATUS_COLUMN] or "pending"


def portal_time(text: str | None) -> datetime | None:
    """The portal's `dd/mm/yyyy hh:mm:ss` (UTC); None when empty or not in that form."""
    if not text:
        return None
    try:
        return datetime.strptime(text.strip(), "%d/%m/%Y %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None


@dataclass(frozen=True)
class DeliveryChange:
    request_id: int
    status: str
    audit_seq: int


def apply_delivery(
    session: Session,
    req: SmsRequest,
    status: str,
    *,
    source: Source,
    delivered_at: datetime | None = None,
    evidence: dict[str, Any] | None = None,
) -> DeliveryChange | None:
    """Move `req`'s delivery state to `status` if that is a step forward; audit it. None when it
    changed nothing (a repeat, or not forward)."""
    status = normalize_status(status)
    values: dict[str, Any] = {"delivery_status": status}
    if status in FINAL_STATES:
        values["next_poll_at"] = None
    if status == "delivered":
        values["delivered_at"] = delivered_at or audit.utc_now()
    changed = session.connection().execute(
        update(SmsRequest)
        .where(SmsRequest.id == req.id, _rank_sql() < rank(status))
        .values(**values)
    )
    if changed.rowcount != 1:
        return None
    details: dict[str, Any] = {"sms_uid": req.sms_uid, "status": status, "source": source}
    sent_at = aware(req.sent_at)
    if status == "delivered":
        at = values["delivered_at"]
        details["delivered_at"] = audit.format_ts(at)
        if sent_at is not None:
            details["seconds_after_sending"] = round((at - sent_at).total_seconds(), 1)
    row = audit.append(
        session,
        "delivered" if status == "delivered" else "delivery_status",
        "portal" if source in ("receipt", "poll", "reconcile") else "system",
        request_id=req.id,
        iccid=req.iccid,
        details={**details, **(evidence or {})},
    )
    return DeliveryChange(req.id, status, row.seq)


def apply_log_entry(
    session: Session, req: SmsRequest, entry: SmsLogEntry, source: Source
) -> DeliveryChange | None:
    """What the portal's SMS log says about `req` (matched on sms_uid by the caller)."""
    return apply_delivery(
        session,
        req,
        entry.status,
        source=source,
        delivered_at=portal_time(entry.delivered_timestamp),
        evidence={"portal_sent": entry.sent_timestamp or None},
    )


# ---- the polling job ----------------------------------------------------------------------------
@dataclass
class PollReport:
    sims: int = 0
    changed: int = 0
    gave_up: int = 0
    errors: int = 0

    def line(self) -> str:
        return (
            f"{self.sims} SIM(s) asked, {self.changed} delivery change(s), "
            f"{self.gave_up} not_confirmed, {self.errors} portal error(s)"
        )


def give_up(db: Database, older_than: datetime) -> int:
    """Accepted requests sent before `older_than` with no final delivery state become
    `not_confirmed` (final): nobody waits forever, and the reader knows it was never confirmed."""
    with db.read() as session:
        stale = list(
            session.execute(
                select(SmsRequest).where(
                    SmsRequest.state == "accepted", not_final(), SmsRequest.sent_at < older_than
                )
            ).scalars()
        )
    done = 0
    for req in stale:
        with db.session() as session:
            if apply_delivery(session, req, "not_confirmed", source="give_up") is not None:
                done += 1
    return done


def due_sims(db: Database, now: datetime, *, force: bool) -> list[str]:
    """SIMs with at least one accepted request whose next poll is due (or, forced, any)."""
    due = SmsRequest.next_poll_at.is_(None) | (SmsRequest.next_poll_at <= now)
    conditions = [SmsRequest.state == "accepted", not_final()]
    if not force:
        conditions.append(due)
    with db.read() as session:
        return list(
            session.execute(select(SmsRequest.iccid).where(and_(*conditions)).distinct()).scalars()
        )


def poll_sim(db: Database, portal: Any, iccid: str, schedule: list[timedelta]) -> int:
    """One query for all of a SIM's pending requests; returns how many changed."""
    with db.read() as session:
        pending = list(
            session.execute(
                select(SmsRequest)
                .where(SmsRequest.iccid == iccid, SmsRequest.state == "accepted", not_final())
                .order_by(SmsRequest.id)
            ).scalars()
        )
        if not pending:
            return 0
        # How deep the oldest pending one sits in the SIM's log: our requests since then.
        depth = session.execute(
            select(func.count())
            .select_from(SmsRequest)
            .where(SmsRequest.iccid == iccid, SmsRequest.id >= pending[0].id)
        ).scalar_one()
    log = portal.query_sms_mt_details(iccid, lastx=min(LASTX_MAX, depth + 2))
    by_uid = {e.sms_uid: e for e in log if e.sms_uid}
    changed = 0
    now = audit.utc_now()
    for req in pending:
        with db.session() as session:
            entry = by_uid.get(req.sms_uid)
            if entry is not None and apply_log_entry(session, req, entry, "poll") is not None:
                changed += 1
            polls = req.delivery_polls + 1
            step = schedule[min(polls, len(schedule) - 1)]
            session.execute(
                update(SmsRequest)
                .where(SmsRequest.id == req.id, SmsRequest.state == "accepted", not_final())
                .values(delivery_polls=polls, next_poll_at=now + step)
            )
    return changed


@job(
    "poll_delivery",
    timedelta(seconds=30),
    "ask the portal's SMS log about accepted messages until delivered (back-off), "
    "or not_confirmed after the give-up age",
)
def poll_delivery(ctx: JobContext) -> str:
    runtime = ctx.runtime
    settings = runtime.settings
    now = audit.utc_now()
    report = PollReport()
    report.gave_up = give_up(
        runtime.db, now - timedelta(hours=settings.SMSBOT_DELIVERY_GIVE_UP_HOURS)
    )
    schedule = settings.poll_schedule
    stop_at = time.monotonic() + RUN_SECONDS
    for iccid in due_sims(runtime.db, now, force=ctx.force):
        if time.monotonic() > stop_at:
            break  # the rest next run: a run stays well inside its lease
        report.sims += 1
        try:
            report.changed += poll_sim(runtime.db, runtime.portal, iccid, schedule)
        except PortalError:
            report.errors += 1
    return report.line()
