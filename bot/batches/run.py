"""Sending a fleet send with bounded concurrency: the `send_batches` job.

Each run releases, per batch that may send, as many `batched` members as the batch's
concurrency leaves room for (`batched` → `recorded`, or `approved` when the batch was approved —
its approvals are on each member), and hands them to the sender pool; each then goes through the
normal send (`SendService.execute`: authorization again, queue guard, the conditional claim), so
every SIM is sent at most once however many replicas run. A recorded outcome wakes the runner,
so the next members follow at once. When no member is left on its way, the batch's summary is
recorded once (`batch_done`), which the front ends render.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot.batches.decide import expire_due
from bot.jobs.registry import JobContext, job
from bot.store import audit
from bot.store.db import Database
from bot.store.models import Base, SmsBatch, SmsRequest

log = logging.getLogger(__name__)
_BATCHES = Base.metadata.tables["sms_batches"]

#: Member states on their way to the portal (released, claimed) — what concurrency bounds.
ON_THE_WAY = ("recorded", "approved", "sending")
#: Member states that are not finished.
OPEN = ("batched", *ON_THE_WAY)


def still_open(counts: dict[str, int]) -> int:
    """How many members of a `summary` have not ended yet."""
    return sum(counts.get(state, 0) for state in OPEN)


@dataclass(frozen=True)
class Released:
    request_id: int
    requester: str


def release(db: Database, batch_id: int) -> list[Released]:
    """Members of one sending batch released for sending, up to its concurrency."""
    with db.session() as session:
        batch = session.get(SmsBatch, batch_id)
        if batch is None or batch.state != "sending":
            return []
        on_the_way = session.execute(
            select(func.count())
            .select_from(SmsRequest)
            .where(SmsRequest.batch_id == batch_id, SmsRequest.state.in_(ON_THE_WAY))
        ).scalar_one()
        room = batch.concurrency - int(on_the_way)
        if room <= 0:
            return []
        ids = list(
            session.execute(
                select(SmsRequest.id)
                .where(SmsRequest.batch_id == batch_id, SmsRequest.state == "batched")
                .order_by(SmsRequest.id)
                .limit(room)
            ).scalars()
        )
        if not ids:
            return []
        state = "approved" if batch.approvals_needed > 0 else "recorded"
        session.execute(
            update(SmsRequest)
            .where(SmsRequest.id.in_(ids), SmsRequest.state == "batched")
            .values(
                state=state,
                decided_at=batch.decided_at if state == "approved" else None,
                decided_by=batch.decided_by if state == "approved" else None,
            )
        )
        return [Released(i, batch.requester) for i in ids]


def counts_of(db: Database, batch_id: int) -> dict[str, int]:
    """`summary` of one batch ({} when there is no such batch)."""
    with db.read() as session:
        batch = session.get(SmsBatch, batch_id)
        return summary(session, batch) if batch is not None else {}


def summary(session: Session, batch: SmsBatch) -> dict[str, int]:
    """Members per state, plus `delivered` and `skipped`."""
    rows = session.execute(
        select(SmsRequest.state, SmsRequest.delivery_status, func.count())
        .where(SmsRequest.batch_id == batch.id)
        .group_by(SmsRequest.state, SmsRequest.delivery_status)
    ).all()
    counts: Counter[str] = Counter()
    for state, delivery, n in rows:
        counts[state] += int(n)
        if delivery == "delivered":
            counts["delivered"] += int(n)
    counts["skipped"] = len(json.loads(batch.skipped or "[]"))
    return dict(counts)


def finish(db: Database, batch_id: int) -> bool:
    """Record the summary once, when every member has ended (the batch sending or stopped):
    the end and its audit row in one transaction."""
    with db.session() as session:
        open_left = session.execute(
            select(func.count())
            .select_from(SmsRequest)
            .where(SmsRequest.batch_id == batch_id, SmsRequest.state.in_(OPEN))
        ).scalar_one()
        if open_left:
            return False
        now = audit.utc_now()
        for was, becomes in (("sending", "done"), ("stopped", "stopped")):
            changed = (
                session.connection()
                .execute(
                    update(_BATCHES)
                    .where(
                        _BATCHES.c.id == batch_id,
                        _BATCHES.c.finished_at.is_(None),
                        _BATCHES.c.state == was,
                    )
                    .values(finished_at=now, state=becomes)
                )
                .rowcount
            )
            if changed:
                break
        else:
            return False
        batch = session.get(SmsBatch, batch_id)
        assert batch is not None
        session.refresh(batch)
        audit.append(
            session,
            "batch_done",
            "system",
            details={"batch_id": batch_id, "state": batch.state, "counts": summary(session, batch)},
        )
    return True


def active_batches(db: Database) -> list[tuple[int, str]]:
    with db.read() as session:
        return [
            (i, s)
            for i, s in session.execute(
                select(SmsBatch.id, SmsBatch.state).where(
                    SmsBatch.state.in_(("sending", "stopped")), SmsBatch.finished_at.is_(None)
                )
            ).all()
        ]


@job(
    "send_batches",
    timedelta(seconds=5),
    "fleet sends: release SIMs for sending within each batch's concurrency, expire unapproved "
    "batches, record each batch's summary when it ends",
    wakeable=True,
)
def send_batches(ctx: JobContext) -> str:
    runtime = ctx.runtime
    expired = expire_due(runtime.db)
    started = finished = 0
    for batch_id, state in active_batches(runtime.db):
        if state == "sending":
            for member in release(runtime.db, batch_id):
                started += runtime.sender.submit(member.request_id, member.requester)
        if finish(runtime.db, batch_id):
            finished += 1
    return f"{started} send(s) started, {finished} batch(es) finished, {len(expired)} expired"
