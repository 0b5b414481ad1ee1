"""The App Home tab over real HTTP: opened → published with my requests, the approvals waiting
for me (with buttons) and the SIMs I may message; refreshed by the renderer as things change."""

from __future__ import annotations

import io

from bot.store.inventory import import_csv
from tests.support.bot import Bot, values
from tests.support.slack_api import Call
from tests.support.slack_rules import check_home_view

MANX = "89440000000000000010"
ORANGE = "89330000000000000062"
REQUESTER = "U0REQ"
APPROVER = "U0APP"


def _home_of(bot: Bot, user: str, count: int = 1) -> Call:
    calls = bot.slack.wait_for(
        "views.publish", lambda c: c.args.get("user_id") == user, count=count
    )
    return calls[count - 1]


def _texts(call: Call) -> str:
    return str(call.args["view"]["blocks"])


def test_home_shows_requests_approvals_and_sims_and_follows_changes(bot: Bot) -> None:
    with bot.runtime.db.session() as session:
        import_csv(
            session,
            io.StringIO(
                f"iccid,label,sim_type\n{MANX},pump 7,Manx Telecom\n{ORANGE},gate,Multinet Orange\n"
            ),
            "cli:test",
        )
    bot.grant(REQUESTER, scope=MANX, approval_required=True)
    bot.grant(APPROVER, role="approver")
    # Both open their Home: nothing yet.
    for user in (REQUESTER, APPROVER):
        assert (
            bot.client.event({"type": "app_home_opened", "user": user, "tab": "home"}).status_code
            == 200
        )
    requester_home = _home_of(bot, REQUESTER)
    assert check_home_view(requester_home.args["view"]) == []
    assert "None yet" in _texts(requester_home) and "pump 7" in _texts(requester_home)
    assert "gate" not in _texts(requester_home)  # not a SIM this user may message
    assert "Nothing is waiting for you" in _texts(_home_of(bot, APPROVER))
    # A request that needs approval: both Homes are refreshed by the renderer.
    bot.submit(bot.open_modal(user=REQUESTER), values(text="reset modem"), user=REQUESTER)
    approver_home = _home_of(bot, APPROVER, count=2)
    blocks = approver_home.args["view"]["blocks"]
    buttons = next(b for b in blocks if b["block_id"].startswith("approve_buttons_"))
    assert [e["action_id"] for e in buttons["elements"]] == ["approve_request", "reject_request"]
    assert buttons["elements"][0]["value"] == "1"
    refreshed = _home_of(bot, REQUESTER, count=2)
    assert "#1" in _texts(refreshed) and "awaiting approval" in _texts(refreshed)
    # Approving from the Home sends it; the requester's Home then shows it accepted.
    from tests.test_slack_approvals import click

    click(bot.client, "approve_request", 1, APPROVER, channel=None)
    bot.slack.wait_for(
        "views.publish",
        lambda c: c.args.get("user_id") == REQUESTER and "accepted by the portal" in str(c.args),
    )
    assert len(bot.portal_sends) == 1


def test_a_hostile_label_is_text_in_the_home(bot: Bot) -> None:
    with bot.runtime.db.session() as session:
        import_csv(
            session,
            io.StringIO(f"iccid,label\n{MANX},<!channel> *pump* <https://x.example|click>\n"),
            "cli:test",
        )
    bot.grant(REQUESTER)
    bot.client.event({"type": "app_home_opened", "user": REQUESTER, "tab": "home"})
    home = _texts(_home_of(bot, REQUESTER))
    assert "<!channel>" not in home and "&lt;!channel&gt;" in home
