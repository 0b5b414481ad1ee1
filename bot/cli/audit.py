"""The audit log: list, export, verify."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from bot.cli.common import (
    EXIT_USAGE,
    Fail,
    _database,
    cli,
    say,
)
from bot.store import audit


# ---- audit -----------------------------------------------------------------------------------
@cli.group("audit")
def audit_group() -> None:
    """The audit log: list, export, verify."""


@audit_group.command("list")
@click.option("--iccid", default=None)
@click.option("--since", default=None, help="ISO date/time (UTC unless an offset is given).")
@click.option("--limit", default=50, show_default=True)
def audit_list(iccid: str | None, since: str | None, limit: int) -> None:
    """The latest entries, oldest first."""
    since_at = None
    if since:
        try:
            since_at = datetime.fromisoformat(since)
        except ValueError:
            raise Fail(f"--since: `{since}` is not an ISO date/time", EXIT_USAGE) from None
        if since_at.tzinfo is None:
            since_at = since_at.replace(tzinfo=UTC)
    with _database() as database, database.snapshot() as session:
        rows = audit.query(session, iccid=iccid, since=since_at, limit=limit, newest_first=True)
        for row in reversed(rows):
            say(audit.to_text(row))


@audit_group.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="jsonl")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
def audit_export(fmt: str, output: Path | None) -> None:
    """Write the whole log (with hashes) to stdout or a file."""
    with _database() as database, database.snapshot() as session:
        if output is None:
            audit.export(session, sys.stdout, fmt)
            return
        with output.open("w", encoding="utf-8", newline="") as out:
            count = audit.export(session, out, fmt)
    say(f"{count} rows written to {output}", err=True)


@audit_group.command("verify")
def audit_verify() -> None:
    """Check the hash chain; exit 1 naming the first bad row."""
    with _database() as database, database.snapshot() as session:
        result = audit.verify(session)
    if not result.ok:
        raise Fail(f"audit log BROKEN at row {result.bad_seq}: {result.problem}")
    say(f"audit log intact: {result.rows} rows")
