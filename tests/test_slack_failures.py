"""No failure is silent: when Slack refuses the form, the thread, the DM or rate-limits the bot, the
person who asked still hears what happened (or it is counted where no route exists)."""

from __future__ import annotations

from prometheus_client import REGISTRY

from tests.support.bot import Bot, values
from tests.support.waiting import wait_until

SENDER = "U0SENDER"


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def wait_metric(value: float, name: str, **labels: str) -> None:
    """The counter is bumped just after the message goes out: wait for it, with a deadline."""
    wait_until(lambda: metric(name, **labels) >= value, 10, f"{name}{labels} reaching {value}")


def test_a_form_slack_will_not_open_is_explained_on_the_response_url(bot: Bot) -> None:
    bot.slack.state.expired_triggers.add("T.late")
    url = bot.slack.response_url("late")
    response = bot.client.command("", user=SENDER, trigger="T.late", response_url=url)
    assert response.status_code == 200
    told = bot.slack.wait_for("response/late")[0]
    assert "did not open" in told.args["text"] and "3 s" in told.args["text"]
    assert told.args["response_type"] == "ephemeral"
    assert bot.events() == []  # nothing recorded, nothing sent


def test_a_refused_form_is_explained_too(bot: Bot) -> None:
    bot.slack.state.fail["views.open"] = ["invalid_arguments"]
    url = bot.slack.response_url("refused")
    bot.client.command("", user=SENDER, response_url=url)
    told = bot.slack.wait_for("response/refused")[0]
    assert "invalid_arguments" in told.args["text"] and "Nothing was sent" in told.args["text"]


def test_no_thread_and_no_dm_the_outcome_reaches_the_response_url(bot: Bot) -> None:
    bot.grant(SENDER)
    bot.slack.state.not_in_channel.add("C0PRIV")  # no post, no ephemeral there
    bot.slack.state.no_dm.add(SENDER)
    before = metric("smsbot_slack_fallbacks_total", route="response_url")
    modal = bot.open_modal(channel="C0PRIV", response_url=bot.slack.response_url("cmd"))
    assert bot.submit(modal, values()).status_code == 200
    told = bot.slack.wait_for("response/cmd", lambda c: "Accepted" in c.args["text"])[0]
    assert "sms_uid" in told.args["text"] and told.args["response_type"] == "ephemeral"
    wait_metric(before + 1, "smsbot_slack_fallbacks_total", route="response_url")
    assert len(bot.portal_sends) == 1


def test_no_route_at_all_is_counted_and_the_send_still_happens_once(bot: Bot) -> None:
    bot.grant(SENDER)
    bot.slack.state.not_in_channel.add("C0PRIV")
    bot.slack.state.no_dm.add(SENDER)
    before = metric("smsbot_slack_undelivered_total", kind="notice")
    modal = bot.open_modal(channel="C0PRIV", response_url="http://127.0.0.1:9/gone")
    bot.submit(modal, values())
    deadline_calls = bot.slack.wait_for("chat.postEphemeral", refused=True, count=1)
    assert deadline_calls[0].answer["error"] == "not_in_channel"
    # The outcome could not be told anywhere: counted (and logged), not lost silently.
    wait_metric(before + 1, "smsbot_slack_undelivered_total", kind="notice")
    assert len(bot.portal_sends) == 1


def test_archived_or_missing_channel_falls_back_to_a_dm(bot: Bot) -> None:
    bot.grant(SENDER)
    bot.slack.state.archived.add("C0OLD")
    bot.slack.state.missing_channels.add("G0SECRET")
    for channel in ("C0OLD", "G0SECRET"):
        bot.submit(bot.open_modal(channel=channel), values())
    replies = bot.slack.wait_for(
        "chat.postMessage", lambda c: "Accepted" in c.args.get("text", ""), count=2
    )
    assert {r.args["channel"] for r in replies} == {"D0SENDER"}
    errors = {c.answer["error"] for c in bot.slack.calls("chat.postMessage", refused=True)}
    assert errors == {"is_archived", "channel_not_found"}


def test_rate_limited_posts_wait_for_retry_after_and_go_through(bot: Bot) -> None:
    bot.grant(SENDER)
    bot.slack.state.fail["chat.postMessage"] = ["ratelimited"]
    bot.submit(bot.open_modal(), values())
    thread = bot.slack.wait_for("chat.postMessage", lambda c: "thread_ts" not in c.args)[0]
    assert thread.args["channel"] == "C0NOC"  # the same channel, after waiting: no fallback
    limited = bot.slack.calls("chat.postMessage", refused=True)
    assert [c.answer["error"] for c in limited] == ["ratelimited"]
    bot.slack.wait_for("chat.postMessage", lambda c: "Accepted" in c.args.get("text", ""))


def test_a_used_up_response_url_still_answers_a_subcommand(bot: Bot) -> None:
    bot.client.command("grants", user="UADMIN", response_url="http://127.0.0.1:9/expired")
    dm = bot.slack.wait_for("chat.postMessage", lambda c: c.args["channel"] == "DADMIN")[0]
    assert "No grants yet" in dm.args["text"]


def test_long_lists_arrive_whole_with_a_count(bot: Bot) -> None:
    for i in range(120):
        bot.grant(f"U{i:08d}", scope=f"8944{i:04d}*")
    bot.client.command("grants", user="UADMIN", response_url=bot.slack.response_url("g"))
    text = bot.slack.wait_for("response/g")[0].args["text"]
    assert len(text) <= 3800 and "…and " in text and "`smsbot grants` lists all" in text
