"""One entry point for the benchmarks: runs each and prints one table, every figure beside the
anchor measured in the same run (the machine is shared and noisy: compare ratios, not ms).

    uv run python bench/run.py [--quick] [--pg URL]

Rows: send vs a bare POST at 0 and 20 ms portal latency (SQLite, PostgreSQL); sends/s and p99 with
1, 8 and 32 concurrent senders on PostgreSQL (20 ms portal); view-submission acks at 10 and 50 in
flight (SQLite, PostgreSQL; anchor: a bare Bolt app acking the same forms); form → outcome in the
thread; `smsbot send` wall time vs `python -c pass`; RSS idle and after N sends; audit verify per
100k rows vs reading the same rows.
Slash-command acks at 1/10/50 in flight against a bare Bolt app on the same waitress settings.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.authz import Principal  # noqa: E402
from bot.portal.client import PortalClient  # noqa: E402
from bot.portal.protocol import SendSms, build_send_sms  # noqa: E402
from bot.portal.sandbox import SANDBOX_CREDENTIALS, SandboxPortal, SandboxServer  # noqa: E402
from bot.service import SendCommand, SendService  # noqa: E402
from bot.sms.message import Draft  # noqa: E402
from bot.store import audit  # noqa: E402
from bot.store.db import Database  # noqa: E402
from bot.store.grants import create_grant  # noqa: E402
from bot.store.migrate import upgrade  # noqa: E402
from bot.store.models import AuditEvent  # noqa: E402

ICCID = "89440000000000000010"
ROWS: list[tuple[str, str, str, str]] = []


def row(what: str, figure: str, anchor: str, ratio: str) -> None:
    ROWS.append((what, figure, anchor, ratio))
    print(f"  {what}: {figure} (anchor {anchor}) {ratio}", flush=True)


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def fresh_db(kind: str, pg: str, tmp: str) -> tuple[str, object]:
    if kind == "sqlite":
        return f"sqlite:///{tmp}/{uuid.uuid4().hex[:6]}.db", None
    admin = create_engine(pg, isolation_level="AUTOCOMMIT")
    name = f"smsbot_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return make_url(pg).set(database=name).render_as_string(hide_password=False), (admin, name)


def drop_db(handle: object) -> None:
    if handle is None:
        return
    admin, name = handle  # type: ignore[misc]
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def service_on(url: str, sandbox: SandboxServer) -> tuple[SendService, Database, PortalClient]:
    db = Database(url)
    upgrade(db.engine)
    with db.session() as session:
        create_grant(session, subject="UBENCH", scope="*", role="sender", actor="bench")
    portal = PortalClient(sandbox.url, SANDBOX_CREDENTIALS, sandbox=True)
    return SendService(db, portal), db, portal


def send_once(service: SendService, i: int) -> None:
    _, run = service.send(SendCommand(Principal("UBENCH"), Draft(ICCID, f"bench {i}"), "cli"))
    assert run is not None and run.request.state == "accepted"


def send_vs_bare(kind: str, url: str, latency_ms: float, n: int) -> None:
    sandbox_portal = SandboxPortal(deliver_after=0)
    sandbox_portal.set_fault("none", latency_ms / 1000)
    with SandboxServer(sandbox_portal) as sandbox:
        service, db, portal = service_on(url, sandbox)
        body = build_send_sms(SendSms(ICCID, "x", sms_uid="bench"), SANDBOX_CREDENTIALS)
        bare_ms, pipe_ms = [], []
        with httpx.Client() as client:
            for i in range(n + 10):
                t0 = time.perf_counter()
                client.post(sandbox.url, content=body)
                t1 = time.perf_counter()
                send_once(service, i)
                t2 = time.perf_counter()
                if i >= 10:
                    bare_ms.append((t1 - t0) * 1000)
                    pipe_ms.append((t2 - t1) * 1000)
        b, s = statistics.median(bare_ms), statistics.median(pipe_ms)
        row(
            f"send p50, {kind}, {latency_ms:g} ms portal",
            f"{s:.2f} ms",
            f"bare POST {b:.2f} ms",
            f"{s / b:.2f}×",
        )
        portal.close()
        db.dispose()


@contextmanager
def sandbox_process(latency_ms: int) -> Iterator[str]:
    """`smsbot sandbox` in its own process, as a real portal is: its CPU is not the bot's."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "sandbox", "--port", "0", "--latency-ms", str(latency_ms)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # printed once the socket is bound
        yield re.search(r"http://\S+", first).group(0)  # type: ignore[union-attr]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def throughput(url: str, senders: int, seconds: float) -> None:
    with sandbox_process(20) as portal_url:
        db = Database(url)
        upgrade(db.engine)
        with db.session() as session:
            create_grant(session, subject="UBENCH", scope="*", role="sender", actor="bench")
        portal = PortalClient(portal_url, SANDBOX_CREDENTIALS, sandbox=True)
        service = SendService(db, portal)
        lat, took = send_for(service, senders, seconds)
        ideal = senders / 0.020
        row(
            f"sends/s, PostgreSQL, {senders} sender(s), 20 ms portal (its own process)",
            f"{len(lat) / took:.0f}/s, p99 {p(lat, 0.99):.0f} ms",
            f"{ideal:.0f}/s if only the portal's 20 ms counted",
            f"{len(lat) / took / ideal:.2f} of ideal",
        )
        portal.close()
        db.dispose()


