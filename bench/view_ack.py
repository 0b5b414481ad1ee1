"""View-submission (send form) ack latency with N submissions in flight, against `smsbot serve`
as its own process (HTTP mode, the embedded sandbox portal), beside the anchor: a bare Bolt app
that only acks the same submissions, on the same waitress settings, in the same run.

    uv run python bench/view_ack.py [--db URL] [--in-flight 50] [--n 300] [--bare-only]

The Slack stand-in runs in a third process; the load generator is asyncio streams with every
request signed beforehand, so the bench itself takes as little of the two cores as it can. Each
submission is a distinct form (its own view id, so its own request), valid, by a granted user:
the bot records it, sends it (its `dispatch` job) and posts its thread (the renderer) while the
later submissions arrive — the load Slack brings when 50 people press Send at once.

Prints one line per server: p50 / p99 / max of the time until the ack is read, and how many acks
asked to try again ("busy") or showed errors. Goals (issue 10): p99 < 300 ms at 50 in flight on
PostgreSQL, < 1 s on SQLite, never ≥ 3 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from sqlalchemy import func, select  # noqa: E402

from bench.slack_ack import start_stand_in  # noqa: E402
from bot.slack.modals import CALLBACK_SEND, send_modal  # noqa: E402
from bot.store.db import Database  # noqa: E402
from bot.store.grants import create_grant  # noqa: E402
from bot.store.migrate import upgrade  # noqa: E402
from bot.store.models import SmsRequest  # noqa: E402
from tests.support.bot import submission, values  # noqa: E402
from tests.support.serve import start_serve  # noqa: E402
from tests.support.signing import interaction_body, signed_headers  # noqa: E402

NICE = os.environ.get("BENCH_WORKER_NICE", "").split()
SECRET = "bench-signing-secret"
SENDER = "U0SENDER"

BARE = """
import sys, threading
sys.path.insert(0, {root!r})
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from bot.slack.server import HttpServer
client = WebClient(token="xoxb-bench", base_url={slack_url!r})
app = App(client=client, signing_secret={secret!r})
@app.view({callback!r})
def submitted(ack):
    ack()
server = HttpServer(SlackRequestHandler(app), "127.0.0.1", 0).start()
print(server.port, flush=True)
threading.Event().wait()
"""


def prepare(url: str) -> None:
    db = Database(url)
    upgrade(db.engine)
    with db.session() as session:
        create_grant(session, subject=SENDER, scope="*", role="sender", actor="UADMIN")
    db.dispose()


def sent_after(url: str, n: int, started: float, timeout: float = 120.0) -> str:
    """How long until every recorded request was sent (sends yield to acks, not wait forever)."""
    db = Database(url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            with db.read() as session:
                counts = dict(
                    session.execute(
                        select(SmsRequest.state, func.count()).group_by(SmsRequest.state)
                    ).all()
                )
            pending = sum(counts.get(s, 0) for s in ("recorded", "approved", "sending"))
            total = sum(counts.values())
            if (total >= n and not pending) or time.monotonic() > deadline:
                took = time.monotonic() - started
                return f"{total - pending}/{total} recorded sent {took:.1f} s after the first form"
            time.sleep(0.1)
    finally:
        db.dispose()


def start_bare(slack_url: str) -> tuple[subprocess.Popen[str], int]:
    code = BARE.format(root=str(ROOT), secret=SECRET, slack_url=slack_url, callback=CALLBACK_SEND)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline().strip())


def raw_submission(port: int, i: int) -> bytes:
    view = send_modal(metadata={"channel": "C0NOC"})
    payload = submission(view, f"V{i:08d}", values(text=f"load {i}"), SENDER)
    body = interaction_body(payload)
    head = [
        "POST /slack/events HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        f"Content-Length: {len(body)}",
        *[f"{k}: {v}" for k, v in signed_headers(SECRET, body).items()],
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    found = re.search(rb"(?i)content-length: *(\d+)", head)
    body = await reader.readexactly(int(found.group(1))) if found else b""
    return status, body


async def load(port: int, requests: list[bytes], in_flight: int) -> list[tuple[float, bytes]]:
    """Each of `in_flight` connections sends its next request when its last was answered."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for request in requests:
        queue.put_nowait(request)
    samples: list[tuple[float, bytes]] = []

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while not queue.empty():
            request = queue.get_nowait()
            start = time.perf_counter()
            writer.write(request)
            status, body = await _answer(reader)
            samples.append(((time.perf_counter() - start) * 1000, body))
            assert status == 200, (status, body[:200])
        writer.close()

    await asyncio.gather(*(connection() for _ in range(in_flight)))
    return samples


