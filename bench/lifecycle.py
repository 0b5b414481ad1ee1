"""The lifecycle's costs: how long after a Slack form is submitted its outcome reaches the thread
(the send now runs in the core's `dispatch` job and the reply comes from the audit-stream
renderer), and what an idle job loop costs.

    uv run python bench/lifecycle.py [--n 30] [--pg URL]

Anchors, measured in the same run: the submission's own ack (the time the form takes to close)
and a bare httpx POST of send_sms to the same sandbox; an idle `python -c` sleeping as long as
the idle worker is watched.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.portal.protocol import SendSms, build_send_sms
from bot.portal.sandbox import SANDBOX_CREDENTIALS
from bot.store.db import Database
from bot.store.migrate import upgrade
from tests.support.bot import running_bot, values

MANX = "89440000000000000010"


def to_thread(db_url: str, n: int) -> tuple[list[float], list[float], list[float]]:
    acks, outcomes, bare = [], [], []
    with running_bot(db_url, SMSBOT_RATE_USER="off", SMSBOT_RATE_SIM="off") as bot:
        bot.grant("U0SENDER")
        assert bot.runtime.sandbox is not None
        body = build_send_sms(SendSms(MANX, "x", "default", None, None), SANDBOX_CREDENTIALS)
        with httpx.Client() as client:
            for i in range(n + 3):
                modal = bot.open_modal()
                before = len(bot.slack.calls("chat.postMessage"))
                start = time.perf_counter()
                bot.submit(modal, values(text=f"bench {i}"))
                acked = time.perf_counter()
                bot.slack.wait_for(
                    "chat.postMessage",
                    lambda c: "Accepted" in c.args.get("text", ""),
                    count=i + 1,
                    timeout=30,
                )
                done = time.perf_counter()
                t0 = time.perf_counter()
                client.post(bot.runtime.sandbox.url, content=body)
                t1 = time.perf_counter()
                if i >= 3:  # warm-up
                    acks.append((acked - start) * 1000)
                    outcomes.append((done - start) * 1000)
                    bare.append((t1 - t0) * 1000)
                assert len(bot.slack.calls("chat.postMessage")) >= before
    return acks, outcomes, bare


def idle_cpu(db_url: str, seconds: float) -> tuple[float, float]:
    """CPU seconds used by an idle `smsbot worker` and by an idle Python, over `seconds`."""

    def cpu_of(cmd: list[str], env: dict[str, str]) -> float:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
        time.sleep(3)  # start-up excluded
        start = _cpu(proc.pid)
        time.sleep(seconds)  # measuring over a wall-clock window, not synchronising
        used = _cpu(proc.pid) - start
        proc.terminate()
        proc.wait(20)
        return used

    env = {**os.environ, "DATABASE_URL": db_url}
    env.pop("SLACK_BOT_TOKEN", None)
    worker = cpu_of([sys.executable, "-m", "bot", "worker"], env)
    anchor = cpu_of([sys.executable, "-c", f"import time; time.sleep({seconds + 10})"], env)
    return worker, anchor


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def _pg_db(admin_url: str) -> str | None:
    try:
        engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        name = f"bench_{uuid.uuid4().hex[:8]}"
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
    except Exception as exc:
        print(f"PostgreSQL unavailable ({type(exc).__name__}); SQLite only")
        return None
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--no-idle", action="store_true", help="skip the idle worker figure")
    args = parser.parse_args()
    urls = {"sqlite": f"sqlite:///{tempfile.mkdtemp()}/bench.db"}
    pg = _pg_db(args.pg)
    if pg:
        urls["postgresql"] = pg
    print(
        "| database | form ack p50 | outcome in thread p50 / p90 | bare POST p50 | outcome / ack |"
    )
    print("|---|---|---|---|---|")
    for name, url in urls.items():
        db = Database(url)
        upgrade(db.engine)
        db.dispose()
        acks, outcomes, bare = to_thread(url, args.n)
        ack50, out50 = statistics.median(acks), statistics.median(outcomes)
        out90 = statistics.quantiles(outcomes, n=10)[-1]
        print(
            f"| {name} | {ack50:.1f} ms | {out50:.1f} / {out90:.1f} ms | "
            f"{statistics.median(bare):.2f} ms | {out50 / ack50:.1f}× |"
        )
    if args.no_idle:
        return
    worker, anchor = idle_cpu(urls["sqlite"], args.idle_seconds)
    print(
        f"\nidle `smsbot worker` (SQLite, {args.idle_seconds:g} s): {worker:.2f} CPU s = "
        f"{100 * worker / args.idle_seconds:.2f}% of a core; idle python anchor {anchor:.2f} CPU s"
    )


if __name__ == "__main__":
    main()
