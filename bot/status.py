"""A SIM's messages as the core sees them: our latest requests, tied by sms_uid to the portal's
SMS log (for an `unknown` outcome, the answer to "did it go out?"). Front ends render it."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.portal.client import PortalError
from bot.portal.protocol import SmsLogEntry
from bot.service import SendService
from bot.sms.iccid import normalize_iccid
from bot.sms.message import SimInfo
from bot.store.inventory import get_sim
from bot.store.models import SmsRequest
from bot.store.requests import recent_for_sim


@dataclass(frozen=True)
class SimStatus:
    iccid: str
    sim: SimInfo | None
    requests: list[SmsRequest]
    portal_log: list[SmsLogEntry] = field(default_factory=list)
    #: Why the portal's log could not be read (None when it was).
    portal_error: str | None = None

    def in_portal(self, req: SmsRequest) -> str | None:
        """The portal's status for this request's sms_uid, when its log has it."""
        return next((e.status for e in self.portal_log if e.sms_uid == req.sms_uid), None)


def sim_status(service: SendService, raw_iccid: str, limit: int = 10) -> SimStatus:
    iccid = normalize_iccid(raw_iccid)
    with service.db.read() as session:
        sim = get_sim(session, iccid)
        requests = recent_for_sim(session, iccid, limit)
    if not (iccid.isascii() and iccid.isdigit()):
        return SimStatus(
            iccid, sim, requests, portal_error="not an ICCID: the portal was not asked"
        )
    try:
        log = service.portal.query_sms_mt_details(iccid, lastx=limit)
    except PortalError as exc:
        return SimStatus(iccid, sim, requests, portal_error=str(exc))
    return SimStatus(iccid, sim, requests, log)
