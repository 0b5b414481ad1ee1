"""Helpers for lifecycle tests: a runtime on a test database, running one job, waiting on a
condition with a deadline."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bot.config import load_settings
from bot.jobs.runner import RunResult
from bot.runtime import Runtime, build_runtime
from bot.store.models import SmsRequest
from tests.support.waiting import wait_until

__all__ = ["request_row", "run_job", "runtime_on", "wait_until"]


@contextmanager
def runtime_on(db_url: str, **settings: Any) -> Iterator[Runtime]:
    """The core as `smsbot worker` builds it (embedded sandbox), without Slack."""
    values = {
        "DATABASE_URL": db_url,
        "SMSBOT_PORTAL": "sandbox",
        "SMSBOT_ADMINS": "UADMIN",
        "SMSBOT_APPROVAL_CHANNEL": "C0APPROVE",
        "SLACK_BOT_TOKEN": None,
        **settings,
    }
    runtime = build_runtime(load_settings(**values))
    try:
        yield runtime
    finally:
        runtime.close()


def run_job(runtime: Runtime, name: str) -> RunResult:
    """Run a job now, as `smsbot jobs run NAME` does; if this process's own job loop holds it
    at that moment, wait for the loop's run to end and run it again."""
    job = runtime.jobs.registry.get(name)
    assert job is not None, name
    result: RunResult = wait_until(
        lambda: (r := runtime.jobs.run(job, force=True)).ran and r, what=f"claim {name}"
    )
    assert result.ok, result
    return result


def request_row(runtime: Runtime, request_id: int) -> SmsRequest:
    with runtime.db.read() as session:
        req = session.get(SmsRequest, request_id)
        assert req is not None
        return req
