"""What Slack shows for a message: a small model of mrkdwn's control sequences and entities, and
of rich text, so tests can say "the approver reads exactly this" and "no data became markup".

In mrkdwn, `<…>` is a control sequence (a mention `<@U…>`, a ping `<!channel>`, a user group
`<!subteam^S…>`, a link `<url|label>` showing only the label) and `&amp; &lt; &gt;` are the escaped
characters. Rich text `text` elements are shown as they are.
"""

from __future__ import annotations

import re
from typing import Any

CONTROL = re.compile(r"<([^<>]*)>")


def _shown_control(match: re.Match[str]) -> str:
    target, _, label = match.group(1).partition("|")
    if label:
        return label
    if target.startswith(("@", "#")):
        return target
    if target.startswith("!"):
        return "@" + target[1:].split("^", 1)[0]
    return target


def shown(mrkdwn: str) -> str:
    """The characters a reader sees for a mrkdwn string."""
    text = CONTROL.sub(_shown_control, mrkdwn)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def controls(mrkdwn: str) -> list[str]:
    """The control sequences in a mrkdwn string (what Slack turns into mentions, pings, links)."""
    return CONTROL.findall(mrkdwn)


def mrkdwn_texts(node: Any) -> list[str]:
    """Every mrkdwn string in a block tree."""
    found: list[str] = []
    if isinstance(node, list):
        for item in node:
            found += mrkdwn_texts(item)
    elif isinstance(node, dict):
        if node.get("type") == "mrkdwn":
            found.append(str(node.get("text", "")))
        for value in node.values():
            if isinstance(value, dict | list):
                found += mrkdwn_texts(value)
    return found


def rich_texts(node: Any) -> list[str]:
    """What each rich-text preformatted block shows."""
    found: list[str] = []
    if isinstance(node, list):
        for item in node:
            found += rich_texts(item)
    elif isinstance(node, dict):
        if node.get("type") == "rich_text_preformatted":
            found.append("".join(e.get("text", "") for e in node.get("elements", [])))
        else:
            for value in node.values():
                if isinstance(value, dict | list):
                    found += rich_texts(value)
    return found


def message_controls(text: str, blocks: list[dict[str, Any]] | None) -> list[str]:
    """Every control sequence in a message: its fallback text and all of its mrkdwn."""
    out = controls(text)
    for piece in mrkdwn_texts(blocks or []):
        out += controls(piece)
    return out
