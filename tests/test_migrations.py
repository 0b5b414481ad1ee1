"""Migrations on SQLite and PostgreSQL: upgrade from empty, models match, downgrade, triggers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_alembic import tests as alembic_tests
from pytest_alembic.config import Config
from pytest_alembic.runner import MigrationContext, runner
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

from bot.store import audit
from bot.store.db import Database, make_engine
from bot.store.migrate import alembic_config, downgrade, upgrade


@pytest.fixture
def alembic_runner(empty_db_url: str) -> Iterator[MigrationContext]:
    engine = make_engine(empty_db_url)
    with runner(config=Config.from_raw_config(alembic_config()), engine=engine) as context:
        yield context
    engine.dispose()


def test_single_head(alembic_runner: MigrationContext) -> None:
    alembic_tests.test_single_head_revision(alembic_runner)


def test_upgrade_from_empty(alembic_runner: MigrationContext) -> None:
    alembic_tests.test_upgrade(alembic_runner)


def test_models_match_migrations(alembic_runner: MigrationContext) -> None:
    alembic_tests.test_model_definitions_match_ddl(alembic_runner)


def test_up_down_consistency(alembic_runner: MigrationContext) -> None:
    alembic_tests.test_up_down_consistency(alembic_runner)


def test_upgrade_is_idempotent_and_downgrade_removes_everything(empty_db_url: str) -> None:
    db = Database(empty_db_url)
    upgrade(db.engine)
    upgrade(db.engine)
    assert {"sims", "grants", "sms_requests", "audit_log", "audit_head"} <= set(
        inspect(db.engine).get_table_names()
    )
    downgrade(db.engine, "base")
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    db.dispose()


def test_audit_log_refuses_update_and_delete(database: Database) -> None:
    with database.session() as session:
        audit.append(session, "requested", "U1")
    for statement in ("UPDATE audit_log SET actor = 'X'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), database.session() as session:
            session.execute(text(statement))
    with database.session() as session:
        assert audit.verify(session).ok
