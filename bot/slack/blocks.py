"""Pure Block Kit builders: views and messages as dicts, no Slack calls here."""

from __future__ import annotations

import base64
import json
from typing import Any

from bot.sms.binary import decode_payload
from bot.sms.gsm7 import MAX_SEPTETS, count_septets
from bot.sms.message import Draft, SimInfo
from bot.sms.problems import Problem

Block = dict[str, Any]
CALLBACK_SEND = "send_sms"

HELP = """*`/sms`* — send an SMS to a SIM.
• `/sms` — open the send form
• `/sms <iccid> <text…>` — open it prefilled
• `/sms status <iccid>` — the SIM's latest requests and what the portal says
• `/sms audit [iccid]` — the latest audit entries (auditors and admins)
• `/sms grants` · `/sms sims` — the authorization table and the SIM inventory (admins)
• `/sms grant @user|@group|#channel <sims> <role> [approval] [expires 30d]` — give access (admins)
  <sims> is an ICCID, a prefix like `894412*`, `group:NAME` or `*`; role is sender, approver,
  admin or auditor
• `/sms revoke <grant id>` — take access away (admins)
Some SIMs need approval: the request then goes to the team's approval channel, and an approver
(never the requester) clicks Approve before anything is sent.
Text is GSM 7-bit, at most 160 septets (`€ [ ] { } \\ ^ ~ |` count as two). Binary is base64 of at
most 120 bytes, for Multinet KPN C SIMs only."""


def _text(text: str, kind: str = "plain_text") -> dict[str, Any]:
    return (
        {"type": kind, "text": text}
        if kind == "mrkdwn"
        else {"type": kind, "text": text, "emoji": True}
    )


def _context(block_id: str, text: str) -> Block:
    return {"type": "context", "block_id": block_id, "elements": [_text(text, "mrkdwn")]}


def mask_iccid(iccid: str) -> str:
    """Enough to recognise a SIM in a channel without spelling out its number."""
    return iccid if len(iccid) < 12 else f"{iccid[:6]}…{iccid[-4:]}"


def sim_line(sim: SimInfo | None, iccid: str) -> str:
    if not iccid:
        return "Enter the ICCID and press Enter to see the SIM."
    if sim is None:
        return f"SIM `{iccid}` is not in the inventory: its type is unknown, the portal decides."
    state = "" if sim.active else " · *inactive*"
    group = f" · group `{sim.group_name}`" if sim.group_name else ""
    return f"*{sim.label or 'unlabelled SIM'}* · {sim.sim_type or 'type unknown'}{group}{state}"


def counter_line(text: str, coding: str) -> str:
    """What counts against the limits, shown under the message field."""
    if coding == "binary":
        data = decode_payload(text)
        size = f"{len(data)}/120 bytes" if data is not None else "not valid base64 yet"
        return f"{len(text)}/160 base64 characters · {size}"
    count = count_septets(text)
    doubles = (
        " · " + " ".join(f"`{c}`" for c in count.double_chars) + " count as two"
        if count.double_chars
        else ""
    )
    return f"{count.septets}/{MAX_SEPTETS} septets{doubles}"


