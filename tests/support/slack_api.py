"""A Slack Web API stand-in: a real HTTP server on 127.0.0.1 that records every call and answers
like Slack (`ok`, `ts`, `channel`, errors such as `not_in_channel`). It also serves response_url
posts at /response/<name>."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlparse


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    token: str | None


@dataclass
class SlackState:
    calls: list[Call] = field(default_factory=list)
    #: Channels the bot is not a member of: chat.postMessage there fails with not_in_channel.
    not_in_channel: set[str] = field(default_factory=set)
    #: usergroup id → member user ids.
    usergroups: dict[str, list[str]] = field(default_factory=dict)
    #: Users whose DM cannot be opened.
    no_dm: set[str] = field(default_factory=set)


def _decode(value: Any) -> Any:
    """Form-encoded `blocks`/`view` arrive as JSON strings."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


class SlackStandIn:
    def __init__(self) -> None:
        self.state = SlackState()
        self._cond = threading.Condition()
        self._ts = itertools.count(1)
        self._views = itertools.count(1)
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                parsed = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                args: dict[str, Any] = dict(parse_qsl(parsed.query))
                ctype = self.headers.get("Content-Type", "")
                if raw and "json" in ctype:
                    args.update(json.loads(raw))
                elif raw:
                    args.update(parse_qsl(raw.decode()))
                args = {k: _decode(v) for k, v in args.items()}
                auth = self.headers.get("Authorization", "")
                token = auth.removeprefix("Bearer ") if auth else args.get("token")
                path = parsed.path.strip("/")
                method = path.split("/")[-1] if not path.startswith("response/") else path
                answer = stand_in.answer(method, args)
                with stand_in._cond:
                    stand_in.state.calls.append(Call(method, args, token))
                    stand_in._cond.notify_all()
                body = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = _handle
            do_POST = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/api/"

    def response_url(self, name: str = "r1") -> str:
        return f"http://127.0.0.1:{self._server.server_port}/response/{name}"

    def start(self) -> SlackStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ---- answers -----------------------------------------------------------------------------
    def _new_ts(self) -> str:
        return f"1700000000.{next(self._ts):06d}"

    def answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        s = self.state
        if method == "auth.test":
            return {
                "ok": True,
                "user_id": "UBOT",
                "bot_id": "BBOT",
                "team_id": "T0001",
                "url": "https://example.slack.com/",
                "user": "smsbot",
            }
        if method in ("views.open", "views.update", "views.push"):
            view = args.get("view") or {}
            view_id = args.get("view_id") or f"V{next(self._views):05d}"
            return {"ok": True, "view": {**view, "id": view_id, "hash": f"h{view_id}"}}
        if method == "chat.postMessage":
            channel = str(args.get("channel"))
            if channel in s.not_in_channel:
                return {"ok": False, "error": "not_in_channel"}
            return {
                "ok": True,
                "channel": channel,
                "ts": self._new_ts(),
                "message": {"text": args.get("text")},
            }
        if method == "chat.update":
            return {"ok": True, "channel": args.get("channel"), "ts": args.get("ts")}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": self._new_ts()}
        if method == "conversations.open":
            user = str(args.get("users"))
            if user in s.no_dm:
                return {"ok": False, "error": "cannot_dm_bot"}
            return {"ok": True, "channel": {"id": f"D{user[1:]}"}}
        if method == "usergroups.users.list":
            group = str(args.get("usergroup"))
            if group not in s.usergroups:
                return {"ok": False, "error": "no_such_subteam"}
            return {"ok": True, "users": s.usergroups[group]}
        if method.startswith("response/"):
            return {"ok": True}
        return {"ok": False, "error": "unknown_method"}

    # ---- reading what was called -------------------------------------------------------------
    def calls(self, method: str | None = None) -> list[Call]:
        with self._cond:
            return [c for c in self.state.calls if method is None or c.method == method]

    def wait_for(
        self,
        method: str,
        predicate: Callable[[Call], bool] = lambda c: True,
        timeout: float = 10.0,
        count: int = 1,
    ) -> list[Call]:
        """Wait until `count` calls of `method` match `predicate` (a condition with a deadline)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [c for c in self.state.calls if c.method == method and predicate(c)]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [c.method for c in self.state.calls]
                    raise AssertionError(f"no {count}× {method} within {timeout}s; saw {seen}")
                self._cond.wait(remaining)
