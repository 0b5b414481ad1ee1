"""`smsbot usage`: where each user and SIM stands against the rate limits now."""

from __future__ import annotations

from bot.cli.common import _database, _settings, cli, say
from bot.rate_limits import standings


@cli.command()
def usage() -> None:
    """The users and SIMs nearest their rate limit (SMSBOT_RATE_USER, SMSBOT_RATE_SIM)."""
    settings = _settings()
    with _database() as database, database.read() as session:
        for standing in standings(session, settings.rate_user, settings.rate_sim):
            rate = standing.rate
            if rate is None:
                say(f"per {standing.kind}: no limit")
                continue
            say(f"per {standing.kind}: {rate.limit} per {rate.window_text}")
            if not standing.rows:
                say("  nothing in the current window")
            for row in standing.rows:
                full = "  FULL" if row.count >= row.limit else ""
                say(f"  {row.subject}  {row.count}/{row.limit}{full}")
