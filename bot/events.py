"""The audit log read as an ordered event stream. Every state change of a request is already an
audit row (seq dense, in commit order: appends hold the chain head until commit), so a consumer
that remembers the last seq it handled (`event_cursors`, in the database) sees each event once,
whichever process or front end wrote it.

A consumer runs as a job (claimed: one replica at a time) and advances its cursor after each
event in its own transaction, so a crash re-delivers at most the one event being handled.
"""

from __future__ import annotations

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from bot.store import audit
from bot.store.db import Database
from bot.store.models import AuditCheckpoint, AuditEvent, AuditHead, Base, EventCursor

_CURSORS = Base.metadata.tables["event_cursors"]


def position(db: Database, consumer: str, *, start_at_zero: bool = False) -> int:
    """The consumer's cursor; a new consumer starts at the current head (it renders what
    happens from now on, not history), or at 0 (`start_at_zero`: it wants everything)."""
    with db.read() as session:
        seq = session.execute(
            select(EventCursor.seq).where(EventCursor.consumer == consumer)
        ).scalar_one_or_none()
        if seq is not None:
            return int(seq)
        head = session.get(AuditHead, audit.HEAD_ID)
        start = head.seq if head is not None and not start_at_zero else 0
    try:
        with db.session() as session:
            session.execute(
                insert(_CURSORS).values(consumer=consumer, seq=start, updated_at=audit.utc_now())
            )
    except IntegrityError:
        return position(db, consumer, start_at_zero=start_at_zero)  # made meanwhile elsewhere
    return start


def after(db: Database, seq: int, limit: int = 100) -> list[AuditEvent]:
    """The next events after `seq`, oldest first."""
    with db.read() as session:
        return list(
            session.execute(
                select(AuditEvent).where(AuditEvent.seq > seq).order_by(AuditEvent.seq).limit(limit)
            ).scalars()
        )


def advance(db: Database, consumer: str, seq: int) -> None:
    """Mark everything up to `seq` handled (never moves back)."""
    with db.session() as session:
        session.execute(
            update(_CURSORS)
            .where(_CURSORS.c.consumer == consumer, _CURSORS.c.seq < seq)
            .values(seq=seq, updated_at=audit.utc_now())
        )


def checkpoints_after(db: Database, checkpoint_id: int, limit: int = 20) -> list[AuditCheckpoint]:
    """Audit checkpoints newer than `checkpoint_id` (a consumer posting them elsewhere)."""
    with db.read() as session:
        return list(
            session.execute(
                select(AuditCheckpoint)
                .where(AuditCheckpoint.id > checkpoint_id)
                .order_by(AuditCheckpoint.id)
                .limit(limit)
            ).scalars()
        )
