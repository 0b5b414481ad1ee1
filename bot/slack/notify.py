"""Posting to Slack with fallbacks, so the person who asked always hears the outcome.

Routes, in order: the request's thread (or the channel where /sms ran) → a DM → an ephemeral
message in that channel → the slash command's `response_url`. A message no route could carry is
logged and counted (`smsbot_slack_undelivered_total`), never dropped silently.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.webhook import WebhookClient

from bot import metrics
from bot.slack.mrkdwn import escape

log = logging.getLogger(__name__)

SlackFailure = (SlackApiError, SlackRequestError, OSError)


@dataclass(frozen=True)
class Thread:
    channel: str
    ts: str


def thread_at(channel: str | None, ts: str | None) -> Thread | None:
    """The thread a row points to (its channel and parent ts), if it has one."""
    return Thread(channel, ts) if channel and ts else None


@dataclass(frozen=True)
class Audience:
    """Who must hear about a request, and every place they can be reached."""

    user: str
    channel: str | None = None
    response_url: str | None = None


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
        self, audience: Audience, text: str, blocks: list[dict[str, Any]]
    ) -> Thread | None:
        """Post in the channel where /sms ran; where the bot cannot (not a member, a private
        channel, archived…) post in a DM with the user instead. None when neither works: the
        caller then tells the user through `tell`."""
        channel = audience.channel
        if channel and not channel.startswith("D"):
            try:
                return self._post(channel, text, blocks)
            except SlackFailure as exc:
                log.info("cannot post in %s (%s); falling back to a DM", channel, why(exc))
        try:
            thread = self._post(self.dm_channel(audience.user), text, blocks)
        except SlackFailure as exc:
            log.warning("cannot reach %s in a DM either: %s", audience.user, why(exc))
            return None
        if channel and not channel.startswith("D"):
            metrics.SLACK_FALLBACKS.labels("dm").inc()
        return thread

    def reply(
        self,
        thread: Thread | None,
        text: str,
        audience: Audience,
        blocks: list[dict[str, Any]] | None = None,
    ) -> bool:
        """In the thread; where that fails (or there is none), to the user by any route (as
        text: buttons only make sense in the thread)."""
        if thread is not None:
            try:
                self._post(thread.channel, text, blocks, thread_ts=thread.ts)
                return True
            except SlackFailure as exc:
                log.warning("thread reply in %s failed: %s", thread.channel, why(exc))
        return self.tell(audience, text)

    def update(self, thread: Thread, text: str, blocks: list[dict[str, Any]]) -> bool:
        try:
            self.client.chat_update(channel=thread.channel, ts=thread.ts, text=text, blocks=blocks)
            return True
        except SlackFailure as exc:
            log.error("updating %s %s failed: %s", thread.channel, thread.ts, why(exc))
            metrics.SLACK_UNDELIVERED.labels("update").inc()
            return False

    def form_did_not_open(self, audience: Audience, exc: Exception, form: str, again: str) -> bool:
        """Slack refused to open a form: the user hears why, that nothing was sent, and what to
        type again (`again`)."""
        return self.answer(
            audience,
            f":warning: The {form} did not open ({form_refusal(exc)}). Nothing was sent. "
            f"Type `{again}` again; if it keeps failing, tell the bot's admins.",
        )

    def tell(self, audience: Audience, text: str) -> bool:
        """A notice for one person: a DM, else ephemeral in their channel, else the command's
        response_url. False (logged, counted) when no route worked."""
        try:
            self._post(self.dm_channel(audience.user), text)
            return True
        except SlackFailure as exc:
            log.info("cannot DM %s (%s); trying the channel", audience.user, why(exc))
        channel = audience.channel
        if channel and not channel.startswith("D"):
            try:
                self.client.chat_postEphemeral(channel=channel, user=audience.user, text=text)
                metrics.SLACK_FALLBACKS.labels("ephemeral").inc()
                return True
            except SlackFailure as exc:
                log.info("ephemeral in %s failed (%s)", channel, why(exc))
        if audience.response_url and self.respond(audience.response_url, text):
            metrics.SLACK_FALLBACKS.labels("response_url").inc()
            return True
        log.error("could not tell %s by any route: %.200s", audience.user, text)
        metrics.SLACK_UNDELIVERED.labels("notice").inc()
        return False

    def answer(self, audience: Audience, text: str) -> bool:
        """The answer to a command, where the user typed it (its response_url); else any route."""
        if audience.response_url and self.respond(audience.response_url, text):
            return True
        return self.tell(Audience(audience.user, audience.channel), text)

    def ephemeral_first(self, audience: Audience, text: str) -> bool:
        """Only the user sees it, in the channel where they clicked; else any route."""
        channel = audience.channel
        if channel and not channel.startswith("D"):
            try:
                self.client.chat_postEphemeral(channel=channel, user=audience.user, text=text)
                return True
            except SlackFailure as exc:
                log.info("ephemeral in %s failed (%s); sending a DM", channel, why(exc))
        # The channel was tried already: a DM, then the response_url.
        return self.tell(Audience(audience.user, None, audience.response_url), text)

    @staticmethod
    def respond(response_url: str, text: str) -> bool:
        """An ephemeral answer through a `response_url` (valid 30 minutes, 5 uses)."""
        try:
            answer = WebhookClient(response_url, timeout=10).send(
                text=text, response_type="ephemeral", replace_original=False
            )
        except (SlackRequestError, OSError) as exc:
            log.warning("response_url failed: %s", type(exc).__name__)
            return False
        if answer.status_code != 200:
            log.warning("response_url answered %s: %.200s", answer.status_code, answer.body)
            return False
        return True


def why(exc: Exception) -> str:
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error", "error"))
    return type(exc).__name__


#: What to tell the user when Slack will not open a form, by Slack's error.
_MODAL_FAILURES = {
    "expired_trigger_id": "Slack waited too long for the form (a /sms can open it for 3 s only)",
    "exchanged_trigger_id": "this /sms already opened a form",
    "ratelimited": "Slack is rate-limiting the bot right now",
}


def form_refusal(exc: Exception) -> str:
    """Why Slack did not open a form, for the user (Slack's own word escaped)."""
    error = why(exc)
    log.warning("views.open failed: %s", error)
    return _MODAL_FAILURES.get(error, f"Slack refused to open it: {escape(error)}")