def send_modal(
    *,
    channel_id: str | None,
    iccid: str = "",
    message_text: str = "",
    data_coding: str = "default",
    origin: str = "",
    sms_uid: str = "",
    sim: SimInfo | None = None,
    warnings: list[Problem] | None = None,
    replace: bool = False,
) -> dict[str, Any]:
    """The send form. Input block ids are the SPEC's names; values typed so far are kept by
    Slack on update because block and action ids never change."""

    def text_input(
        block_id: str,
        label: str,
        value: str,
        *,
        optional: bool = False,
        multiline: bool = False,
        hint: str | None = None,
        dispatch: str | None = None,
        max_length: int | None = None,
    ) -> Block:
        element: dict[str, Any] = {
            "type": "plain_text_input",
            "action_id": block_id,
            "multiline": multiline,
        }
        if value:
            element["initial_value"] = value
        if max_length:
            element["max_length"] = max_length
        if dispatch:
            element["dispatch_action_config"] = {"trigger_actions_on": [dispatch]}
        block: Block = {
            "type": "input",
            "block_id": block_id,
            "label": _text(label),
            "optional": optional,
            "element": element,
        }
        if dispatch:
            block["dispatch_action"] = True
        if hint:
            block["hint"] = _text(hint)
        return block

    replace_option = {
        "text": _text(
            "Replace unsupported characters with the suggested ones (you confirm the result)"
        ),
        "value": "replace",
    }
    coding_options = [
        {"text": _text("Text (GSM 7-bit)"), "value": "default"},
        {"text": _text("Binary (base64, Multinet KPN C)"), "value": "binary"},
    ]
    selected = coding_options[1] if data_coding == "binary" else coding_options[0]
    blocks: list[Block] = [
        text_input(
            "iccid",
            "ICCID",
            iccid,
            dispatch="on_enter_pressed",
            max_length=40,
            hint="18–22 digits; spaces and dashes are fine. Press Enter to check the SIM.",
        ),
        _context("sim_info", sim_line(sim, iccid)),
        text_input(
            "message_text",
            "Message",
            message_text,
            multiline=True,
            dispatch="on_character_entered",
            max_length=3000,
        ),
        _context("counter", counter_line(message_text, data_coding)),
        {
            "type": "input",
            "block_id": "data_coding",
            "label": _text("Data coding"),
            "element": {
                "type": "static_select",
                "action_id": "data_coding",
                "options": coding_options,
                "initial_option": selected,
            },
        },
        text_input(
            "origin",
            "Origin number",
            origin,
            optional=True,
            max_length=32,
            hint="Manx Telecom SIMs only; digits, e.g. 447890123456.",
        ),
        text_input(
            "sms_uid",
            "SMS uid",
            sms_uid,
            optional=True,
            max_length=32,
            hint="Up to 12 letters/digits to trace the message; empty = generated.",
        ),
        {
            "type": "input",
            "block_id": "options",
            "optional": True,
            "label": _text("Options"),
            "element": {
                "type": "checkboxes",
                "action_id": "options",
                "options": [replace_option],
                **({"initial_options": [replace_option]} if replace else {}),
            },
        },
    ]
    if warnings:
        listed = "\n".join(f"• {p.message}" for p in warnings)
        blocks.append(
            {
                "type": "section",
                "block_id": "warnings",
                "text": _text(f":warning: *Check before sending*\n{listed}", "mrkdwn"),
            }
        )
        blocks.append(
            {
                "type": "input",
                "block_id": "confirm",
                "label": _text("Confirm"),
                "element": {
                    "type": "checkboxes",
                    "action_id": "confirm",
                    "options": [
                        {
                            "text": _text("I have checked the warnings: send it"),
                            "value": "confirmed",
                        }
                    ],
                },
            }
        )
    return {
        "type": "modal",
        "callback_id": CALLBACK_SEND,
        "title": _text("Send SMS"),
        "submit": _text("Send"),
        "close": _text("Cancel"),
        "private_metadata": json.dumps({"channel": channel_id}),
        "blocks": blocks,
    }


def send_modal_for(
    draft: Draft,
    channel_id: str | None,
    sim: SimInfo | None,
    warnings: list[Problem] | None = None,
) -> dict[str, Any]:
    """The send form again, around what the user typed so far."""
    return send_modal(
        channel_id=channel_id,
        iccid=draft.iccid,
        message_text=draft.message_text,
        data_coding=draft.data_coding,
        origin=draft.origin or "",
        sms_uid=draft.sms_uid or "",
        sim=sim,
        warnings=warnings,
        replace=draft.apply_replacements,
    )


def payload_preview(text: str, coding: str) -> str:
    """The message as shown in channels: text quoted, binary as hex."""
    if coding == "binary":
        data = decode_payload(text) or base64.b64decode(text + "===", validate=False)
        return "binary: `" + data.hex(" ") + "`"
    return "\n".join(f"> {line}" if line else ">" for line in text.split("\n"))


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
}


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
) -> tuple[str, list[Block]]:
    """The parent message of a request's thread: who, which SIM, what, and its state."""
    label = sim.label if sim and sim.label else "SIM"
    sandbox_note = " · _sandbox: nothing is sent_" if sandbox else ""
    headline = f"SMS request #{request_id} by <@{requester}> to *{label}* (`{mask_iccid(iccid)}`)"
    fallback = f"SMS request #{request_id} to {label}: {STATE_LABELS.get(state, state)}"
    blocks: list[Block] = [
        {
            "type": "section",
            "block_id": "request",
            "text": _text(f"{headline}\n{payload_preview(text, coding)}", "mrkdwn"),
        },
        _context("state", f"{STATE_LABELS.get(state, state)}{sandbox_note}"),
    ]
    return fallback, blocks


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
        "rejected": f":x: *Rejected by the portal* ({category or 'other'}).",
        "unknown": ":warning: *Outcome unknown* — the message may or may not have been sent. "
        f"Check `/sms status {iccid}` before sending again.",
        "refused": ":no_entry: *Refused at send time* — the sender's access changed.",
    }.get(state, f"*{state}*")
    lines = [head]
    if reason:
        lines.append(f"> {reason}")
    facts = [f"sms_uid `{sms_uid}`"]
    if approver:
        facts.append(f"approved by <@{approver}>")
    if portal_ms is not None:
        facts.append(f"portal {portal_ms:.0f} ms")
    if total_ms is not None:
        facts.append(f"total {total_ms:.0f} ms")
    if audit_seq is not None:
        facts.append(f"audit #{audit_seq}")
    lines.append(" · ".join(facts))
    return "\n".join(lines)


