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
    _settings,
    cli,
    say,
)
from bot.config import secret_value
from bot.store import audit, checkpoints


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
    """Check the hash chain, then every checkpoint; exit 1 naming the first bad row or the first
    checkpoint that no longer matches."""
    key = secret_value(_settings().SMSBOT_AUDIT_KEY)
    with _database() as database, database.snapshot() as session:
        result = audit.verify(session)
        anchored = checkpoints.check(session, key.encode("utf-8") if key else None)
    if not result.ok:
        raise Fail(f"audit log BROKEN at row {result.bad_seq}: {result.problem}")
    if not anchored.ok:
        raise Fail(f"audit log REWRITTEN: {anchored.problem}")
    say(f"audit log intact: {result.rows} rows")
    if anchored.last is not None:
        signed = "" if anchored.signed else " (signatures NOT checked: SMSBOT_AUDIT_KEY is unset)"
        say(
            f"{anchored.checked} checkpoint(s) match, the last at row {anchored.last.seq} "
            f"({anchored.last.taken_at}){signed}"
        )
    else:
        say("no checkpoints yet: `smsbot audit checkpoint` anchors the chain")


@audit_group.command("checkpoint")
def audit_checkpoint() -> None:
    """Sign the chain's head with SMSBOT_AUDIT_KEY (also done hourly by the jobs)."""
    key = secret_value(_settings().SMSBOT_AUDIT_KEY)
    if not key:
        raise Fail(
            "SMSBOT_AUDIT_KEY: required to sign a checkpoint (at least 32 bytes; keep it out of "
            "the database, e.g. SMSBOT_AUDIT_KEY_FILE)",
            EXIT_USAGE,
        )
    with _database() as database, database.session() as session:
        taken = checkpoints.take(session, key.encode("utf-8"))
        line = (
            f"checkpoint #{taken.id}: row {taken.seq} hash {taken.hash} at {taken.taken_at}, "
            f"key {taken.key_id}"
            if taken is not None
            else "nothing new since the last checkpoint"
        )
    say(line)
