"""View-submission (send form) ack latency with N submissions in flight, through a running bot
(HTTP mode, signed requests, the Slack stand-in, the embedded sandbox).

    uv run python bench/view_ack.py [DATABASE_URL] [IN_FLIGHT] [TOTAL]

Prints p50 / p99 / max of the time until Slack gets the ack, and how many answered "busy".
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.store.db import Database
from bot.store.migrate import upgrade
from tests.support.bot import running_bot, values


def main() -> None:
    url = (sys.argv[1] if len(sys.argv) > 1 else "") or f"sqlite:///{tempfile.mkdtemp()}/v.db"
    inflight = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    total = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    db = Database(url)
    upgrade(db.engine)
    db.dispose()
    with running_bot(url, SMSBOT_RATE_USER="off", SMSBOT_RATE_SIM="off") as bot:
        bot.grant("U0SENDER")
        modals = [bot.open_modal() for _ in range(total)]
        lat: list[float] = []
        busy = [0]
        lock = threading.Lock()

        def one(modal: Any) -> None:
            start = time.perf_counter()
            answer = bot.submit(modal, values(text="load"))
            took = (time.perf_counter() - start) * 1000
            with lock:
                lat.append(took)
                busy[0] += bool(answer.text and "busy" in answer.text)

        with ThreadPoolExecutor(inflight) as pool:
            list(pool.map(one, modals))
        lat.sort()
        print(
            f"{url.split(':')[0]} in_flight={inflight} n={total} "
            f"p50={statistics.median(lat):.0f}ms p99={lat[int(len(lat) * 0.99) - 1]:.0f}ms "
            f"max={lat[-1]:.0f}ms busy={busy[0]}"
        )
        bot.runtime.sender.drain(60)


if __name__ == "__main__":
    main()
