"""What the portal pushes (SMS Post Services), recorded by the core: delivery receipts and device
replies. Front ends parse the push and render what this decided.

- A receipt changes a request only when it names the request's sms_uid **and** ICCID; a mismatch
  is audited as evidence and changes nothing.
- Delivery state moves through `bot.lifecycle.delivery.apply_delivery`, the one function polls
  use too: forward only, one conditional UPDATE, so a repeated receipt changes nothing.
- A device reply is recorded once (a digest of its content is unique).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from bot.lifecycle.delivery import STATUS_COLUMN, DeliveryChange, apply_delivery
from bot.store import audit
from bot.store.db import Database
from bot.store.models import DeviceReply, SmsRequest
from bot.store.requests import by_sms_uid, latest_with_thread


def record_delivery(
    db: Database, sms_uid: str, iccid: str, status: str, api_did: str | None
) -> DeliveryChange | None:
    """Apply one delivery receipt (through the one delivery function). The change when this call
    made it; None when the receipt changed nothing (unknown sms_uid, another SIM's, a repeat, or
    not a step forward)."""
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
                    "status": status[:STATUS_COLUMN],
                    "api_did": api_did,
                },
            )
            return None
        return apply_delivery(
            session, req, status or "delivered", source="receipt", evidence={"api_did": api_did}
        )


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