def send_for(service: SendService, senders: int, seconds: float) -> tuple[list[float], float]:
    """`senders` threads sending one after another for `seconds`: each send's ms, and the time
    it all took."""
    stop = time.monotonic() + seconds
    lat: list[float] = []
    lock = threading.Lock()

    def worker(k: int) -> None:
        i = 0
        while time.monotonic() < stop:
            t = time.perf_counter()
            send_once(service, k * 1_000_000 + i)
            with lock:
                lat.append((time.perf_counter() - t) * 1000)
            i += 1

    started = time.monotonic()
    with ThreadPoolExecutor(senders) as pool:
        list(pool.map(worker, range(senders)))
    return lat, time.monotonic() - started


REPLICA_CHILD = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from bench.run import send_for, send_once
from bot.portal.client import PortalClient
from bot.portal.sandbox import SANDBOX_CREDENTIALS
from bot.service import SendService
from bot.store.db import Database
url, portal_url, senders = sys.argv[2], sys.argv[3], int(sys.argv[4])
start, stop = float(sys.argv[5]), float(sys.argv[6])
service = SendService(Database(url), PortalClient(portal_url, SANDBOX_CREDENTIALS, sandbox=True))
send_once(service, -1)  # connected and warm before the clock starts
time.sleep(max(0.0, start - time.time()))  # every replica starts at the same moment
lat, _ = send_for(service, senders, stop - time.time())
print(json.dumps(lat))
"""


def throughput_replicas(url: str, processes: int, senders: int, seconds: float) -> None:
    """`processes` bot processes with `senders` threads each, on one database and one portal:
    the bot's replicas, as the jobs run them (claimed in the database, any number of them)."""
    with sandbox_process(20) as portal_url:
        db = Database(url)
        upgrade(db.engine)
        with db.session() as session:
            create_grant(session, subject="UBENCH", scope="*", role="sender", actor="bench")
        db.dispose()
        start = time.time() + 5.0  # every child imported, connected and warm
        stop = start + seconds
        children = [
            subprocess.Popen(
                [
                    *(sys.executable, "-c", REPLICA_CHILD, str(ROOT), url, portal_url),
                    *(str(senders), str(start), str(stop)),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(processes)
        ]
        lat: list[float] = []
        for child in children:
            out, _ = child.communicate(timeout=seconds + 120)
            lat += json.loads(out.strip().splitlines()[-1])
        total = processes * senders
        ideal = total / 0.020
        row(
            f"sends/s, PostgreSQL, {processes} processes × {senders} senders, 20 ms portal",
            f"{len(lat) / seconds:.0f}/s, p99 {p(lat, 0.99):.0f} ms",
            f"{ideal:.0f}/s if only the portal's 20 ms counted",
            f"{len(lat) / seconds / ideal:.2f} of ideal",
        )


def cli_wall(tmp: str) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp}/cli.db",
        "SMSBOT_ADMINS": "UBENCH",
        # Six sends to one SIM within a minute: the guard rails would refuse the sixth.
        "SMSBOT_RATE_USER": "off",
        "SMSBOT_RATE_SIM": "off",
    }
    smsbot = str(Path(sys.executable).parent / "smsbot")
    cmd = [smsbot, "send", "--as", "UBENCH", "--iccid", ICCID, "--text", "x"]
    # The goal is "with compiled bytecode": `uv sync` compiles the dependencies (tool.uv
    # compile-bytecode), and a first run writes the project's own, unless Python may not
    # (PYTHONDONTWRITEBYTECODE, a read-only checkout): compile it here as an install would.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "bot")], check=True)
    subprocess.run(cmd, env=env, capture_output=True, check=False)  # creates the schema
    walls, anchors = [], []
    for i in range(5):
        t = time.perf_counter()
        # check: a refused or failed send would time something else.
        subprocess.run([*cmd[:-1], f"x{i}"], env=env, capture_output=True, check=True)
        walls.append(time.perf_counter() - t)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], capture_output=True, check=False)
        anchors.append(time.perf_counter() - t)
    w, a = statistics.median(walls), statistics.median(anchors)
    row("`smsbot send` wall time", f"{w:.2f} s", f"python -c pass {a:.2f} s", f"+{w - a:.2f} s")


