"""The fleet-send form (`/sms fleet`), pure: a group, the message (or a template), and — once the
core has counted the SIMs — a box confirming that exact count."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bot.slack.blocks import Block, plain, section
from bot.slack.modals import coding_block, message_input
from bot.slack.mrkdwn import clip, code, escape, fit_lines
from bot.slack.template_picker import (
    TemplateChoice,
    TemplatePick,
    pick_from_state,
    template_blocks,
)

CALLBACK_BATCH = "send_batch"
GROUP_BLOCK = "batch_group"
CONFIRM_BLOCK = "batch_confirm"
#: Slack: ≤ 100 options of ≤ 75 characters.
GROUPS_MAX = 100


@dataclass(frozen=True)
class FleetDraft:
    group: str | None
    message_text: str
    data_coding: str
    pick: TemplatePick
    #: The SIM count the ticked box confirmed (None: not ticked or not shown).
    confirmed_count: int | None


@dataclass(frozen=True)
class FleetPreview:
    """What the core counted: shown with the box that confirms exactly this."""

    members: int
    skipped: list[tuple[str, str | None, str]]  # (iccid, label, why)
    warnings: list[str]


def _group_option(name: str, count: int) -> dict[str, Any]:
    return {"text": plain(clip(f"{name} · {count} active SIM(s)", 75)), "value": name[:150]}


def fleet_modal(
    *,
    metadata: dict[str, Any],
    groups: list[tuple[str, int]],
    draft: FleetDraft | None = None,
    templates: list[TemplateChoice] | None = None,
    preview: FleetPreview | None = None,
) -> dict[str, Any]:
    draft = draft or FleetDraft(None, "", "default", TemplatePick(None), None)
    offered = groups[:GROUPS_MAX]
    group_element: dict[str, Any] = {
        "type": "static_select",
        "action_id": GROUP_BLOCK,
        "placeholder": plain("Choose a SIM group"),
        "options": [_group_option(n, c) for n, c in offered]
        or [{"text": plain("No group has active SIMs"), "value": "-"}],
    }
    chosen = next(((n, c) for n, c in offered if n == draft.group), None)
    if chosen is not None:
        group_element["initial_option"] = _group_option(*chosen)
    picker = template_blocks(templates or [], draft.pick)
    blocks: list[Block] = [
        section(
            "fleet_intro",
            ":satellite_antenna: The same message to *every active SIM of a group*, sent SIM by "
            "SIM; approved once when the group needs it; stoppable midway.",
        ),
        {
            "type": "input",
            "block_id": GROUP_BLOCK,
            "label": plain("SIM group"),
            "element": group_element,
        },
        *picker,
        message_input(draft.message_text, picker),
        coding_block(draft.data_coding),
    ]
    if preview is not None:
        blocks += _confirmation(draft.group, preview)
    return {
        "type": "modal",
        "callback_id": CALLBACK_BATCH,
        "title": plain("Fleet send"),
        "submit": plain("Send to all" if preview else "Check"),
        "close": plain("Cancel"),
        "private_metadata": json.dumps(metadata),
        "blocks": blocks,
    }


def _confirmation(group: str | None, preview: FleetPreview) -> list[Block]:
    lines = [
        f"• {code(iccid)} {escape(label or '')}: {escape(clip(why, 200))}"
        for iccid, label, why in preview.skipped
    ]
    lines += [f"• :warning: {escape(w)}" for w in preview.warnings]
    head = f":mag: This sends to *{preview.members} SIM(s)* of group {code(group or '-')}" + (
        f"; {len(preview.skipped)} SIM(s) are left out:" if preview.skipped else "."
    )
    count = str(preview.members)
    return [
        section("fleet_preview", fit_lines(head, lines, "", budget=2900)),
        {
            "type": "input",
            "block_id": CONFIRM_BLOCK,
            "label": plain("Confirm"),
            "element": {
                "type": "checkboxes",
                "action_id": CONFIRM_BLOCK,
                "options": [
                    {"text": plain(f"Send to these {count} SIM(s)"), "value": count},
                ],
            },
        },
    ]


def draft_from_state(values: dict[str, Any]) -> FleetDraft:
    def value(block: str) -> dict[str, Any]:
        return (values.get(block) or {}).get(block) or {}

    group = (value(GROUP_BLOCK).get("selected_option") or {}).get("value")
    coding = (value("data_coding").get("selected_option") or {}).get("value") or "default"
    ticked = [o.get("value") for o in value(CONFIRM_BLOCK).get("selected_options") or []]
    count = str(ticked[0]) if ticked else ""
    return FleetDraft(
        group=str(group) if group and group != "-" else None,
        message_text=str(value("message_text").get("value") or ""),
        data_coding=str(coding),
        pick=pick_from_state(values),
        confirmed_count=int(count) if count.isascii() and count.isdigit() else None,
    )
