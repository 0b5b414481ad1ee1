"""Helpers for lifecycle tests: a runtime on a test database, running one job, waiting on a
condition with a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bot.config import load_settings
from bot.jobs.runner import RunResult
from bot.runtime import Runtime, build_runtime
from bot.store.models import SmsRequest


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


def wait_until(condition: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
    """Poll `condition` until it is truthy (a deadline, not a sleep as synchronisation)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what or condition}")
        time.sleep(0.02)


def request_row(runtime: Runtime, request_id: int) -> SmsRequest:
    with runtime.db.read() as session:
        req = session.get(SmsRequest, request_id)
        assert req is not None
        return req
