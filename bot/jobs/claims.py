"""Claiming a job run in the database: a conditional UPDATE takes a lease on the job's row, so
with N replicas exactly one runs it at a time; the lease expires if its holder dies. Every time
filter is in SQL (`lease_until < :now`), with the same clock for all conditions of one call."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from bot.store.audit import utc_now
from bot.store.db import Database
from bot.store.grants import aware
from bot.store.models import Base, JobRun

_RUNS = Base.metadata.tables["job_runs"]
RESULT_LIMIT = 500


def ensure_rows(db: Database, names: list[str]) -> None:
    """One row per job (inserted once; replicas racing here lose harmlessly)."""
    with db.read() as session:
        known = set(session.execute(select(JobRun.name)).scalars())
    for name in names:
        if name in known:
            continue
        try:
            with db.session() as session:
                session.execute(insert(_RUNS).values(name=name, runs=0))
        except IntegrityError:
            pass


def claim(db: Database, name: str, owner: str, lease: timedelta, *, force: bool) -> bool:
    """Take the job for `lease` if nobody holds it and (unless `force`) it is due."""
    now = utc_now()
    if not force and not _maybe_free(db, name, now):
        return False
    conditions = [
        _RUNS.c.name == name,
        or_(_RUNS.c.lease_until.is_(None), _RUNS.c.lease_until < now),
    ]
    if not force:
        conditions.append(or_(_RUNS.c.next_due_at.is_(None), _RUNS.c.next_due_at <= now))
    with db.session() as session:
        taken = session.connection().execute(
            update(_RUNS)
            .where(*conditions)
            .values(lease_owner=owner, lease_until=now + lease, last_started_at=now)
        )
        return taken.rowcount == 1


def _maybe_free(db: Database, name: str, now: datetime) -> bool:
    """A read first (no write lock on SQLite): a job neither due nor free is not worth an UPDATE.
    The loop asks every second for every job; most of the time the answer is no."""
    with db.read() as session:
        row = session.execute(
            select(_RUNS.c.lease_until, _RUNS.c.next_due_at).where(_RUNS.c.name == name)
        ).one_or_none()
    if row is None:
        return False
    lease, due = aware(row.lease_until), aware(row.next_due_at)
    return (lease is None or lease < now) and (due is None or due <= now)


def renew(db: Database, name: str, owner: str, lease: timedelta) -> bool:
    """Extend a lease this owner holds (long runs); False if it was lost."""
    with db.session() as session:
        kept = session.connection().execute(
            update(_RUNS)
            .where(_RUNS.c.name == name, _RUNS.c.lease_owner == owner)
            .values(lease_until=utc_now() + lease)
        )
        return kept.rowcount == 1


def release(
    db: Database, name: str, owner: str, *, ok: bool, result: str, every: timedelta
) -> None:
    """Record how the run went, when the job is due next, and free the lease."""
    now = utc_now()
    with db.session() as session:
        session.execute(
            update(_RUNS)
            .where(_RUNS.c.name == name, _RUNS.c.lease_owner == owner)
            .values(
                lease_owner=None,
                lease_until=None,
                last_finished_at=now,
                last_ok=ok,
                last_result=result[:RESULT_LIMIT],
                last_owner=owner,
                next_due_at=now + every,
                runs=_RUNS.c.runs + 1,
            )
        )


@dataclass(frozen=True)
class JobState:
    name: str
    runs: int
    last_started_at: datetime | None
    last_finished_at: datetime | None
    last_ok: bool | None
    last_result: str | None
    last_owner: str | None
    next_due_at: datetime | None
    running_on: str | None


def states(db: Database) -> dict[str, JobState]:
    now = utc_now()
    with db.read() as session:
        rows = session.execute(select(JobRun)).scalars().all()
    out = {}
    for r in rows:
        lease = aware(r.lease_until)
        running = r.lease_owner if lease is not None and lease > now else None
        out[r.name] = JobState(
            r.name,
            r.runs,
            aware(r.last_started_at),
            aware(r.last_finished_at),
            r.last_ok,
            r.last_result,
            r.last_owner,
            aware(r.next_due_at),
            running,
        )
    return out
