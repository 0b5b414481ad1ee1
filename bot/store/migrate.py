"""Run Alembic migrations from code (`smsbot db upgrade`, the app at start, the tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

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
