"""Acknowledgement latency of HTTP mode: signed `/sms` commands against `smsbot serve`.

    uv run python bench/slack_ack.py [--n 200] [--concurrency 50]

Starts a Slack Web API stand-in and `smsbot serve` (HTTP mode, a temp SQLite file, the sandbox
portal) as separate processes, then sends N correctly signed `/sms` commands — each opens the send
modal: ack, then views.open after the ack — `concurrency` at a time over keep-alive connections,
and prints p50/p99/max of the time from sending a request to reading its whole response (the
ack). The load generator is plain asyncio streams with every request signed beforehand, so the
client spends as little of the machine's two cores as possible. Goal: p99 < 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.support.serve import start_serve  # noqa: E402
from tests.support.signing import command_body, signed_headers  # noqa: E402

SECRET = "bench-signing-secret"
STAND_IN = """
import sys, time
sys.path.insert(0, {root!r})
from tests.support.slack_api import SlackStandIn
s = SlackStandIn().start()
print(s.url, flush=True)
sys.stdin.read()  # until the bench closes our stdin
print(len(s.calls("views.open")), flush=True)
"""


#: The anchor: a Bolt app that only acks `/sms`, signatures checked by Bolt, served by the same
#: waitress settings as `smsbot serve` (bot.slack.server.HttpServer).
BARE = """
import sys, threading
sys.path.insert(0, {root!r})
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from bot.slack.server import HttpServer
# Bolt asks auth.test once (the stand-in answers), as `smsbot serve` does at start.
client = WebClient(token="xoxb-bench", base_url={slack_url!r})
app = App(client=client, signing_secret={secret!r})
@app.command("/sms")
def sms(ack):
    ack()
server = HttpServer(SlackRequestHandler(app), "127.0.0.1", 0).start()
print(server.port, flush=True)
threading.Event().wait()
"""


def start_bare(slack_url: str) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, "-c", BARE.format(root=str(ROOT), secret=SECRET, slack_url=slack_url)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline().strip())


def start_stand_in() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", STAND_IN.format(root=str(ROOT))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def start_server(tmp: str, slack_url: str) -> tuple[subprocess.Popen[str], int]:
    return start_serve(
        {
            "DATABASE_URL": f"sqlite:///{Path(tmp) / 'bench.db'}",
            "SLACK_BOT_TOKEN": "xoxb-bench",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": slack_url,
        }
    )


def raw_request(port: int, i: int) -> bytes:
    body = command_body("", user=f"U{i:05d}", channel="C0NOC", trigger=f"t{i}")
    headers = signed_headers(SECRET, body)
    head = [
        "POST /slack/events HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        f"Content-Length: {len(body)}",
        *[f"{k}: {v}" for k, v in headers.items()],
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
    await reader.readexactly(length)
    return status


async def load(port: int, requests: list[bytes], concurrency: int) -> list[float]:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for request in requests:
        queue.put_nowait(request)
    samples: list[float] = []

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while not queue.empty():
            request = queue.get_nowait()
            start = time.perf_counter()
            writer.write(request)
            status = await read_response(reader)
            samples.append((time.perf_counter() - start) * 1000)
            assert status == 200, status
        writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--bare", action="store_true", help="the bare Bolt app (the anchor)")
    args = parser.parse_args()

    stand_in, slack_url = start_stand_in()
    with tempfile.TemporaryDirectory() as tmp:
        server, port = start_bare(slack_url) if args.bare else start_server(tmp, slack_url)
        try:
            for i in range(20):  # warm-up: imports, first connections, the JIT-less caches
                body = command_body("", user="UWARM", channel="C0NOC", trigger=f"w{i}")
                httpx.post(
                    f"http://127.0.0.1:{port}/slack/events",
                    content=body,
                    headers=signed_headers(SECRET, body),
                )
            requests = [raw_request(port, i) for i in range(args.n)]
            started = time.perf_counter()
            samples = sorted(asyncio.run(load(port, requests, args.concurrency)))
            wall = time.perf_counter() - started
            time.sleep(2)  # let the after-ack views.open calls finish before they are counted
        finally:
            server.terminate()
            server.wait(timeout=10)
            assert stand_in.stdin is not None and stand_in.stdout is not None
            stand_in.stdin.close()
            opened = int(stand_in.stdout.readline() or 0)
            stand_in.wait(timeout=10)
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    print(
        f"{args.n} signed /sms commands, {args.concurrency} at a time: {wall:.2f} s wall, "
        f"{args.n / wall:.0f} commands/s"
    )
    print(
        f"ack latency: p50 {statistics.median(samples):.1f} ms  p99 {p99:.1f} ms  "
        f"max {samples[-1]:.1f} ms  (goal p99 < 50 ms)"
    )
    print(f"views.open calls after the acks: {opened} of {args.n + 20}")


if __name__ == "__main__":
    main()
