"""Pure builders of the modals: the send form and the reject-reason form."""

from __future__ import annotations

import json
from typing import Any

from bot.slack.blocks import TEXT_MAX, Block, context, plain, section, sim_line
from bot.slack.mrkdwn import code, escape, fit_lines
from bot.slack.sim_picker import initial_option, sim_select_block
from bot.slack.template_picker import INFO_BLOCK, TemplateChoice, TemplatePick, template_blocks
from bot.sms.binary import decode_payload
from bot.sms.gsm7 import MAX_SEPTETS, count_septets
from bot.sms.message import Draft, SimInfo
from bot.sms.problems import Problem

CALLBACK_SEND = "send_sms"
CALLBACK_REJECT = "reject_request"
#: Slack's limits for what we put in modals (option text 75, error text kept well under 2000).
MESSAGE_MAX_LENGTH = 3000
#: How much of a typed SIM name the form repeats back.
ICCID_MAX_LENGTH = 40
ERROR_MAX = 1900


def counter_line(text: str, coding: str, cut_from: int | None = None) -> str:
    """What counts against the limits, shown under the message field."""
    if coding == "binary":
        data = decode_payload(text)
        size = f"{len(data)}/120 bytes" if data is not None else "not valid base64 yet"
        line = f"{len(text)}/160 base64 characters · {size}"
    else:
        count = count_septets(text)
        doubles = (
            " · " + " ".join(code(c) for c in count.double_chars) + " count as two"
            if count.double_chars
            else ""
        )
        line = f"{count.septets}/{MAX_SEPTETS} septets{doubles}"
    if cut_from is not None:
        line += (
            f" · :warning: the text after `/sms` was {cut_from} characters; the form holds "
            f"the first {MESSAGE_MAX_LENGTH}"
        )
    return line


def text_input(
    block_id: str,
    label: str,
    value: str,
    *,
    max_length: int,
    optional: bool = False,
    multiline: bool = False,
    hint: str | None = None,
    dispatch: str | None = None,
) -> Block:
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": block_id,
        "multiline": multiline,
        "max_length": max_length,
    }
    if value:
        # Slack refuses a view whose initial value is longer than the input allows.
        element["initial_value"] = value[:max_length]
    if dispatch:
        element["dispatch_action_config"] = {"trigger_actions_on": [dispatch]}
    block: Block = {
        "type": "input",
        "block_id": block_id,
        "label": plain(label),
        "optional": optional,
        "element": element,
    }
    if dispatch:
        block["dispatch_action"] = True
    if hint:
        block["hint"] = plain(hint)
    return block


def _sim_info(sim: SimInfo | None, typed: str, chosen: dict[str, Any] | None) -> str:
    if not typed.strip():
        return "Choose the SIM: search by its label, ICCID or MSISDN."
    if chosen is None:
        return f"{code(typed)} does not name one SIM: search for it above."
    return sim_line(sim, typed)


_REPLACE_OPTION = {
    "text": plain("Replace unsupported characters (you confirm the result)"),
    "value": "replace",
}
_CODING_OPTIONS = [
    {"text": plain("Text (GSM 7-bit)"), "value": "default"},
    {"text": plain("Binary (base64, Multinet KPN C)"), "value": "binary"},
]


def message_input(value: str, picker: list[Block], dispatch: str | None = None) -> Block:
    """The `message_text` field. Slack keeps what was typed in it across updates, so while a
    template is chosen (`picker` shows one) the field is optional and says it is not used."""
    templated = any(b.get("block_id") == INFO_BLOCK for b in picker)
    return text_input(
        "message_text",
        "Message",
        value,
        multiline=True,
        dispatch=dispatch,
        max_length=MESSAGE_MAX_LENGTH,
        optional=templated,
        hint="Not used: the chosen template's text is sent." if templated else None,
    )


def coding_block(data_coding: str) -> Block:
    """The `data_coding` select (SPEC: values `default`, `binary`)."""
    selected = _CODING_OPTIONS[1] if data_coding == "binary" else _CODING_OPTIONS[0]
    return {
        "type": "input",
        "block_id": "data_coding",
        "label": plain("Data coding"),
        "element": {
            "type": "static_select",
            "action_id": "data_coding",
            "options": _CODING_OPTIONS,
            "initial_option": selected,
        },
    }


