"""The audit log: hash chain, tamper detection, concurrent writers, list and export."""

from __future__ import annotations

import csv
import io
import itertools
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from bot.store import audit
from bot.store.db import Database


def _fill(database: Database, n: int = 5) -> None:
    for i in range(n):
        with database.session() as session:
            audit.append(
                session,
                "requested",
                f"U{i}",
                request_id=i,
                iccid="89440000000000000010",
                details={"n": i, "text": "ünïcode <&>"},
            )


def _without_triggers(database: Database, sql: str) -> None:
    """Tamper the way someone with direct database access would: drop the guard, then edit."""
    with database.engine.begin() as conn:
        if database.is_postgresql:
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
            conn.execute(text(sql))
            conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER IF EXISTS audit_log_no_update"))
            conn.execute(text("DROP TRIGGER IF EXISTS audit_log_no_delete"))
            conn.execute(text(sql))


def test_chain_links_every_row(database: Database) -> None:
    _fill(database)
    with database.session() as session:
        rows = audit.query(session)
        result = audit.verify(session)
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0].prev_hash == audit.GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(rows))
    assert result.ok and result.rows == 5


def test_altered_row_is_named(database: Database) -> None:
    _fill(database)
    _without_triggers(database, "UPDATE audit_log SET actor = 'UEVIL' WHERE seq = 3")
    with database.session() as session:
        result = audit.verify(session)
    assert not result.ok and result.bad_seq == 3 and "altered" in result.problem


def test_altered_details_are_detected(database: Database) -> None:
    _fill(database)
    _without_triggers(database, "UPDATE audit_log SET details = '[99]' WHERE seq = 2")
    with database.session() as session:
        assert audit.verify(session).bad_seq == 2


def test_removed_row_is_named(database: Database) -> None:
    _fill(database)
    _without_triggers(database, "DELETE FROM audit_log WHERE seq = 2")
    with database.session() as session:
        result = audit.verify(session)
    assert not result.ok and result.bad_seq == 2 and "missing" in result.problem


def test_removed_last_row_is_detected_through_the_head(database: Database) -> None:
    _fill(database)
    _without_triggers(database, "DELETE FROM audit_log WHERE seq = 5")
    with database.session() as session:
        result = audit.verify(session)
    assert not result.ok and result.bad_seq == 5


def test_inserted_row_is_named(database: Database) -> None:
    _fill(database, 3)
    # Shift rows 2..3 up by one and forge a row 2 with a self-consistent hash.
    _without_triggers(database, "UPDATE audit_log SET seq = seq + 10 WHERE seq >= 2")
    _without_triggers(database, "UPDATE audit_log SET seq = seq - 9 WHERE seq >= 12")
    with database.session() as session:
        first = audit.query(session)[0]
    forged = audit.row_hash(
        {
            "seq": 2,
            "ts": first.ts,
            "event": "sent",
            "actor": "UEVIL",
            "request_id": None,
            "iccid": None,
            "details": "{}",
            "prev_hash": first.hash,
        }
    )
    with database.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO audit_log (seq, ts, event, actor, details, prev_hash, hash) "
                "VALUES (2, :ts, 'sent', 'UEVIL', '{}', :prev, :hash)"
            ),
            {"ts": first.ts, "prev": first.hash, "hash": forged},
        )
    with database.session() as session:
        result = audit.verify(session)
    assert not result.ok and result.bad_seq == 3


def test_two_processes_appending_at_once_do_not_fork_the_chain(database: Database) -> None:
    url = database.engine.url.render_as_string(hide_password=False)
    helper = Path(__file__).parent / "helpers" / "append_audit.py"
    procs = [
        subprocess.Popen([sys.executable, str(helper), url, "40", actor])
        for actor in ("UPROC1", "UPROC2", "UPROC3")
    ]
    for proc in procs:
        assert proc.wait(timeout=120) == 0
    with database.session() as session:
        rows = audit.query(session)
        result = audit.verify(session)
    assert result.ok, result.problem
    assert len(rows) == 120
    assert {r.actor for r in rows} == {"UPROC1", "UPROC2", "UPROC3"}


def test_list_filters_by_iccid_and_since(database: Database) -> None:
    _fill(database, 2)
    with database.session() as session:
        audit.append(session, "requested", "U9", iccid="89310000000000000023")
        assert [r.actor for r in audit.query(session, iccid="89310000000000000023")] == ["U9"]
        future = datetime.now(UTC) + timedelta(minutes=1)
        assert audit.query(session, since=future) == []
        assert len(audit.query(session, since=datetime.now(UTC) - timedelta(minutes=1))) == 3


def test_export_csv_and_jsonl_carry_the_hashes(database: Database) -> None:
    _fill(database, 3)
    with database.session() as session:
        out_csv, out_jsonl = io.StringIO(), io.StringIO()
        assert audit.export(session, out_csv, "csv") == 3
        assert audit.export(session, out_jsonl, "jsonl") == 3
        rows = audit.query(session)
    parsed = list(csv.DictReader(io.StringIO(out_csv.getvalue())))
    assert [r["hash"] for r in parsed] == [r.hash for r in rows]
    lines = [json.loads(line) for line in out_jsonl.getvalue().splitlines()]
    assert [line["seq"] for line in lines] == [1, 2, 3]
    # The export alone is enough to re-check the chain.
    prev = audit.GENESIS_HASH
    for line in lines:
        assert line["prev_hash"] == prev
        assert audit.row_hash(line) == line["hash"]
        prev = line["hash"]


def test_verify_in_a_snapshot_is_not_fooled_by_sends_landing_meanwhile(db_url: str) -> None:
    """A send that commits after verify read the head (or halfway through the rows) is not
    tampering: verify sees one state of the log, and the writer is not held up."""
    reader = Database(db_url)
    writer = Database(db_url, busy_seconds=2.0)  # a blocked writer would fail fast
    try:
        _fill(writer, 20)
        with reader.snapshot() as session:
            session.get(audit.AuditHead, audit.HEAD_ID)  # the snapshot starts here
            _fill(writer, 3)  # committed while the check runs, not blocked by it
            result = audit.verify(session, batch=5)
        assert result.ok, result.problem
        assert result.rows == 20
        with reader.snapshot() as session:
            assert audit.verify(session).rows == 23
    finally:
        reader.dispose()
        writer.dispose()
