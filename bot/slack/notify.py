"""Posting a request's thread, with fallbacks so the user always learns the outcome."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError

log = logging.getLogger(__name__)

SlackFailure = (SlackApiError, SlackRequestError, OSError)


@dataclass(frozen=True)
class Thread:
    channel: str
    ts: str


class Notifier:
    def __init__(self, client: WebClient) -> None:
        self.client = client

    def _post(
        self,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
    ) -> Thread:
        response = self.client.chat_postMessage(
            channel=channel,
            text=text,
            blocks=blocks,
            thread_ts=thread_ts,
            unfurl_links=False,
            unfurl_media=False,
        )
        return Thread(str(response["channel"]), str(response["ts"]))

    def dm_channel(self, user_id: str) -> str:
        response = self.client.conversations_open(users=user_id)
        return str(response["channel"]["id"])

    def start_thread(
        self, channel: str | None, user_id: str, text: str, blocks: list[dict[str, Any]]
    ) -> Thread | None:
        """Post in the channel where /sms ran; where the bot cannot (not a member, a DM, a
        private channel, archived…) post in a DM with the user instead."""
        if channel and not channel.startswith("D"):
            try:
                return self._post(channel, text, blocks)
            except SlackFailure as exc:
                log.info("cannot post in %s (%s); falling back to a DM", channel, why(exc))
        try:
            return self._post(self.dm_channel(user_id), text, blocks)
        except SlackFailure as exc:
            log.error("cannot reach %s in a DM either: %s", user_id, why(exc))
            return None

    def reply(self, thread: Thread, text: str) -> None:
        try:
            self._post(thread.channel, text, thread_ts=thread.ts)
        except SlackFailure as exc:
            log.error("thread reply in %s failed: %s", thread.channel, why(exc))

    def update(self, thread: Thread, text: str, blocks: list[dict[str, Any]]) -> None:
        try:
            self.client.chat_update(channel=thread.channel, ts=thread.ts, text=text, blocks=blocks)
        except SlackFailure as exc:
            log.error("updating %s %s failed: %s", thread.channel, thread.ts, why(exc))

    def ephemeral(self, channel: str | None, user_id: str, text: str) -> None:
        """Only `user_id` sees it, in `channel`; a DM where that is not possible."""
        if channel and not channel.startswith("D"):
            try:
                self.client.chat_postEphemeral(channel=channel, user=user_id, text=text)
                return
            except SlackFailure as exc:
                log.info("ephemeral in %s failed (%s); sending a DM", channel, why(exc))
        self.tell_user(user_id, text)

    def tell_user(self, user_id: str, text: str) -> None:
        """A direct message (refusals and notices that have no thread)."""
        try:
            self._post(self.dm_channel(user_id), text)
        except SlackFailure as exc:
            log.error("cannot DM %s: %s", user_id, why(exc))


def why(exc: Exception) -> str:
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error", "error"))
    return type(exc).__name__
