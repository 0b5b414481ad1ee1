"""Engine and session handling for SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError, DisconnectionError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot import metrics
from bot.store.urls import normalize_database_url

T = TypeVar("T")

#: Execution options our `begin` hooks read: READONLY (SQLite only), BUSY_MS (both).
READONLY = "smsbot_readonly"
BUSY_MS = "smsbot_busy_ms"
#: Set in `Session.info` by audit.append: the transaction recorded an event.
AUDITED = "smsbot_audited"
#: session.info key: when this transaction took the audit head (perf_counter).
HEAD_TAKEN = "smsbot_head_taken"


def make_engine(url: str, busy_seconds: float = 30.0, **kwargs: Any) -> Engine:
    """An engine whose transactions serialize writers correctly on both backends."""
    url = normalize_database_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"timeout": busy_seconds, "check_same_thread": False}, **kwargs
        )
        default_busy = int(busy_seconds * 1000)

        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None
            dbapi_connection.execute("PRAGMA foreign_keys=ON")
            dbapi_connection.execute("PRAGMA journal_mode=WAL")

        @event.listens_for(engine, "begin")
        def _begin(connection: Any) -> None:
            # Writers take the write lock at BEGIN (pysqlite's deferred BEGIN let two writers
            # read the audit head and fork the chain: the documented SQLAlchemy recipe). Readers
            # begin deferred: in WAL mode they never wait for a writer nor block one.
            options = connection.get_execution_options()
            busy = int(options.get(BUSY_MS, default_busy))
            if connection.info.get(BUSY_MS) != busy:
                connection.exec_driver_sql(f"PRAGMA busy_timeout={busy}")
                connection.info[BUSY_MS] = busy
            connection.exec_driver_sql("BEGIN" if options.get(READONLY) else "BEGIN IMMEDIATE")

        return engine
    try:
        engine = create_engine(url, **kwargs)
    except ImportError as exc:
        # `postgresql+psycopg2://` without psycopg2: name the driver, not a traceback.
        raise NoSuchModuleError(f"the driver {exc.name!r} is not installed") from None
    _ping_when_idle(engine)
    _bound_waits(engine)
    return engine


def _bound_waits(engine: Engine) -> None:
    """A session made with `wait_seconds` (a Slack ack's database work) gives up waiting for a
    lock, or on a statement, after that long: PostgreSQL's lock_timeout and statement_timeout
    for this transaction only, as SQLite's busy_timeout bounds its write lock."""

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        busy = connection.get_execution_options().get(BUSY_MS)
        if busy is not None:
            ms = int(busy)  # an int from `_bounded_factory`, never text from outside
            connection.exec_driver_sql(
                f"SELECT set_config('lock_timeout', '{ms}ms', true), "
                f"set_config('statement_timeout', '{ms}ms', true)"
            )


def is_busy(exc: OperationalError) -> bool:
    """Did a bounded wait run out? SQLite: "database is locked"; PostgreSQL: lock_timeout
    (55P03) or statement_timeout (57014)."""
    if getattr(exc.orig, "sqlstate", None) in ("55P03", "57014"):
        return True
    return "locked" in str(exc.orig).lower()


#: A pooled connection unused this long is pinged before use (servers and proxies drop idle
#: connections); a busy bot pays no ping per transaction, unlike `pool_pre_ping`.
IDLE_PING_SECONDS = 30.0


def _ping_when_idle(engine: Engine) -> None:
    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi: Any, record: Any) -> None:
        record.info["smsbot_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("smsbot_idle_since")
        if since is None or time.monotonic() - since < IDLE_PING_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi)
        except Exception:
            # The pool drops this connection and checks out another (a fresh one).
            raise DisconnectionError("idle connection found dead") from None


def retry_on_disconnect(fn: Callable[[], T]) -> T:
    """Run a transaction, and once more if the connection turned out to be dead before it could
    commit (the database restarted, a proxy dropped it): what failed rolled back, so doing it
    again does nothing twice. Any other error, or a second failure, is raised."""
    try:
        return fn()
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
    return fn()


class Database:
    """An engine plus session factories: `session()` is a transaction that commits on success,
    `read()` one that only reads (on SQLite it never takes or waits for the write lock)."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.engine = make_engine(url, **engine_kwargs)
        self.url = self.engine.url
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._readers = sessionmaker(
            self.engine.execution_options(**{READONLY: True}), expire_on_commit=False
        )
        self._bounded: dict[int, sessionmaker[Session]] = {}
        self._snapshots: sessionmaker[Session] | None = None
        #: Called after a transaction that appended audit rows commits (the job runner's wake:
        #: a recorded request is sent and an event rendered at once, not on the next tick).
        self.after_audit: list[Callable[[], None]] = []

    @property
    def is_postgresql(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def session(self, *, wait_seconds: float | None = None) -> Iterator[Session]:
        """A write transaction. `wait_seconds`: how long to wait for SQLite's write lock before
        OperationalError ("database is locked") instead of the engine's default."""
        factory = self._sessions if wait_seconds is None else self._bounded_factory(wait_seconds)
        with factory() as session:
            try:
                with session.begin():
                    yield session
            finally:
                taken = session.info.pop(HEAD_TAKEN, None)
                if taken is not None:
                    metrics.AUDIT_HEAD_HOLD.observe(time.perf_counter() - taken)
            if session.info.get(AUDITED):
                for hook in self.after_audit:
                    hook()

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._readers() as session, session.begin():
            yield session

    @contextmanager
    def snapshot(self) -> Iterator[Session]:
        """A read-only transaction that sees one consistent state of the database throughout
        (audit verify, list, export): REPEATABLE READ on PostgreSQL, a deferred transaction in
        WAL mode on SQLite. Neither blocks writers nor waits for them."""
        if not self.is_postgresql:
            with self.read() as session:
                yield session
            return
        if self._snapshots is None:
            bind = self.engine.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
            self._snapshots = sessionmaker(bind, expire_on_commit=False)
        with self._snapshots() as session, session.begin():
            yield session

    def _bounded_factory(self, wait_seconds: float) -> sessionmaker[Session]:
        # Floored to 100 ms steps (at least one): callers pass what is left of a budget, and
        # each distinct bound keeps a factory here for good.
        busy = max(1, int(wait_seconds * 10)) * 100
        if busy not in self._bounded:
            bind = self.engine.execution_options(**{BUSY_MS: busy})
            self._bounded[busy] = sessionmaker(bind, expire_on_commit=False)
        return self._bounded[busy]

    def ping(self) -> None:
        """One round trip (health checks); raises when the database does not answer."""
        with self.read() as session:
            session.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()
