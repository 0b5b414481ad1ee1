"""Retry: where nothing reached the portal, the thread offers Retry — a new request (new sms_uid)
through the whole pipeline, linked to the original. Never for `unknown`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from bot.portal.sandbox import SANDBOX_CREDENTIALS
from bot.store.models import SmsRequest
from tests.support.bot import Bot, running_bot, values
from tests.test_slack_approvals import click

SENDER = "U0SENDER"


@pytest.fixture
def unreachable_portal_bot(db_url: str) -> Iterator[Bot]:
    with running_bot(
        db_url,
        SMSBOT_PORTAL="live",
        M2M_API_URL="http://127.0.0.1:9/",  # nothing listens: connect refused, nothing sent
        M2M_API_ID=SANDBOX_CREDENTIALS.api_id,
        M2M_USERNAME=SANDBOX_CREDENTIALS.username,
        M2M_PASSWORD=SANDBOX_CREDENTIALS.password,
    ) as bot:
        yield bot


def _requests(bot: Bot) -> list[SmsRequest]:
    with bot.runtime.db.session() as session:
        return list(session.execute(select(SmsRequest).order_by(SmsRequest.id)).scalars())


def test_retry_makes_a_linked_request_once(unreachable_portal_bot: Bot) -> None:
    bot = unreachable_portal_bot
    bot.grant(SENDER)
    bot.submit(bot.open_modal(), values())
    failed = bot.slack.wait_for(
        "chat.postMessage", lambda c: "nothing was sent" in c.args.get("text", "")
    )[0]
    button = next(b for b in failed.args["blocks"] if b["block_id"] == "retry")["elements"][0]
    assert button["action_id"] == "retry_request" and button["value"] == "1"
    click(bot.client, "retry_request", 1, "U0SOMEONE", channel="C0NOC")
    refused = bot.slack.wait_for("chat.postEphemeral")[0]
    assert "Not retried" in refused.args["text"]
    for _ in range(2):  # a double click retries once
        click(bot.client, "retry_request", 1, SENDER, channel="C0NOC")
    bot.slack.wait_for("chat.postMessage", lambda c: "Retried as request #2" in c.args["text"])
    bot.slack.wait_for("chat.postEphemeral", lambda c: "retried already" in c.args["text"])
    bot.slack.wait_for(
        "chat.postMessage", lambda c: "nothing was sent" in c.args.get("text", ""), count=2
    )
    first, second = _requests(bot)
    assert second.retry_of == first.id and second.sms_uid != first.sms_uid
    assert second.message_text == first.message_text and second.iccid == first.iccid
    assert len(_requests(bot)) == 2


def test_no_retry_for_an_unknown_outcome(bot: Bot) -> None:
    assert bot.runtime.sandbox is not None
    bot.runtime.sandbox.portal.set_fault("500")
    bot.grant(SENDER)
    bot.submit(bot.open_modal(), values())
    unknown = bot.slack.wait_for(
        "chat.postMessage", lambda c: "Outcome unknown" in c.args.get("text", "")
    )[0]
    assert unknown.args.get("blocks") is None
    click(bot.client, "retry_request", 1, SENDER, channel="C0NOC")
    refused = bot.slack.wait_for("chat.postEphemeral")[0]
    assert "only a request that never reached the portal" in refused.args["text"]
    assert len(_requests(bot)) == 1
