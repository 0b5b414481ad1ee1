"""Pure Block Kit builders for messages: views and messages as dicts, no Slack calls here.

Everything that came from data goes through `bot.slack.mrkdwn` (escaped, or shown verbatim in a
rich-text block); only our own template text is markup.
"""

from __future__ import annotations

import base64
from typing import Any

from bot.slack.mrkdwn import clip, code, escape, mention, verbatim_block
from bot.sms.binary import decode_payload
from bot.sms.message import SimInfo

Block = dict[str, Any]

_HELP = """*`/sms`* — send an SMS to a SIM.
• `/sms` — open the send form
• `/sms <sim> <text…>` — open it prefilled; <sim> is an ICCID, an MSISDN or a SIM's label
• `/sms fleet [group] [text…]` — the same message to every active SIM of a group (a fleet send:
  the SIM count confirmed first, approved once where needed, stoppable midway, a CSV at the end)
• `/sms status <iccid>` — the SIM's latest requests and what the portal says
• `/sms audit [iccid]` — the latest audit entries (auditors and admins)
• `/sms grants` · `/sms sims` — the authorization table and the SIM inventory (admins)
• `/sms grant @user|@group|#channel <sims> <role> [approval] [expires 30d]` — give access (admins)
  <sims> is an ICCID, a prefix like `894412*`, `group:NAME` or `*`; role is sender, approver,
  admin or auditor
• `/sms revoke <grant id>` — take access away (admins)
• `/sms usage` — who and which SIMs are near the rate limits (admins)
Some SIMs need approval: the request then goes to the team's approval channel, and an approver
(never the requester) clicks Approve before anything is sent.
Text is GSM 7-bit, at most 160 septets (`€ [ ] { } \\ ^ ~ |` count as two). Binary is base64 of at
most 120 bytes, for Multinet KPN C SIMs only."""
#: `<iccid>` would be a link in mrkdwn: the placeholders are escaped like any text.
HELP = _HELP.replace("<", "&lt;").replace(">", "&gt;")

#: Slack's limit for a text object (section text, context element).
TEXT_MAX = 3000


def plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def md(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": clip(text, TEXT_MAX)}


def context(block_id: str, text: str) -> Block:
    return {"type": "context", "block_id": block_id, "elements": [md(text)]}


def section(block_id: str, text: str) -> Block:
    return {"type": "section", "block_id": block_id, "text": md(text)}


FIELD_MAX = 2000  # Block Kit: a section field's text
FIELDS_MAX = 10  # Block Kit: fields per section


def fields_section(block_id: str, fields: list[str]) -> Block:
    """A section of label/value fields (mrkdwn), within Block Kit's limits."""
    assert len(fields) <= FIELDS_MAX, "a section holds at most 10 fields"
    return {
        "type": "section",
        "block_id": block_id,
        "fields": [{"type": "mrkdwn", "text": clip(f, FIELD_MAX)} for f in fields],
    }


def expires_field(expires_at: Any) -> str:
    """The approval messages' *Expires* field (UTC, to the minute; `-` without expiry)."""
    return f"*Expires*\n{expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else "*Expires*\n-"


def audit_minute(ts: str) -> str:
    """An audit row's time to the minute, `2026-11-27 18:00` (UTC)."""
    return ts[:16].replace("T", " ")


def mask_iccid(iccid: str) -> str:
    """Enough to recognise a SIM in a channel without spelling out its number."""
    return iccid if len(iccid) < 12 else f"{iccid[:6]}…{iccid[-4:]}"


def sim_line(sim: SimInfo | None, iccid: str) -> str:
    if not iccid:
        return "Enter the ICCID and press Enter to see the SIM."
    if sim is None:
        return (
            f"SIM {code(iccid)} is not in the inventory: its type is unknown, the portal decides."
        )
    state = "" if sim.active else " · *inactive*"
    group = f" · group {code(sim.group_name)}" if sim.group_name else ""
    label = escape(sim.label) if sim.label else "unlabelled SIM"
    kind = escape(sim.sim_type) if sim.sim_type else "type unknown"
    return f"*{label}* · {kind}{group}{state}"


def payload_shown(text: str, coding: str) -> str:
    """The exact payload as people read it: the text itself, binary as hex bytes."""
    if coding == "binary":
        data = decode_payload(text) or base64.b64decode(text + "===", validate=False)
        return "binary: " + data.hex(" ")
    return text


def payload_block(block_id: str, text: str, coding: str) -> Block:
    """The payload in a verbatim block: an approver reads exactly the characters that are sent."""
    return verbatim_block(block_id, payload_shown(text, coding))


STATE_LABELS = {
    "recorded": ":hourglass_flowing_sand: recorded",
    "awaiting_approval": ":raised_hand: awaiting approval",
    "approved": ":white_check_mark: approved",
    "sending": ":outbox_tray: sending…",
    "accepted": ":white_check_mark: accepted by the portal",
    "rejected": ":x: rejected",
    "unknown": ":warning: outcome unknown",
    "refused": ":no_entry: refused",
    "expired": ":hourglass: expired",
    "cancelled": ":heavy_multiplication_x: cancelled",
    "declined": ":x: rejected by an approver",
    "abandoned": ":wastebasket: abandoned (not sent)",
    "not_sent": ":heavy_minus_sign: not sent",
}


def state_label(state: str) -> str:
    return STATE_LABELS.get(state, escape(state))


def request_message(
    *,
    request_id: int,
    requester: str,
    iccid: str,
    sim: SimInfo | None,
    text: str,
    coding: str,
    state: str,
    sandbox: bool,
    delivery: str | None = None,
) -> tuple[str, list[Block]]:
    """The parent message of a request's thread: who, which SIM, what, its state and delivery."""
    label = escape(sim.label) if sim and sim.label else "SIM"
    sandbox_note = " · _sandbox: nothing is sent_" if sandbox else ""
    delivery_note = f" · delivery: *{escape(delivery)}*" if delivery else ""
    headline = (
        f"SMS request #{request_id} by {mention(requester)} to *{label}* "
        f"({code(mask_iccid(iccid))})"
    )
    fallback = f"SMS request #{request_id} to {label}: {state_label(state)}"
    blocks: list[Block] = [
        section("request", headline),
        payload_block("payload", text, coding),
        context("state", f"{state_label(state)}{delivery_note}{sandbox_note}"),
    ]
    return fallback, blocks


def quoted(text: str) -> str:
    """Text from data as an escaped mrkdwn quote, line by line."""
    return "\n".join(f"> {escape(line)}" if line else ">" for line in text.split("\n"))


def outcome_text(
    *,
    state: str,
    reason: str | None,
    category: str | None,
    sms_uid: str,
    portal_ms: float | None,
    total_ms: float | None,
    audit_seq: int | None,
    approver: str | None = None,
    iccid: str = "",
) -> str:
    """The thread reply with the outcome and the audit record."""
    head = {
        "accepted": ":white_check_mark: *Accepted by the portal.*",
        "rejected": f":x: *Rejected by the portal* ({escape(category or 'other')}).",
        "unknown": ":warning: *Outcome unknown* — the message may or may not have been sent. "
        f"Check `/sms status {escape(iccid)}` before sending again.",
        "refused": ":no_entry: *Refused at send time.*",
    }.get(state, f"*{escape(state)}*")
    lines = [head]
    if reason:
        lines.append(quoted(clip(reason, 1500)))
    facts = [f"sms_uid {code(sms_uid)}"]
    if approver:
        facts.append(f"approved by {mention(approver)}")
    if portal_ms is not None:
        facts.append(f"portal {portal_ms:.0f} ms")
    if total_ms is not None:
        facts.append(f"total {total_ms:.0f} ms")
    if audit_seq is not None:
        facts.append(f"audit #{audit_seq}")
    lines.append(" · ".join(facts))
    return "\n".join(lines)


def audit_line(row: Any) -> str:
    """One audit row for reading in Slack."""
    line = f"`#{row.seq}` {escape(row.ts[:19])}Z *{escape(row.event)}* {mention(row.actor)}"
    if row.request_id is not None:
        line += f" · request #{row.request_id}"
    if row.iccid:
        line += f" · {code(mask_iccid(row.iccid))}"
    return line


def request_line(req: Any) -> str:
    """One request in `/sms status`."""
    delivery = f" · delivery: *{escape(req.delivery_status)}*" if req.delivery_status else ""
    return (
        f"#{req.id} {req.created_at:%Y-%m-%d %H:%M} {mention(req.requester)} "
        f"{state_label(req.state)} · sms_uid {code(req.sms_uid)}{delivery}"
    )
