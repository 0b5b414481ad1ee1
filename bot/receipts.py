"""What the portal pushes (SMS Post Services), recorded by the core: delivery receipts and device
replies. Front ends parse the push and render what this decided.

- A receipt changes a request only when it names the request's sms_uid **and** ICCID; a mismatch
  is audited as evidence and changes nothing.
- Delivery state only moves forward (nothing → pending → other words → final), decided by one
  conditional UPDATE: however many copies of a receipt arrive at once, on however many replicas,
  exactly one changes the row, writes the audit row and is rendered.
- A device reply is recorded once (a digest of its content is unique).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import ColumnElement, case, update
from sqlalchemy.exc import IntegrityError

from bot.store import audit
from bot.store.db import Database
from bot.store.models import DeviceReply, SmsRequest
from bot.store.requests import by_sms_uid, latest_with_thread

#: Delivery states after which nothing changes any more.
FINAL_STATES = frozenset({"delivered", "failed", "expired", "undeliverable", "rejected"})
STATUS_COLUMN = 40


def rank(status: str | None) -> int:
    """Where a delivery state stands: a receipt may only move a request to a higher rank."""
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


@dataclass(frozen=True)
class DeliveryChange:
    request: SmsRequest
    status: str


def record_delivery(
    db: Database, sms_uid: str, iccid: str, status: str, api_did: str | None
) -> DeliveryChange | None:
    """Apply one delivery receipt. The change when this call made it; None when the receipt
    changed nothing (unknown sms_uid, another SIM's, a repeat, or not a step forward)."""
    status = status.strip().lower()[:STATUS_COLUMN] or "delivered"
    with db.session() as session:
        req = by_sms_uid(session, sms_uid) if sms_uid else None
        if req is None:
            return None
        if req.iccid != iccid:
            audit.append(
                session,
                "receipt_mismatch",
                "portal",
                request_id=req.id,
                iccid=req.iccid,
                details={
                    "sms_uid": sms_uid,
                    "receipt_iccid": iccid[:40],
                    "status": status,
                    "api_did": api_did,
                },
            )
            return None
        now = audit.utc_now()
        values = {"delivery_status": status}
        if status == "delivered":
            values["delivered_at"] = now  # type: ignore[assignment]
        changed = session.connection().execute(
            update(SmsRequest)
            .where(SmsRequest.id == req.id, _rank_sql() < rank(status))
            .values(**values)
        )
        if changed.rowcount != 1:
            return None
        audit.append(
            session,
            "delivered" if status == "delivered" else "delivery_status",
            "portal",
            request_id=req.id,
            iccid=req.iccid,
            details={"sms_uid": sms_uid, "status": status, "api_did": api_did},
        )
        session.refresh(req)
        return DeliveryChange(req, status)


@dataclass(frozen=True)
class ReplyRecord:
    request: SmsRequest | None
    text: str
    stamp: str | None


def record_reply(
    db: Database, iccid: str, msisdn: str | None, stamp: str | None, text: str
) -> ReplyRecord | None:
    """Record a device reply once; None when it was already recorded."""
    digest = hashlib.sha256(
        audit.canonical_json([iccid, msisdn, stamp, text]).encode("utf-8")
    ).hexdigest()
    try:
        with db.session() as session:
            req = latest_with_thread(session, iccid)
            session.add(
                DeviceReply(
                    digest=digest,
                    iccid=iccid,
                    msisdn=msisdn,
                    sent_timestamp=stamp,
                    message_text=text,
                    request_id=req.id if req else None,
                    received_at=audit.utc_now(),
                )
            )
            audit.append(
                session,
                "reply_received",
                "portal",
                request_id=req.id if req else None,
                iccid=iccid,
                details={"message_text": text[:2000], "timestamp": stamp, "msisdn": msisdn},
            )
    except IntegrityError:
        return None  # the same item pushed again: already recorded
    return ReplyRecord(req, text, stamp)
