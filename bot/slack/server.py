"""Serving the bot: Socket Mode when SLACK_APP_TOKEN is set, else HTTP mode under waitress.

HTTP mode routes: POST /slack/events (commands and interactivity, signature-checked by Bolt),
GET /healthz, GET /metrics (Prometheus), POST /portal/receipts (SMS Post Services).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any, Literal
from wsgiref.types import StartResponse, WSGIEnvironment

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from sqlalchemy import text
from waitress.server import create_server

from bot.config import Settings
from bot.runtime import Runtime, build_runtime
from bot.slack.app import SlackConfigError, build_app
from bot.slack.deps import SlackDeps
from bot.slack.flow import start_sweeper
from bot.slack.receipts import ReceiptsEndpoint
from bot.wsgi import reply

log = logging.getLogger(__name__)

WsgiApp = Callable[[WSGIEnvironment, StartResponse], Iterable[bytes]]


def _json_reply(start_response: StartResponse, status: str, payload: dict[str, Any]) -> list[bytes]:
    return reply(start_response, status, json.dumps(payload), "application/json")


class Router:
    """The WSGI entry point of HTTP mode."""

    def __init__(self, app: App, deps: SlackDeps, receipts: WsgiApp | None = None) -> None:
        self.slack = SlackRequestHandler(app, path="/slack/events")
        self.deps = deps
        self.receipts = receipts

    def healthz(self, start_response: StartResponse) -> list[bytes]:
        try:
            with self.deps.db.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            return _json_reply(
                start_response,
                "503 Service Unavailable",
                {"ok": False, "database": type(exc).__name__},
            )
        return _json_reply(
            start_response,
            "200 OK",
            {
                "ok": True,
                "database": "ok",
                "portal": self.deps.runtime.settings.portal_mode,
            },
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
        return self.slack(environ, start_response)


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
            asyncore_loop_timeout=0.2,
            clear_untrusted_proxy_headers=True,
        )
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def port(self) -> int:
        return int(self._server.effective_port)  # type: ignore[union-attr]

    def serve_forever(self) -> None:
        self._server.run()

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
        self._server.close()
        if self._thread is not None:
            self._thread.join(timeout=5)


def build_http(runtime: Runtime, host: str, port: int) -> tuple[HttpServer, SlackDeps]:
    app, deps = build_app(runtime)
    router = Router(app, deps, ReceiptsEndpoint(deps))
    return HttpServer(router, host, port), deps


def mode(settings: Settings) -> Literal["socket", "http"]:
    """Socket Mode when an app-level token is configured, else HTTP mode."""
    return "socket" if settings.SLACK_APP_TOKEN is not None else "http"


def run(settings: Settings) -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    runtime = build_runtime(settings)
    try:
        server, deps = build_http(runtime, settings.HOST, settings.PORT)
        start_sweeper(deps)
        if mode(settings) == "http":
            # The "listening" line carries the real port (PORT=0 picks a free one).
            log.info(
                "HTTP mode listening on %s:%s; portal: %s",
                settings.HOST,
                server.port,
                settings.portal_mode,
            )
            server.serve_forever()
            return
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        assert settings.SLACK_APP_TOKEN is not None
        # In Socket Mode /healthz and /metrics still answer over HTTP (health checks, Prometheus).
        server.start()
        log.info(
            "Socket Mode; /healthz listening on %s:%s; portal: %s",
            settings.HOST,
            server.port,
            settings.portal_mode,
        )
        handler = SocketModeHandler(
            server.router.slack.app, settings.SLACK_APP_TOKEN.get_secret_value()
        )
        handler.start()  # type: ignore[no-untyped-call]
    except SlackConfigError as exc:
        raise SystemExit(f"smsbot: {exc}") from None
    finally:
        runtime.close()
