"""`smsbot usage`: where each user and SIM stands against the rate limits now."""

from __future__ import annotations

from bot.cli.common import _database, _settings, cli, say
from bot.rate_limits import top_usage
from bot.store.models import SmsRequest


@cli.command()
def usage() -> None:
    """The users and SIMs nearest their rate limit (SMSBOT_RATE_USER, SMSBOT_RATE_SIM)."""
    settings = _settings()
    with _database() as database, database.read() as session:
        for name, rate, column in (
            ("user", settings.rate_user, SmsRequest.requester),
            ("SIM", settings.rate_sim, SmsRequest.iccid),
        ):
            if rate is None:
                say(f"per {name}: no limit")
                continue
            say(f"per {name}: {rate.limit} per {rate.text.split('/', 1)[1]}")
            rows = top_usage(session, column, rate)
            if not rows:
                say("  nothing in the current window")
            for row in rows:
                full = "  FULL" if row.count >= row.limit else ""
                say(f"  {row.subject}  {row.count}/{row.limit}{full}")
