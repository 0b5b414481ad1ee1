"""Guard rails: per-user and per-SIM rate limits, counted in the database (so they hold across
replicas and the CLI), refused with when to try again, audited; admins see the usage."""

from __future__ import annotations

import pytest

from bot.authz import Principal
from bot.config import ConfigError, load_settings, parse_rate
from bot.service import SendCommand
from bot.sms.message import Draft
from bot.store import audit
from tests.support.bot import values
from tests.support.lifecycle import runtime_on

MANX = "89440000000000000010"
ORANGE = "89330000000000000062"


def test_rates_parse_and_bad_ones_name_the_variable() -> None:
    rate = parse_rate("5/10m")
    assert rate is not None and rate.limit == 5 and rate.window.total_seconds() == 600
    assert parse_rate("off") is None
    for bad in ("5", "0/h", "5/10x", "x/h", "5/0m"):
        with pytest.raises(ValueError):
            parse_rate(bad)
    with pytest.raises(ConfigError, match="SMSBOT_RATE_SIM: must be N/UNIT"):
        load_settings(SMSBOT_RATE_SIM="many")


def test_the_sim_limit_refuses_with_when_to_try_again_across_replicas(db_url: str) -> None:
    limits = {"SMSBOT_RATE_SIM": "3/10m", "SMSBOT_RATE_USER": "100/h"}
    with runtime_on(db_url, **limits) as a, runtime_on(db_url, **limits) as b:
        for i, rt in enumerate((a, b, a)):  # two "replicas" share the count
            sub, run = rt.service.send(SendCommand(Principal("UADMIN"), Draft(MANX, f"{i}"), "cli"))
            assert run is not None and run.request.state == "accepted", sub.reason
        sub, run = b.service.send(SendCommand(Principal("UADMIN"), Draft(MANX, "4th"), "cli"))
        assert sub.status == "denied" and run is None
        assert sub.reason.startswith(
            f"rate limit: SIM {MANX} has 3 request(s) in the last 10 minutes "
            "(SMSBOT_RATE_SIM=3/10m); try again after "
        )
        assert sub.reason.endswith(" UTC")
        # Another SIM is not held up; the refusal is audited with the guard that applied.
        other, _ = b.service.send(SendCommand(Principal("UADMIN"), Draft(ORANGE, "x"), "cli"))
        assert other.status == "recorded"
        with a.db.read() as session:
            denied = [r for r in audit.query(session) if r.event == "denied"]
        assert len(denied) == 1 and '"guard":"rate_sim"' in denied[0].details


def test_the_user_limit_and_the_usage_view(smsbot, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SMSBOT_RATE_USER", "2/h")
    monkeypatch.setenv("SMSBOT_RATE_SIM", "off")
    for sim in (MANX, ORANGE):
        assert smsbot("send", "--as", "UADMIN", "--iccid", sim, "--text", "hi").code == 0
    third = smsbot("send", "--as", "UADMIN", "--iccid", MANX, "--text", "again")
    assert third.code == 1
    assert "rate limit: you (UADMIN) have 2 request(s) in the last hour" in third.err
    shown = smsbot("usage")
    assert shown.code == 0, shown.err
    assert "per user: 2 per h\n  UADMIN  2/2  FULL" in shown.out
    assert "per SIM: no limit" in shown.out


def test_admins_see_the_usage_in_slack(bot) -> None:  # type: ignore[no-untyped-def]
    bot.grant("U0SENDER")
    bot.submit(bot.open_modal(), values())
    bot.slack.wait_for("chat.postMessage", lambda c: "Accepted" in c.args.get("text", ""))
    url = bot.slack.response_url("u")
    bot.client.command("usage", user="UADMIN", response_url=url)
    shown = bot.slack.wait_for("response/u")[0].args["text"]
    assert "*Per user*: 20 per h" in shown and "<@U0SENDER> 1/20" in shown
    assert "*Per SIM*: 5 per 10m" in shown and f"`{MANX}` 1/5" in shown
    bot.client.command("usage", user="U0SENDER", response_url=url)
    refused = bot.slack.wait_for("response/u", count=2)[1].args["text"]
    assert "needs the `admin` role" in refused or "admin" in refused
