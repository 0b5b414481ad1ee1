"""`smsbot serve` as a separate process on a free port (PORT=0), for tests and benchmarks."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.slack_api import SlackStandIn

_LISTENING = re.compile(r"listening on 127\.0\.0\.1:(\d+)")


def start_serve(
    env: dict[str, str], timeout: float = 60.0, wrap: tuple[str, ...] = ()
) -> tuple[subprocess.Popen[str], int]:
    """Start `python -m bot serve` with `env` over this environment (HOST=127.0.0.1, PORT=0 and
    no SLACK_APP_TOKEN unless given); return the process and the port it bound, read from its
    log. The log is drained afterwards so the server never blocks on a full pipe."""
    full = {**os.environ, "HOST": "127.0.0.1", "PORT": "0", **env}
    if "SLACK_APP_TOKEN" not in env:
        full.pop("SLACK_APP_TOKEN", None)
    proc = subprocess.Popen(
        [*wrap, sys.executable, "-m", "bot", "serve"], env=full, stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    stderr = proc.stderr
    found: list[int] = []
    tail: list[str] = []
    ready = threading.Event()

    def read_log() -> None:
        for line in stderr:
            tail[:] = [*tail[-4:], line.rstrip()]
            match = _LISTENING.search(line)
            if match and not found:
                found.append(int(match.group(1)))
                ready.set()
        ready.set()  # the process ended (before listening, if `found` is empty)

    threading.Thread(target=read_log, daemon=True).start()
    if not ready.wait(timeout) or not found:
        proc.kill()
        raise RuntimeError("smsbot serve did not start: " + " | ".join(tail))
    return proc, found[0]


@contextmanager
def serve_http(
    db_url: str, secret: str, *, wrap: tuple[str, ...] = (), **extra: str
) -> Iterator[tuple[subprocess.Popen[str], int, SlackStandIn]]:
    """`smsbot serve` in HTTP mode as a process, with its own Slack stand-in; stopped after."""
    slack = SlackStandIn().start()
    env = {
        "DATABASE_URL": db_url,
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": secret,
        "SLACK_API_URL": slack.url,
        **extra,
    }
    try:
        proc, port = start_serve(env, wrap=wrap)
        try:
            yield proc, port, slack
        finally:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=15)
    finally:
        slack.stop()
