"""An anchored chain: checkpoints signed with SMSBOT_AUDIT_KEY catch the one attack the hash chain
alone does not — history rewritten with every hash recomputed — on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from sqlalchemy import text

from bot.store import audit
from bot.store.db import Database
from tests.support.lifecycle import run_job, runtime_on

KEY = "k" * 40
MANX = "89440000000000000010"


def _rewrite_history(db_url: str, seq: int) -> None:
    """What someone with write access to the database can do: change row `seq` and recompute
    the hash of it and of every row after it, and the head — a chain that verifies."""
    database = Database(db_url)
    with database.engine.begin() as conn:
        if database.is_postgresql:
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER IF EXISTS audit_log_no_update"))
        rows = conn.execute(
            text("SELECT * FROM audit_log WHERE seq >= :s ORDER BY seq"), {"s": seq - 1}
        ).mappings()
        rows = [dict(r) for r in rows]
        prev = rows[0]["hash"] if seq > 1 else audit.GENESIS_HASH
        for row in rows[1:] if seq > 1 else rows:
            if row["seq"] == seq:
                details = json.loads(row["details"])
                details["message_text"] = "rewritten"
                row["details"] = audit.canonical_json(details)
            row["prev_hash"] = prev
            row["hash"] = audit.row_hash(row)
            conn.execute(
                text(
                    "UPDATE audit_log SET details = :details, prev_hash = :prev_hash, "
                    "hash = :hash WHERE seq = :seq"
                ),
                row,
            )
            prev = row["hash"]
        conn.execute(text("UPDATE audit_head SET hash = :h"), {"h": prev})
        if database.is_postgresql:
            conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER USER"))
    database.dispose()


def _send(smsbot, text_: str) -> None:  # type: ignore[no-untyped-def]
    assert smsbot("send", "--as", "UADMIN", "--iccid", MANX, "--text", text_).code == 0


def test_a_checkpoint_needs_the_key(smsbot) -> None:  # type: ignore[no-untyped-def]
    refused = smsbot("audit", "checkpoint")
    assert refused.code == 2
    assert refused.err.startswith("smsbot: SMSBOT_AUDIT_KEY: required to sign a checkpoint")


def test_a_rewritten_history_passes_the_chain_but_not_the_checkpoint(  # type: ignore[no-untyped-def]
    smsbot, db_url: str, monkeypatch
) -> None:
    monkeypatch.setenv("SMSBOT_AUDIT_KEY", KEY)
    _send(smsbot, "one")
    taken = smsbot("audit", "checkpoint")
    assert taken.code == 0 and taken.out.startswith("checkpoint #1: row 3 hash ")
    assert KEY not in taken.out
    _send(smsbot, "two")
    ok = smsbot("audit", "verify")
    assert ok.code == 0 and "1 checkpoint(s) match, the last at row 3" in ok.out
    _rewrite_history(db_url, 1)
    # The chain alone cannot tell: every hash was recomputed.
    with Database(db_url).snapshot() as session:
        assert audit.verify(session).ok
    caught = smsbot("audit", "verify")
    assert caught.code == 1
    assert caught.err.startswith("smsbot: audit log REWRITTEN: checkpoint #1 (row 3, taken ")
    assert "no longer matches the log: history was rewritten at or before row 3" in caught.err


def test_a_forged_checkpoint_is_named(smsbot, db_url: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SMSBOT_AUDIT_KEY", KEY)
    _send(smsbot, "one")
    assert smsbot("audit", "checkpoint").code == 0
    _rewrite_history(db_url, 1)
    database = Database(db_url)
    with database.session() as session:
        head = session.execute(text("SELECT seq, hash FROM audit_head")).one()
        session.execute(
            text("UPDATE audit_checkpoints SET hash = :h, mac = :m"),
            {"h": head.hash, "m": "0" * 64},
        )
    database.dispose()
    caught = smsbot("audit", "verify")
    assert caught.code == 1
    assert "is not valid under SMSBOT_AUDIT_KEY: its signature does not match" in caught.err
    monkeypatch.setenv("SMSBOT_AUDIT_KEY", "x" * 40)
    other = smsbot("audit", "verify")
    assert other.code == 1 and "signed with another key" in other.err
    monkeypatch.delenv("SMSBOT_AUDIT_KEY")
    unsigned = smsbot("audit", "verify")
    assert unsigned.code == 0 and "signatures NOT checked" in unsigned.out


def test_the_job_takes_checkpoints_hourly_and_only_when_there_is_news(db_url: str) -> None:
    with runtime_on(db_url) as rt:
        assert run_job(rt, "audit_checkpoint").summary == "skipped: SMSBOT_AUDIT_KEY is not set"
    with runtime_on(db_url, SMSBOT_AUDIT_KEY=KEY) as rt:
        with rt.db.session() as session:
            audit.append(session, "requested", "U1")
        assert run_job(rt, "audit_checkpoint").summary == "checkpoint #1: row 1"
        assert run_job(rt, "audit_checkpoint").summary == "nothing new since the last checkpoint"


def test_checkpoints_are_posted_to_the_audit_channel_once(db_url: str) -> None:
    from tests.support.bot import running_bot

    with running_bot(db_url, SMSBOT_AUDIT_KEY=KEY, SMSBOT_AUDIT_CHANNEL="C0AUDIT") as bot:
        with bot.runtime.db.session() as session:
            audit.append(session, "requested", "U1")
        run_job(bot.runtime, "audit_checkpoint")
        posted = bot.slack.wait_for("chat.postMessage", lambda c: c.args["channel"] == "C0AUDIT")
        text_ = posted[0].args["text"]
        assert text_.startswith(":lock: Audit checkpoint #1: row ") and "signature `" in text_
        assert KEY not in text_
        run_job(bot.runtime, "slack_render")
        audit_posts = [
            c for c in bot.slack.calls("chat.postMessage") if c.args["channel"] == "C0AUDIT"
        ]
        assert len(audit_posts) == 1
        # Whatever a database writer put in a checkpoint row is shown as text, never markup.
        with bot.runtime.db.session() as session:
            session.execute(
                text(
                    "INSERT INTO audit_checkpoints (seq, hash, taken_at, key_id, mac) "
                    "VALUES (1, '<!channel>', 'x', 'k', 'm')"
                )
            )
        forged = bot.slack.wait_for(
            "chat.postMessage", lambda c: c.args["channel"] == "C0AUDIT", count=2
        )[1]
        assert "<!channel>" not in forged.args["text"] and "&lt;!channel&gt;" in forged.args["text"]
