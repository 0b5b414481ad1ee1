"""Run Alembic migrations from code (`smsbot db upgrade`, the app at start, the tests), and the fast
schema-version check every command makes instead (one SELECT; Alembic is imported only to
migrate)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError, ProgrammingError

from bot.store.db import READONLY

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


if TYPE_CHECKING:
    from alembic.config import Config

#: The newest migration in `migrations/versions` (a test checks it is Alembic's head).
HEAD_REVISION = "0011"

SchemaState = Literal["current", "empty", "behind"]


class SchemaBehind(Exception):
    """The database was migrated by an older smsbot: `smsbot db upgrade` brings it forward."""

    def __init__(self, found: str) -> None:
        super().__init__(
            f"the database schema is at migration {found} and this smsbot needs "
            f"{HEAD_REVISION}: run `smsbot db upgrade` (or restart `smsbot serve`, which does)"
        )


def schema_state(engine: Engine) -> tuple[SchemaState, str | None]:
    """Where the schema stands, from the one-row `alembic_version` table (no Alembic import, no
    write lock). A database the newer smsbot does not know counts as current: nothing to do."""
    try:
        with engine.execution_options(**{READONLY: True}).connect() as connection:
            found = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
            connection.rollback()
    except (OperationalError, ProgrammingError):
        return "empty", None  # no alembic_version table: a new database
    if found is None:
        return "empty", None
    if str(found) < HEAD_REVISION:
        return "behind", str(found)
    return "current", str(found)


def alembic_config(engine: Engine | None = None) -> Config:
    from alembic.config import Config

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
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    with engine.execution_options(**{READONLY: True}).connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
        connection.rollback()
    return current == heads


def ensure_schema(engine: Engine, *, upgrade_behind: bool = True) -> None:
    """Upgrade only when needed (the common case reads one row). A new database is created;
    one migrated by an older smsbot is upgraded, or — `upgrade_behind=False`, the CLI's
    everyday commands — refused with what to run (SchemaBehind)."""
    state, found = schema_state(engine)
    if state == "current":
        return
    if state == "behind" and not upgrade_behind:
        raise SchemaBehind(found or "?")
    upgrade(engine)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to `revision` (idempotent). Replicas starting at once take turns: on
    PostgreSQL an advisory lock held for the migration's transaction (the others wait, then find
    the schema at head); on SQLite the transaction's BEGIN IMMEDIATE does the same."""
    from alembic import command

    config = alembic_config(engine)
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
