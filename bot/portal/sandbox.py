"""The sandbox portal: a simulated operator API that speaks the same XML and sends nothing.

It enforces the Send SMS page's rules (credentials, 160 septets, binary only on Multinet KPN C,
open user group SIMs refused, unknown ICCIDs, KPN's 60-message queue per SIM), keeps an SMS log that
`query_sms_mt_details` answers from, and has switches for latency and faults so every outcome the
bot must handle can be produced on demand. It is a WSGI app, served by a real HTTP server on
127.0.0.1 (port 0 in tests) — in-process or as `smsbot sandbox --port N`.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from socketserver import ThreadingMixIn
from typing import Any, Literal
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.types import StartResponse, WSGIEnvironment

from lxml import etree

from bot.portal.protocol import Credentials, XmlError, build_response, parse_xml
from bot.portal.sandbox_log import LoggedSms, MemoryLog, SmsLog, delivered_by
from bot.sms.binary import check_binary
from bot.sms.gsm7 import MAX_SEPTETS, count_septets
from bot.sms.simtypes import BINARY_TYPES, OPEN_USER_GROUP_TYPES, canonical_type
from bot.wsgi import reply

#: Not a secret: the sandbox is a local simulator and documents its own login.
SANDBOX_CREDENTIALS = Credentials(
    api_id="100000",
    username="sandbox",
    password="sandbox-password",  # noqa: S106
)
KPN_QUEUE_LIMIT = 60
XML = "application/xml"

Fault = Literal["none", "timeout", "500", "non_xml", "malformed", "reset"]
FAULTS: tuple[Fault, ...] = ("none", "timeout", "500", "non_xml", "malformed", "reset")


@dataclass
class SandboxSim:
    iccid: str
    sim_type: str
    active: bool = True
    #: An offline device never takes delivery: its messages stay queued (KPN cap applies).
    online: bool = True


#: SIMs every sandbox knows, one of each kind the rules distinguish (all pass Luhn).
DEMO_SIMS: tuple[SandboxSim, ...] = (
    SandboxSim("89440000000000000010", "Manx Telecom"),
    SandboxSim("89310000000000000023", "Multinet KPN C"),
    SandboxSim("89310000000000000031", "Multinet KPN O"),
    SandboxSim("89310000000000000049", "Multinet KPN C", online=False),
    SandboxSim("89440000000000000051", "Manx Telecom", active=False),
    SandboxSim("89330000000000000062", "Multinet Orange"),
)


#: Request bodies kept for inspection (bounded: a long-running sandbox must not grow).
RECEIVED_LIMIT = 2_000


@dataclass
class SandboxState:
    sims: dict[str, SandboxSim] = field(default_factory=dict)
    log: SmsLog = field(default_factory=MemoryLog)
    #: The latest request bodies received, in order (tests read what reached the "portal").
    received: deque[bytes] = field(default_factory=lambda: deque(maxlen=RECEIVED_LIMIT))


class SandboxPortal:
    """The simulated portal as a WSGI application."""

    def __init__(
        self,
        sims: Iterable[SandboxSim] = DEMO_SIMS,
        credentials: Credentials = SANDBOX_CREDENTIALS,
        *,
        deliver_after: float = 1.0,
        log: SmsLog | None = None,
    ) -> None:
        self.credentials = credentials
        #: Seconds after which a message to an online SIM counts as delivered.
        self.deliver_after = deliver_after
        self.state = SandboxState(sims={s.iccid: s for s in sims}, log=log or MemoryLog())
        self.latency = 0.0
        self.fault: Fault = "none"
        #: How long a `timeout` fault holds the request (longer than any client read timeout).
        self.hang_seconds = 30.0
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    # ---- test and CLI controls -------------------------------------------------------------
    def add_sim(self, sim: SandboxSim) -> None:
        with self._lock:
            self.state.sims[sim.iccid] = sim

    def set_fault(self, fault: Fault, latency: float = 0.0) -> None:
        self.fault = fault
        self.latency = latency

    def requests_for(self, call: str) -> list[etree._Element]:
        """Parsed bodies of every received request whose root is `call`."""
        with self._lock:
            bodies = list(self.state.received)
        parsed = []
        for body in bodies:
            try:
                root = parse_xml(body)
            except XmlError:
                continue
            if root.tag == call:
                parsed.append(root)
        return parsed

    def release(self) -> None:
        """Wake requests held by a `timeout` fault (on shutdown)."""
        self._stopping.set()

    # ---- WSGI ---------------------------------------------------------------------------------
    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        if environ.get("REQUEST_METHOD") != "POST":
            return reply(start_response, "405 Method Not Allowed", b"POST XML here\n", "text/plain")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        with self._lock:
            self.state.received.append(body)
        if self.latency:
            self._stopping.wait(self.latency)
        fault = self.fault
        if fault == "timeout":
            self._stopping.wait(self.hang_seconds)
            return reply(start_response, "504 Gateway Timeout", b"", "text/plain")
        if fault == "500":
            return reply(start_response, "500 Internal Server Error", b"oops\n", "text/plain")
        if fault == "non_xml":
            return reply(start_response, "200 OK", b"<html>Service busy</html", "text/html")
        if fault == "malformed":
            return reply(start_response, "200 OK", b"<send_sms_response><api_outcome>succ", XML)
        if fault == "reset":
            raise ConnectionResetError("sandbox fault: connection reset")
        return reply(start_response, "200 OK", self.handle(body), XML)

    def handle(self, body: bytes) -> bytes:
        """Answer one XML request body."""
        try:
            root = parse_xml(body)
        except XmlError as exc:
            return build_response("api", "", "failure", [("error_description", str(exc))])
        call = str(root.tag)
        api_id = root.get("api_id") or ""
        failure = self._authenticate(root)
        if failure is None and call == "send_sms":
            return self._send_sms(root, api_id)
        if failure is None and call == "query_sms_mt_details":
            return self._query(root, api_id)
        if failure is None:
            failure = f"unsupported call {call}"
        return build_response(call, api_id, "failure", [("error_description", failure)])

    def _authenticate(self, root: etree._Element) -> str | None:
        if root.get("version") != "1":
            return "invalid or missing parameter: version"
        ok = (
            root.get("api_id") == self.credentials.api_id
            and root.findtext("authentication/username") == self.credentials.username
            and root.findtext("authentication/password") == self.credentials.password
        )
        return None if ok else "invalid authentication credentials"

    def _sim(self, iccid: str) -> SandboxSim | str:
        sim = self.state.sims.get(iccid)
        if sim is None:
            return f"unknown iccid {iccid}"
        if not sim.active:
            return f"sim {iccid} is not active"
        canon = canonical_type(sim.sim_type)
        if canon in OPEN_USER_GROUP_TYPES:
            return f"function not available for sim type {sim.sim_type}"
        return sim

    def _send_sms(self, root: etree._Element, api_id: str) -> bytes:
        def fail(reason: str) -> bytes:
            return build_response("send_sms", api_id, "failure", [("error_description", reason)])

        iccid = (root.findtext("iccid") or "").strip()
        text = root.findtext("message_text")
        coding = (root.findtext("data_coding") or "default").strip()
        uid = root.findtext("sms_uid")
        if not iccid or text is None:
            return fail("invalid or missing parameters: iccid and message_text are required")
        sim = self._sim(iccid)
        if isinstance(sim, str):
            return fail(sim)
        if coding not in ("default", "binary"):
            return fail(f"invalid parameter data_coding: {coding}")
        if coding == "binary":
            if canonical_type(sim.sim_type) not in BINARY_TYPES:
                return fail(f"binary data_coding not permitted for sim type {sim.sim_type}")
            if check_binary(text):
                return fail("invalid content: binary message_text must be base64 of ≤120 bytes")
        elif count_septets(text).septets > MAX_SEPTETS or len(text) > MAX_SEPTETS:
            return fail("invalid content")
        if uid is not None and (len(uid) > 12 or not uid.isalnum() or not uid.isascii()):
            return fail("invalid parameter sms_uid")
        with self._lock:
            queue_capped = canonical_type(sim.sim_type) in BINARY_TYPES | {"multinet kpn o"}
            if queue_capped and self.queued(sim) >= KPN_QUEUE_LIMIT:
                return fail("rejected by operator: queue limit exceeded")
            self.state.log.append(LoggedSms(datetime.now(UTC), iccid, text, uid))
        return build_response("send_sms", api_id, "success")

    def queued(self, sim: SandboxSim) -> int:
        """The SIM's messages not delivered yet (all of them while its device is offline)."""
        if not sim.online:
            return self.state.log.count(sim.iccid)
        return self.state.log.sent_since(sim.iccid, delivered_by(self.deliver_after))

    def _delivered(self, sms: LoggedSms, sim: SandboxSim) -> bool:
        age = (datetime.now(UTC) - sms.sent_at).total_seconds()
        return sim.online and age >= self.deliver_after

    def delivered_at(self, sms: LoggedSms) -> datetime:
        return sms.sent_at + timedelta(seconds=self.deliver_after)

    def _query(self, root: etree._Element, api_id: str) -> bytes:
        iccid = (root.findtext("iccid") or "").strip()
        sim = self._sim(iccid)
        if isinstance(sim, str):
            return build_response(
                "query_sms_mt_details", api_id, "failure", [("error_description", sim)]
            )
        lastx_text = root.findtext("lastx")
        lastx = int(lastx_text) if lastx_text and lastx_text.isdigit() else 1
        if not 1 <= lastx <= 20:
            return build_response(
                "query_sms_mt_details",
                api_id,
                "failure",
                [("error_description", "invalid parameter lastx: 1 to 20")],
            )
        mine = self.state.log.newest(iccid, lastx)
        response = etree.Element("query_sms_mt_details_response", api_id=api_id)
        etree.SubElement(response, "api_outcome").text = "success"
        if not mine:
            etree.SubElement(response, "sms")
        for sms in mine:
            node = etree.SubElement(response, "sms")
            etree.SubElement(node, "sent_timestamp").text = portal_timestamp(sms.sent_at)
            if sms.sms_uid:
                etree.SubElement(node, "sms_uid").text = sms.sms_uid
            delivered = self._delivered(sms, sim)
            etree.SubElement(node, "status").text = "delivered" if delivered else "pending"
            etree.SubElement(node, "delivered_timestamp").text = (
                portal_timestamp(self.delivered_at(sms)) if delivered else ""
            )
            etree.SubElement(node, "origin").text = sms.origin
            etree.SubElement(node, "message_text").text = sms.message_text
        return etree.tostring(response, xml_declaration=True, encoding="UTF-8")


def portal_timestamp(moment: datetime) -> str:
    return moment.strftime("%d/%m/%Y %H:%M:%S")


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class SandboxServer:
    """A SandboxPortal behind a real threaded HTTP server; use as a context manager."""

    def __init__(self, portal: SandboxPortal | None = None, host: str = "127.0.0.1", port: int = 0):
        self.portal = portal or SandboxPortal()
        self._host = host
        self._server = make_server(
            host, port, self.portal, server_class=_ThreadingServer, handler_class=_QuietHandler
        )
        # A short poll interval keeps shutdown fast (tests start and stop many servers).
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._server.server_port}/"

    def start(self) -> SandboxServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.portal.release()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
