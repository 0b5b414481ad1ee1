"""Running things: `db upgrade`, the standalone sandbox portal, the Slack bot."""

from __future__ import annotations

import logging
import os
from contextlib import suppress

import click

from bot.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    Fail,
    _database,
    _settings,
    cli,
    say,
)
from bot.config import ConfigError
from bot.portal.sandbox import DEMO_SIMS, SANDBOX_CREDENTIALS, SandboxServer


# ---- db --------------------------------------------------------------------------------------
@cli.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration (safe to repeat)."""
    with _database(upgrade_behind=True) as database:
        say(f"database at head: {database.url.render_as_string(hide_password=True)}")


# ---- sandbox ---------------------------------------------------------------------------------
@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8089, show_default=True, type=int)
@click.option("--latency-ms", default=0, type=int, help="Delay every answer.")
@click.option(
    "--fault",
    type=click.Choice(["none", "timeout", "500", "non_xml", "malformed", "reset"]),
    default="none",
    help="Answer every request with this fault.",
)
def sandbox(host: str, port: int, latency_ms: int, fault: str) -> None:
    """Run the simulated portal as a standalone HTTP server (nothing is ever sent)."""
    server = SandboxServer(host=host, port=port)
    server.portal.set_fault(fault, latency_ms / 1000)  # type: ignore[arg-type]
    creds = SANDBOX_CREDENTIALS
    say(
        f"sandbox portal on {server.url}  api_id={creds.api_id} username={creds.username} "
        f"password={creds.password}"
    )
    for sim in DEMO_SIMS:
        extra = ("" if sim.active else " inactive") + ("" if sim.online else " offline")
        say(f"  {sim.iccid}  {sim.sim_type}{extra}")
    with suppress(KeyboardInterrupt):
        server.serve_forever()


# ---- serve -----------------------------------------------------------------------------------
@cli.command()
def serve() -> None:
    """Run the Slack bot (Socket Mode with SLACK_APP_TOKEN, else HTTP on HOST:PORT)."""
    # Imported here: Bolt and the Slack SDK are only needed by this command.
    from bot.slack.app import SlackConfigError
    from bot.slack.server import run

    try:
        finished = run(_settings())
    except (SlackConfigError, ConfigError) as exc:
        raise Fail(str(exc), EXIT_USAGE) from None
    if not finished:
        # Sends still waiting on the portal were recorded as unknown; their threads must not
        # hold the exit past the grace period.
        logging.shutdown()
        os._exit(EXIT_OK)
