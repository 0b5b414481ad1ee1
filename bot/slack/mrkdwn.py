"""Text from data, made safe for Slack: never markup, always shown as the characters it holds.

Slack's mrkdwn turns `<…>` into mentions, pings and links (`<!channel>`, `<@U…>`,
`<https://evil|portal login>`) and expects `&`, `<`, `>` escaped as entities. Everything that did
not come from our own templates — SMS text, SIM labels, reasons, portal and device replies, names —
goes through `escape` (or `code`) before it is put into mrkdwn.

The SMS text itself is shown in a rich-text preformatted block (`verbatim_block`): rich text holds
raw characters with mentions and links only as their own element types, so backticks, asterisks,
`<`, line breaks and leading spaces are displayed exactly as they will be sent.
"""

from __future__ import annotations

from typing import Any

#: Slack's advice is to keep a message's text under 4,000 characters (it cuts longer ones in some
#: clients); lists are cut below that with "…and N more".
MESSAGE_BUDGET = 3800


def escape(text: str) -> str:
    """`&`, `<`, `>` as the entities Slack expects: shown literally, never a control sequence."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code(text: str) -> str:
    """Data as an inline code span, escaped. A backtick cannot appear inside a span, so such text
    is shown escaped without the span rather than altered."""
    if not text:
        return "`-`"
    if "`" in text or "\n" in text:
        return escape(text)
    return f"`{escape(text)}`"


def verbatim_block(block_id: str, text: str) -> dict[str, Any]:
    """A rich-text block showing `text` exactly (monospace, every character as it is)."""
    return {
        "type": "rich_text",
        "block_id": block_id,
        "elements": [
            {
                "type": "rich_text_preformatted",
                "elements": [{"type": "text", "text": text or " "}],
            }
        ],
    }


def clip(text: str, limit: int) -> str:
    """Cut `text` to at most `limit` characters, saying so; never in the middle of an entity."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"


def fit_lines(head: str, lines: list[str], hint: str, budget: int = MESSAGE_BUDGET) -> str:
    """`head` and as many whole `lines` as fit in `budget` characters; the rest is counted
    ("…and N more", then `hint`), so Slack never cuts a list in the middle."""
    out = [head]
    size = len(head)
    for i, line in enumerate(lines):
        left = len(lines) - i
        tail = f"\n…and {left} more{hint}"
        if size + 1 + len(line) + (len(tail) if left > 1 else 0) > budget:
            out.append(tail.lstrip("\n"))
            break
        out.append(line)
        size += 1 + len(line)
    return "\n".join(out)


def mention(user_id: str) -> str:
    """`<@U…>` for a real Slack user id; anything else (a CLI name, `portal`) as escaped code."""
    if _is_id(user_id, "UW"):
        return f"<@{user_id}>"
    return code(user_id)


def channel_link(channel_id: str) -> str:
    """`<#C…>` for a channel id we hold; anything else as escaped code."""
    if _is_id(channel_id, "CG"):
        return f"<#{channel_id}>"
    return code(channel_id)


def subteam(group_id: str) -> str:
    """`<!subteam^S…>` for a user group id; anything else as escaped code."""
    return f"<!subteam^{group_id}>" if _is_id(group_id, "S") else code(group_id)


def _is_id(value: str, prefixes: str) -> bool:
    """A Slack id: a known prefix letter, then ASCII capitals and digits."""
    return (
        2 <= len(value) <= 24
        and value[0] in prefixes
        and all(c.isascii() and (c.isdigit() or c.isupper()) for c in value)
    )
