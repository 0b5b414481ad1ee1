"""Test fixtures: isolated databases on SQLite and PostgreSQL, a real sandbox portal server.

Every database test runs once per backend. Select backends with `--db sqlite,postgresql` or the
SMSBOT_TEST_DB variable (default both). PostgreSQL comes from SMSBOT_TEST_PG_URL (default
postgresql://postgres@127.0.0.1:5432/test). When it cannot be reached, its tests are skipped
locally with a warning — and fail in CI (CI=true), so a green CI run always covered PostgreSQL.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bot import cli
from bot.portal.client import PortalClient
from bot.portal.sandbox import SANDBOX_CREDENTIALS, SandboxPortal, SandboxServer
from bot.service import SendService
from bot.store.db import Database
from bot.store.migrate import upgrade
from bot.store.urls import normalize_database_url
from tests.support.bot import Bot, running_bot

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"

# Property tests: no per-example deadline (a loaded 2-core CI machine is slow, not wrong), and in
# CI a fixed seed, so a run is reproducible; locally every run explores new examples.
settings.register_profile("local", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI", "").lower() in ("1", "true", "yes") else "local")
BACKENDS = ("sqlite", "postgresql")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        default=os.environ.get("SMSBOT_TEST_DB", ",".join(BACKENDS)),
        help="comma-separated database backends to test: sqlite, postgresql",
    )


def _selected_backends(config: pytest.Config) -> list[str]:
    chosen = [b.strip() for b in str(config.getoption("--db")).split(",") if b.strip()]
    unknown = set(chosen) - set(BACKENDS)
    if unknown:
        raise pytest.UsageError(f"--db: unknown backend(s) {', '.join(sorted(unknown))}")
    return chosen


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", _selected_backends(metafunc.config), scope="session")


def pg_admin_url() -> str:
    return normalize_database_url(os.environ.get("SMSBOT_TEST_PG_URL", DEFAULT_PG_URL))


_pg_status: dict[str, str | None] = {}


def pg_unavailable_reason() -> str | None:
    """None when PostgreSQL answers, else why not (checked once per process)."""
    if "reason" not in _pg_status:
        try:
            engine = create_engine(pg_admin_url(), connect_args={"connect_timeout": 5})
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            engine.dispose()
            _pg_status["reason"] = None
        except Exception as exc:
            _pg_status["reason"] = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    return _pg_status["reason"]


def require_postgresql() -> None:
    reason = pg_unavailable_reason()
    if reason is None:
        return
    message = f"PostgreSQL at {make_url(pg_admin_url()).render_as_string()} unreachable: {reason}"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail("CI must test PostgreSQL; " + message)
    pytest.skip(message)


def _pg_exec(sql: str) -> None:
    engine = create_engine(pg_admin_url(), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(sql))
    engine.dispose()


def _pg_url_for(name: str) -> str:
    return make_url(pg_admin_url()).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def migrated_template(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database migrated to head once per test process, copied for each test."""
    if backend == "sqlite":
        path = tmp_path_factory.mktemp("template") / "template.db"
        db = Database(f"sqlite:///{path}")
        upgrade(db.engine)
        db.dispose()  # closing the last connection checkpoints the WAL into the file
        assert not Path(f"{path}-wal").exists()
        yield str(path)
        return
    require_postgresql()
    name = f"smsbot_tmpl_{uuid.uuid4().hex[:12]}"
    _pg_exec(f'CREATE DATABASE "{name}"')
    db = Database(_pg_url_for(name))
    upgrade(db.engine)
    db.dispose()
    yield name
    _pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db_url(backend: str, migrated_template: str, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh, migrated database of its own for this test."""
    if backend == "sqlite":
        path = tmp_path / "smsbot.db"
        shutil.copyfile(migrated_template, path)
        yield f"sqlite:///{path}"
        return
    name = f"smsbot_t_{uuid.uuid4().hex[:12]}"
    _pg_exec(f'CREATE DATABASE "{name}" TEMPLATE "{migrated_template}"')
    yield _pg_url_for(name)
    _pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def empty_db_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A fresh database with no schema at all (migration tests)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    require_postgresql()
    name = f"smsbot_e_{uuid.uuid4().hex[:12]}"
    _pg_exec(f'CREATE DATABASE "{name}"')
    yield _pg_url_for(name)
    _pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    db = Database(db_url)
    yield db
    db.dispose()


@pytest.fixture
def bot(db_url: str) -> Iterator[Bot]:
    """The Slack bot in HTTP mode over real HTTP (see tests/support/bot.py)."""
    with running_bot(db_url) as running:
        yield running


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    """The sandbox portal behind a real HTTP server on 127.0.0.1, port 0."""
    server = SandboxServer(SandboxPortal(deliver_after=0.0)).start()
    yield server
    server.stop()


@pytest.fixture
def portal(sandbox: SandboxServer) -> Iterator[PortalClient]:
    client = PortalClient(
        sandbox.url, SANDBOX_CREDENTIALS, read_timeout=1.0, connect_timeout=1.0, sandbox=True
    )
    yield client
    client.close()


@pytest.fixture
def service(database: Database, portal: PortalClient) -> SendService:
    return SendService(database, portal, admins=frozenset({"UADMIN"}), approval_channel="C0APPROVE")


# ---- the CLI in-process ----------------------------------------------------------------------
class Run:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err


@pytest.fixture
def smsbot(db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Run `smsbot ARGS…` in-process against this test's database; returns a Run."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("SMSBOT_ADMINS", "UADMIN")
    for name in ("M2M_API_ID", "M2M_USERNAME", "M2M_PASSWORD", "SMSBOT_PORTAL"):
        monkeypatch.delenv(name, raising=False)

    def run(*args: str) -> Run:
        monkeypatch.setattr(sys, "argv", ["smsbot", *args])
        with pytest.raises(SystemExit) as info:
            cli.main()
        captured = capsys.readouterr()
        return Run(int(info.value.code or 0), captured.out, captured.err)

    return run