RSS_CHILD = """
import socket, subprocess, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from bench.run import send_once
from bot.authz import Principal
from bot.portal.client import PortalClient
from bot.portal.sandbox import SANDBOX_CREDENTIALS
from bot.service import SendService
from bot.store.db import Database
from bot.store.grants import create_grant
from bot.store.migrate import upgrade
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
n = int(sys.argv[2])
# The portal in a process of its own: this process's memory is the bot's send path alone.
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
smsbot = str(Path(sys.executable).parent / "smsbot")
sandbox = subprocess.Popen([smsbot, "sandbox", "--port", str(port)], stdout=subprocess.DEVNULL)
for _ in range(200):
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close()
        break
    except OSError:
        time.sleep(0.05)
db = Database(f"sqlite:///{tempfile.mkdtemp()}/rss.db")
upgrade(db.engine)
with db.session() as session:
    create_grant(session, subject="UBENCH", scope="*", role="sender", actor="bench")
portal = PortalClient(f"http://127.0.0.1:{port}/", SANDBOX_CREDENTIALS, sandbox=True)
service = SendService(db, portal)
for i in range(500):
    send_once(service, -i - 1)
idle = rss()
for i in range(n):
    send_once(service, i)
print(idle, rss())
sandbox.terminate()
"""


def rss(n: int) -> None:
    out = subprocess.run(
        [sys.executable, "-c", RSS_CHILD, str(ROOT), str(n)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    idle, after = float(out[-2]), float(out[-1])
    row(
        f"RSS after {n} more sends (the send path; portal in its own process)",
        f"{after:.1f} MB",
        f"after 500 sends {idle:.1f} MB",
        f"+{after - idle:.1f} MB",
    )


def verify_rate(url: str, rows: int) -> None:
    db = Database(url)
    upgrade(db.engine)
    batch = 1000
    for start in range(0, rows, batch):
        with db.session() as session:
            for i in range(batch):
                audit.append(session, "requested", "UBENCH", details={"n": start + i})
    with db.snapshot() as session:
        t = time.perf_counter()
        for _ in session.execute(
            select(AuditEvent).order_by(AuditEvent.seq).execution_options(yield_per=1000)
        ).scalars():
            pass
        read = time.perf_counter() - t
    with db.snapshot() as session:
        t = time.perf_counter()
        result = audit.verify(session)
        took = time.perf_counter() - t
    assert result.ok
    per_100k = took * 100_000 / rows
    row(
        f"audit verify, SQLite, {rows} rows",
        f"{per_100k:.1f} s per 100k rows ({took / rows * 1e6:.0f} µs/row)",
        f"reading the rows {read / rows * 1e6:.0f} µs/row",
        f"{took / read:.1f}×",
    )
    db.dispose()


def slash_acks(n: int, rounds: int = 3) -> None:
    """`/sms` ack p50/p99 against `smsbot serve` and against a bare Bolt app on the same waitress
    settings (bench/slack_ack.py), medians over rounds, alternating the two."""
    pattern = re.compile(r"p50 ([\d.]+) ms\s+p99 ([\d.]+) ms")
    for concurrency in (1, 10, 50):
        figures: dict[str, list[tuple[float, float]]] = {"ours": [], "bare": []}
        for _ in range(rounds):
            for kind, extra in (("bare", ("--bare",)), ("ours", ())):
                out = script(
                    "slack_ack.py", "--n", str(n), "--concurrency", str(concurrency), *extra
                )
                found = pattern.search(out)
                if found:
                    figures[kind].append((float(found.group(1)), float(found.group(2))))
        if not figures["ours"] or not figures["bare"]:
            row(f"slash-command ack, {concurrency} in flight", "failed", "-", "")
            continue
        o50 = statistics.median(a for a, _ in figures["ours"])
        o99 = statistics.median(b for _, b in figures["ours"])
        b50 = statistics.median(a for a, _ in figures["bare"])
        b99 = statistics.median(b for _, b in figures["bare"])
        row(
            f"slash-command ack p50 / p99, {concurrency} in flight",
            f"{o50:.1f} / {o99:.1f} ms",
            f"bare Bolt app {b50:.1f} / {b99:.1f} ms",
            f"p99 {o99 / b99:.2f}×",
        )


def view_acks(url: str, kind: str, inflight: int, quick: bool, worker: bool = False) -> None:
    """bench/view_ack.py: serve as a process, jobs in it (or in a worker process); the anchor
    is a bare Bolt app."""
    n = str(inflight * (4 if quick else 10))
    extra = ["--worker"] if worker else []
    out = script("view_ack.py", "--db", url, "--in-flight", str(inflight), "--n", n, *extra)
    lines = {x.split(" n=")[0]: x.split(" ", 2)[-1] for x in out.splitlines() if " n=" in x}
    bare = next((v for k, v in lines.items() if k.startswith("bare")), "failed")
    ours = next((v for k, v in lines.items() if k.startswith("smsbot")), "failed")
    jobs = "jobs in an `smsbot worker`" if worker else "jobs in serve"
    sent = next((x.strip() for x in out.splitlines() if "recorded sent" in x), "")
    row(
        f"view-submission ack, {kind}, {inflight} in flight, {jobs}",
        ours,
        f"bare Bolt {bare}",
        sent,
    )


def script(name: str, *args: str) -> str:
    return subprocess.run(
        [sys.executable, str(ROOT / "bench" / name), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    ).stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller samples (a smoke run)")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    n = 60 if args.quick else 300
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("sqlite", "postgresql"):
            for latency in (0.0, 20.0):
                url, handle = fresh_db(kind, args.pg, tmp)
                try:
                    send_vs_bare(kind, url, latency, n)
                finally:
                    drop_db(handle)
        for senders in (1, 8, 32):
            url, handle = fresh_db("postgresql", args.pg, tmp)
            try:
                throughput(url, senders, 3.0 if args.quick else 10.0)
            finally:
                drop_db(handle)
        # The same 32 senders as two replicas: is it one interpreter lock, or the machine?
        url, handle = fresh_db("postgresql", args.pg, tmp)
        try:
            throughput_replicas(url, 2, 16, 3.0 if args.quick else 10.0)
        finally:
            drop_db(handle)
        slash_acks(100 if args.quick else 300)
        for kind in ("sqlite", "postgresql"):
            for inflight in (10, 50):
                url, handle = fresh_db(kind, args.pg, tmp)
                try:
                    view_acks(url, kind, inflight, args.quick)
                finally:
                    drop_db(handle)
        url, handle = fresh_db("postgresql", args.pg, tmp)
        try:
            view_acks(url, "postgresql", 50, args.quick, worker=True)
        finally:
            drop_db(handle)
        out = script("lifecycle.py", "--n", "10" if args.quick else "30", "--no-idle")
        for line in out.splitlines():
            if line.startswith("| sqlite") or line.startswith("| postgresql"):
                cells = [c.strip() for c in line.strip("|").split("|")]
                row(
                    f"form → outcome in thread, {cells[0]}",
                    cells[2],
                    f"form ack {cells[1]}",
                    cells[4],
                )
        cli_wall(tmp)
        rss(1000 if args.quick else 10_000)
        verify_rate(f"sqlite:///{tmp}/verify.db", 10_000 if args.quick else 100_000)
    print("\n| measurement | figure | anchor (same run) | ratio |\n|---|---|---|---|")
    for what, figure, anchor, ratio in ROWS:
        print(f"| {what} | {figure} | {anchor} | {ratio} |")


if __name__ == "__main__":
    main()
