"""A Slack Web API stand-in: a real HTTP server on 127.0.0.1 that records every call and answers
like Slack (`ok`, `ts`, `channel`, errors such as `not_in_channel`). It also serves response_url
posts at /response/<name>.

It is at least as strict as Slack: every view and message is checked with `tests.support.
slack_rules` (slack_sdk's models plus the documented limits) and refused with Slack's error shape
(`invalid_arguments` / `invalid_blocks` with `response_metadata.messages`, `msg_too_long`). Faults
are injected per method (`fail`), per channel (`not_in_channel`, `archived`, `missing_channels`)
and per trigger (`expired_triggers`); `ratelimited` answers HTTP 429 with `Retry-After`."""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlparse

from tests.support import slack_rules
from tests.support.socket_mode import SocketModeServer

#: Errors that mean "the payload was malformed": the bot must never cause them.
PAYLOAD_ERRORS = frozenset({"invalid_arguments", "invalid_blocks", "msg_too_long", "no_text"})


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    token: str | None
    answer: dict[str, Any] = field(default_factory=dict)
    #: The client's (address, port): one port for many calls means a reused connection.
    peer: tuple[str, int] | None = None

    @property
    def ok(self) -> bool:
        return bool(self.answer.get("ok"))


@dataclass
class SlackState:
    calls: list[Call] = field(default_factory=list)
    #: Channels the bot is not a member of: chat.postMessage there fails with not_in_channel.
    not_in_channel: set[str] = field(default_factory=set)
    #: usergroup id → member user ids.
    usergroups: dict[str, list[str]] = field(default_factory=dict)
    #: Users whose DM cannot be opened.
    no_dm: set[str] = field(default_factory=set)
    #: Archived channels (posting fails with is_archived) and ones that do not exist for the bot
    #: (private channels it is not in: channel_not_found).
    archived: set[str] = field(default_factory=set)
    missing_channels: set[str] = field(default_factory=set)
    #: trigger_ids Slack no longer accepts (older than 3 s): views.open → expired_trigger_id.
    expired_triggers: set[str] = field(default_factory=set)
    #: method → errors to answer with, one per call, before answering normally again.
    fail: dict[str, list[str]] = field(default_factory=dict)
    #: Tokens Slack does not accept (revoked, mistyped): invalid_auth.
    bad_tokens: set[str] = field(default_factory=set)
    #: Files started with files.getUploadURLExternal: id → {filename, length, data, shared}.
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Every refusal the stand-in gave (method, error, messages): tests assert on it.
    refusals: list[tuple[str, str, list[str]]] = field(default_factory=list)