def send_modal(
    *,
    metadata: dict[str, Any],
    iccid: str = "",
    message_text: str = "",
    data_coding: str = "default",
    origin: str = "",
    sms_uid: str = "",
    sim: SimInfo | None = None,
    warnings: list[Problem] | None = None,
    confirm_digest: str = "",
    replace: bool = False,
    templates: list[TemplateChoice] | None = None,
    pick: TemplatePick | None = None,
) -> dict[str, Any]:
    """The send form. Input block ids are the SPEC's names; values typed so far are kept by
    Slack on update because block and action ids never change. `metadata` (the channel, the
    command's response_url) travels in private_metadata."""
    cut_from = len(message_text) if len(message_text) > MESSAGE_MAX_LENGTH else None
    message_text = message_text[:MESSAGE_MAX_LENGTH]
    chosen = initial_option(iccid, sim)
    pick = pick or TemplatePick(None)
    picker = template_blocks(templates or [], pick)
    blocks: list[Block] = [
        sim_select_block(chosen),
        context("sim_info", _sim_info(sim, iccid, chosen)),
        *picker,
        message_input(message_text, picker, dispatch="on_character_entered"),
        context("counter", counter_line(message_text, data_coding, cut_from)),
        coding_block(data_coding),
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
            "label": plain("Options"),
            "element": {
                "type": "checkboxes",
                "action_id": "options",
                "options": [_REPLACE_OPTION],
                **({"initial_options": [_REPLACE_OPTION]} if replace else {}),
            },
        },
    ]
    if warnings:
        listed = fit_lines(
            ":warning: *Check before sending*",
            [f"• {escape(p.message)}" for p in warnings],
            "",
            budget=TEXT_MAX,
        )
        blocks.append(section("warnings", listed))
        blocks.append(
            {
                "type": "input",
                "block_id": "confirm",
                "label": plain("Confirm"),
                "element": {
                    "type": "checkboxes",
                    "action_id": "confirm",
                    "options": [
                        {
                            "text": plain("I have checked the warnings: send it"),
                            # The box confirms these warnings for these fields only: the core
                            # compares the digest with the submission's own.
                            "value": confirm_digest or "unbound",
                        }
                    ],
                },
            }
        )
    return {
        "type": "modal",
        "callback_id": CALLBACK_SEND,
        "title": plain("Send SMS"),
        "submit": plain("Send"),
        "close": plain("Cancel"),
        "private_metadata": json.dumps(metadata),
        "blocks": blocks,
    }


def send_modal_for(
    draft: Draft,
    metadata: dict[str, Any],
    sim: SimInfo | None,
    warnings: list[Problem] | None = None,
    confirm_digest: str = "",
    *,
    templates: list[TemplateChoice] | None = None,
    pick: TemplatePick | None = None,
) -> dict[str, Any]:
    """The send form again, around what the user typed so far."""
    return send_modal(
        metadata=metadata,
        iccid=draft.iccid,
        message_text=draft.message_text,
        data_coding=draft.data_coding,
        origin=draft.origin or "",
        sms_uid=draft.sms_uid or "",
        sim=sim,
        warnings=warnings,
        confirm_digest=confirm_digest,
        replace=draft.apply_replacements,
        templates=templates,
        pick=pick,
    )


def _block_for(problem: Problem, request_block: str) -> str:
    if problem.field == "request":
        return request_block
    if problem.field == "template" and problem.code in ("missing_value", "unknown_value"):
        return "template_vars"
    return problem.field


def errors_for_modal(
    problems: list[Problem], view: dict[str, Any], *, request_block: str = "message_text"
) -> dict[str, str]:
    """`response_action: errors` map: one message per input block (several joined); problems
    with the whole request go on `request_block`. Slack refuses an error naming a block the
    view does not have: such a problem goes to the template picker (template problems) or the
    message field."""
    present = {b.get("block_id") for b in view.get("blocks", []) if b.get("type") == "input"}
    out: dict[str, str] = {}
    for problem in problems:
        block = _block_for(problem, request_block)
        if block not in present:
            templated = problem.field.startswith("template") and "template" in present
            block = "template" if templated else "message_text"
        out[block] = f"{out[block]} {problem.message}" if block in out else problem.message
    return {k: v[:ERROR_MAX] for k, v in out.items()}


def reject_modal(request_id: int, metadata: dict[str, Any]) -> dict[str, Any]:
    """Reject asks for an optional reason."""
    return {
        "type": "modal",
        "callback_id": CALLBACK_REJECT,
        "title": plain("Reject SMS request"),
        "submit": plain("Reject"),
        "close": plain("Cancel"),
        "private_metadata": json.dumps({"request_id": request_id, **metadata}),
        "blocks": [
            {
                "type": "input",
                "block_id": "reason",
                "optional": True,
                "label": plain(f"Why reject request #{request_id}? (shown to the requester)"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": "reason",
                    "multiline": True,
                    "max_length": 500,
                },
            }
        ],
    }
