"""The send form's SIM picker, pure: an `external_select` (block and action id `iccid`, as the
SPEC names the field) whose options Slack loads from the bot as the user types
(`block_suggestion`), and the options answer itself.

A whole ICCID that is not offered is still offered as typed, so the typed-ICCID path works for a
SIM missing from the inventory; the core's rules and authorization then decide, as for any send.
"""

from __future__ import annotations

from typing import Any

from bot.sim_names import looks_like_iccid
from bot.sim_search import SimSearch
from bot.slack.blocks import Block, plain
from bot.slack.mrkdwn import clip
from bot.sms.iccid import normalize_iccid
from bot.sms.message import SimInfo

#: Slack: option text ≤ 75 characters, value ≤ 150; ≤ 100 options; group label ≤ 75.
OPTION_TEXT_MAX = 75


def sim_option(iccid: str, label: str | None, sim_type: str | None) -> dict[str, Any]:
    """One SIM as an option: its label first (what people know it by), then the ICCID."""
    if label:
        text = f"{clip(label, OPTION_TEXT_MAX - len(iccid) - 3)} · {iccid}"
    else:
        text = f"{iccid} · {sim_type or 'unlabelled'}"
    return {"text": plain(clip(text, OPTION_TEXT_MAX)), "value": iccid}


def typed_option(iccid: str) -> dict[str, Any]:
    return {"text": plain(f"{iccid} (as typed)"), "value": iccid}


def initial_option(typed: str, sim: SimInfo | None) -> dict[str, Any] | None:
    """What the picker shows chosen when the form opens or is rebuilt: the SIM named, or a whole
    ICCID as typed; None for a name that named no single SIM (the user searches)."""
    if sim is not None:
        return sim_option(sim.iccid, sim.label, sim.sim_type)
    if typed and looks_like_iccid(typed):
        return typed_option(normalize_iccid(typed))
    return None


def sim_select_block(chosen: dict[str, Any] | None) -> Block:
    element: dict[str, Any] = {
        "type": "external_select",
        "action_id": "iccid",
        "placeholder": plain("Search by label, ICCID or MSISDN"),
        # Opening the menu lists the SIMs the user may message before anything is typed.
        "min_query_length": 0,
    }
    if chosen is not None:
        element["initial_option"] = chosen
    return {
        "type": "input",
        "block_id": "iccid",
        "label": plain("SIM"),
        # Choosing a SIM re-renders the form with its label, type and group.
        "dispatch_action": True,
        "element": element,
        "hint": plain("Only SIMs you may message are listed; a whole ICCID can be typed."),
    }


def suggestion_answer(search: SimSearch) -> dict[str, Any]:
    """The `block_suggestion` response body."""
    options = [sim_option(f.iccid, f.label, f.sim_type) for f in search.found]
    if search.typed_iccid is not None:
        options.insert(0, typed_option(search.typed_iccid))
    if not search.more:
        return {"options": options}
    label = f"First {len(options)} matches: type more to narrow"
    return {"option_groups": [{"label": plain(label), "options": options}]}
