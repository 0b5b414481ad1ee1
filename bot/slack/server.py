"""Serving the bot: Socket Mode when SLACK_APP_TOKEN is set, else HTTP mode under waitress.

HTTP mode routes: POST /slack/events (commands and interactivity, signature-checked by Bolt),
GET /healthz, GET /metrics (Prometheus), POST /portal/receipts (SMS Post Services). Socket Mode
serves the same minus /slack/events, and /healthz reports the socket's state.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Literal
from wsgiref.types import StartResponse, WSGIEnvironment

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.socket_mode.websocket_client import SocketModeClient
from waitress.server import create_server

from bot.config import Settings, secret_value
from bot.receipts_endpoint import check_receipt_settings, receipts_endpoint
from bot.runtime import Runtime, build_runtime
from bot.signals import StopSignal
from bot.slack.app import SlackConfigError, build_app
from bot.slack.deps import SlackDeps
from bot.slack.edge import SlackEdge
from bot.slack.home import publish_home
from bot.slack.received_at import StampedChannel
from bot.slack.render import HomeRefresh, SlackRenderer
from bot.slack.socket_client import SocketHandler
from bot.wsgi import reply

log = logging.getLogger(__name__)

WsgiApp = Callable[[WSGIEnvironment, StartResponse], Iterable[bytes]]


def _json_reply(start_response: StartResponse, status: str, payload: dict[str, Any]) -> list[bytes]:
    return reply(start_response, status, json.dumps(payload), "application/json")


class SocketWatch:
    """Is the Socket Mode connection up? Down for longer than `grace` seconds (a reconnect takes
    a moment; Slack recycles connections every few hours) makes /healthz answer 503."""

    def __init__(self, client: SocketModeClient, grace: float) -> None:
        self.client = client
        self.grace = grace
        self._down_since: float | None = time.monotonic()  # until the first connect
        client.on_close_listeners.append(lambda *_: self.mark_down())
        client.on_error_listeners.append(lambda *_: self.mark_down())

    def mark_down(self) -> None:
        if self._down_since is None:
            self._down_since = time.monotonic()

    def state(self) -> tuple[bool, str]:
        """(healthy, what to report)."""
        if self.client.is_connected():
            self._down_since = None
            return True, "connected"
        self.mark_down()
        down = time.monotonic() - (self._down_since or time.monotonic())
        return down <= self.grace, f"disconnected for {down:.0f} s"


class Router:
    """The WSGI entry point: /healthz, /metrics, /portal/receipts and, in HTTP mode only,
    POST /slack/events. Any other path is 404 (Socket Mode has no Slack route at all)."""

    def __init__(
        self,
        deps: SlackDeps,
        *,
        slack: WsgiApp | None,
        receipts: WsgiApp | None = None,
        socket: SocketWatch | None = None,
    ) -> None:
        self.slack = slack
        self.deps = deps
        self.receipts = receipts
        self.socket = socket

    def healthz(self, start_response: StartResponse) -> list[bytes]:
        report: dict[str, Any] = {"portal": self.deps.runtime.settings.portal_mode}
        healthy = True
        try:
            self.deps.db.ping()
            report["database"] = "ok"
        except Exception as exc:
            healthy, report["database"] = False, type(exc).__name__
        if self.socket is not None:
            connected, report["socket"] = self.socket.state()
            healthy = healthy and connected
        report["ok"] = healthy
        return _json_reply(
            start_response, "200 OK" if healthy else "503 Service Unavailable", report
        )

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
        if path == "/healthz" and method == "GET":
            return self.healthz(start_response)
        if path == "/metrics" and method == "GET":
            body = generate_latest()
            start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
            return [body]
        if path == "/portal/receipts" and self.receipts is not None:
            return self.receipts(environ, start_response)
        if path == "/slack/events" and self.slack is not None:
            return self.slack(environ, start_response)
        return reply(start_response, "404 Not Found", "not found")


class HttpServer:
    """waitress serving the Router; `port=0` picks a free port (tests)."""

    def __init__(self, router: Router, host: str, port: int, threads: int = 4) -> None:
        self.router = router
        self._server = create_server(
            router,
            host=host,
            port=port,
            threads=threads,
            ident="smsbot",
            # Connections wait in the event loop, not in worker threads, until their request is
            # complete: many slow or stalled clients cost a socket each, never a thread. Up to
            # 1,000 at once; one silent for 30 s is closed (checked every 5 s).
            connection_limit=1000,
            channel_timeout=30,
            cleanup_interval=5,
            # waitress passes this to select() as an int: 0.2 became 0, a busy loop on an idle
            # server. One second costs nothing (the loop wakes on any socket event).
            asyncore_loop_timeout=1,
            # Backstops behind the per-route caps (Slack 128 KiB, receipts 64 KiB).
            max_request_body_size=1024 * 1024,
            max_request_header_size=64 * 1024,
            clear_untrusted_proxy_headers=True,
        )
        # Requests carry their arrival time (the form's ack budget counts queueing too).
        self._server.channel_class = StampedChannel  # type: ignore[union-attr]
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def port(self) -> int:
        return int(self._server.effective_port)  # type: ignore[union-attr]

    def _run_until_stopped(self) -> None:
        try:
            self._server.run()
        except (OSError, ValueError):
            # Closing the sockets from another thread can wake the loop on a closed descriptor.
            if not self._stopping.is_set():
                raise

    def start(self) -> HttpServer:
        self._thread = threading.Thread(
            target=self._run_until_stopped, daemon=True, name="waitress"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        server: Any = self._server
        # Idle keep-alive connections too: the loop ends when no channel is left.
        for channel in list(server._map.values()):
            if channel is not server and hasattr(channel, "requests"):
                channel.close()
        server.close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def drain(self, deadline: float) -> None:
        """Stop accepting connections, let the requests already received be answered and their
        answers sent (until `deadline`, a monotonic time), then close."""
        server: Any = self._server
        server.accepting = False
        server.pull_trigger()
        while time.monotonic() < deadline:
            dispatcher = server.task_dispatcher
            channels = [c for c in list(server._map.values()) if hasattr(c, "requests")]
            busy = dispatcher.queue or dispatcher.active_count > 0
            if not busy and not any(c.requests or c.total_outbufs_len for c in channels):
                break
            time.sleep(0.02)  # a shutdown loop with a deadline, not synchronisation
        self.stop()


def build_http(runtime: Runtime, host: str, port: int) -> tuple[HttpServer, SlackDeps]:
    """HTTP mode: Slack's requests arrive at POST /slack/events, signature-checked."""
    app, deps = build_app(runtime, socket_mode=False)
    secret = secret_value(runtime.settings.SLACK_SIGNING_SECRET) or ""
    slack = SlackEdge(SlackRequestHandler(app, path="/slack/events"), secret, runtime.foreground)
    router = Router(deps, slack=slack, receipts=receipts_endpoint(runtime))
    return HttpServer(router, host, port), deps


