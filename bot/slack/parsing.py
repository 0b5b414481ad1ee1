"""Pure helpers for what Slack sends: command text markup and modal state."""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from typing import Any

from bot.sms.message import Draft

# Slack escapes &, < and > in command text and wraps links and mentions in <…|…> markup.
_MARKUP = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")
_USER = re.compile(r"\A<@([UW][A-Z0-9]+)(?:\|[^>]*)?>\Z")
_GROUP = re.compile(r"\A<!subteam\^(S[A-Z0-9]+)(?:\|[^>]*)?>\Z")
_CHANNEL = re.compile(r"\A<#([CG][A-Z0-9]+)(?:\|[^>]*)?>\Z")


def _replace_markup(match: re.Match[str]) -> str:
    target, label = match.group(1), match.group(2)
    if label is not None:
        return label
    if target.startswith(("@", "#")):
        return target[1:]
    if target.startswith("!"):
        return target[1:].split("^", 1)[0]
    return target  # a bare link: <https://x> → https://x; <tel:+44…> keeps the scheme


def plain_text(text: str) -> str:
    """Command text as the user typed it: markup stripped, then `&amp; &lt; &gt;` unescaped."""
    return html.unescape(_MARKUP.sub(_replace_markup, text)) if "<" in text or "&" in text else text


def subject_id(token: str) -> str:
    """A grant subject from a mention (`<@U…|name>`, `<!subteam^S…>`, `<#C…|name>`) or a raw ID."""
    for pattern in (_USER, _GROUP, _CHANNEL):
        match = pattern.match(token)
        if match:
            return match.group(1)
    return token.strip().lstrip("@#")


@dataclass(frozen=True)
class CommandText:
    subcommand: str | None
    args: list[str]
    raw: str


SUBCOMMANDS = ("help", "status", "audit", "grant", "revoke", "grants", "sims", "usage", "fleet")


def parse_command(text: str) -> CommandText:
    """`/sms` text: a subcommand and its raw args, or a send (`<iccid> <text…>`) / empty."""
    stripped = text.strip()
    head, _, rest = stripped.partition(" ")
    if head.lower() in SUBCOMMANDS:
        return CommandText(head.lower(), rest.split(), stripped)
    return CommandText(None, [], stripped)


def prefill_from_command(text: str) -> tuple[str, str]:
    """`/sms 8944 0000 0000 0000 0010 reset modem` → (ICCID, message).

    People paste ICCIDs in groups of digits. Groups are taken until they hold at least 18 digits
    (the shortest ICCID), so a number at the start of the message stays in the message. It is
    only a prefill: the modal shows both fields, and the SIM's label, before anything is sent.
    """
    clean = plain_text(text).strip()
    tokens = clean.split()
    taken: list[str] = []
    digits = 0
    for token in tokens:
        bare = token.replace("-", "")
        if not bare.isdigit() or digits >= 18:
            break
        taken.append(token)
        digits += len(bare)
    if not taken:
        return "", clean
    rest = clean
    for token in taken:
        rest = rest[rest.index(token) + len(token) :]
    return " ".join(taken), rest.strip()


def _value(values: dict[str, Any], block: str, action: str | None = None) -> Any:
    return values.get(block, {}).get(action or block, {})


def draft_from_view(state_values: dict[str, Any]) -> tuple[Draft, str | None]:
    """The send modal's inputs → (Draft, the warnings digest the user confirmed, if any)."""
    coding = _value(state_values, "data_coding").get("selected_option") or {}
    options = {
        o.get("value") for o in _value(state_values, "options").get("selected_options") or []
    }
    confirm = {
        o.get("value") for o in _value(state_values, "confirm").get("selected_options") or []
    }
    draft = Draft(
        # The SIM picker (external_select) sends the chosen option; a plain text field (an older
        # form still open in someone's Slack) sends its value.
        iccid=(_value(state_values, "iccid").get("selected_option") or {}).get("value")
        or _value(state_values, "iccid").get("value")
        or "",
        message_text=_value(state_values, "message_text").get("value") or "",
        data_coding=coding.get("value") or "default",
        origin=_value(state_values, "origin").get("value"),
        sms_uid=_value(state_values, "sms_uid").get("value"),
        apply_replacements="replace" in options,
    )
    return draft, next((str(v) for v in confirm if v), None)


def view_metadata(view: dict[str, Any]) -> dict[str, Any]:
    """A modal's private_metadata as a dict ({} when absent or not ours)."""
    try:
        data = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
