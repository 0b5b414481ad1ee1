"""The cost of one Slack Web API call from the bot: slack_sdk's own client (urllib, a new
connection per call) against the bot's `PooledWebClient` (the same client over kept-alive
connections), against the Slack stand-in on 127.0.0.1.

    uv run python bench/web_client.py [--calls 300] [--rounds 5] [--plain-http]

By default the stand-in speaks TLS (a self-signed certificate made with `openssl`), as Slack
does: a new connection per call then pays a TLS handshake each time.

Both clients run in the same process and round; the figures are medians over rounds of the
wall time and of this thread's CPU time per `chat.postMessage`. The anchor is slack_sdk's own
client: a reply, `views.open` or `chat.update` costs the bot what this call costs.
"""

from __future__ import annotations

import argparse
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from slack_sdk import WebClient

from bot.slack.app import web_client
from bot.slack.web_client import PooledWebClient
from tests.support.slack_api import SlackStandIn


def per_call(client: WebClient, calls: int) -> tuple[float, float]:
    wall0, cpu0 = time.perf_counter(), time.thread_time()
    for i in range(calls):
        client.chat_postMessage(channel="C0NOC", text=f"bench {i}")
    return (
        (time.perf_counter() - wall0) * 1000 / calls,
        (time.thread_time() - cpu0) * 1000 / calls,
    )


def _tls(slack: SlackStandIn) -> tuple[str, ssl.SSLContext]:
    """Serve the stand-in over TLS; the URL and a client context that trusts it."""
    tmp = Path(tempfile.mkdtemp())
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(tmp / "key.pem"), "-out", str(tmp / "cert.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(tmp / "cert.pem", tmp / "key.pem")
    server = slack._server
    server.socket = server_ctx.wrap_socket(server.socket, server_side=True)
    client_ctx = ssl.create_default_context(cafile=str(tmp / "cert.pem"))
    return f"https://127.0.0.1:{server.server_port}/api/", client_ctx


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--plain-http", action="store_true")
    args = parser.parse_args()
    slack = SlackStandIn()
    url, context = (slack.url, None) if args.plain_http else _tls(slack)
    slack.start()
    plain = WebClient(token="xoxb-bench", base_url=url, ssl=context)
    pooled = web_client(url, "xoxb-bench")
    if context is not None:
        pooled = PooledWebClient(token="xoxb-bench", base_url=url, ssl=context)
    results: dict[str, list[tuple[float, float]]] = {"plain": [], "pooled": []}
    for _ in range(args.rounds):
        results["plain"].append(per_call(plain, args.calls))
        results["pooled"].append(per_call(pooled, args.calls))
    slack.stop()
    med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
           for k, v in results.items()}  # fmt: skip
    print("| client | wall per call | CPU per call (this thread) |")
    print("|---|---|---|")
    for name, label in (("plain", "slack_sdk WebClient (anchor)"), ("pooled", "PooledWebClient")):
        wall, cpu = med[name]
        ratio = "" if name == "plain" else (
            f" ({wall / med['plain'][0]:.2f}× / {cpu / med['plain'][1]:.2f}×)"
        )  # fmt: skip
        print(f"| {label} | {wall:.2f} ms | {cpu:.2f} ms{ratio} |")


if __name__ == "__main__":
    main()