def summary(name: str, samples: list[tuple[float, bytes]]) -> str:
    lat = sorted(ms for ms, _ in samples)
    answers = [json.loads(body) if body else {} for _, body in samples]
    busy = sum("busy" in json.dumps(a) for a in answers)
    errors = sum(a.get("response_action") == "errors" for a in answers)
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    return (
        f"{name} n={len(lat)} p50={statistics.median(lat):.0f}ms p99={p99:.0f}ms "
        f"max={lat[-1]:.0f}ms busy={busy} errors={errors}"
    )


def run(port: int, n: int, in_flight: int) -> list[tuple[float, bytes]]:
    warm = [raw_submission(port, 10_000_000 + i) for i in range(10)]
    asyncio.run(load(port, warm, 1))  # imports, first connections, caches
    return asyncio.run(load(port, [raw_submission(port, i) for i in range(n)], in_flight))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="", help="DATABASE_URL (default: a temp SQLite file)")
    parser.add_argument("--in-flight", type=int, default=50)
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--bare-only", action="store_true")
    parser.add_argument(
        "--worker",
        action="store_true",
        help="serve runs no jobs (SMSBOT_SERVE_JOBS=off); an `smsbot worker` process sends",
    )
    parser.add_argument(
        "--no-jobs",
        action="store_true",
        help="serve runs no jobs and nothing sends: the ack path alone (requests stay recorded)",
    )
    args = parser.parse_args()
    stand_in, slack_url = start_stand_in()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            bare, port = start_bare(slack_url)
            try:
                print(summary("bare Bolt", run(port, args.n, args.in_flight)), flush=True)
            finally:
                bare.terminate()
                bare.wait(timeout=10)
            if args.bare_only:
                return
            url = args.db or f"sqlite:///{tmp}/view-ack.db"
            prepare(url)
            env = {
                "DATABASE_URL": url,
                "SLACK_BOT_TOKEN": "xoxb-bench",
                "SLACK_SIGNING_SECRET": SECRET,
                "SLACK_API_URL": slack_url,
                "SMSBOT_RATE_USER": "off",
                "SMSBOT_RATE_SIM": "off",
            }
            worker = None
            if args.no_jobs:
                env["SMSBOT_SERVE_JOBS"] = "off"
            if args.worker:
                env["SMSBOT_SERVE_JOBS"] = "off"
                worker = subprocess.Popen(
                    [*NICE, sys.executable, "-m", "bot", "worker"],
                    env={**os.environ, **env},
                    stderr=subprocess.DEVNULL,
                )
            server, port = start_serve(env)
            try:
                kind = url.split(":")[0].split("+")[0] + (" + worker" if worker else "")
                kind += " (no jobs)" if args.no_jobs else ""
                started = time.monotonic()
                print(summary(f"smsbot {kind}", run(port, args.n, args.in_flight)), flush=True)
                if not args.no_jobs:
                    print(f"  {sent_after(url, args.n, started)}", flush=True)
            finally:
                server.terminate()
                server.wait(timeout=20)
                if worker is not None:
                    worker.terminate()
                    worker.wait(timeout=20)
    finally:
        assert stand_in.stdin is not None
        stand_in.stdin.close()
        stand_in.wait(timeout=10)


if __name__ == "__main__":
    main()
