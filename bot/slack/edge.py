"""The edge in front of Bolt in HTTP mode: what reaches the app is small, signed by Slack and
well-formed. Everything else is answered here — 413 for a body over the cap (read no further),
401 for a missing, stale or wrong signature, 400 for a signed body that is not a Slack command or
interaction — and never reaches Bolt, never a 500, never logged with its body.
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Callable, Iterable
from urllib.parse import parse_qs
from wsgiref.types import StartResponse, WSGIEnvironment

from slack_sdk.signature import SignatureVerifier

from bot.foreground import Foreground
from bot.slack import received_at
from bot.wsgi import read_body, reply

log = logging.getLogger(__name__)

#: Slack's commands and interactions are a few KiB (a view submission with a 3,000-character
#: message is under 20 KiB); 128 KiB leaves room and bounds what an unsigned sender can make us
#: hold.
SLACK_BODY_CAP = 128 * 1024
#: Slack's own rule: a request older than five minutes is a replay.
MAX_AGE_SECONDS = 300

WsgiApp = Callable[[WSGIEnvironment, StartResponse], Iterable[bytes]]


def malformed(body: bytes, content_type: str) -> str | None:
    """Why a (signed) body is not a Slack command or interaction; None when it is one."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "the body is not UTF-8"
    if "json" in content_type:
        try:
            data = json.loads(text)
        except ValueError:
            return "the body is not JSON"
        return None if isinstance(data, dict) else "the body is not a JSON object"
    form = parse_qs(text, keep_blank_values=True)
    if "payload" in form:
        try:
            payload = json.loads(form["payload"][0])
        except ValueError:
            return "payload is not JSON"
        if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
            return "payload is not an interaction"
        return _interaction_shape(payload)
    if "command" in form or "ssl_check" in form:
        return None
    return "neither a command nor an interaction"


def _interaction_shape(payload: dict[str, object]) -> str | None:
    """The parts Bolt relies on, present as Slack always sends them."""
    kind = payload["type"]
    if not isinstance(payload.get("user"), dict):
        return "interaction without a user"
    if kind == "block_actions":
        actions = payload.get("actions")
        if not isinstance(actions, list) or not actions or not isinstance(actions[0], dict):
            return "block_actions without actions"
    if kind in ("view_submission", "view_closed") and not isinstance(payload.get("view"), dict):
        return f"{kind} without a view"
    return None


class SlackEdge:
    def __init__(
        self, app: WsgiApp, signing_secret: str, foreground: Foreground | None = None
    ) -> None:
        self.app = app
        self.verifier = SignatureVerifier(signing_secret)
        self.foreground = foreground or Foreground()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST":
            return reply(start_response, "405 Method Not Allowed", "POST only")
        body = read_body(environ, SLACK_BODY_CAP)
        if body is None:
            return reply(start_response, "413 Payload Too Large", "too large")
        if body.startswith(b"ssl_check=1"):
            # Slack checking our certificate: answered, nothing else happens (as in Bolt).
            return reply(start_response, "200 OK", "")
        try:
            body.decode("utf-8")  # Slack sends UTF-8; the signature check needs text
        except UnicodeDecodeError:
            return reply(start_response, "400 Bad Request", "the body is not UTF-8")
        timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", "")
        signature = environ.get("HTTP_X_SLACK_SIGNATURE", "")
        if not self._signed(body, timestamp, signature):
            # One line, never the body: an unsigned sender must not write our logs.
            log.warning("refused a request without a valid Slack signature (%d bytes)", len(body))
            return reply(start_response, "401 Unauthorized", "invalid request")
        problem = malformed(body, environ.get("CONTENT_TYPE", ""))
        if problem is not None:
            log.warning("refused a signed but malformed request: %s", problem)
            return reply(start_response, "400 Bad Request", problem)
        # Always ours (a client's own header of that name is replaced): when waitress had the
        # whole request, for the listeners' ack budget (bot.slack.received_at).
        arrived = environ.get(received_at.ENVIRON_KEY)
        environ[received_at.ENVIRON_HEADER] = repr(arrived) if arrived is not None else ""
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        # Signed requests only: nobody but Slack can hold back the bot's background work.
        with self.foreground.serving():
            return self.app(environ, start_response)

    def _signed(self, body: bytes, timestamp: str, signature: str) -> bool:
        if not (timestamp.isascii() and timestamp.isdigit()) or not signature.isascii():
            return False
        if abs(time.time() - int(timestamp)) > MAX_AGE_SECONDS:
            return False
        return bool(self.verifier.is_valid(body, timestamp, signature))
