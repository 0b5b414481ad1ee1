"""The send form's template picker: its blocks (pure), the choice read back from a submission,
and the templates on offer.

Slack keeps what a user typed in an input whose block and action ids did not change, so a chosen
template cannot be poured into the `message_text` field. Instead the choice travels on its own:
the core fills the template (`SendCommand.template`) and the filled text passes the same rules as
typed text; the message field is ignored while a template is chosen, and the form says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.slack.blocks import Block, context, plain
from bot.slack.mrkdwn import clip, code
from bot.store.db import Database
from bot.store.models import MessageTemplate
from bot.templates import listed, placeholders

TEMPLATE_BLOCK = "template"
VALUES_BLOCK = "template_vars"
#: Shown only while a template is chosen: what it sends.
INFO_BLOCK = "template_info"
#: The option that means "no template: send what I type".
NONE = "-"
#: Slack: a static select holds at most 100 options; option text ≤ 75, value ≤ 150.
OPTIONS_MAX = 100
OPTION_TEXT_MAX = 75


@dataclass(frozen=True)
class TemplateChoice:
    """A template as the form offers it."""

    name: str
    text: str
    binary: bool
    placeholders: tuple[str, ...]
    #: "Multinet KPN C SIMs", "group pumps": where the core will accept it (None: any SIM).
    limited_to: str | None = None


@dataclass(frozen=True)
class TemplatePick:
    """What the form says about templates: the chosen one (None: typed text) and its values."""

    name: str | None
    values_text: str = ""


def choice_of(template: MessageTemplate) -> TemplateChoice:
    limits = [f"{template.sim_type} SIMs"] if template.sim_type else []
    limits += [f"group {template.group_name}"] if template.group_name else []
    return TemplateChoice(
        name=template.name,
        text=template.message_text,
        binary=template.data_coding == "binary",
        placeholders=tuple(placeholders(template.message_text)),
        limited_to=" and ".join(limits) or None,
    )


def _option(choice: TemplateChoice | None) -> dict[str, Any]:
    if choice is None:
        return {"text": plain("None: send the text typed below"), "value": NONE}
    shown = choice.text if not choice.binary else "binary frame"
    return {"text": plain(clip(f"{choice.name} · {shown}", OPTION_TEXT_MAX)), "value": choice.name}


def template_blocks(choices: list[TemplateChoice], pick: TemplatePick) -> list[Block]:
    """The picker (only when templates exist) and, for a chosen template, what it sends and the
    field for its placeholders' values."""
    if not choices:
        return []
    offered = choices[: OPTIONS_MAX - 1]
    options = [_option(None)] + [_option(c) for c in offered]
    chosen = next((c for c in offered if c.name == pick.name), None)
    element: dict[str, Any] = {
        "type": "static_select",
        "action_id": TEMPLATE_BLOCK,
        "options": options,
        "initial_option": _option(chosen),
    }
    blocks: list[Block] = [
        {
            "type": "input",
            "block_id": TEMPLATE_BLOCK,
            "optional": True,
            "dispatch_action": True,
            "label": plain("Template"),
            "element": element,
            "hint": plain("A saved message; choosing one sends its text instead of the message."),
        }
    ]
    if chosen is None:
        return blocks
    where = f" · for {chosen.limited_to} only" if chosen.limited_to else ""
    kind = "binary frame (base64)" if chosen.binary else "text"
    blocks.append(
        context(INFO_BLOCK, f"Template {code(chosen.name)} ({kind}{where}): {code(chosen.text)}")
    )
    if chosen.placeholders:
        blocks.append(
            {
                "type": "input",
                "block_id": VALUES_BLOCK,
                "label": plain("Template values"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": VALUES_BLOCK,
                    "multiline": True,
                    "max_length": 1000,
                    **({"initial_value": pick.values_text[:1000]} if pick.values_text else {}),
                },
                "hint": plain("One name=value per line: " + ", ".join(chosen.placeholders)[:1900]),
            }
        )
    return blocks


def pick_from_state(state_values: dict[str, Any]) -> TemplatePick:
    """The template chosen in a submission or block action (None when none or `None`)."""
    chosen = (state_values.get(TEMPLATE_BLOCK, {}).get(TEMPLATE_BLOCK, {}) or {}).get(
        "selected_option"
    ) or {}
    name = str(chosen.get("value") or "") or None
    values = (state_values.get(VALUES_BLOCK, {}).get(VALUES_BLOCK, {}) or {}).get("value") or ""
    return TemplatePick(None if name in (None, NONE) else name, str(values))


def template_choices(db: Database) -> list[TemplateChoice]:
    """Every active template, as the form offers it."""
    with db.read() as session:
        return [choice_of(t) for t in listed(session)]
