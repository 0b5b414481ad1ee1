"""The send modal's submission: the core pipeline decides; this only maps its answer to Slack.

Field errors can only travel in the acknowledgement (`response_action: errors`), so the core's
`submit` — validation, authorization, recording: a few milliseconds of database work — runs before
the ack. The portal call and every Slack message run after it.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext

from bot.service import Execution, SendCommand, Submission
from bot.slack import blocks
from bot.slack.deps import SlackDeps, deps_of
from bot.slack.notify import Thread
from bot.slack.parsing import draft_from_view
from bot.store.grants import aware
from bot.store.requests import attach_thread

log = logging.getLogger(__name__)


def register(app: App) -> None:
    app.view(blocks.CALLBACK_SEND)(handle_send_submission)


def _metadata(view: dict[str, Any]) -> dict[str, Any]:
    try:
        data = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def handle_send_submission(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext
) -> None:
    deps = deps_of(context)
    user = body["user"]["id"]
    channel = _metadata(view).get("channel")
    draft, confirmed = draft_from_view(view["state"]["values"])
    command = SendCommand(
        principal=deps.principal(user, channel),
        draft=draft,
        source="slack",
        # One modal is one request: a double submit or a retried delivery maps to the same key.
        idempotency_key=f"slack-view:{view['id']}",
        confirmed=confirmed,
    )
    submission = deps.service.submit(command)
    status = submission.status
    if status == "invalid":
        ack(response_action="errors", errors=blocks.errors_for_modal(submission.errors))
        return
    if status == "denied":
        ack(response_action="errors", errors={"iccid": f"Not sent: {submission.reason}"[:1900]})
        return
    if status == "needs_confirmation":
        shown = any(b.get("block_id") == "confirm" for b in view.get("blocks", []))
        if shown:
            ack(
                response_action="errors",
                errors={"confirm": "Tick the box to send anyway, or change the fields above."},
            )
        else:
            ack(
                response_action="update",
                view=blocks.send_modal(
                    channel_id=channel,
                    iccid=draft.iccid,
                    message_text=draft.message_text,
                    data_coding=draft.data_coding,
                    origin=draft.origin or "",
                    sms_uid=draft.sms_uid or "",
                    sim=submission.sim,
                    warnings=submission.warnings,
                    replace=draft.apply_replacements,
                ),
            )
        return
    ack()  # closes the modal; from here on the user follows the thread
    if status == "duplicate":
        return  # the first submission owns the thread and the send
    follow_through(deps, submission, user, channel)


def follow_through(deps: SlackDeps, submission: Submission, user: str, channel: str | None) -> None:
    """Post the request message, send (unless it awaits approval), reply with the outcome."""
    req = submission.request
    assert req is not None
    text, message_blocks = blocks.request_message(
        request_id=req.id,
        requester=user,
        iccid=req.iccid,
        sim=submission.sim,
        text=req.message_text,
        coding=req.data_coding,
        state=req.state,
        sandbox=req.sandbox,
    )
    thread = deps.notifier.start_thread(channel, user, text, message_blocks)
    if thread is not None:
        with deps.db.session() as session:
            attach_thread(session, req.id, thread.channel, thread.ts)
    if submission.status == "awaiting_approval":
        if thread is not None:
            deps.notifier.reply(
                thread, ":raised_hand: This request needs approval before it is sent."
            )
        return
    execution = deps.service.execute(req.id, user)
    report_outcome(deps, execution, thread, submission)


def report_outcome(
    deps: SlackDeps, execution: Execution, thread: Thread | None, submission: Submission
) -> None:
    req = execution.request
    created, completed = aware(req.created_at), aware(req.completed_at)
    total = (completed - created).total_seconds() * 1000 if created and completed else None
    reply = blocks.outcome_text(
        state=req.state,
        reason=req.outcome_reason,
        category=req.outcome_category,
        sms_uid=req.sms_uid,
        portal_ms=req.portal_ms,
        total_ms=total,
        audit_seq=execution.audit_seq,
        iccid=req.iccid,
    )
    if thread is None:
        deps.notifier.tell_user(req.requester, reply)
        return
    deps.notifier.reply(thread, reply)
    text, message_blocks = blocks.request_message(
        request_id=req.id,
        requester=req.requester,
        iccid=req.iccid,
        sim=submission.sim,
        text=req.message_text,
        coding=req.data_coding,
        state=req.state,
        sandbox=req.sandbox,
    )
    deps.notifier.update(thread, text, message_blocks)