def start_background(runtime: Runtime, deps: SlackDeps) -> None:
    """The core's jobs in this process, with the Slack renderer as the audit stream's consumer
    (claimed in the database: one replica renders at a time). With SMSBOT_SERVE_JOBS=off none
    run here: `smsbot worker` processes run them."""
    if runtime.settings.SMSBOT_SERVE_JOBS == "off":
        return
    # Home tabs are republished off the renderer's thread: up to 50 views.publish calls for one
    # approval event must not hold up the next thread reply.
    home = HomeRefresh(deps.home_viewers, lambda user: deps.later(publish_home, deps, user))
    renderer = SlackRenderer(
        runtime.db,
        deps.notifier,
        deps.response_urls,
        home,
        audit_channel=runtime.settings.SMSBOT_AUDIT_CHANNEL,
        foreground=runtime.foreground,
    )
    runtime.jobs.registry.add(renderer.job())
    runtime.start_jobs()


def finish_work(deps: SlackDeps, deadline: float) -> bool:
    """Let the work handed over after acks (sends, decisions, thread replies) finish until the
    deadline; a send still running then is recorded as `unknown` (never resent), so a stop
    leaves nothing unaccounted for."""
    drained = deps.drain(deadline - time.monotonic())
    finished = deps.runtime.sender.drain(deadline - time.monotonic()) and drained
    if not finished:
        settled = deps.service.settle_in_flight("the bot was stopped during the send")
        if settled:
            log.warning("stopped during sends %s: recorded as unknown", settled)
    # What those sends recorded is shown before the exit (unless another replica holds the
    # renderer: it shows it then).
    render = deps.runtime.jobs.registry.get("slack_render")
    if render is not None:
        deps.runtime.jobs.run(render, force=True)
    return finished


def mode(settings: Settings) -> Literal["socket", "http"]:
    """Socket Mode when an app-level token is configured, else HTTP mode."""
    return "socket" if settings.SLACK_APP_TOKEN is not None else "http"


