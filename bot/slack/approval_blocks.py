"""Pure builders of the approval message: the exact request and Approve / Reject."""

from __future__ import annotations

from typing import Any

from bot.slack.blocks import (
    Block,
    context,
    expires_field,
    fields_section,
    payload_block,
    section,
)
from bot.slack.mrkdwn import code, escape, mention
from bot.sms.message import SimInfo

APPROVE_ACTION = "approve_request"
REJECT_ACTION = "reject_request"
CANCEL_ACTION = "cancel_request"
RETRY_ACTION = "retry_request"


def with_retry(text: str, request_id: int) -> list[Block]:
    """A thread reply about a request that never reached the portal, with a Retry button."""
    return [
        section("outcome", text),
        {
            "type": "actions",
            "block_id": "retry",
            "elements": [
                {
                    "type": "button",
                    "action_id": RETRY_ACTION,
                    "text": {"type": "plain_text", "text": "Retry", "emoji": True},
                    "value": str(request_id),
                }
            ],
        },
    ]


def approval_asked(note: str, request_id: int) -> list[Block]:
    """The requester's thread note that approval was asked, with a Cancel button."""
    return [
        section("approval_asked", note),
        {
            "type": "actions",
            "block_id": "requester_actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": CANCEL_ACTION,
                    "text": {"type": "plain_text", "text": "Cancel request", "emoji": True},
                    "value": str(request_id),
                    "confirm": {
                        "title": {"type": "plain_text", "text": "Cancel this request?"},
                        "text": {
                            "type": "plain_text",
                            "text": f"Request #{request_id} will not be sent or approved.",
                        },
                        "confirm": {"type": "plain_text", "text": "Cancel it"},
                        "deny": {"type": "plain_text", "text": "Keep it"},
                    },
                }
            ],
        },
    ]


def approval_request(req: Any, sim: SimInfo | None, warnings: list[str]) -> tuple[str, list[Block]]:
    """The message in the approval channel: the exact request and Approve / Reject."""
    label = escape(sim.label) if sim and sim.label else "SIM"
    kind = escape(sim.sim_type) if sim and sim.sim_type else "type unknown"
    fields = [
        f"*Requester*\n{mention(req.requester)}",
        f"*SIM*\n{label} · {kind}\n{code(req.iccid)}",
        f"*Coding*\n{escape(req.data_coding)}",
        f"*Origin*\n{code(req.origin) if req.origin else 'default'}",
        f"*Approvals needed*\n{req.approvals_needed}",
        expires_field(req.expires_at),
    ]
    blocks: list[Block] = [
        section(
            "approval_head",
            f":raised_hand: *Approval needed* for SMS request #{req.id} "
            f"(sms_uid {code(req.sms_uid)}). The exact message:",
        ),
        payload_block("approval_payload", req.message_text, req.data_coding),
        fields_section("approval_fields", fields),
    ]
    if warnings:
        blocks.append(
            context("approval_warnings", ":warning: " + " · ".join(escape(w) for w in warnings))
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
                    "text": {"type": "plain_text", "text": "Approve", "emoji": True},
                    "value": str(req.id),
                },
                {
                    "type": "button",
                    "action_id": REJECT_ACTION,
                    "style": "danger",
                    "text": {"type": "plain_text", "text": "Reject", "emoji": True},
                    "value": str(req.id),
                },
            ],
        }
    )
    return f"Approval needed for SMS request #{req.id} by {mention(req.requester)}", blocks


def approval_closed(original: list[Block], verdict_line: str) -> list[Block]:
    """The approval message after the decision: the buttons replaced by who decided and when."""
    kept = [b for b in original if b.get("block_id") != "approval_buttons"]
    return [*kept, context("approval_decision", verdict_line)]
