"""Payload shapes Slack really sends: Enterprise Grid (team null, W users, the org id), DMs,
ssl_check, and requests from another workspace or app (refused and audited when SLACK_TEAM_ID /
SLACK_APP_ID say whose requests are served)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bot.store import audit
from tests.support.bot import Bot, running_bot, values
from tests.support.signing import command_body

SENDER = "U0SENDER"
GRID_USER = "W0GRIDUSER"


@pytest.fixture
def pinned_bot(db_url: str) -> Iterator[Bot]:
    """A bot that serves only the Grid org E0GRID and app A0001."""
    with running_bot(db_url, SLACK_TEAM_ID="E0GRID", SLACK_APP_ID="A0001") as bot:
        yield bot


def _refusals(bot: Bot) -> list[Any]:
    with bot.runtime.db.session() as session:
        return [r for r in audit.query(session) if r.event == "foreign_request_refused"]


def test_enterprise_grid_payloads_work_end_to_end(pinned_bot: Bot) -> None:
    bot = pinned_bot
    bot.grant(GRID_USER)
    response = bot.client.post(
        command_body(
            "",
            user=GRID_USER,
            channel="C0NOC",
            team="T0WORKSPACE",
            enterprise_id="E0GRID",
            enterprise_name="Grid",
            is_enterprise_install="true",
        )
    )
    assert response.status_code == 200
    opened = bot.slack.wait_for("views.open")[0]
    opened.args["view"]["id"] = "V0GRID"
    payload = {
        "type": "view_submission",
        "team": None,  # org-wide installs send no team
        "enterprise": {"id": "E0GRID", "name": "Grid"},
        "is_enterprise_install": True,
        "user": {"id": GRID_USER, "username": "grid", "team_id": "T0WORKSPACE"},
        "api_app_id": "A0001",
        "trigger_id": "T.grid",
        "view": {
            **opened.args["view"],
            "team_id": "T0WORKSPACE",
            "hash": "h",
            "state": {"values": values()},
        },
    }
    assert bot.client.interaction(payload).status_code == 200
    bot.slack.wait_for("chat.postMessage", lambda c: "Accepted" in c.args.get("text", ""))
    assert _refusals(bot) == []


@pytest.mark.parametrize(
    ("team", "app", "why"),
    [("T0EVIL", "A0001", "T0EVIL, not E0GRID"), ("T0WORKSPACE", "A0OTHER", "A0OTHER, not A0001")],
)
def test_requests_from_another_workspace_or_app_are_refused_and_audited(
    pinned_bot: Bot, team: str, app: str, why: str
) -> None:
    bot = pinned_bot
    bot.grant(SENDER)
    response = bot.client.post(command_body("", user=SENDER, channel="C0NOC", team=team, app=app))
    assert response.status_code == 200 and "does not serve" in response.text
    (row,) = _refusals(bot)
    assert row.actor == SENDER and why in row.details
    click = {
        "type": "block_actions",
        "team": {"id": team},
        "user": {"id": SENDER, "team_id": team},
        "api_app_id": app,
        "actions": [{"action_id": "approve_request", "value": "1", "type": "button"}],
    }
    assert bot.client.interaction(click).status_code == 200
    assert len(_refusals(bot)) == 2
    assert bot.slack.calls("views.open") == [] and bot.portal_sends == []


def test_unset_team_and_app_serve_every_workspace(bot: Bot) -> None:
    bot.grant(SENDER)
    bot.open_modal()  # team T0001 / app A0001 with nothing pinned
    response = bot.client.post(command_body("help", user=SENDER, channel="C0NOC", team="T0ANY"))
    assert "/sms status" in response.text


def test_a_send_from_a_dm_is_answered_in_the_dm(bot: Bot) -> None:
    bot.grant(SENDER)
    bot.submit(bot.open_modal(channel="D0SENDER"), values())
    reply = bot.slack.wait_for("chat.postMessage", lambda c: "Accepted" in c.args.get("text", ""))
    assert reply[0].args["channel"] == "D0SENDER"
    # A DM is not a channel the bot posts in first: no refused attempt, straight to the DM.
    assert bot.slack.calls("chat.postMessage", refused=True) == []


def test_ssl_check_is_answered_and_nothing_happens(bot: Bot) -> None:
    response = httpx.post(
        bot.client.url,
        content=b"ssl_check=1&token=legacy-verification-token",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    assert bot.events() == [] and bot.slack.calls("views.open") == []
