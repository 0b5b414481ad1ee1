"""Operator mistakes end in one line `smsbot: …` that names what to fix, exit 2 — never a
traceback: database problems in `send`, `db upgrade` and `serve`, files, credentials. An
interrupted send is settled as unknown (exit 4)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.portal.client import PortalClient
from bot.portal.sandbox import SANDBOX_CREDENTIALS, SandboxPortal, SandboxServer
from bot.service import SendService
from bot.store import audit
from bot.store.db import Database
from bot.store.models import SmsRequest
from tests.conftest import _pg_exec, _pg_url_for, require_postgresql

MANX = "89440000000000000010"
SEND = ["send", "--as", "UADMIN", "--iccid", MANX, "--text", "hi"]


def smsbot(
    args: list[str], env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    prefixes = ("M2M_", "SMSBOT_", "SLACK_", "DATABASE_URL")
    full = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    full.update({"SMSBOT_ADMINS": "UADMIN", **env})
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def one_line(done: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("smsbot: ")
    for word in words:
        assert word in last, last


PG = "postgresql://postgres@127.0.0.1:5432"


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("postgresql://postgres@127.0.0.1:1/test", ["nothing answers at 127.0.0.1:1/test"]),
        (f"{PG}/smsbot_no_such_database", ['"smsbot_no_such_database" does not exist']),
        ("postgresql://smsbot_no_such_role@127.0.0.1:5432/test", ['role "smsbot_no_such_role"']),
        ("postgresql://postgres@no-such-host.invalid/test", ["cannot be resolved"]),
        ("postgresql+psycopg2://postgres@127.0.0.1/test", ["DATABASE_URL", "psycopg2"]),
        ("sqlite:////nonexistent/dir/smsbot.db", ["cannot open the SQLite file"]),
    ],
)
@pytest.mark.parametrize("command", [SEND, ["db", "upgrade"], ["serve"]])
def test_database_problems_are_one_line(url: str, words: list[str], command: list[str]) -> None:
    env = {"DATABASE_URL": url, "SLACK_BOT_TOKEN": "xoxb-t", "SLACK_SIGNING_SECRET": "s"}
    one_line(smsbot(command, env), 2, *words)


def test_file_problems_are_one_line(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'f.db'}"}
    latin1 = tmp_path / "sims.csv"
    latin1.write_bytes("iccid,label\n89440000000000000010,Caf\xe9\n".encode("latin-1"))
    one_line(smsbot(["sims", "import", str(latin1)], env), 2, "not UTF-8")
    out = tmp_path / "no-such-dir" / "audit.csv"
    one_line(smsbot(["audit", "export", "--format", "csv", "--output", str(out)], env), 2, str(out))


def test_incomplete_portal_credentials_name_the_missing_one(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}", "M2M_API_ID": "a", "M2M_USERNAME": "u"}
    one_line(smsbot(SEND, env), 2, "M2M_PASSWORD", "SMSBOT_PORTAL=sandbox")


def test_verbose_names_the_database_and_the_default_is_in_the_working_directory(
    tmp_path: Path,
) -> None:
    done = smsbot(["--verbose", "db", "upgrade"], {}, cwd=tmp_path)
    assert done.returncode == 0
    assert f"database: {tmp_path / 'smsbot.db'}" in done.stderr
    assert (tmp_path / "smsbot.db").exists()
    sent = smsbot(["--verbose", *SEND], {}, cwd=tmp_path)
    assert sent.returncode == 0 and f"database: {tmp_path / 'smsbot.db'}" in sent.stderr


@contextmanager
def send_in_flight(url: str, latency: float) -> Iterator[subprocess.Popen[str]]:
    """`smsbot send` as a process against a portal that answers after `latency` seconds; yields
    once the POST has reached the portal (the send is in flight)."""
    slow = SandboxPortal()
    slow.latency = latency
    with SandboxServer(slow) as portal:
        env = {
            "DATABASE_URL": url,
            "SMSBOT_PORTAL": "live",
            "M2M_API_URL": portal.url,
            "M2M_API_ID": SANDBOX_CREDENTIALS.api_id,
            "M2M_USERNAME": SANDBOX_CREDENTIALS.username,
            "M2M_PASSWORD": SANDBOX_CREDENTIALS.password,
        }
        full = {k: v for k, v in os.environ.items() if not k.startswith(("M2M_", "SMSBOT_"))}
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", *SEND],
            env={**full, "SMSBOT_ADMINS": "UADMIN", **env},
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while not portal.portal.requests_for("send_sms"):
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.05)
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()


def test_ctrl_c_during_a_send_settles_it_as_unknown(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'int.db'}"
    with send_in_flight(url, latency=30.0) as proc:  # Ctrl-C lands mid-call
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 4, stderr
    assert "outcome unknown" in stderr and "SMS log" in stderr and "Traceback" not in stderr
    db = Database(url)
    with db.session() as session:
        (req,) = session.execute(select(SmsRequest)).scalars()
        assert req.state == "unknown"
        assert [r.event for r in audit.query(session)][-1] == "outcome_unknown"
    db.dispose()


def test_a_database_lost_after_the_portal_answered_is_exit_4() -> None:
    """The portal took the SMS, then the database went away: no traceback, outcome unknown,
    and the row is settled as unknown once the database is back. (PostgreSQL: a server that
    can be made to refuse connections under a running client.)"""
    require_postgresql()
    name = f"smsbot_lost_{os.getpid()}_{time.monotonic_ns()}"
    _pg_exec(f'CREATE DATABASE "{name}"')
    db_url = _pg_url_for(name)
    with send_in_flight(db_url, latency=2.0) as proc:
        _pg_exec(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        _pg_exec(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
        try:
            _, stderr = proc.communicate(timeout=60)
        finally:
            _pg_exec(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
    assert proc.returncode == 4, stderr
    assert "Traceback" not in stderr and "outcome unknown" in stderr
    assert "once the database answers" in stderr
    db = Database(db_url)
    with PortalClient("http://127.0.0.1:9/", SANDBOX_CREDENTIALS) as client:
        settled = SendService(db, client).settle_stale_sends(timedelta(0))
    assert [r.state for r in settled] == ["unknown"]
    db.dispose()
    _pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