def errors_for_modal(problems: list[Problem]) -> dict[str, str]:
    """`response_action: errors` map: one message per input block (several joined)."""
    field_to_block = {"request": "message_text"}
    out: dict[str, str] = {}
    for problem in problems:
        block = field_to_block.get(problem.field, problem.field)
        out[block] = f"{out[block]} {problem.message}" if block in out else problem.message
    return {k: v[:1900] for k, v in out.items()}


def audit_line(row: Any) -> str:
    """One audit row for reading in Slack."""
    line = f"`#{row.seq}` {row.ts[:19]}Z *{row.event}* {_who(row.actor)}"
    if row.request_id is not None:
        line += f" · request #{row.request_id}"
    if row.iccid:
        line += f" · `{mask_iccid(row.iccid)}`"
    return line


def request_line(req: Any) -> str:
    """One request in `/sms status`."""
    return (
        f"#{req.id} {req.created_at:%Y-%m-%d %H:%M} {_who(req.requester)} "
        f"{STATE_LABELS.get(req.state, req.state)} · sms_uid `{req.sms_uid}`"
    )


def _who(actor: str) -> str:
    return f"<@{actor}>" if actor[:1] in ("U", "W") and ":" not in actor else f"`{actor}`"


APPROVE_ACTION = "approve_request"
REJECT_ACTION = "reject_request"
CALLBACK_REJECT = "reject_request"


def approval_request(req: Any, sim: SimInfo | None, warnings: list[str]) -> tuple[str, list[Block]]:
    """The message in the approval channel: the exact request and Approve / Reject."""
    label = sim.label if sim and sim.label else "SIM"
    kind = sim.sim_type if sim and sim.sim_type else "type unknown"
    fields = [
        f"*Requester*\n<@{req.requester}>",
        f"*SIM*\n{label} · {kind}\n`{req.iccid}`",
        f"*Coding*\n{req.data_coding}",
        f"*Origin*\n{req.origin or 'default'}",
        f"*Approvals needed*\n{req.approvals_needed}",
        f"*Expires*\n{req.expires_at:%Y-%m-%d %H:%M} UTC" if req.expires_at else "*Expires*\n-",
    ]
    blocks: list[Block] = [
        {
            "type": "section",
            "block_id": "approval_head",
            "text": _text(
                f":raised_hand: *Approval needed* for SMS request #{req.id} "
                f"(sms_uid `{req.sms_uid}`)\n{payload_preview(req.message_text, req.data_coding)}",
                "mrkdwn",
            ),
        },
        {
            "type": "section",
            "block_id": "approval_fields",
            "fields": [_text(f, "mrkdwn") for f in fields],
        },
    ]
    if warnings:
        blocks.append(
            _context("approval_warnings", ":warning: " + " · ".join(w for w in warnings)[:2900])
        )
    blocks.append(
        {
            "type": "actions",
            "block_id": "approval_buttons",
            "elements": [
                {
                    "type": "button",
                    "action_id": APPROVE_ACTION,
                    "style": "primary",
                    "text": _text("Approve"),
                    "value": str(req.id),
                },
                {
                    "type": "button",
                    "action_id": REJECT_ACTION,
                    "style": "danger",
                    "text": _text("Reject"),
                    "value": str(req.id),
                },
            ],
        }
    )
    return f"Approval needed for SMS request #{req.id} by <@{req.requester}>", blocks


def approval_closed(original: list[Block], verdict_line: str) -> list[Block]:
    """The approval message after the decision: the buttons replaced by who decided and when."""
    kept = [b for b in original if b.get("block_id") != "approval_buttons"]
    return [*kept, _context("approval_decision", verdict_line)]


def reject_modal(request_id: int, metadata: dict[str, Any]) -> dict[str, Any]:
    """Reject asks for an optional reason."""
    return {
        "type": "modal",
        "callback_id": CALLBACK_REJECT,
        "title": _text("Reject SMS request"),
        "submit": _text("Reject"),
        "close": _text("Cancel"),
        "private_metadata": json.dumps({"request_id": request_id, **metadata}),
        "blocks": [
            {
                "type": "input",
                "block_id": "reason",
                "optional": True,
                "label": _text(f"Why reject request #{request_id}? (shown to the requester)"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": "reason",
                    "multiline": True,
                    "max_length": 500,
                },
            }
        ],
    }
