"""Posting an Approve / Reject message in an approval channel, for one request or a fleet send:
where it went, and the line that tells the requester (or why it could not be posted)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from slack_sdk import WebClient

from bot.slack.mrkdwn import channel_link, escape
from bot.slack.notify import SlackFailure, why
from bot.store.grants import aware


def ask_for_approval(
    client: WebClient,
    channel: str,
    text: str,
    blocks: list[dict[str, Any]],
    *,
    expires_at: datetime | None,
    approvers: int,
    otherwise: str,
) -> tuple[tuple[str, str] | None, str]:
    """Post the message; ((channel, ts) or None when Slack refused, the requester's line).
    `otherwise` says how to decide without the message, e.g. "`smsbot approvals approve 7`"."""
    expires = aware(expires_at)
    until = f"{expires:%H:%M} UTC" if expires else "-"
    try:
        posted = client.chat_postMessage(channel=channel, text=text, blocks=blocks)
    except SlackFailure as exc:
        return None, (
            f":warning: Approval is needed, but I could not post in {channel_link(channel)} "
            f"({escape(why(exc))}): invite me there, or an approver runs {otherwise}. It "
            f"expires at {until}."
        )
    needed = f"{approvers} approver" + ("s" if approvers > 1 else "")
    return (str(posted["channel"]), str(posted["ts"])), (
        f":raised_hand: Approval asked in {channel_link(channel)} ({needed}); it expires at "
        f"{until}. Nothing is sent until then."
    )
