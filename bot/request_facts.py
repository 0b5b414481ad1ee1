"""Facts about a recorded request that every part of the bot reads the same way: its hash (what
approvals and idempotency bind to), who made it, whether it may be sent or retried."""

from __future__ import annotations

import hashlib

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.authz import Principal
from bot.store import audit
from bot.store.models import Approval, SmsRequest

#: States from which a request may be claimed for sending.
SENDABLE_STATES = ("recorded", "approved")


def request_hash(iccid: str, text: str, coding: str, origin: str | None, uid: str) -> str:
    """Binds approvals and idempotency to the exact request."""
    form = audit.canonical_json(
        {
            "iccid": iccid,
            "message_text": text,
            "data_coding": coding,
            "origin": origin,
            "sms_uid": uid,
        }
    )
    return hashlib.sha256(form.encode("utf-8")).hexdigest()


def requester_of(req: SmsRequest) -> Principal:
    """The principal a recorded request was made by (user, user groups, channel), as recorded."""
    return Principal(
        req.requester, tuple(filter(None, req.requester_groups.split(","))), req.channel_id
    )


def current_hash(req: SmsRequest) -> str:
    """The hash of the request as it stands in the database now."""
    return request_hash(req.iccid, req.message_text, req.data_coding, req.origin, req.sms_uid)


def approval_intact(session: Session, req: SmsRequest) -> bool:
    """The row still hashes to what was recorded, and enough approvals bind to that hash."""
    if current_hash(req) != req.request_hash:
        return False
    bound = session.execute(
        select(func.count())
        .select_from(Approval)
        .where(Approval.request_id == req.id, Approval.request_hash == req.request_hash)
    ).scalar_one()
    return bound >= max(1, req.approvals_needed)


#: Ends of a request where nothing reached the portal.
NOT_SENT_STATES = frozenset(
    {"refused", "expired", "declined", "cancelled", "not_sent", "abandoned"}
)


def retryable(req: SmsRequest) -> bool:
    """Nothing of it reached the portal: it may be sent again as a new request."""
    if req.state in NOT_SENT_STATES:
        return True
    # Rejected without an HTTP answer: the connection was never made ("nothing was sent").
    return req.state == "rejected" and req.portal_http_status is None
