"""The audit log: append-only, hash-chained, exportable, verifiable.

Each row's hash is SHA-256 over a canonical JSON form of the row including the previous row's
hash. Appending locks the one-row chain head (on PostgreSQL inside one server-side statement,
`smsbot_audit_append`, see `audit_sql`; on SQLite BEGIN IMMEDIATE already holds the one write lock),
so concurrent writers — threads or processes — append one after another and cannot fork the chain.
No code path here updates or deletes a row, and database triggers refuse both.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine, bindparam, insert, select, text, update
from sqlalchemy.orm import Session

from bot import metrics
from bot.store import audit_sql
from bot.store.db import AUDITED, HEAD_TAKEN
from bot.store.models import AuditEvent, AuditHead, Base
from bot.store.safe_text import capped, clean_value, for_csv_cell, for_terminal, storable

GENESIS_HASH = "0" * 64
HEAD_ID = 1

#: Every event the pipeline and admin tools write (SPEC.md "every step").
EVENTS = frozenset(
    {
        "requested",
        "invalid",
        "needs_confirmation",
        "denied",
        "duplicate",
        "approval_requested",
        "approved",
        "rejected",
        "expired",
        "approver_refused",
        "sending",
        "sent",
        "failed",
        "outcome_unknown",
        "delivered",
        "reply_received",
        "foreign_request_refused",
        "late_outcome",
        "receipt_mismatch",
        "cancelled",
        "delivery_status",
        "abandoned",
        "reconciled",
        "not_sent",
        "template_added",
        "template_removed",
        "grant_created",
        "grant_revoked",
        "grant_refused",
        "sims_imported",
        "group_policy_set",
        "sims_import_refused",
        # Fleet sends (bot.batches): batch-wide events carry `batch_id` in their details; each
        # SIM's own request has the usual events.
        "batch_requested",
        "batch_approval_requested",
        "batch_approved",
        "batch_rejected",
        "batch_expired",
        "batch_stopped",
        "batch_done",
    }
)


#: Column sizes of audit_log, and the cap for any one string in a row's details (2 KB: a refused
#: input is kept with its length and digest, never at any size).
ACTOR_LIMIT = 64
ICCID_LIMIT = 22
DETAIL_TEXT_LIMIT = 2000


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_ts(moment: datetime) -> str:
    """Fixed-width UTC ISO-8601 with microseconds: exact round trip and sortable as text."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


#: The columns a row's hash covers, in the canonical form.
HASHED_FIELDS = ("seq", "ts", "event", "actor", "request_id", "iccid", "details", "prev_hash")


def row_hash(fields: Mapping[str, Any]) -> str:
    """SHA-256 of the row's canonical form (the details are hashed as stored, byte for byte)."""
    form = canonical_json({name: fields[name] for name in HASHED_FIELDS})
    return hashlib.sha256(form.encode("utf-8")).hexdigest()


_LOG = Base.metadata.tables["audit_log"]
_HEAD = Base.metadata.tables["audit_head"]
_HEAD_FOR_UPDATE = select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == HEAD_ID).with_for_update()
_INSERT_EVENT = insert(_LOG)
_UPDATE_HEAD = (
    update(_HEAD)
    .where(_HEAD.c.id == HEAD_ID)
    .values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))
)


