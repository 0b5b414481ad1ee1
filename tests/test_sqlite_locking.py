"""SQLite: reads never take or wait for the write lock, and a writer holding it cannot make a
Slack ack miss its 3 s: the form answers "busy, try again" and nothing is recorded or sent."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.bot import Bot, running_bot, values
from tests.test_operator_errors import one_line, smsbot

MANX = "89440000000000000010"


@pytest.fixture
def sqlite_bot(tmp_path: Path) -> Iterator[Bot]:
    """SQLite only, by nature: PostgreSQL has no database-wide write lock."""
    with running_bot(f"sqlite:///{tmp_path / 'locking.db'}") as bot:  # migrated at start
        yield bot


def hold_write_lock(bot: Bot) -> sqlite3.Connection:
    """Another process's long write transaction."""
    holder = sqlite3.connect(str(bot.runtime.db.url.database), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    return holder


def test_a_held_write_lock_neither_stalls_reads_nor_the_ack(sqlite_bot: Bot) -> None:
    bot = sqlite_bot
    bot.grant("U0SENDER")
    modal = bot.open_modal()
    holder = hold_write_lock(bot)
    try:
        started = time.monotonic()
        assert httpx.get(f"{bot.base}/healthz", timeout=5).status_code == 200
        reopened = bot.open_modal(f"{MANX} hi")  # reads the inventory: no wait
        assert reopened.ok
        assert time.monotonic() - started < 1.0, "reads waited for the writer"
        started = time.monotonic()
        answer = bot.submit(modal, values()).json()
        took = time.monotonic() - started
        assert took < 3.0, f"the ack took {took:.1f} s"
        assert (
            "busy" in answer["errors"]["iccid"] and "nothing was sent" in answer["errors"]["iccid"]
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert bot.portal_sends == [] and bot.events() == []
    # Once the writer is done, the same form goes through.
    assert bot.submit(modal, values()).text == ""
    bot.slack.wait_for("chat.postMessage", lambda c: "Accepted" in c.args.get("text", ""))


def test_cli_reads_do_not_wait_and_writes_say_locked(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert smsbot(["db", "upgrade"], {"DATABASE_URL": url}).returncode == 0
    holder = sqlite3.connect(str(tmp_path / "cli.db"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        env = {"DATABASE_URL": url, "SMSBOT_SQLITE_BUSY_SECONDS": "1"}
        started = time.monotonic()
        assert smsbot(["audit", "list"], env).returncode == 0
        assert smsbot(["audit", "verify"], env).returncode == 0
        assert time.monotonic() - started < 10
        one_line(
            smsbot(["send", "--as", "UADMIN", "--iccid", MANX, "--text", "hi"], env), 2, "locked"
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
