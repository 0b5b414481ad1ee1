"""A pooled database connection that died (PostgreSQL restarted, a proxy dropped it) costs no
send: there is no ping per transaction, and the transaction that finds it dead runs once more on
a fresh connection."""

from __future__ import annotations

from sqlalchemy import create_engine, text

from bot.authz import Principal
from bot.service import SendCommand, SendService
from bot.sms.message import Draft
from bot.store.db import Database

MANX = "89440000000000000010"


def _kill_pooled_connection(database: Database) -> None:
    with database.engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        if database.is_postgresql:
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
            conn.rollback()
            admin = create_engine(database.engine.url, isolation_level="AUTOCOMMIT")
            with admin.connect() as other:
                assert other.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
            admin.dispose()
        else:
            raw.close()  # "Cannot operate on a closed database": SQLite's dead connection


def test_a_dead_pooled_connection_costs_no_send(database: Database, service: SendService) -> None:
    cmd = SendCommand(Principal("UADMIN"), Draft(MANX, "first"), "cli")
    first, _ = service.send(cmd)
    assert first.status == "recorded"
    _kill_pooled_connection(database)
    second, execution = service.send(
        SendCommand(Principal("UADMIN"), Draft(MANX, "after the restart"), "cli")
    )
    assert second.status == "recorded", second.reason
    assert execution is not None and execution.request.state == "accepted"