def append(
    session: Session,
    event: str,
    actor: str,
    *,
    request_id: int | None = None,
    iccid: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one row in the caller's transaction (it commits with the change it records)."""
    return append_many(session, [Entry(event, actor, request_id, iccid, details)])[0]


@dataclass(frozen=True)
class Entry:
    """One row to append (see `append`)."""

    event: str
    actor: str
    request_id: int | None = None
    iccid: str | None = None
    details: dict[str, Any] | None = None


def _fields(entry: Entry) -> dict[str, Any]:
    """An entry made storable: whatever a refused request held is recorded — values that do not
    fit a column are cut (the whole, capped, goes into the details), characters no database can
    store are escaped visibly, and no string in the details is longer than DETAIL_TEXT_LIMIT."""
    if entry.event not in EVENTS:
        raise ValueError(f"unknown audit event {entry.event!r}")
    details = clean_value(entry.details or {}, DETAIL_TEXT_LIMIT)
    actor = storable(entry.actor)
    if len(actor) > ACTOR_LIMIT:
        details["actor_given"] = capped(actor, DETAIL_TEXT_LIMIT)
        actor = actor[: ACTOR_LIMIT - 1] + "…"
    iccid = entry.iccid
    if iccid is not None:
        iccid = storable(iccid)
        if len(iccid) > ICCID_LIMIT:
            details["iccid_given"] = capped(iccid, DETAIL_TEXT_LIMIT)
            iccid = iccid[: ICCID_LIMIT - 1] + "…"
    return {
        "event": entry.event,
        "actor": actor,
        "request_id": entry.request_id,
        "iccid": iccid,
        "details": canonical_json(details),
    }


def append_many(session: Session, entries: list[Entry]) -> list[AuditEvent]:
    """Append rows in order, in the caller's transaction: the head is locked and moved once
    and the rows inserted in one statement, however many (a fleet send records hundreds)."""
    prepared = [_fields(e) for e in entries]
    if not prepared:
        return []
    # Core statements on the session's connection, not the ORM unit of work: this runs on
    # every send and the ORM path costs several times more.
    # Write the caller's pending ORM changes first: rows are always locked before the audit head,
    # in every transaction, so writers cannot deadlock on the two.
    session.flush()
    session.info[AUDITED] = True
    conn = session.connection()
    asked = time.perf_counter()
    ts = format_ts(utc_now())
    if _appends_in_server(conn):
        rows = _append_in_server(conn, prepared, ts)
    else:
        rows = _append_here(conn, prepared, ts)
    if HEAD_TAKEN not in session.info:
        # The head was taken during the call (lock wait included: under load that is most of it).
        taken = time.perf_counter()
        session.info[HEAD_TAKEN] = taken
        metrics.AUDIT_HEAD_WAIT.observe(taken - asked)
    return [AuditEvent(**values) for values in rows]


#: Per engine: can the chain be appended by `smsbot_audit_append` (PostgreSQL, UTF-8, migrated)?
_SERVER_APPEND: WeakKeyDictionary[Engine, bool] = WeakKeyDictionary()
_CALL_APPEND = text(audit_sql.CALL)
_SERVER_APPEND_USABLE = text(audit_sql.USABLE)
_NOTIFY = text(audit_sql.NOTIFY)


#: False: append from Python on PostgreSQL too (bench/audit_head.py measures both in one run).
SERVER_APPEND = True


def _appends_in_server(conn: Connection) -> bool:
    if not SERVER_APPEND or conn.dialect.name != "postgresql":
        return False
    usable = _SERVER_APPEND.get(conn.engine)
    if usable is None:
        usable = _SERVER_APPEND[conn.engine] = bool(conn.execute(_SERVER_APPEND_USABLE).scalar())
    return usable


def _append_in_server(
    conn: Connection, prepared: list[dict[str, Any]], ts: str
) -> list[dict[str, Any]]:
    """One statement locks the head, chains and inserts the rows and moves the head."""
    entries = json.dumps(prepared, ensure_ascii=False)
    # The function raises itself when the head row is missing; one row comes back per entry.
    params = {"entries": entries, "at": ts, "origin": audit_sql.origin(conn.engine)}
    chained = conn.execute(_CALL_APPEND, params).all()
    return [
        {"seq": seq, "ts": ts, **fields, "prev_hash": prev, "hash": digest}
        for fields, (seq, prev, digest) in zip(prepared, chained, strict=True)
    ]


def _append_here(conn: Connection, prepared: list[dict[str, Any]], ts: str) -> list[dict[str, Any]]:
    """Lock the head (BEGIN IMMEDIATE already holds SQLite's one write lock), chain, insert."""
    head = conn.execute(_HEAD_FOR_UPDATE).one_or_none()
    if head is None:
        raise RuntimeError("audit_head row is missing: run `smsbot db upgrade`")
    seq, prev = head.seq, head.hash
    rows: list[dict[str, Any]] = []
    for fields in prepared:
        seq += 1
        values = {"seq": seq, "ts": ts, **fields, "prev_hash": prev}
        values["hash"] = prev = row_hash(values)
        rows.append(values)
    conn.execute(_INSERT_EVENT, rows if len(rows) > 1 else rows[0])
    conn.execute(_UPDATE_HEAD, {"new_seq": seq, "new_hash": prev})
    if conn.dialect.name == "postgresql":
        # As the server-side append does (bot.jobs.listen).
        conn.execute(_NOTIFY, {"origin": audit_sql.origin(conn.engine)})
    return rows


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    rows: int
    bad_seq: int | None = None
    problem: str = ""


def verify(session: Session, batch: int = 1000) -> VerifyResult:
    """Walk the chain from seq 1; name the first row that was altered, removed or inserted.

    Run it in a snapshot (`Database.snapshot()`): the head and the rows are then one state of
    the log, whatever is appended meanwhile. (Read in separate statements under READ COMMITTED,
    a send landing between them looked like tampering.)"""
    head = session.get(AuditHead, HEAD_ID)
    if head is None:
        return VerifyResult(False, 0, None, "the audit_head row is missing")
    expected_seq = 1
    prev = GENESIS_HASH
    count = 0
    rows = session.execute(
        select(AuditEvent).order_by(AuditEvent.seq).execution_options(yield_per=batch)
    ).scalars()
    for row in rows:
        if row.seq != expected_seq:
            return VerifyResult(
                False, count, expected_seq, f"row {expected_seq} is missing (next is {row.seq})"
            )
        if row.prev_hash != prev:
            return VerifyResult(
                False, count, row.seq, f"row {row.seq} does not follow row {row.seq - 1}"
            )
        if row_hash(as_dict(row)) != row.hash:
            return VerifyResult(False, count, row.seq, f"row {row.seq} was altered")
        prev = row.hash
        expected_seq += 1
        count += 1
    if head.seq != count or head.hash != prev:
        return VerifyResult(
            False,
            count,
            count + 1,
            f"the log ends at row {count} but the head says {head.seq}: rows were removed",
        )
    return VerifyResult(True, count)


def query(
    session: Session,
    *,
    iccid: str | None = None,
    since: datetime | None = None,
    request_id: int | None = None,
    limit: int | None = None,
    newest_first: bool = False,
) -> list[AuditEvent]:
    stmt = select(AuditEvent)
    if iccid:
        stmt = stmt.where(AuditEvent.iccid == iccid)
    if since:
        stmt = stmt.where(AuditEvent.ts >= format_ts(since))
    if request_id is not None:
        stmt = stmt.where(AuditEvent.request_id == request_id)
    stmt = stmt.order_by(AuditEvent.seq.desc() if newest_first else AuditEvent.seq)
    if limit:
        stmt = stmt.limit(limit)
    return list(session.execute(stmt).scalars())


EXPORT_FIELDS = (
    "seq",
    "ts",
    "event",
    "actor",
    "request_id",
    "iccid",
    "details",
    "prev_hash",
    "hash",
)


def as_dict(row: AuditEvent) -> dict[str, Any]:
    return {name: getattr(row, name) for name in EXPORT_FIELDS}


def export(session: Session, out: TextIO, fmt: str) -> int:
    """Write the whole log as CSV or JSON Lines (details stay the hashed string); rows written."""
    rows: Iterator[AuditEvent] = iter(
        session.execute(
            select(AuditEvent).order_by(AuditEvent.seq).execution_options(yield_per=1000)
        ).scalars()
    )
    count = 0
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            # Neutralised for spreadsheets (the jsonl export keeps values exact for verifying).
            writer.writerow({k: for_csv_cell(v) for k, v in as_dict(row).items()})
            count += 1
    elif fmt == "jsonl":
        for row in rows:
            out.write(canonical_json(as_dict(row)) + "\n")
            count += 1
    else:
        raise ValueError("format must be csv or jsonl")
    return count


def to_text(row: AuditEvent) -> str:
    """One line for people: when, what, who, which request/SIM, details (control characters
    escaped: a value typed by someone cannot drive the operator's terminal)."""
    return for_terminal(_plain_line(row))


def _plain_line(row: AuditEvent) -> str:
    buf = io.StringIO()
    buf.write(f"#{row.seq} {row.ts} {row.event:<18} {row.actor}")
    if row.request_id is not None:
        buf.write(f" req={row.request_id}")
    if row.iccid:
        buf.write(f" iccid={row.iccid}")
    if row.details and row.details != "{}":
        buf.write(f" {row.details}")
    return buf.getvalue()
