"""Approve / Reject / Cancel / Retry buttons and the reject-reason modal. The decision itself is
the core's (bot.approvals): who may decide, quorum, expiry, exactly one decision. What follows a
decision — closed buttons, thread replies, the send — is the core's and the renderer's: these
listeners only answer the clicker when the core refused."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.approvals import Verdict
from bot.authz import Principal
from bot.slack.approval_blocks import APPROVE_ACTION, CANCEL_ACTION, REJECT_ACTION, RETRY_ACTION
from bot.slack.deps import SlackDeps, deps_of
from bot.slack.modals import CALLBACK_REJECT, reject_modal
from bot.slack.mrkdwn import escape
from bot.slack.notify import Audience, SlackFailure, why
from bot.slack.parsing import view_metadata


def register(app: App) -> None:
    app.action(APPROVE_ACTION)(handle_approve)
    app.action(REJECT_ACTION)(handle_reject_click)
    app.view(CALLBACK_REJECT)(handle_reject_submission)
    app.action(CANCEL_ACTION)(handle_cancel)
    app.action(RETRY_ACTION)(handle_retry)


def handle_retry(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
    ack()
    deps = deps_of(context)
    deps.later(retry, deps, button_id(body["actions"][0].get("value")), _clicker(body))


def retry(deps: SlackDeps, request_id: int | None, clicker: Audience) -> None:
    """The same message again as a new request, through the whole pipeline (the core decides
    whether it may be retried and by whom); the renderer posts its thread and links it from the
    original's."""
    if request_id is None:
        deps.notifier.ephemeral_first(clicker, ":no_entry: That button does not name a request.")
        return
    submission = deps.service.retry(
        request_id, deps.principal(clicker.user, clicker.channel), "slack"
    )
    if submission.status == "duplicate":
        deps.notifier.ephemeral_first(clicker, f"Request #{request_id} was retried already.")
    elif submission.status not in ("recorded", "awaiting_approval"):
        deps.notifier.ephemeral_first(clicker, f":no_entry: Not retried: {submission.reason}.")


def handle_cancel(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
    ack()
    deps = deps_of(context)
    request_id = button_id(body["actions"][0].get("value"))
    deps.later(cancel, deps, request_id, _clicker(body))


def cancel(deps: SlackDeps, request_id: int | None, clicker: Audience) -> None:
    """The requester withdraws a request awaiting approval (the core decides who may)."""
    if request_id is None:
        deps.notifier.ephemeral_first(clicker, ":no_entry: That button does not name a request.")
        return
    decision = deps.runtime.approvals.cancel(request_id, Principal(clicker.user))
    if decision.status != "cancelled":
        deps.notifier.ephemeral_first(clicker, f":no_entry: {decision.message}")


def _clicker(body: dict[str, Any]) -> Audience:
    """Whoever clicked, reachable in that channel or through the action's response_url."""
    channel = (body.get("channel") or {}).get("id")
    return Audience(body["user"]["id"], channel, body.get("response_url"))


def button_id(value: Any) -> int | None:
    """The request or batch id a button carries (None: not one of ours)."""
    text = str(value or "")
    # ASCII digits only: "²".isdigit() is True, and int("²") raises.
    return int(text) if text.isascii() and text.isdigit() and len(text) < 12 else None


def handle_approve(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
    ack()
    deps = deps_of(context)
    action = body["actions"][0]
    deps.later(decide, deps, button_id(action.get("value")), _clicker(body), "approve", None)


def handle_reject_click(
    ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext
) -> None:
    ack()
    deps = deps_of(context)
    action = body["actions"][0]
    request_id = button_id(action.get("value"))
    if request_id is None:
        return
    deps.later(
        open_reject_modal, deps, client, body["trigger_id"], request_id, _clicker(body), ui=True
    )


def open_reject_modal(
    deps: SlackDeps, client: WebClient, trigger_id: str, request_id: int, clicker: Audience
) -> None:
    try:
        client.views_open(
            trigger_id=trigger_id, view=reject_modal(request_id, {"channel": clicker.channel})
        )
    except SlackFailure as exc:
        deps.notifier.ephemeral_first(
            clicker,
            f":warning: Slack did not open the reject form ({escape(why(exc))}). Click Reject "
            f"again; nothing was decided on request #{request_id}.",
        )


def handle_reject_submission(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext
) -> None:
    ack()
    deps = deps_of(context)
    meta = view_metadata(view)
    values = view["state"]["values"]
    reason = ((values.get("reason") or {}).get("reason") or {}).get("value") or None
    clicker = Audience(body["user"]["id"], meta.get("channel"))
    deps.later(decide, deps, button_id(meta.get("request_id")), clicker, "reject", reason)


def decide(
    deps: SlackDeps,
    request_id: int | None,
    clicker: Audience,
    verdict: Verdict,
    reason: str | None,
) -> None:
    """Run the core decision; answer the clicker when it refused or needs more approvers (the
    core's messages are our own templates around validated ids: no text from users). Everyone
    else hears of it from the renderer."""
    if request_id is None:
        deps.notifier.ephemeral_first(clicker, ":no_entry: That button does not name a request.")
        return
    decision = deps.runtime.approvals.decide(
        request_id, deps.principal(clicker.user, clicker.channel), verdict, reason=reason
    )
    if decision.status in ("refused", "already_decided", "not_found"):
        deps.notifier.ephemeral_first(clicker, f":no_entry: {decision.message}")
        return
    if decision.status == "pending":
        deps.notifier.ephemeral_first(clicker, decision.message)
