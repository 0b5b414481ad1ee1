"""A running bot for end-to-end tests: HTTP mode on 127.0.0.1 (port 0), the Slack Web API stand-in,
the embedded sandbox portal, and a client that sends signed requests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from bot.config import load_settings
from bot.runtime import Runtime, build_runtime
from bot.slack.deps import SlackDeps
from bot.slack.server import HttpServer, build_http, start_background
from bot.store import audit
from bot.store.grants import create_grant
from tests.support.signing import SlackClient
from tests.support.slack_api import Call, SlackStandIn

SECRET = "test-signing-secret"
MANX = "89440000000000000010"
SENDER = "U0SENDER"


@dataclass
class Bot:
    runtime: Runtime
    server: HttpServer
    slack: SlackStandIn
    client: SlackClient
    base: str
    deps: SlackDeps

    @property
    def portal_sends(self) -> list[Any]:
        assert self.runtime.sandbox is not None
        return self.runtime.sandbox.portal.requests_for("send_sms")

    def grant(self, subject: str, scope: str = "*", role: str = "sender", **kw: Any) -> None:
        with self.runtime.db.session() as session:
            create_grant(session, subject=subject, scope=scope, role=role, actor="UADMIN", **kw)

    def events(self) -> list[str]:
        """The audit events so far (grants aside), once the work the bot handed over after its
        acks — such as recording a refused form — is done."""
        assert self.deps.settle(20), "the bot's work after the ack did not finish"
        with self.runtime.db.read() as session:
            return [r.event for r in audit.query(session) if not r.event.startswith("grant_")]

    def open_modal(
        self, text: str = "", user: str = SENDER, channel: str = "C0NOC", **kw: Any
    ) -> Call:
        before = len(self.slack.calls("views.open"))
        response = self.client.command(text, user=user, channel=channel, **kw)
        assert response.status_code == 200
        call = self.slack.wait_for("views.open", count=before + 1)[-1]
        assert call.ok, call.answer
        # Slack gives every opened modal its own id: submissions of this one carry it.
        call.args["view"].setdefault("id", call.answer["view"]["id"])
        return call

    def submit(
        self,
        view_call: Call,
        values: dict[str, Any],
        user: str = SENDER,
        view: dict[str, Any] | None = None,
        **kw: Any,
    ) -> httpx.Response:
        view = view or view_call.args["view"]
        values = _ticked_as_slack_sends(values, view)
        # an updated view (response_action: update) keeps the modal's id
        view_id = view.get("id") or view_call.args["view"]["id"]
        return self.client.interaction(submission(view, view_id, values, user), **kw)


def _ticked_as_slack_sends(state: dict[str, Any], view: dict[str, Any]) -> dict[str, Any]:
    """A ticked confirm box carries the value of the option shown in that view, as in Slack."""
    ticked = state.get("confirm", {}).get("confirm", {}).get("selected_options")
    box = next((b for b in view.get("blocks", []) if b.get("block_id") == "confirm"), None)
    if not ticked or box is None:
        return state
    option = box["element"]["options"][0]
    return {**state, "confirm": {"confirm": {"type": "checkboxes", "selected_options": [option]}}}


def submission(
    view: dict[str, Any], view_id: str, state: dict[str, Any], user: str = SENDER
) -> dict[str, Any]:
    """A view_submission payload as Slack sends it, for the modal `view` with these values."""
    return {
        "type": "view_submission",
        "team": {"id": "T0001", "domain": "x"},
        "user": {"id": user, "username": user.lower(), "team_id": "T0001"},
        "api_app_id": "A0001",
        "trigger_id": "T.submit",
        "view": {**view, "id": view_id, "hash": "h", "state": {"values": state}},
    }


def form_action(
    view: dict[str, Any], state: dict[str, Any], block: str, user: str = SENDER
) -> dict[str, Any]:
    """A block_actions payload as Slack sends it when `block`'s element in an open form (`view`,
    with its id and hash) changes: the whole form state, and that element's state as the
    action."""
    element = state[block][block]
    return {
        "type": "block_actions",
        "user": {"id": user},
        "team": {"id": "T0001"},
        "api_app_id": "A0001",
        "container": {"type": "view"},
        "view": {**view, "state": {"values": state}},
        "actions": [{"action_id": block, "block_id": block, **element}],
    }


def button_click(
    action_id: str,
    value: int,
    user: str,
    channel: str,
    *,
    block_id: str = "approval_buttons",
    message_ts: str = "1.1",
) -> dict[str, Any]:
    """A click on a message button, as Slack posts it."""
    return {
        "type": "block_actions",
        "user": {"id": user, "team_id": "T0001"},
        "team": {"id": "T0001"},
        "api_app_id": "A0001",
        "trigger_id": f"T.{user}",
        "container": {"type": "message", "channel_id": channel, "message_ts": message_ts},
        "channel": {"id": channel},
        "message": {"ts": message_ts, "text": "message"},
        # Slack always sends one; decisions answer with chat.postEphemeral instead.
        "response_url": "http://127.0.0.1:9/unused",
        "actions": [
            {"action_id": action_id, "block_id": block_id, "type": "button", "value": str(value)}
        ],
    }


def values(
    iccid: str = MANX,
    text: str = "reset modem",
    coding: str = "default",
    origin: str | None = None,
    uid: str | None = None,
    replace: bool = False,
    confirm: bool | None = None,
) -> dict[str, Any]:
    state: dict[str, Any] = {
        # The SIM picker is an external_select: Slack sends the option chosen from the bot's list.
        "iccid": {
            "iccid": {
                "type": "external_select",
                "selected_option": (
                    {"text": {"type": "plain_text", "text": iccid}, "value": iccid}
                    if iccid
                    else None
                ),
            }
        },
        "message_text": {"message_text": {"type": "plain_text_input", "value": text}},
        "data_coding": {
            "data_coding": {"type": "static_select", "selected_option": {"value": coding}}
        },
        "origin": {"origin": {"type": "plain_text_input", "value": origin}},
        "sms_uid": {"sms_uid": {"type": "plain_text_input", "value": uid}},
        "options": {
            "options": {
                "type": "checkboxes",
                "selected_options": [{"value": "replace"}] if replace else [],
            }
        },
    }
    if confirm is not None:
        state["confirm"] = {
            "confirm": {
                "type": "checkboxes",
                "selected_options": [{"value": "confirmed"}] if confirm else [],
            }
        }
    return state


@contextmanager
def running_bot(db_url: str, **overrides: Any) -> Iterator[Bot]:
    slack = SlackStandIn().start()
    settings = load_settings(
        **{
            "DATABASE_URL": db_url,
            "SLACK_BOT_TOKEN": "xoxb-test",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": slack.url,
            "SMSBOT_ADMINS": "UADMIN",
            "SMSBOT_PORTAL": "sandbox",
            "SMSBOT_RECEIPT_PASSPHRASE": "receipt-pass",
            "SMSBOT_APPROVAL_CHANNEL": "C0APPROVE",
            **overrides,
        }
    )
    runtime = build_runtime(settings)
    server, deps = build_http(runtime, "127.0.0.1", 0)
    start_background(runtime, deps)
    server.start()
    base = f"http://127.0.0.1:{server.port}"
    client = SlackClient(f"{base}/slack/events", SECRET)
    try:
        yield Bot(runtime, server, slack, client, base, deps)
        # The stand-in is as strict as Slack: a payload it refused would have failed for real.
        assert slack.payload_refusals() == [], slack.payload_refusals()
    finally:
        client.close()
        server.stop()
        runtime.jobs.stop()
        deps.shutdown()
        runtime.sender.drain(10)
        runtime.close()
        slack.stop()
