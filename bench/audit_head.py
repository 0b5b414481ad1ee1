"""Does the audit chain's head serialise sends? Sends/s on PostgreSQL with a 20 ms portal, and how
busy the head was: the summed time transactions held it (smsbot_audit_head_hold_seconds) over
the wall time, and how long they waited for it.

    uv run python bench/audit_head.py [--seconds 10] [--pg URL]

The portal is `smsbot sandbox --latency-ms 20` in a process of its own (in the bot's process its
XML work would share the bot's GIL). Senders run as 32 threads in one process, then as 4
processes of 8 threads: if the head were the limit, more processes would not send more.
Anchor: the portal alone allows 32 / 20 ms = 1,600 sends/s.
"""

from __future__ import annotations

import argparse
import multiprocessing
import socket
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, text

from bot import metrics
from bot.authz import Principal
from bot.portal.client import PortalClient
from bot.portal.sandbox import SANDBOX_CREDENTIALS
from bot.service import SendCommand, SendService
from bot.sms.message import Draft
from bot.store import audit
from bot.store.db import Database
from bot.store.grants import create_grant
from bot.store.migrate import upgrade

ICCID = "89440000000000000010"


def _sum(histogram: object) -> tuple[float, float]:
    """(count, sum) of a prometheus Histogram in this process."""
    count = total = 0.0
    for metric in histogram.collect():  # type: ignore[attr-defined]
        for sample in metric.samples:
            if sample.name.endswith("_count"):
                count = sample.value
            elif sample.name.endswith("_sum"):
                total = sample.value
    return count, total


def senders(args: tuple[str, str, int, float, int, bool]) -> tuple[int, float, float, float]:
    """Run `threads` senders until the deadline; (sends, head held s, head waited s, CPU s)."""
    url, portal_url, threads, seconds, k, in_server = args
    audit.SERVER_APPEND = in_server
    db = Database(url)
    portal = PortalClient(portal_url, SANDBOX_CREDENTIALS, sandbox=True)
    service = SendService(db, portal)
    stop = time.monotonic() + seconds
    sent = [0]
    lock = threading.Lock()

    def run(t: int) -> None:
        i = 0
        while time.monotonic() < stop:
            draft = Draft(ICCID, f"bench {k}-{t}-{i}")
            _, done = service.send(SendCommand(Principal("UBENCH"), draft, "cli"))
            assert done is not None and done.request.state == "accepted"
            i += 1
        with lock:
            sent[0] += i

    cpu = time.process_time()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(run, range(threads)))
    cpu = time.process_time() - cpu
    _, held = _sum(metrics.AUDIT_HEAD_HOLD)
    _, waited = _sum(metrics.AUDIT_HEAD_WAIT)
    portal.close()
    db.dispose()
    return sent[0], held, waited, cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    name = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = args.pg.rsplit("/", 1)[0] + f"/{name}"
    db = Database(url)
    upgrade(db.engine)
    with db.session() as session:
        create_grant(session, subject="UBENCH", scope="*", role="sender", actor="bench")
    db.dispose()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    smsbot = str(Path(sys.executable).parent / "smsbot")
    sandbox = subprocess.Popen(
        [smsbot, "sandbox", "--port", str(port), "--latency-ms", "20"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    portal_url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            time.sleep(0.05)  # waiting for the sandbox process to listen (start-up only)
    print(
        "| senders, chain appended | sends/s | head busy (held / wall) | held per send "
        "| wait per send | CPU per send |"
    )
    print("|---|---|---|---|---|---|")
    try:
        ctx = multiprocessing.get_context("spawn")
        runs = [(p, t, server) for p, t in ((1, 1), (1, 32), (4, 8)) for server in (False, True)]
        for procs, threads, in_server in runs:
            jobs = [(url, portal_url, threads, args.seconds, k, in_server) for k in range(procs)]
            started = time.monotonic()
            with ctx.Pool(procs) as pool:
                results = pool.map(senders, jobs)
            wall = time.monotonic() - started
            sent = sum(r[0] for r in results)
            held = sum(r[1] for r in results)
            waited = sum(r[2] for r in results)
            cpu = sum(r[3] for r in results)
            print(
                f"| {procs} process(es) × {threads} threads, appended "
                f"{'by smsbot_audit_append' if in_server else 'from Python'} "
                f"| {sent / args.seconds:.0f}/s "
                f"(anchor {procs * threads * 50}/s) | {held / wall:.0%} | "
                f"{held / sent * 1000:.2f} ms | {waited / sent * 1000:.2f} ms | "
                f"{cpu / sent * 1000:.1f} ms |"
            )
    finally:
        sandbox.terminate()
        sandbox.wait(10)


if __name__ == "__main__":
    main()
