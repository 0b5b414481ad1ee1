"""The fast schema-version check every command makes instead of running Alembic: a new database is
created, an up-to-date one costs one SELECT, one an older smsbot migrated is refused with what
to run — except by `db upgrade`, `serve` and `worker`, which upgrade it."""

from __future__ import annotations

from alembic.script import ScriptDirectory

from bot.store.db import Database
from bot.store.migrate import HEAD_REVISION, alembic_config, downgrade, schema_state


def test_the_known_head_is_alembics_head() -> None:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert heads == [HEAD_REVISION]


def test_schema_state_on_new_current_and_older_databases(empty_db_url: str) -> None:
    db = Database(empty_db_url)
    try:
        assert schema_state(db.engine) == ("empty", None)
        from bot.store.migrate import upgrade

        upgrade(db.engine)
        assert schema_state(db.engine) == ("current", HEAD_REVISION)
        downgrade(db.engine, "0004")
        assert schema_state(db.engine) == ("behind", "0004")
    finally:
        db.dispose()


def test_an_older_schema_is_refused_with_what_to_run_then_upgraded(  # type: ignore[no-untyped-def]
    smsbot, db_url: str
) -> None:
    db = Database(db_url)
    downgrade(db.engine, "0004")
    db.dispose()
    refused = smsbot("sims", "list")
    assert refused.code == 2
    assert refused.err.strip() == (
        "smsbot: the database schema is at migration 0004 and this smsbot needs "
        f"{HEAD_REVISION}: run `smsbot db upgrade` (or restart `smsbot serve`, which does)"
    )
    sent = smsbot("send", "--as", "UADMIN", "--iccid", "89440000000000000010", "--text", "x")
    assert sent.code == 2 and "run `smsbot db upgrade`" in sent.err
    assert smsbot("db", "upgrade").code == 0
    assert smsbot("sims", "list").code == 0
