"""`smsbot worker` as a real process: it sends a request another process recorded, follows its
delivery, and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from bot.authz import Principal
from bot.portal.client import PortalClient
from bot.portal.sandbox import SANDBOX_CREDENTIALS
from bot.service import SendCommand, SendService
from bot.sms.message import Draft
from bot.store.db import Database
from bot.store.models import SmsRequest
from tests.support.lifecycle import wait_until

MANX = "89440000000000000010"


def test_a_worker_sends_what_another_process_recorded_and_follows_it(db_url: str) -> None:
    db = Database(db_url)
    # Recorded by "another front end" and left for the jobs (the portal client is never used).
    with PortalClient("http://127.0.0.1:9/", SANDBOX_CREDENTIALS, sandbox=True) as unused:
        service = SendService(db, unused, admins=frozenset({"UADMIN"}))
        sub = service.submit(SendCommand(Principal("UADMIN"), Draft(MANX, "reset"), "cli"))
    assert sub.status == "recorded" and sub.request is not None
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "SMSBOT_ADMINS": "UADMIN",
        "SMSBOT_SANDBOX_DELIVER_SECONDS": "0",
        "SMSBOT_POLL_SCHEDULE": "1s",
    }
    for name in ("SLACK_BOT_TOKEN", "M2M_API_ID", "M2M_USERNAME", "M2M_PASSWORD"):
        env.pop(name, None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "worker"], env=env, stdout=subprocess.PIPE, text=True
    )
    try:

        def row() -> SmsRequest:
            with db.read() as session:
                found = session.get(SmsRequest, sub.request.id)  # type: ignore[union-attr]
                assert found is not None
                return found

        wait_until(lambda: row().state == "accepted", 30, "sent by the worker")
        wait_until(lambda: row().delivery_status == "delivered", 30, "delivery polled")
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        assert proc.stdout is not None and "worker running 7 jobs" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
        db.dispose()
