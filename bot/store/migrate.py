"""Run Alembic migrations from code (`smsbot db upgrade`, the app at start, the tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from bot.store.db import READONLY

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if engine is not None:
        config.set_main_option(
            "sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%")
        )
    return config


#: Any fixed number: the PostgreSQL advisory lock that serialises migrations across processes.
MIGRATION_LOCK = 0x5A5B0701


def at_head(engine: Engine) -> bool:
    """Is the schema at the newest migration? A read (on SQLite it takes no write lock), so
    commands can skip the upgrade, and its lock, when there is nothing to do."""
    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    with engine.execution_options(**{READONLY: True}).connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
        connection.rollback()
    return current == heads


def ensure_schema(engine: Engine) -> None:
    """Upgrade only when needed (the common case reads one row)."""
    if not at_head(engine):
        upgrade(engine)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to `revision` (idempotent). Replicas starting at once take turns: on
    PostgreSQL an advisory lock held for the migration's transaction (the others wait, then find
    the schema at head); on SQLite the transaction's BEGIN IMMEDIATE does the same."""
    config = alembic_config(engine)
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str) -> None:
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
