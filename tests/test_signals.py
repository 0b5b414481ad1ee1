"""`smsbot serve` as PID 1 in its own PID namespace (as in a container): SIGTERM stops it in
order — no new requests, the send in flight finished and reported, exit 0 — within the grace."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.portal.sandbox import SANDBOX_CREDENTIALS, SandboxPortal, SandboxServer
from bot.store.db import Database
from bot.store.grants import create_grant
from tests.support.bot import submission, values
from tests.support.serve import serve_http, start_serve
from tests.support.signing import SlackClient
from tests.support.slack_api import SlackStandIn

SECRET = "pid1-secret"
PID1 = ("unshare", "--pid", "--fork", "--kill-child")


def pid_one(unshare_pid: int) -> int:
    """The host pid of the namespace's PID 1 (unshare's only child)."""
    deadline = time.monotonic() + 10
    while True:
        children = Path(f"/proc/{unshare_pid}/task/{unshare_pid}/children").read_text().split()
        if children:
            return int(children[0])
        assert time.monotonic() < deadline, "unshare started no child"
        time.sleep(0.02)


@pytest.fixture
def slow_portal() -> Iterator[SandboxServer]:
    portal = SandboxPortal(deliver_after=0.0)
    portal.latency = 2.0  # a send takes 2 s: SIGTERM arrives while it is in flight
    with SandboxServer(portal) as server:
        yield server


def _env(db_url: str, slack: SlackStandIn, portal: SandboxServer) -> dict[str, str]:
    return {
        "DATABASE_URL": db_url,
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack.url,
        "SMSBOT_PORTAL": "live",
        "M2M_API_URL": portal.url,
        "M2M_API_ID": SANDBOX_CREDENTIALS.api_id,
        "M2M_USERNAME": SANDBOX_CREDENTIALS.username,
        "M2M_PASSWORD": SANDBOX_CREDENTIALS.password,
        "SMSBOT_RECEIPT_PASSPHRASE": "p",
        "SMSBOT_SHUTDOWN_GRACE_SECONDS": "10",
    }


def test_sigterm_to_pid_1_finishes_the_send_in_flight_and_exits_0(
    db_url: str, slow_portal: SandboxServer
) -> None:
    db = Database(db_url)
    with db.session() as session:
        create_grant(session, subject="U0SENDER", scope="*", role="sender", actor="UADMIN")
    db.dispose()
    slack = SlackStandIn().start()
    proc, port = start_serve(_env(db_url, slack, slow_portal), wrap=PID1)
    try:
        client = SlackClient(f"http://127.0.0.1:{port}/slack/events", SECRET)
        assert client.command("", user="U0SENDER").status_code == 200
        opened = slack.wait_for("views.open")[0]
        view_id = opened.answer["view"]["id"]
        assert client.interaction(submission(opened.args["view"], view_id, values())).text == ""
        deadline = time.monotonic() + 20
        while not slow_portal.portal.requests_for("send_sms"):  # the POST is out
            assert time.monotonic() < deadline
            time.sleep(0.02)
        started = time.monotonic()
        os.kill(pid_one(proc.pid), signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        took = time.monotonic() - started
        # The send in flight finished and was reported before the exit.
        slack.wait_for("chat.postMessage", lambda c: "Accepted" in c.args.get("text", ""))
        assert took < 10
        client.close()
    finally:
        if proc.poll() is None:
            proc.kill()
        slack.stop()


def test_sigterm_to_an_idle_pid_1_exits_0_at_once(tmp_path: Path) -> None:
    with serve_http(f"sqlite:///{tmp_path / 'idle.db'}", SECRET, wrap=PID1) as (proc, _, _):
        started = time.monotonic()
        os.kill(pid_one(proc.pid), signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert time.monotonic() - started < 3