def run(settings: Settings) -> bool:
    """`smsbot serve` until SIGTERM/SIGINT; True when every piece of work finished in the grace
    period. Raises SlackConfigError (one line, exit 2) for a setting that cannot work."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    # waitress warns "Task queue depth is N" on every request that waits for a thread: under a
    # burst that is a line per request, written under the logging lock by the threads that
    # should be acking (5% of serve's CPU at 50 forms in flight). Forms answered busy because
    # they waited are logged and counted (smsbot_submissions_total{status="busy"}) instead.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    check_receipt_settings(settings)  # before anything is opened or asked
    stop = StopSignal()
    runtime = build_runtime(settings)
    try:
        if mode(settings) == "http":
            finished = run_http_mode(runtime, stop)
        else:
            finished = run_socket_mode(runtime, stop)
        log.info("stopped" if finished else "stopped; unfinished sends were recorded as unknown")
        return finished
    finally:
        runtime.close()


def run_http_mode(runtime: Runtime, stop: StopSignal) -> bool:
    settings = runtime.settings
    server, deps = build_http(runtime, settings.HOST, settings.PORT)
    start_background(runtime, deps)
    server.start()
    runtime.start_sandbox_receipts(f"http://127.0.0.1:{server.port}/portal/receipts")
    # The "listening" line carries the real port (PORT=0 picks a free one).
    log.info(
        "HTTP mode listening on %s:%s; portal: %s", settings.HOST, server.port, settings.portal_mode
    )
    stop.wait()
    deadline = time.monotonic() + settings.SMSBOT_SHUTDOWN_GRACE_SECONDS
    server.drain(deadline)  # no new requests; the ones received are answered
    runtime.jobs.stop(max(0.0, deadline - time.monotonic()))
    return finish_work(deps, deadline)


def run_socket_mode(runtime: Runtime, stop: StopSignal) -> bool:
    """Socket Mode: requests arrive over the app's WebSocket; HTTP serves only /healthz,
    /metrics and /portal/receipts. The client is slack_sdk's websocket-client adapter with its
    close races fixed (bot/slack/socket_client.py): thread based like the rest of the bot, and it
    reconnects on `disconnect` and on a dropped socket (Bolt's built-in client did not after a
    drop: docs/decisions.md)."""
    settings = runtime.settings
    app_token = secret_value(settings.SLACK_APP_TOKEN) or ""
    if not app_token.startswith("xapp-"):
        raise SlackConfigError(
            "SLACK_APP_TOKEN: must be an app-level token (xapp-…, Basic Information → "
            "App-Level Tokens, scope connections:write)"
        )
    app, deps = build_app(runtime, socket_mode=True)
    handler = SocketHandler(app, app_token, ping_interval=5, foreground=runtime.foreground)
    watch = SocketWatch(handler.client, settings.SMSBOT_SOCKET_GRACE_SECONDS)
    router = Router(deps, slack=None, receipts=receipts_endpoint(runtime), socket=watch)
    server = HttpServer(router, settings.HOST, settings.PORT).start()
    try:
        try:
            handler.connect()  # type: ignore[no-untyped-call]
        except SlackApiError as exc:
            error = exc.response.get("error", "error")
            raise SlackConfigError(
                f"SLACK_APP_TOKEN: Slack refused it ({error}); create an app-level token with "
                "connections:write under Basic Information → App-Level Tokens"
            ) from None
        except (SlackRequestError, OSError) as exc:
            raise SlackConfigError(
                f"SLACK_APP_TOKEN: could not open the Socket Mode connection ({type(exc).__name__})"
            ) from None
        start_background(runtime, deps)
        runtime.start_sandbox_receipts(f"http://127.0.0.1:{server.port}/portal/receipts")
        log.info(
            "Socket Mode connected; /healthz listening on %s:%s; portal: %s",
            settings.HOST,
            server.port,
            settings.portal_mode,
        )
        stop.wait()
        deadline = time.monotonic() + settings.SMSBOT_SHUTDOWN_GRACE_SECONDS
        # Close the socket first: no new envelopes (Slack delivers unacknowledged ones to the
        # app's other connections), then finish what was already taken.
        handler.close()  # type: ignore[no-untyped-call]
        runtime.jobs.stop(max(0.0, deadline - time.monotonic()))
        return finish_work(deps, deadline)
    finally:
        handler.close()  # type: ignore[no-untyped-call]
        server.stop()
