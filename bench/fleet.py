"""Fleet sends: how long the form waits for the core to count and record a batch of N SIMs, and
how fast the jobs send it.

    uv run python bench/fleet.py [--sims 1000] [--runs 5] [--pg URL]

Anchor, measured in the same run: recording one single request (`SendService.submit`). The
count (first submit) and the record (confirmed submit) must fit well inside Slack's 3 s ack.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.lifecycle import _pg_db
from bot.authz import Principal
from bot.batches import BatchCommand
from bot.batches.run import finish, release
from bot.service import SendCommand
from bot.sms.iccid import luhn_ok
from bot.sms.message import Draft
from bot.store.db import Database
from bot.store.inventory import import_csv
from bot.store.migrate import upgrade
from tests.support.lifecycle import runtime_on

ADMIN = Principal("UADMIN", (), None)


def _iccids(n: int) -> list[str]:
    out = []
    for i in range(n):
        stem = f"894400000000{i:07d}"
        out.append(next(stem + d for d in "0123456789" if luhn_ok(stem + d)))
    return out


def measure(url: str, sims: int, runs: int) -> dict[str, float]:
    db = Database(url)
    upgrade(db.engine)
    db.dispose()
    rows = "".join(f"{i},site {n},Manx Telecom,fleet\n" for n, i in enumerate(_iccids(sims)))
    figures: dict[str, list[float]] = {"single": [], "count": [], "record": []}
    with runtime_on(url, SMSBOT_RATE_USER="off", SMSBOT_RATE_SIM="off") as runtime:
        with runtime.db.session() as session:
            import_csv(session, io.StringIO("iccid,label,sim_type,group\n" + rows), "bench")
        for r in range(runs + 1):
            t0 = time.perf_counter()
            runtime.service.submit(
                SendCommand(ADMIN, Draft("89440000000000000010", f"one {r}"), "cli")
            )
            t1 = time.perf_counter()
            runtime.batches.submit(BatchCommand(ADMIN, "cli", f"fleet {r}", group="fleet"))
            t2 = time.perf_counter()
            done = runtime.batches.submit(
                BatchCommand(ADMIN, "cli", f"fleet {r}", group="fleet", confirmed=True)
            )
            t3 = time.perf_counter()
            assert done.batch is not None and done.members == sims, done.reason
            if r:  # the first round warms up
                figures["single"].append((t1 - t0) * 1000)
                figures["count"].append((t2 - t1) * 1000)
                figures["record"].append((t3 - t2) * 1000)
        # Sending the last batch through the jobs' functions (sandbox portal, 0 ms latency).
        batch_id = done.batch.id
        start = time.perf_counter()
        while not finish(runtime.db, batch_id):
            for member in release(runtime.db, batch_id):
                runtime.sender.submit(member.request_id, member.requester)
            runtime.sender.drain(0.05)
        seconds = time.perf_counter() - start
    out = {k: statistics.median(v) for k, v in figures.items()}
    out["sends_per_s"] = sims / seconds
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sims", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    urls = {"sqlite": f"sqlite:///{tempfile.mkdtemp()}/fleet.db"}
    pg = _pg_db(args.pg)
    if pg:
        urls["postgresql"] = pg
    print(
        f"| database | one request recorded (anchor) | count {args.sims} SIMs | "
        f"record {args.sims} SIMs | sent by the jobs |"
    )
    print("|---|---|---|---|---|")
    for name, url in urls.items():
        f = measure(url, args.sims, args.runs)
        count, record, single = f["count"], f["record"], f["single"]
        print(
            f"| {name} | {single:.1f} ms | {count:.0f} ms ({count / single:.0f}×) "
            f"| {record:.0f} ms ({record / single:.0f}×) | {f['sends_per_s']:.0f} SIMs/s |"
        )


if __name__ == "__main__":
    main()
