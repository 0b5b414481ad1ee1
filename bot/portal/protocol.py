"""The portal's XML: building requests and parsing responses with a hardened parser.

XML is never built from strings nor read with regular expressions: lxml escapes text (so `<`, `&`
and `]]>` in a message reach the portal intact) and the parser refuses DTDs, entities and network
access, and anything over a size cap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lxml import etree

MAX_XML_BYTES = 256 * 1024
REDACTED = "[redacted]"


class XmlError(ValueError):
    """A body that is not acceptable XML (too large, malformed, a DTD, an entity…)."""


@dataclass(frozen=True)
class Credentials:
    api_id: str
    username: str
    password: str

    def __repr__(self) -> str:  # never let the password reach a log through repr()
        return f"Credentials(api_id={self.api_id!r}, username={self.username!r}, password=***)"


@dataclass(frozen=True)
class SendSms:
    iccid: str
    message_text: str
    data_coding: str | None = None
    origin: str | None = None
    sms_uid: str | None = None


@dataclass(frozen=True)
class Response:
    """A parsed `<CALL_response>`: root name, api_id, outcome text and the other children."""

    root: str
    api_id: str | None
    outcome: str | None
    fields: dict[str, str] = field(default_factory=dict)
    element: etree._Element | None = None
    #: Why the outcome cannot be read with certainty (several api_outcome elements, markup
    #: inside one); None when it can. An ambiguous answer is never taken as success or failure.
    ambiguity: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.outcome is not None and self.outcome.strip().lower() == "success"

    def failure_reason(self) -> str:
        """The portal's own words: the text of every child other than api_outcome."""
        parts = [f"{value}" for name, value in self.fields.items() if value]
        return "; ".join(parts) if parts else "the portal gave no reason"


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_pis=True,
        remove_comments=True,
        collect_ids=False,
    )


def parse_xml(body: bytes) -> etree._Element:
    """Parse untrusted XML: size-capped, no DTD or entities, no network."""
    if len(body) > MAX_XML_BYTES:
        raise XmlError(f"XML body of {len(body)} bytes exceeds the {MAX_XML_BYTES}-byte cap")
    if not body.strip():
        raise XmlError("empty body")
    try:
        root = etree.fromstring(body, _parser())
    except etree.XMLSyntaxError as exc:
        raise XmlError(f"malformed XML: {exc.msg}") from None
    docinfo: Any = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise XmlError("XML with a DOCTYPE is refused")
    for node in root.iter():
        if isinstance(node, etree._Entity):
            raise XmlError("XML entities are refused")
    return root


def _request_root(call: str, credentials: Credentials, *, redact: bool) -> etree._Element:
    root = etree.Element(call, version="1", api_id=credentials.api_id)
    auth = etree.SubElement(root, "authentication")
    etree.SubElement(auth, "username").text = credentials.username
    etree.SubElement(auth, "password").text = REDACTED if redact else credentials.password
    return root


def _serialize(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def build_send_sms(message: SendSms, credentials: Credentials, *, redact: bool = False) -> bytes:
    """The `send_sms` request body; `redact=True` gives the copy that may be stored and logged."""
    root = _request_root("send_sms", credentials, redact=redact)
    etree.SubElement(root, "iccid").text = message.iccid
    etree.SubElement(root, "message_text").text = message.message_text
    if message.data_coding:
        etree.SubElement(root, "data_coding").text = message.data_coding
    if message.origin:
        etree.SubElement(root, "origin").text = message.origin
    if message.sms_uid:
        etree.SubElement(root, "sms_uid").text = message.sms_uid
    return _serialize(root)


def build_query_sms_mt_details(
    iccid: str, credentials: Credentials, *, lastx: int | None = None, redact: bool = False
) -> bytes:
    """The `query_sms_mt_details` request body (lastx 1..20; None: only the latest)."""
    if lastx is not None and not 1 <= lastx <= 20:
        raise ValueError("lastx must be between 1 and 20")
    root = _request_root("query_sms_mt_details", credentials, redact=redact)
    etree.SubElement(root, "iccid").text = iccid
    if lastx is not None:
        etree.SubElement(root, "lastx").text = str(lastx)
    return _serialize(root)


def parse_response(body: bytes, call: str) -> Response:
    """Parse `<CALL_response>`; XmlError when the body is not that."""
    root = parse_xml(body)
    expected = f"{call}_response"
    if root.tag != expected:
        raise XmlError(f"expected <{expected}>, got <{root.tag}>")
    outcomes: list[etree._Element] = []
    fields: dict[str, str] = {}
    for child in root:
        if not isinstance(child.tag, str):
            continue
        if child.tag == "api_outcome":
            outcomes.append(child)
        elif child.tag not in fields:
            fields[child.tag] = "".join(str(t) for t in child.itertext()).strip()
    outcome: str | None = None
    ambiguity: str | None = None
    if len(outcomes) > 1:
        ambiguity = f"{len(outcomes)} api_outcome elements"
    elif outcomes:
        element = outcomes[0]
        if len(element):  # child elements: `<b>succ</b>ess` is not a plain word
            ambiguity = "markup inside api_outcome"
        else:
            outcome = (element.text or "").strip()
    return Response(expected, root.get("api_id"), outcome, fields, root, ambiguity)


def build_response(
    call: str, api_id: str, outcome: str, children: list[tuple[str, str]] | None = None
) -> bytes:
    """A `<CALL_response>` body (used by the sandbox portal)."""
    root = etree.Element(f"{call}_response", api_id=api_id)
    etree.SubElement(root, "api_outcome").text = outcome
    for name, text in children or []:
        etree.SubElement(root, name).text = text
    return _serialize(root)


@dataclass(frozen=True)
class SmsLogEntry:
    """One `<sms>` of query_sms_mt_details (newest first in the response)."""

    sent_timestamp: str
    sms_uid: str | None
    status: str
    delivered_timestamp: str | None
    origin: str | None
    message_text: str


def parse_sms_details(response: Response) -> list[SmsLogEntry]:
    """The messages of a query_sms_mt_details response; a lone empty `<sms/>` means none."""
    if response.element is None:
        return []
    entries: list[SmsLogEntry] = []
    for sms in response.element.iterfind("sms"):
        values = {c.tag: (c.text or "").strip() for c in sms if isinstance(c.tag, str)}
        if not values:
            continue
        entries.append(
            SmsLogEntry(
                sent_timestamp=values.get("sent_timestamp", ""),
                sms_uid=values.get("sms_uid") or None,
                status=values.get("status", ""),
                delivered_timestamp=values.get("delivered_timestamp") or None,
                origin=values.get("origin") or None,
                message_text=values.get("message_text", ""),
            )
        )
    return entries
