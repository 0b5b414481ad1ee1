"""Signed Slack requests, as Slack sends them (v0 HMAC-SHA256 over `v0:ts:body`)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import httpx

from tests.support import slack_rules


def signature(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signed_headers(secret: str, body: bytes, timestamp: float | None = None) -> dict[str, str]:
    ts = str(int(timestamp if timestamp is not None else time.time()))
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature(secret, ts, body),
    }


def command_fields(
    text: str,
    *,
    user: str,
    channel: str,
    trigger: str = "T.trigger",
    response_url: str = "http://127.0.0.1:9/response",
    team: str = "T0001",
    app: str = "A0001",
    **extra: str,
) -> dict[str, str]:
    """A slash command's fields as Slack sends them (form-encoded over HTTP, a JSON object in a
    Socket Mode envelope)."""
    return {
        "command": "/sms",
        "text": text,
        "user_id": user,
        "user_name": user.lower(),
        "channel_id": channel,
        "channel_name": "noc",
        "team_id": team,
        "team_domain": "x",
        "trigger_id": trigger,
        "response_url": response_url,
        "api_app_id": app,
        "token": "legacy-verification-token",
        **extra,
    }


def command_body(text: str, **kw: Any) -> bytes:
    return urlencode(command_fields(text, **kw)).encode()


def interaction_body(payload: dict[str, Any]) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def _json_ack(response: httpx.Response) -> dict[str, Any] | None:
    if response.status_code != 200 or not response.content:
        return None
    try:
        body = response.json()
    except ValueError:
        return {"text": response.text}  # Bolt acks a command's plain text as is
    return body if isinstance(body, dict) else None


class SlackClient:
    """Posts signed requests to the app's /slack/events over real HTTP."""

    def __init__(self, url: str, secret: str) -> None:
        self.url = url
        self.secret = secret
        self.http = httpx.Client(timeout=10)

    def post(
        self,
        body: bytes,
        *,
        timestamp: float | None = None,
        extra_headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        headers = signed_headers(self.secret, body, timestamp)
        headers.update(extra_headers or {})
        return self.http.post(self.url, content=body, headers=headers)

    def command(self, text: str, *, user: str, channel: str = "C0NOC", **kw: Any) -> httpx.Response:
        response = self.post(command_body(text, user=user, channel=channel, **kw))
        body = _json_ack(response)
        if body is not None:
            # Slack shows a command's ack as a message: it must pass the message rules.
            refused = slack_rules.check_message(body)
            assert refused is None, f"Slack would refuse this ack: {refused}"
        return response

    def interaction(self, payload: dict[str, Any], **kw: Any) -> httpx.Response:
        response = self.post(interaction_body(payload), **kw)
        body = _json_ack(response)
        if body is not None and payload.get("type") == "view_submission":
            problems = slack_rules.check_view_ack(body, payload.get("view"))
            assert not problems, f"Slack would refuse this ack: {problems}"
        return response

    def event(self, event: dict[str, Any], **kw: Any) -> httpx.Response:
        """An Events API delivery (`event_callback`) as Slack sends it: JSON, signed."""
        envelope = {
            "token": "legacy-token",
            "team_id": "T0001",
            "api_app_id": "A0001",
            "type": "event_callback",
            "event_id": f"Ev{uuid.uuid4().hex[:10].upper()}",
            "event_time": int(time.time()),
            "event": event,
        }
        body = json.dumps(envelope).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        return self.post(body, extra_headers=headers, **kw)

    def close(self) -> None:
        self.http.close()
