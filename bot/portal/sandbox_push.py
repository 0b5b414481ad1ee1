"""The sandbox portal pushing delivery receipts (SMS Post Services) to the bot, as the real
platform does: `post_delivery_receipt` as text/xml once a message counts as delivered, retried on
the next round until the receiver answers 200. Each message is claimed before its push (the log's
`receipt_pushed` flag), so two sandboxes sharing a database push it once."""

from __future__ import annotations

import logging
import threading

import httpx
from lxml import etree

from bot.portal.sandbox import SandboxPortal, portal_timestamp
from bot.portal.sandbox_log import LoggedSms, delivered_by

log = logging.getLogger(__name__)

#: The platform's own User-Agent for these pushes.
USER_AGENT = "CSL SIM Insight/1.0.0"


def receipt_body(sms: LoggedSms, passphrase: str | None, delivered: str) -> bytes:
    root = etree.Element("post_delivery_receipt", version="1", api_did=f"{sms.id:010d}")
    etree.SubElement(root, "passphrase").text = passphrase or ""
    etree.SubElement(root, "iccid").text = sms.iccid
    etree.SubElement(root, "sms_uid").text = sms.sms_uid or ""
    etree.SubElement(root, "status").text = "delivered"
    etree.SubElement(root, "delivered_timestamp").text = delivered
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


class ReceiptPusher:
    def __init__(
        self,
        portal: SandboxPortal,
        url: str,
        passphrase: str | None,
        interval: float = 1.0,
    ) -> None:
        self.portal = portal
        self.url = url
        self.passphrase = passphrase
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sandbox-receipts", daemon=True)
        self._client = httpx.Client(timeout=10, headers={"User-Agent": USER_AGENT})

    def start(self) -> ReceiptPusher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._client.close()

    def push_due(self) -> int:
        """Push every delivered message's receipt not pushed yet; returns how many were taken."""
        pushed = 0
        portal = self.portal
        for sms in portal.state.log.unpushed(delivered_by(portal.deliver_after), 100):
            sim = portal.state.sims.get(sms.iccid)
            if sim is None or not sim.online or not portal.state.log.mark_pushed(sms, True):
                continue
            body = receipt_body(sms, self.passphrase, portal_timestamp(portal.delivered_at(sms)))
            try:
                answer = self._client.post(
                    self.url, content=body, headers={"Content-Type": "text/xml; charset=utf-8"}
                )
                ok = answer.status_code == 200
            except httpx.HTTPError as exc:
                log.info("receipt push to %s failed: %s", self.url, type(exc).__name__)
                ok = False
            if ok:
                pushed += 1
            else:
                portal.state.log.mark_pushed(sms, False)  # retried on the next round
        return pushed

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.push_due()
            except Exception:
                log.exception("sandbox receipt push failed")
