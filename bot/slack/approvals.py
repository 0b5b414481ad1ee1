"""Approve / Reject buttons and the reject-reason modal. The decision itself is the core's
(bot.approvals): who may decide, quorum, expiry, exactly one decision."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.approvals import Verdict
from bot.slack import blocks
from bot.slack.deps import SlackDeps, deps_of
from bot.slack.flow import announce_decision, thread_of
from bot.slack.parsing import view_metadata


def register(app: App) -> None:
    app.action(blocks.APPROVE_ACTION)(handle_approve)
    app.action(blocks.REJECT_ACTION)(handle_reject_click)
    app.view(blocks.CALLBACK_REJECT)(handle_reject_submission)


def _request_id(value: Any) -> int | None:
    text = str(value or "")
    return int(text) if text.isdigit() else None


def handle_approve(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
    ack()
    deps = deps_of(context)
    action = body["actions"][0]
    channel = (body.get("channel") or {}).get("id")
    deps.later(
        decide, deps, _request_id(action.get("value")), body["user"]["id"], channel, "approve", None
    )


def handle_reject_click(
    ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext
) -> None:
    ack()
    deps = deps_of(context)
    action = body["actions"][0]
    channel = (body.get("channel") or {}).get("id")
    request_id = _request_id(action.get("value"))
    if request_id is None:
        return
    deps.later(open_reject_modal, client, body["trigger_id"], request_id, channel, ui=True)


def open_reject_modal(
    client: WebClient, trigger_id: str, request_id: int, channel: str | None
) -> None:
    client.views_open(
        trigger_id=trigger_id, view=blocks.reject_modal(request_id, {"channel": channel})
    )


def handle_reject_submission(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext
) -> None:
    ack()
    deps = deps_of(context)
    meta = view_metadata(view)
    values = view["state"]["values"]
    reason = ((values.get("reason") or {}).get("reason") or {}).get("value") or None
    deps.later(
        decide,
        deps,
        _request_id(meta.get("request_id")),
        body["user"]["id"],
        meta.get("channel"),
        "reject",
        reason,
    )


def decide(
    deps: SlackDeps,
    request_id: int | None,
    user: str,
    channel: str | None,
    verdict: Verdict,
    reason: str | None,
) -> None:
    """Run the core decision and tell everyone concerned."""
    if request_id is None:
        return
    decision = deps.runtime.approvals.decide(
        request_id, deps.principal(user, channel), verdict, reason=reason
    )
    if decision.status in ("refused", "already_decided", "not_found"):
        deps.notifier.ephemeral(channel, user, f":no_entry: {decision.message}")
        return
    if decision.status == "pending":
        deps.notifier.ephemeral(channel, user, decision.message)
        req = decision.request
        thread = thread_of(req) if req is not None else None
        if thread is not None and "already" not in decision.message:
            deps.notifier.reply(
                thread, f":ballot_box_with_check: <@{user}> approved. {decision.message}"
            )
        return
    announce_decision(deps, decision)