def _decode(value: Any) -> Any:
    """Form-encoded `blocks`/`view` arrive as JSON strings."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


class SlackStandIn:
    def __init__(self, socket: SocketModeServer | None = None) -> None:
        self.state = SlackState()
        #: The Socket Mode server `apps.connections.open` points to (None: HTTP mode only).
        self.socket = socket
        self._cond = threading.Condition()
        self._ts = itertools.count(1)
        self._views = itertools.count(1)
        #: view id → its current hash (views.update with an older one gets hash_conflict).
        self._hashes: dict[str, str] = {}
        self._hash_seq = itertools.count(1)
        #: Open client connections (kept alive): a stopped Slack closes them too.
        self._connections: set[socket.socket] = set()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            # Like Slack: connections stay open between requests (HTTP/1.1 keep-alive).
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes: without this, a kept-alive client
            # waits for the delayed ACK (40 ms) on every call — a stand-in artifact Slack lacks.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                with stand_in._cond:
                    stand_in._connections.add(self.connection)

            def finish(self) -> None:
                with stand_in._cond:
                    stand_in._connections.discard(self.connection)
                super().finish()

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
                if path.startswith("upload/"):
                    # files.getUploadURLExternal's upload URL: the raw bytes of the file.
                    self._uploaded(path.removeprefix("upload/"), raw)
                    return
                method = path.split("/")[-1] if not path.startswith("response/") else path
                answer = stand_in.answer(method, args, token)
                status = 200
                if answer.get("error") == "ratelimited":
                    status = 429
                elif method.startswith("response/") and not answer.get("ok"):
                    status = 400
                with stand_in._cond:
                    peer = (str(self.client_address[0]), int(self.client_address[1]))
                    stand_in.state.calls.append(Call(method, args, token, answer, peer))
                    stand_in._cond.notify_all()
                body = json.dumps(answer).encode()
                self.send_response(status)
                if status == 429:
                    self.send_header("Retry-After", "1")
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _uploaded(self, file_id: str, raw: bytes) -> None:
                known = file_id in stand_in.state.files
                with stand_in._cond:
                    if known:
                        stand_in.state.files[file_id]["data"] = raw
                    stand_in.state.calls.append(
                        Call("upload", {"file_id": file_id, "bytes": len(raw)}, None,
                             {"ok": known})
                    )  # fmt: skip
                    stand_in._cond.notify_all()
                body = f"OK - {len(raw)}".encode() if known else b"Not Found"
                self.send_response(200 if known else 404)
                self.send_header("Content-Type", "text/plain")
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
        with self._cond:
            for conn in list(self._connections):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)

    # ---- answers -----------------------------------------------------------------------------
    def _new_ts(self) -> str:
        return f"1700000000.{next(self._ts):06d}"

    def answer(self, method: str, args: dict[str, Any], token: str | None = None) -> dict[str, Any]:
        s = self.state
        injected = s.fail.get(method)
        if injected:
            return {"ok": False, "error": injected.pop(0)}
        refused = self._refusal(method, args)
        if refused is not None:
            with self._cond:
                messages = refused.get("response_metadata", {}).get("messages", [])
                s.refusals.append((method, str(refused["error"]), messages))
            return refused
        if method == "apps.connections.open":
            # Socket Mode: only an app-level token (xapp-) that Slack knows opens a connection.
            if not (token or "").startswith("xapp-"):
                return {"ok": False, "error": "not_allowed_token_type"}
            if token in s.bad_tokens or self.socket is None:
                return {"ok": False, "error": "invalid_auth"}
            return {"ok": True, "url": self.socket.new_url()}
        if token in s.bad_tokens:
            return {"ok": False, "error": "invalid_auth"}
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
            given, current = args.get("hash"), self._hashes.get(view_id)
            if method == "views.update" and given and current and given != current:
                # Slack: the view changed since that hash (the user typed on): refused.
                return {"ok": False, "error": "hash_conflict"}
            new_hash = f"h{view_id}.{next(self._hash_seq)}"
            self._hashes[view_id] = new_hash
            return {"ok": True, "view": {**view, "id": view_id, "hash": new_hash}}
        if method == "views.publish":
            view = args.get("view") or {}
            return {"ok": True, "view": {**view, "id": f"V{next(self._views):05d}"}}
        if method == "chat.postMessage":
            channel = str(args.get("channel"))
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
        if method == "files.getUploadURLExternal":
            file_id = f"F{next(self._views):08d}"
            s.files[file_id] = {
                "filename": str(args["filename"]),
                "length": int(args["length"]),
                "data": None,
                "shared": None,
            }
            base = self.url.removesuffix("api/")
            return {"ok": True, "upload_url": f"{base}upload/{file_id}", "file_id": file_id}
        if method == "files.completeUploadExternal":
            shared = []
            for item in args["files"]:
                entry = s.files[str(item["id"])]
                entry["shared"] = {
                    "channel": args.get("channel_id"),
                    "thread_ts": args.get("thread_ts"),
                    "title": item.get("title"),
                    "initial_comment": args.get("initial_comment"),
                }
                shared.append({"id": item["id"], "title": item.get("title"),
                               "name": entry["filename"]})  # fmt: skip
            return {"ok": True, "files": shared}
        if method.startswith("response/"):
            return {"ok": True}
        return {"ok": False, "error": "unknown_method"}

    def _refusal(self, method: str, args: dict[str, Any]) -> dict[str, Any] | None:
        """What Slack refuses before doing anything: bad payloads and unusable channels."""
        s = self.state
        if method.startswith("files."):
            return self._file_refusal(method, args)
        if method == "views.publish":
            if not args.get("user_id"):
                return {"ok": False, "error": "invalid_arguments"}
            problems = slack_rules.check_home_view(args.get("view"))
            return _invalid_view(problems)
        if method in ("views.open", "views.update", "views.push"):
            if method != "views.update" and not args.get("trigger_id"):
                return {"ok": False, "error": "invalid_arguments"}
            if method == "views.update" and not (args.get("view_id") or args.get("external_id")):
                return {"ok": False, "error": "invalid_arguments"}
            if args.get("trigger_id") in s.expired_triggers:
                return {"ok": False, "error": "expired_trigger_id"}
            problems = slack_rules.check_view(args.get("view"))
            return _invalid_view(problems)
        if method in ("chat.postMessage", "chat.update", "chat.postEphemeral") or (
            method.startswith("response/")
        ):
            channel = str(args.get("channel"))
            if not method.startswith("response/"):
                if channel in s.missing_channels or not args.get("channel"):
                    return {"ok": False, "error": "channel_not_found"}
                if channel in s.archived:
                    return {"ok": False, "error": "is_archived"}
                if channel in s.not_in_channel:
                    return {"ok": False, "error": "not_in_channel"}
            checked = slack_rules.check_message(args)
            if checked is not None:
                error, messages = checked
                answer: dict[str, Any] = {"ok": False, "error": error}
                if messages:
                    answer["response_metadata"] = {"messages": messages}
                return answer
        return None

    def _file_refusal(self, method: str, args: dict[str, Any]) -> dict[str, Any] | None:
        """Slack's external upload: a name and a positive length first; then only files that
        were uploaded can be completed, shared to one channel the bot can post in."""
        s = self.state
        if method == "files.getUploadURLExternal":
            length = str(args.get("length") or "")
            if not args.get("filename") or not length.isdigit() or int(length) < 1:
                return {"ok": False, "error": "invalid_arguments"}
            return None
        files = args.get("files")
        if not isinstance(files, list) or not files:
            return {"ok": False, "error": "invalid_arguments"}
        for item in files:
            entry = s.files.get(str((item or {}).get("id")))
            if entry is None or entry["data"] is None or len(entry["data"]) != entry["length"]:
                return {"ok": False, "error": "file_not_found"}
        channel = args.get("channel_id")
        if args.get("thread_ts") and not channel:
            return {"ok": False, "error": "invalid_arguments"}
        if channel is not None:
            if channel in s.missing_channels:
                return {"ok": False, "error": "channel_not_found"}
            if channel in s.archived:
                return {"ok": False, "error": "is_archived"}
            if channel in s.not_in_channel:
                return {"ok": False, "error": "not_in_channel"}
        comment = args.get("initial_comment")
        if isinstance(comment, str) and len(comment) > slack_rules.MESSAGE_TEXT_MAX:
            return {"ok": False, "error": "msg_too_long"}
        return None

    def uploaded(self) -> list[dict[str, Any]]:
        """Files completed and shared, with their bytes and where they went."""
        return [f for f in self.state.files.values() if f["shared"] is not None]

    # ---- reading what was called -------------------------------------------------------------
    def calls(self, method: str | None = None, *, refused: bool | None = False) -> list[Call]:
        """Calls of `method` (all methods when None) that Slack took; `refused=True`: the ones it
        refused; None: both."""
        with self._cond:
            return [
                c
                for c in self.state.calls
                if (method is None or c.method == method) and (refused is None or refused != c.ok)
            ]

    def payload_refusals(self) -> list[tuple[str, str, list[str]]]:
        """Refusals for a malformed payload (never expected from the bot)."""
        with self._cond:
            return [r for r in self.state.refusals if r[1] in PAYLOAD_ERRORS]

    def wait_for(
        self,
        method: str,
        predicate: Callable[[Call], bool] = lambda c: True,
        timeout: float = 10.0,
        count: int = 1,
        refused: bool | None = False,
    ) -> list[Call]:
        """Wait until `count` calls of `method` match `predicate` (a condition with a deadline);
        only calls Slack took count, unless `refused` says otherwise (as in `calls`)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [
                    c
                    for c in self.state.calls
                    if c.method == method and (refused is None or refused != c.ok) and predicate(c)
                ]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [c.method for c in self.state.calls]
                    raise AssertionError(f"no {count}× {method} within {timeout}s; saw {seen}")
                self._cond.wait(remaining)


def _invalid_view(problems: list[str]) -> dict[str, Any] | None:
    """Slack's answer to a view it will not take (None: it takes it)."""
    if not problems:
        return None
    return {"ok": False, "error": "invalid_arguments", "response_metadata": {"messages": problems}}
