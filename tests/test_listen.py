"""Jobs in one process are woken when another process records something (bot.jobs.listen):
an `smsbot worker` beside `serve` sends at once, not on its 5 s tick."""

from __future__ import annotations

import time

import pytest
from sqlalchemy.engine import make_url

from bot.jobs.listen import AuditListener, conninfo
from bot.store import audit
from bot.store.audit_sql import origin
from bot.store.db import Database
from tests.support.lifecycle import request_row, runtime_on, wait_until
from tests.test_lifecycle import record


def test_a_request_recorded_elsewhere_wakes_the_jobs_at_once(db_url: str) -> None:
    with runtime_on(db_url) as worker, runtime_on(db_url) as front:
        worker.start_jobs()
        if not worker.db.is_postgresql:
            # SQLite has no channel between processes: the jobs keep to their schedule.
            assert worker.listener is None
            return
        assert worker.listener is not None
        assert worker.listener.listening.wait(10), "LISTEN never in place"
        # The first pass ran every job at start; `dispatch` is next due in 5 s.
        before = worker.listener.notified
        recorded_at = time.monotonic()
        rid = record(front)  # in a process with no jobs, as `serve` with SMSBOT_SERVE_JOBS=off
        wait_until(lambda: worker.listener.notified > before, 10, "the commit's notification")
        wait_until(
            lambda: request_row(worker, rid).state == "accepted", 10, "sent by the other runtime"
        )
        assert time.monotonic() - recorded_at < 4.0, "sent on the schedule, not when woken"
        assert front.sandbox is not None and worker.sandbox is not None
        assert len(worker.sandbox.portal.requests_for("send_sms")) == 1


def test_a_rolled_back_transaction_notifies_nobody(db_url: str) -> None:
    with runtime_on(db_url) as rt:
        if not rt.db.is_postgresql:
            return  # SQLite: see above
        # A listener of its own (another engine: rt's commits count as another process's),
        # with no jobs here that could record something meanwhile.
        other = Database(db_url)
        listener = AuditListener(other.engine, lambda: None).start()
        try:
            assert listener.listening.wait(10)
            with pytest.raises(ZeroDivisionError), rt.db.session() as session:
                audit.append(session, "invalid", "UTEST", details={"why": "rolled back"})
                _ = 1 / 0
            # A committed append afterwards is heard; the rolled-back one before it was not.
            with rt.db.session() as session:
                audit.append(session, "invalid", "UTEST", details={"why": "committed"})
            wait_until(lambda: listener.notified >= 1, 10, "the committed notification")
            assert listener.notified == 1
        finally:
            listener.stop()
            other.dispose()


def test_a_process_does_not_hear_its_own_commits(db_url: str) -> None:
    """Its own commits wake its jobs directly (`Database.after_audit`); heard again through
    the listener they would run every job pass twice."""
    with runtime_on(db_url) as worker, runtime_on(db_url) as front:
        if not worker.db.is_postgresql:
            return  # SQLite: see above
        listener = AuditListener(worker.db.engine, lambda: None).start()
        try:
            assert listener.listening.wait(10)
            with worker.db.session() as session:
                audit.append(session, "invalid", "UTEST", details={"why": "own"})
            with front.db.session() as session:
                audit.append(session, "invalid", "UTEST", details={"why": "another process"})
            # Delivered in commit order: once the second is heard, the first was skipped.
            other = origin(front.db.engine)
            wait_until(lambda: listener.last_origin == other, 10, "the other's notification")
            assert listener.notified == 1
        finally:
            listener.stop()


def test_the_connection_string_keeps_the_database_and_drops_the_driver_name() -> None:
    url = make_url("postgresql+psycopg://postgres:s3cret@127.0.0.1:5432/test?sslmode=disable")
    assert conninfo(url) == "postgresql://postgres:s3cret@127.0.0.1:5432/test?sslmode=disable"
