"""Pure builders for fleet sends in Slack: the batch's message with its progress, the approval
message (count, group, the exact text) and the summary."""

from __future__ import annotations

from typing import Any

from bot.batches.run import still_open
from bot.slack.blocks import (
    Block,
    context,
    expires_field,
    fields_section,
    payload_block,
    section,
)
from bot.slack.mrkdwn import code, escape, mention

APPROVE_BATCH = "approve_batch"
REJECT_BATCH = "reject_batch"
STOP_BATCH = "stop_batch"

BATCH_STATES = {
    "awaiting_approval": ":raised_hand: awaiting approval",
    "sending": ":outbox_tray: sending",
    "done": ":checkered_flag: done",
    "stopped": ":octagonal_sign: stopped",
    "declined": ":x: rejected by an approver",
    "expired": ":hourglass: expired",
    "refused": ":no_entry: refused",
}
#: The order counts are shown in, with their words.
_COUNTED = (
    ("accepted", "accepted"),
    ("delivered", "delivered"),
    ("rejected", "rejected"),
    ("unknown", "unknown"),
    ("refused", "refused"),
    ("cancelled", "cancelled"),
    ("declined", "declined"),
    ("expired", "expired"),
    ("not_sent", "not sent"),
    ("abandoned", "abandoned"),
    ("skipped", "skipped"),
)


def _button(action: str, text: str, value: int, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "action_id": action,
        "text": {"type": "plain_text", "text": text, "emoji": True},
        "value": str(value),
    }
    if style:
        button["style"] = style
    return button


def target_words(batch: Any) -> str:
    where = f"group {code(batch.group_name)}" if batch.group_name else "the SIMs listed"
    return f"{batch.members} SIM(s) of {where}"


def progress_line(members: int, counts: dict[str, int]) -> str:
    """`37/120 done · 35 accepted · 1 rejected · 1 unknown · 20 delivered`."""
    done = members - still_open(counts)
    parts = [f"*{done}/{members}* done"]
    parts += [f"{counts[key]} {word}" for key, word in _COUNTED if counts.get(key)]
    return " · ".join(parts)


def batch_message(
    batch: Any, counts: dict[str, int], sandbox: bool = False
) -> tuple[str, list[Block]]:
    """The batch's own message (its thread holds the news): who, how many, what, progress, and
    Stop while it can still be stopped."""
    state = BATCH_STATES.get(batch.state, escape(batch.state))
    note = " · _sandbox: nothing is sent_" if sandbox else ""
    blocks: list[Block] = [
        section(
            "batch",
            f":satellite_antenna: *Fleet send #{batch.id}* by {mention(batch.requester)} to "
            f"{target_words(batch)}. The exact message:",
        ),
        payload_block("batch_payload", batch.message_text, batch.data_coding),
        context("batch_state", f"{state} · {progress_line(batch.members, counts)}{note}"),
    ]
    if batch.state in ("awaiting_approval", "sending"):
        stop = _button(STOP_BATCH, "Stop the batch", batch.id, "danger")
        stop["confirm"] = {
            "title": {"type": "plain_text", "text": "Stop this fleet send?"},
            "text": {
                "type": "plain_text",
                "text": "SIMs not yet sent to will not be. Messages already sent stay sent.",
            },
            "confirm": {"type": "plain_text", "text": "Stop it"},
            "deny": {"type": "plain_text", "text": "Keep sending"},
        }
        blocks.append({"type": "actions", "block_id": "batch_actions", "elements": [stop]})
    fallback = f"Fleet send #{batch.id} to {batch.members} SIM(s): {state}"
    return fallback, blocks


def batch_approval(batch: Any, skipped: int, warnings: list[str]) -> tuple[str, list[Block]]:
    """The approval message: one decision for every SIM of the batch."""
    fields = [
        f"*Requester*\n{mention(batch.requester)}",
        f"*SIMs*\n{target_words(batch)}",
        f"*Coding*\n{escape(batch.data_coding)}",
        f"*Skipped*\n{skipped} SIM(s) (not sendable)",
        f"*Approvals needed*\n{batch.approvals_needed}",
        expires_field(batch.expires_at),
    ]
    blocks: list[Block] = [
        section(
            "batch_approval_head",
            f":raised_hand: *Approval needed* for fleet send #{batch.id}: the same message to "
            f"*{batch.members} SIM(s)*. The exact message:",
        ),
        payload_block("batch_approval_payload", batch.message_text, batch.data_coding),
        fields_section("batch_approval_fields", fields),
    ]
    if warnings:
        blocks.append(
            context("batch_warnings", ":warning: " + " · ".join(escape(w) for w in warnings[:10]))
        )
    blocks.append(
        {
            "type": "actions",
            "block_id": "batch_approval_buttons",
            "elements": [
                _button(APPROVE_BATCH, f"Approve all {batch.members}", batch.id, "primary"),
                _button(REJECT_BATCH, "Reject", batch.id, "danger"),
            ],
        }
    )
    text = (
        f"Approval needed for fleet send #{batch.id} ({batch.members} SIMs) by "
        f"{mention(batch.requester)}"
    )
    return text, blocks


def approval_decided(original: list[Block], line: str) -> list[Block]:
    kept = [b for b in original if b.get("block_id") != "batch_approval_buttons"]
    return [*kept, context("batch_decision", line)]


def summary_text(batch: Any, counts: dict[str, int], audit_seq: int) -> str:
    """The thread reply when the batch ended."""
    head = (
        f":octagonal_sign: *Fleet send #{batch.id} stopped.*"
        if batch.state == "stopped"
        else f":checkered_flag: *Fleet send #{batch.id} finished.*"
    )
    return f"{head} {progress_line(batch.members, counts)} · audit #{audit_seq}\n" + (
        "Every SIM's outcome is in the CSV below; delivery shows in the message above as it "
        "comes in."
    )
