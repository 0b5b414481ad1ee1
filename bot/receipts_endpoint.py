"""POST /portal/receipts: what the portal pushes (SMS Post Services) — delivery receipts and
device replies — parsed and handed to the core (bot.receipts). Nothing here talks to Slack: the
audit rows the core writes are rendered by the front ends like every other event.

The portal retries until it gets a 200 and may send the same item twice, so handling is
idempotent: a receipt that does not change the request's delivery status writes nothing.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterable
from wsgiref.types import StartResponse, WSGIEnvironment

from lxml import etree

from bot.config import ConfigError, Settings, secret_value
from bot.portal.protocol import MAX_XML_BYTES, XmlError, parse_xml
from bot.receipts import record_delivery, record_reply
from bot.runtime import Runtime
from bot.wsgi import read_body, reply

log = logging.getLogger(__name__)

_STATUS_FIELDS = ("status", "delivery_status", "state", "sms_status")
#: Receipts are small: a few hundred bytes. Anything larger is refused before parsing.
MAX_RECEIPT_BYTES = min(MAX_XML_BYTES, 64 * 1024)


def receipt_status(root: etree._Element) -> str:
    """The receipt's status; the field names are not published, so several are tried."""
    for name in _STATUS_FIELDS:
        value = (root.findtext(name) or "").strip()
        if value:
            return value.lower()
    return "delivered"


def check_receipt_settings(settings: Settings) -> None:
    """With the live portal a passphrase is required (an unauthenticated endpoint would let
    anyone mark messages delivered), unless receipts are turned off."""
    if (
        settings.SMSBOT_RECEIPTS == "on"
        and settings.portal_mode == "live"
        and settings.SMSBOT_RECEIPT_PASSPHRASE is None
    ):
        raise ConfigError(
            "SMSBOT_RECEIPT_PASSPHRASE: required with the live portal (the passphrase set for "
            "SMS Post Services); or set SMSBOT_RECEIPTS=off to serve no /portal/receipts"
        )


def receipts_endpoint(runtime: Runtime) -> ReceiptsEndpoint | None:
    """/portal/receipts, unless turned off."""
    check_receipt_settings(runtime.settings)
    return None if runtime.settings.SMSBOT_RECEIPTS == "off" else ReceiptsEndpoint(runtime)


class ReceiptsEndpoint:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        passphrase = secret_value(runtime.settings.SMSBOT_RECEIPT_PASSPHRASE)
        self.passphrase = passphrase.encode("utf-8") if passphrase is not None else None
        if self.passphrase is None:
            log.warning(
                "SMSBOT_RECEIPT_PASSPHRASE is not set: /portal/receipts accepts unauthenticated "
                "pushes (sandbox portal only; they can only update delivery status, never send)"
            )

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST":
            return reply(start_response, "405 Method Not Allowed", "POST XML here")
        body = read_body(environ, MAX_RECEIPT_BYTES)
        if body is None:
            return reply(start_response, "413 Payload Too Large", "too large")
        try:
            root = parse_xml(body)
        except XmlError as exc:
            return reply(start_response, "400 Bad Request", str(exc))
        given = (root.findtext("passphrase") or "").strip().encode("utf-8")
        if self.passphrase is not None and not hmac.compare_digest(given, self.passphrase):
            log.warning("receipt with a wrong passphrase refused")
            return reply(start_response, "403 Forbidden", "wrong passphrase")
        if root.tag == "post_delivery_receipt":
            self.delivery_receipt(root)
        elif root.tag == "post_sms":
            self.devicereply(root)
        else:
            log.info("portal push %s acknowledged and not processed", root.tag[:40])
        return reply(start_response, "200 OK", "OK")

    def delivery_receipt(self, root: etree._Element) -> None:
        record_delivery(
            self.runtime.db,
            (root.findtext("sms_uid") or "").strip()[:40],
            (root.findtext("iccid") or "").strip()[:40],
            receipt_status(root),
            (root.get("api_did") or "")[:40] or None,
        )

    def devicereply(self, root: etree._Element) -> None:
        """An SMS from the device: recorded once, tied to the SIM's latest request with a
        thread (rendered there from the audit stream)."""
        iccid = (root.findtext("iccid") or "").strip()[:22]
        if not iccid:
            log.info("post_sms without an iccid ignored")
            return
        record_reply(
            self.runtime.db,
            iccid,
            (root.findtext("msisdn") or "").strip()[:20] or None,
            (root.findtext("timestamp") or "").strip()[:32] or None,
            root.findtext("message_text") or "",
        )
