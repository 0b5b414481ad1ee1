"""Per-send time of the full pipeline vs a bare httpx POST of the same XML to the same sandbox.

    uv run python bench/send.py [--n 300] [--latency-ms 0] [--pg URL]

For each database (a temp SQLite file; PostgreSQL when reachable) it measures, in one run, against
one sandbox portal server on 127.0.0.1:
  bare      httpx.Client.post of a prebuilt send_sms body (keep-alive, same client settings)
  pipeline  SendService.send: validate → authorize → record → claim → POST → record outcome,
            with every audit row hash-chained
and prints mean / p50 / p99 per send in ms and the ratio pipeline/bare (goal: ≤ 1.3).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from bot.authz import Principal
from bot.portal.client import PortalClient
from bot.portal.protocol import SendSms, build_send_sms
from bot.portal.sandbox import SANDBOX_CREDENTIALS, SandboxPortal, SandboxServer
from bot.service import SendCommand, SendService
from bot.sms.message import Draft
from bot.store.db import Database
from bot.store.grants import create_grant
from bot.store.migrate import upgrade

ICCID = "89440000000000000010"


def timed(fn: Callable[[int], None], n: int, warmup: int = 20) -> list[float]:
    for i in range(warmup):
        fn(-1 - i)
    samples = []
    for i in range(n):
        start = time.perf_counter()
        fn(i)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def describe(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (
        f"mean {statistics.fmean(samples):7.2f} ms  p50 {statistics.median(samples):7.2f} ms"
        f"  p99 {p99:7.2f} ms"
    )


def bench_db(label: str, url: str, sandbox: SandboxServer, n: int) -> None:
    db = Database(url)
    upgrade(db.engine)
    with db.session() as session:
        create_grant(session, subject="UBENCH", scope="*", role="sender", actor="bench")
    portal = PortalClient(sandbox.url, SANDBOX_CREDENTIALS, sandbox=True)
    service = SendService(db, portal)
    principal = Principal("UBENCH", ("S0OPS",), "C0NOC")

    bare_client = httpx.Client(headers={"Content-Type": "application/xml"})
    body = build_send_sms(SendSms(ICCID, "reset modem", sms_uid="bench"), SANDBOX_CREDENTIALS)

    def bare(_: int) -> None:
        response = bare_client.post(sandbox.url, content=body)
        assert response.status_code == 200

    def pipeline(i: int) -> None:
        _, execution = service.send(SendCommand(principal, Draft(ICCID, "reset modem"), "cli"))
        assert execution is not None and execution.request.state == "accepted", i

    # Interleave the two so drift on the machine hits both alike.
    bare_samples: list[float] = []
    pipe_samples: list[float] = []
    for _ in range(5):
        bare_samples += timed(bare, n // 5, warmup=5)
        pipe_samples += timed(pipeline, n // 5, warmup=5)
    ratio = statistics.fmean(pipe_samples) / statistics.fmean(bare_samples)
    ratio50 = statistics.median(pipe_samples) / statistics.median(bare_samples)
    print(f"[{label}] bare POST  {describe(bare_samples)}")
    print(f"[{label}] pipeline   {describe(pipe_samples)}")
    print(f"[{label}] ratio pipeline/bare: mean {ratio:.2f}x  p50 {ratio50:.2f}x (goal ≤ 1.30x)")
    bare_client.close()
    portal.close()
    db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        help="sandbox answer delay, to model a real portal's round trip",
    )
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()

    sandbox_portal = SandboxPortal(deliver_after=0)
    sandbox_portal.set_fault("none", args.latency_ms / 1000)
    with SandboxServer(sandbox_portal) as sandbox, tempfile.TemporaryDirectory() as tmp:
        print(f"sandbox latency {args.latency_ms} ms, {args.n} sends per measurement")
        bench_db("sqlite", f"sqlite:///{Path(tmp) / 'bench.db'}", sandbox, args.n)
        admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
        name = f"smsbot_bench_{uuid.uuid4().hex[:8]}"
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        except Exception as exc:
            print(f"[postgresql] skipped: {type(exc).__name__}")
            return
        try:
            from sqlalchemy.engine import make_url

            url = make_url(args.pg).set(database=name).render_as_string(hide_password=False)
            bench_db("postgresql", url, sandbox, args.n)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()
