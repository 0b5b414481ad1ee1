"""The App Home view: pure, from the core's HomeFacts (every value from data escaped)."""

from __future__ import annotations

from typing import Any

from bot.home import HomeFacts
from bot.slack.approval_blocks import APPROVE_ACTION, REJECT_ACTION
from bot.slack.batch_blocks import APPROVE_BATCH, BATCH_STATES, REJECT_BATCH, target_words
from bot.slack.blocks import Block, context, mask_iccid, section, state_label
from bot.slack.mrkdwn import clip, code, escape, mention


def _header(block_id: str, text: str) -> Block:
    return {"type": "header", "block_id": block_id, "text": {"type": "plain_text", "text": text}}


def _decision(
    block_id: str, actions: tuple[str, str], value: int, approve: str = "Approve"
) -> Block:
    """Approve / Reject for one request or one batch (`actions`: their two action ids)."""
    buttons = [(actions[0], approve, "primary"), (actions[1], "Reject", "danger")]
    return {
        "type": "actions",
        "block_id": block_id,
        "elements": [
            {
                "type": "button",
                "action_id": action,
                "text": {"type": "plain_text", "text": text},
                "style": style,
                "value": str(value),
            }
            for action, text, style in buttons
        ],
    }


def home_view(facts: HomeFacts) -> dict[str, Any]:
    blocks: list[Block] = [_header("mine_title", "My latest requests")]
    if not facts.mine and not facts.my_batches:
        blocks.append(context("mine_none", "None yet: `/sms` opens the send form."))
    for req in facts.mine:
        delivery = f" · delivery *{escape(req.delivery_status)}*" if req.delivery_status else ""
        blocks.append(
            section(
                f"mine_{req.id}",
                f"*#{req.id}* {code(mask_iccid(req.iccid))} "
                f"{escape(clip(req.message_text, 60))}\n"
                f"{state_label(req.state)}{delivery} · {req.created_at:%Y-%m-%d %H:%M} UTC",
            )
        )
    for batch in facts.my_batches:
        blocks.append(
            section(
                f"my_batch_{batch.id}",
                f"*Fleet send #{batch.id}* to {target_words(batch)}: "
                f"{escape(clip(batch.message_text, 60))}\n"
                f"{BATCH_STATES.get(batch.state, escape(batch.state))} · "
                f"{batch.created_at:%Y-%m-%d %H:%M} UTC",
            )
        )
    blocks.append({"type": "divider", "block_id": "d1"})
    blocks.append(_header("approve_title", "Waiting for my approval"))
    for batch in facts.batches_to_approve:
        blocks.append(
            section(
                f"approve_batch_{batch.id}",
                f"*Fleet send #{batch.id}* by {mention(batch.requester)} to "
                f"{target_words(batch)}: {escape(clip(batch.message_text, 80))}",
            )
        )
        blocks.append(
            _decision(
                f"approve_batch_buttons_{batch.id}",
                (APPROVE_BATCH, REJECT_BATCH),
                batch.id,
                f"Approve all {batch.members}",
            )
        )
    if not facts.to_approve and not facts.batches_to_approve:
        blocks.append(context("approve_none", "Nothing is waiting for you."))
    for req in facts.to_approve:
        blocks.append(
            section(
                f"approve_{req.id}",
                f"*#{req.id}* by {mention(req.requester)} to {code(req.iccid)}: "
                f"{escape(clip(req.message_text, 80))}",
            )
        )
        blocks.append(
            _decision(f"approve_buttons_{req.id}", (APPROVE_ACTION, REJECT_ACTION), req.id)
        )
    blocks.append({"type": "divider", "block_id": "d2"})
    blocks.append(_header("sims_title", "SIMs I may message"))
    if not facts.sims:
        blocks.append(context("sims_none", "None: ask an smsbot admin for a `sender` grant."))
    for sim in facts.sims:
        kind = escape(sim.sim_type) if sim.sim_type else "type unknown"
        blocks.append(
            section(
                f"sim_{sim.iccid}",
                f"*{escape(sim.label or 'unlabelled')}* · {kind} · {code(sim.iccid)}",
            )
        )
    if facts.sims_total > len(facts.sims):
        blocks.append(
            context("sims_more", f"…and {facts.sims_total - len(facts.sims)} more (`/sms sims`).")
        )
    return {"type": "home", "blocks": blocks}
