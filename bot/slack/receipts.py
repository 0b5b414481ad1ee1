"""POST /portal/receipts: what the portal pushes (SMS Post Services) — delivery receipts and
device replies.

The portal retries until it gets a 200 and may send the same item twice, so handling is
idempotent: a receipt that does not change the request's delivery status writes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Iterable
from wsgiref.types import StartResponse, WSGIEnvironment

from lxml import etree
from sqlalchemy.exc import IntegrityError

from bot.config import secret_value
from bot.portal.protocol import MAX_XML_BYTES, XmlError, parse_xml
from bot.slack.blocks import quoted
from bot.slack.deps import SlackDeps
from bot.slack.flow import audience_of, thread_of
from bot.slack.mrkdwn import clip, escape
from bot.store import audit
from bot.store.models import DeviceReply
from bot.store.requests import by_sms_uid, latest_with_thread
from bot.wsgi import reply

log = logging.getLogger(__name__)

_STATUS_FIELDS = ("status", "delivery_status", "state", "sms_status")


def receipt_status(root: etree._Element) -> str:
    """The receipt's status; the field names are not published, so several are tried."""
    for name in _STATUS_FIELDS:
        value = (root.findtext(name) or "").strip()
        if value:
            return value.lower()
    return "delivered"


class ReceiptsEndpoint:
    def __init__(self, deps: SlackDeps) -> None:
        self.deps = deps
        self.passphrase = secret_value(deps.runtime.settings.SMSBOT_RECEIPT_PASSPHRASE)
        if self.passphrase is None:
            log.warning(
                "SMSBOT_RECEIPT_PASSPHRASE is not set: /portal/receipts accepts unauthenticated "
                "pushes (they can only update delivery status, never send)"
            )

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST":
            return reply(start_response, "405 Method Not Allowed", "POST XML here")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > MAX_XML_BYTES:
            return reply(start_response, "413 Payload Too Large", "too large")
        try:
            root = parse_xml(environ["wsgi.input"].read(length))
        except XmlError as exc:
            return reply(start_response, "400 Bad Request", str(exc))
        given = (root.findtext("passphrase") or "").strip()
        if self.passphrase is not None and not hmac.compare_digest(given, self.passphrase):
            log.warning("receipt with a wrong passphrase refused")
            return reply(start_response, "403 Forbidden", "wrong passphrase")
        if root.tag == "post_delivery_receipt":
            self.delivery_receipt(root)
        elif root.tag == "post_sms":
            self.devicereply(root)
        else:
            log.info("portal push %s acknowledged and not processed", root.tag)
        return reply(start_response, "200 OK", "OK")

    def delivery_receipt(self, root: etree._Element) -> None:
        uid = (root.findtext("sms_uid") or "").strip()
        status = receipt_status(root)
        with self.deps.db.session() as session:
            req = by_sms_uid(session, uid) if uid else None
            if req is None:
                log.info("receipt for unknown sms_uid %r ignored", uid)
                return
            if req.delivery_status == status:
                return  # a repeated push: already recorded
            req.delivery_status = status
            if status == "delivered":
                req.delivered_at = audit.utc_now()
            audit.append(
                session,
                "delivered" if status == "delivered" else "delivery_status",
                "portal",
                request_id=req.id,
                iccid=req.iccid,
                details={"sms_uid": uid, "status": status, "api_did": root.get("api_did")},
            )
            thread = thread_of(req)
            audience = audience_of(req)
        if thread is not None:
            icon = ":inbox_tray:" if status == "delivered" else ":information_source:"
            shown = escape(clip(status, 60))
            self.deps.notifier.reply(thread, f"{icon} Delivery receipt: *{shown}*", audience)

    def devicereply(self, root: etree._Element) -> None:
        """An SMS from the device: recorded once, and shown in the thread of the SIM's latest
        request (else nowhere in Slack: it stays in the table and the audit log)."""
        iccid = (root.findtext("iccid") or "").strip()[:22]
        text = root.findtext("message_text") or ""
        stamp = (root.findtext("timestamp") or "").strip()[:32] or None
        msisdn = (root.findtext("msisdn") or "").strip()[:20] or None
        digest = hashlib.sha256(
            audit.canonical_json([iccid, msisdn, stamp, text]).encode("utf-8")
        ).hexdigest()
        if not iccid:
            log.info("post_sms without an iccid ignored")
            return
        try:
            with self.deps.db.session() as session:
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
                thread = thread_of(req) if req else None
                audience = audience_of(req) if req else None
        except IntegrityError:
            return  # the same item pushed again: already recorded
        if thread is not None and audience is not None:
            # The device's words are data: escaped, so a reply cannot ping, mention or link.
            self.deps.notifier.reply(
                thread,
                f":incoming_envelope: Reply from the device ({escape(stamp or 'no time')}):\n"
                f"{quoted(clip(text, 2000))}",
                audience,
            )
