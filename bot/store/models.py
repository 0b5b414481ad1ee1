"""SQLAlchemy 2 typed models. The schema is owned by Alembic (`migrations/`); a test checks the two
agree on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class SimGroup(Base):
    """A named set of SIMs with its approval policy."""

    __tablename__ = "sim_groups"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    approval_required: Mapped[bool] = mapped_column(Boolean, default=False)
    approval_channel: Mapped[str | None] = mapped_column(String(32))
    approvals_needed: Mapped[int] = mapped_column(Integer, default=1)


class Sim(Base):
    """The SIM inventory."""

    __tablename__ = "sims"

    iccid: Mapped[str] = mapped_column(String(22), primary_key=True)
    label: Mapped[str | None] = mapped_column(String(200), index=True)
    #: The SIM's phone number (digits, international form without `+`): another way to name it.
    msisdn: Mapped[str | None] = mapped_column(String(20), index=True)
    sim_type: Mapped[str | None] = mapped_column(String(64))
    group_name: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("sim_groups.name"), index=True
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Grant(Base):
    """A role granted to a subject over a set of SIMs.

    Revoking marks the row; nothing deletes it.
    """

    __tablename__ = "grants"
    __table_args__ = (
        CheckConstraint("role IN ('sender','approver','admin','auditor')", name="role"),
        CheckConstraint("subject_kind IN ('user','usergroup','channel')", name="subject_kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject: Mapped[str] = mapped_column(String(32), index=True)
    subject_kind: Mapped[str] = mapped_column(String(16))
    role: Mapped[str] = mapped_column(String(16))
    scope: Mapped[str] = mapped_column(String(80))
    approval_required: Mapped[bool] = mapped_column(Boolean, default=False)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_by: Mapped[str | None] = mapped_column(String(64))


class SmsRequest(Base):
    """One send request: every field sent, who asked from where, and what became of it."""

    __tablename__ = "sms_requests"
    __table_args__ = (
        CheckConstraint(
            "state IN ('recorded','awaiting_approval','approved','sending','accepted',"
            "'rejected','unknown','refused','expired','cancelled','declined','abandoned',"
            "'not_sent','batched')",
            name="state",
        ),
        Index("ix_sms_requests_iccid_created", "iccid", "created_at"),
        Index("ix_sms_requests_state_next_poll", "state", "next_poll_at"),
        Index("ix_sms_requests_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    sms_uid: Mapped[str] = mapped_column(String(12), unique=True)
    iccid: Mapped[str] = mapped_column(String(22))
    message_text: Mapped[str] = mapped_column(Text)
    #: A binary payload as hex (what reviewers read; message_text holds the base64 sent).
    payload_hex: Mapped[str | None] = mapped_column(Text)
    data_coding: Mapped[str] = mapped_column(String(16))
    origin: Mapped[str | None] = mapped_column(String(15))
    sim_type: Mapped[str | None] = mapped_column(String(64))
    request_hash: Mapped[str] = mapped_column(String(64))
    requester: Mapped[str] = mapped_column(String(64))
    requester_groups: Mapped[str] = mapped_column(Text, default="")
    channel_id: Mapped[str | None] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16))
    warnings: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(24), index=True)
    grant_id: Mapped[int | None] = mapped_column(Integer)
    outcome_category: Mapped[str | None] = mapped_column(String(40))
    outcome_reason: Mapped[str | None] = mapped_column(Text)
    portal_http_status: Mapped[int | None] = mapped_column(Integer)
    portal_request_xml: Mapped[str | None] = mapped_column(Text)
    portal_attempts: Mapped[int | None] = mapped_column(Integer)
    portal_ms: Mapped[float | None] = mapped_column()
    sandbox: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivery_status: Mapped[str | None] = mapped_column(String(40))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Where the front end shows the request (Slack thread), so later updates land there.
    slack_channel: Mapped[str | None] = mapped_column(String(32))
    slack_ts: Mapped[str | None] = mapped_column(String(32))
    # Approval: where it was asked, how many distinct approvers it needs, until when, and the
    # decision (`declined` is an approver's rejection; `rejected` stays the portal's).
    approval_channel: Mapped[str | None] = mapped_column(String(32))
    approval_ts: Mapped[str | None] = mapped_column(String(32))
    approvals_needed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    #: The request this one sends again (Retry), if any.
    retry_of: Mapped[int | None] = mapped_column(Integer)
    #: The message template the text came from, if any.
    template_name: Mapped[str | None] = mapped_column(String(40))
    #: Delivery polling (jobs `poll_delivery`): when the portal's log is asked next, how often
    #: it was asked.
    next_poll_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivery_polls: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: The fleet send this request is one SIM of (its state `batched` until the batch releases
    #: it for sending), if any.
    batch_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("sms_batches.id"), index=True)


class SmsBatch(Base):
    """A fleet send: one message to every active SIM of a group (or a list), decided once and
    sent SIM by SIM — each SIM is its own `sms_requests` row (sms_uid, outcome, delivery)."""

    __tablename__ = "sms_batches"
    __table_args__ = (
        CheckConstraint(
            "state IN ('awaiting_approval','sending','done','stopped','declined','expired',"
            "'refused')",
            name="state",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    requester: Mapped[str] = mapped_column(String(64))
    channel_id: Mapped[str | None] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16))
    #: The group named, or None for an explicit list of SIMs.
    group_name: Mapped[str | None] = mapped_column(String(64))
    message_text: Mapped[str] = mapped_column(Text)
    data_coding: Mapped[str] = mapped_column(String(16))
    template_name: Mapped[str | None] = mapped_column(String(40))
    #: SHA-256 over every member's request hash, in id order: what the approvers approved.
    batch_hash: Mapped[str] = mapped_column(String(64))
    members: Mapped[int] = mapped_column(Integer)
    #: SIMs named but not sent to, with why (JSON list of {iccid, reason}).
    skipped: Mapped[str] = mapped_column(Text, default="[]")
    state: Mapped[str] = mapped_column(String(24), index=True)
    #: How many members may be on their way to the portal at once.
    concurrency: Mapped[int] = mapped_column(Integer)
    approvals_needed: Mapped[int] = mapped_column(Integer, default=0)
    approval_channel: Mapped[str | None] = mapped_column(String(32))
    approval_ts: Mapped[str | None] = mapped_column(String(32))
    slack_channel: Mapped[str | None] = mapped_column(String(32))
    slack_ts: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    #: When every member reached an end and the summary was recorded.
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Approval(Base):
    """One approver's approval of one request, bound to the request's hash. One per approver:
    a quorum of two needs two different people."""

    __tablename__ = "approvals"
    __table_args__ = (UniqueConstraint("request_id", "approver", name="one_per_approver"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[int] = mapped_column(Integer, ForeignKey("sms_requests.id"), index=True)
    approver: Mapped[str] = mapped_column(String(64))
    request_hash: Mapped[str] = mapped_column(String(64))
    via: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DeviceReply(Base):
    """An SMS a device sent back (SMS Post Services `post_sms`). The digest makes the portal's
    repeated pushes of the same item land once."""

    __tablename__ = "device_replies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    iccid: Mapped[str] = mapped_column(String(22), index=True)
    msisdn: Mapped[str | None] = mapped_column(String(20))
    sent_timestamp: Mapped[str | None] = mapped_column(String(32))
    message_text: Mapped[str] = mapped_column(Text)
    request_id: Mapped[int | None] = mapped_column(Integer)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditEvent(Base):
    """The append-only, hash-chained audit log. `seq` is dense from 1; `hash` covers the previous
    row's hash and this row's canonical form, so an altered, removed or inserted row breaks the
    chain. Database triggers refuse UPDATE and DELETE."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    ts: Mapped[str] = mapped_column(String(32), index=True)
    event: Mapped[str] = mapped_column(String(40), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[int | None] = mapped_column(Integer, index=True)
    iccid: Mapped[str | None] = mapped_column(String(22), index=True)
    details: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditHead(Base):
    """The chain's tip (one row). Writers lock it to append in order; `verify` checks the last row
    against it, so truncating the log is detected too."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class JobRun(Base):
    """One periodic job: who holds it now (a lease, so one replica runs it at a time), when it is
    due next, and how its last run went (`smsbot jobs list`)."""

    __tablename__ = "job_runs"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    next_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_ok: Mapped[bool | None] = mapped_column(Boolean)
    last_result: Mapped[str | None] = mapped_column(Text)
    last_owner: Mapped[str | None] = mapped_column(String(64))
    runs: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class EventCursor(Base):
    """How far a consumer of the audit stream (e.g. the Slack renderer) has got: the seq of the
    last event it rendered."""

    __tablename__ = "event_cursors"

    consumer: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SandboxSmsLog(Base):
    """The embedded sandbox portal's SMS log, kept in the bot's database so that its queue cap
    and log hold across CLI runs. Not used with the live portal."""

    __tablename__ = "sandbox_sms_log"
    __table_args__ = (Index("ix_sandbox_sms_log_iccid_id", "iccid", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    iccid: Mapped[str] = mapped_column(String(22))
    sms_uid: Mapped[str | None] = mapped_column(String(12))
    message_text: Mapped[str] = mapped_column(Text)
    origin: Mapped[str] = mapped_column(String(16))
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    receipt_pushed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class AuditCheckpoint(Base):
    """The audit chain's head at a moment, signed (HMAC-SHA256) with SMSBOT_AUDIT_KEY, which the
    database never holds: whoever can write the database can recompute every hash of a rewritten
    log, but not a checkpoint's signature. Kept apart from the audit tables."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
    taken_at: Mapped[str] = mapped_column(String(32))
    #: Which key signed it (a digest of the key, never the key).
    key_id: Mapped[str] = mapped_column(String(16))
    mac: Mapped[str] = mapped_column(String(64))


class MessageTemplate(Base):
    """A named message (`reset modem`, `APN=${apn}`) with `${name}` placeholders filled at send
    time, optionally only for one SIM type or group. Removing marks the row (requests name it)."""

    __tablename__ = "message_templates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(40), index=True)
    message_text: Mapped[str] = mapped_column(Text)
    data_coding: Mapped[str] = mapped_column(String(16))
    sim_type: Mapped[str | None] = mapped_column(String(64))
    group_name: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    removed_by: Mapped[str | None] = mapped_column(String(64))
