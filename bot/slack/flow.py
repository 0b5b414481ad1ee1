"""What happens in Slack after a request is recorded: its thread, the approval request, the
decision, the outcome. Called after the ack (SlackDeps.later) by the listeners."""

from __future__ import annotations

import json
import logging
import threading

from bot.approvals import Decision
from bot.service import Execution, retryable
from bot.slack import blocks
from bot.slack.approval_blocks import (
    approval_asked,
    approval_closed,
    approval_request,
    with_retry,
)
from bot.slack.deps import SlackDeps
from bot.slack.mrkdwn import channel_link, clip, escape, mention
from bot.slack.notify import Audience, SlackFailure, Thread, why
from bot.sms.message import SimInfo
from bot.store.grants import aware
from bot.store.inventory import get_sim
from bot.store.models import SmsRequest
from bot.store.requests import attach_approval_message, attach_thread

log = logging.getLogger(__name__)


def thread_of(req: SmsRequest) -> Thread | None:
    if req.slack_channel and req.slack_ts:
        return Thread(req.slack_channel, req.slack_ts)
    return None


def _parent(req: SmsRequest, sim: SimInfo | None) -> tuple[str, list[blocks.Block]]:
    return blocks.request_message(
        request_id=req.id,
        requester=req.requester,
        iccid=req.iccid,
        sim=sim,
        text=req.message_text,
        coding=req.data_coding,
        state=req.state,
        sandbox=req.sandbox,
    )


def audience_of(req: SmsRequest, response_url: str | None = None) -> Audience:
    """The requester, reachable in the channel where they asked (and the command's
    response_url while the request is being followed through)."""
    return Audience(req.requester, req.channel_id, response_url)


def follow_through(
    deps: SlackDeps, req: SmsRequest, sim: SimInfo | None, audience: Audience
) -> None:
    """Post the request message, then send it — or ask for approval — and report in its thread
    (or, where no thread could be posted, to the requester by any route)."""
    text, message_blocks = _parent(req, sim)
    thread = deps.notifier.start_thread(audience, text, message_blocks)
    if thread is not None:
        with deps.db.session() as session:
            attach_thread(session, req.id, thread.channel, thread.ts)
        req.slack_channel, req.slack_ts = thread.channel, thread.ts
    if req.state == "awaiting_approval":
        ask_for_approval(deps, req, sim, thread, audience)
        return
    execution = deps.service.execute(req.id, req.requester)
    report_outcome(deps, execution, thread, sim, audience)


def _warnings(req: SmsRequest) -> list[str]:
    try:
        return [str(w.get("message")) for w in json.loads(req.warnings or "[]")]
    except (ValueError, AttributeError):
        return []


def ask_for_approval(
    deps: SlackDeps,
    req: SmsRequest,
    sim: SimInfo | None,
    thread: Thread | None,
    audience: Audience,
) -> None:
    """Post Approve / Reject in the approval channel; tell the requester where it was asked."""
    channel = req.approval_channel
    assert channel is not None  # the pipeline refuses approval requests without a channel
    text, approval_blocks = approval_request(req, sim, _warnings(req))
    expires = f"{req.expires_at:%H:%M} UTC" if req.expires_at else "-"
    try:
        posted = deps.notifier.client.chat_postMessage(
            channel=channel, text=text, blocks=approval_blocks
        )
    except SlackFailure as exc:
        note = (
            f":warning: Approval is needed, but I could not post in {channel_link(channel)} "
            f"({why(exc)}): "
            f"invite me there or ask an admin (`smsbot approvals approve {req.id}`). "
            f"The request expires at {expires}."
        )
    else:
        with deps.db.session() as session:
            attach_approval_message(session, req.id, str(posted["channel"]), str(posted["ts"]))
        needed = f"{req.approvals_needed} approver" + ("s" if req.approvals_needed > 1 else "")
        note = (
            f":raised_hand: Approval asked in {channel_link(channel)} ({needed}); "
            f"it expires at {expires}. Nothing is sent until then."
        )
    deps.notifier.reply(thread, note, audience, approval_asked(note, req.id))


def report_outcome(
    deps: SlackDeps,
    execution: Execution,
    thread: Thread | None,
    sim: SimInfo | None,
    audience: Audience,
) -> None:
    """The outcome in the thread (or a DM when there is no thread) and the parent's new state."""
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
        approver=req.decided_by if req.decided_by and req.decided_by[:1] in "UW" else None,
        iccid=req.iccid,
    )
    deps.notifier.reply(thread, reply, audience, _retry_offer(reply, req))
    if thread is not None:
        update_parent(deps, req, sim, thread)


def _retry_offer(text: str, req: SmsRequest) -> list[blocks.Block] | None:
    """Retry where nothing reached the portal (never for `unknown`: it may have gone out)."""
    return with_retry(text, req.id) if retryable(req) else None


def update_parent(deps: SlackDeps, req: SmsRequest, sim: SimInfo | None, thread: Thread) -> None:
    text, message_blocks = _parent(req, sim)
    deps.notifier.update(thread, text, message_blocks)


_DECIDED = {
    "approved": ":white_check_mark: Approved by {who} at {at} UTC",
    "declined": ":x: Rejected by {who} at {at} UTC{reason}",
    "expired": ":hourglass: Expired at {at} UTC: not sent, it can no longer be approved",
    "requester_refused": ":no_entry: Closed at {at} UTC: {reason}",
    "cancelled": ":heavy_multiplication_x: Cancelled by {who} at {at} UTC: nothing was sent",
}


def announce_decision(deps: SlackDeps, decision: Decision) -> None:
    """After a decision that closes the request: replace the buttons, tell the requester, and
    report the outcome if it was sent."""
    req = decision.request
    if req is None or decision.status not in _DECIDED:
        return
    with deps.db.read() as session:
        sim = get_sim(session, req.iccid)
    at = aware(req.decided_at) or aware(req.completed_at)
    reason = req.decision_reason or ""
    reason = escape(clip(reason, 1000))
    line = _DECIDED[decision.status].format(
        who=mention(req.decided_by) if req.decided_by else "?",
        at=f"{at:%Y-%m-%d %H:%M}" if at else "?",
        reason=f": {reason}" if reason and decision.status == "declined" else reason,
    )
    if req.approval_channel and req.approval_ts:
        _, original = approval_request(req, sim, _warnings(req))
        deps.notifier.update(
            Thread(req.approval_channel, req.approval_ts),
            line,
            approval_closed(original, line),
        )
    thread = thread_of(req)
    audience = audience_of(req)
    if thread is not None:
        retry = _retry_offer(line, req) if decision.execution is None else None
        deps.notifier.reply(thread, line, audience, retry)
    elif decision.execution is None:
        # Without a thread the outcome (which names the approver) is the one message to send.
        deps.notifier.tell(audience, f"Request #{req.id}: {line}")
    if thread is not None and decision.execution is None:
        update_parent(deps, req, sim, thread)
    if decision.execution is not None:
        report_outcome(deps, decision.execution, thread, sim, audience)


def sweep_expired(deps: SlackDeps) -> int:
    """Expire overdue approval requests and say so on their messages; returns how many."""
    expired = deps.runtime.approvals.expire_due()
    for req in expired:
        announce_decision(deps, Decision("expired", "expired", req))
    return len(expired)


def settle_stale(deps: SlackDeps) -> int:
    """Sends interrupted by a stopped process become `unknown`; their threads are told."""
    settled = deps.service.settle_stale_sends()
    for req in settled:
        thread = thread_of(req)
        text = f":warning: Request #{req.id}: {escape(req.outcome_reason or 'outcome unknown')}"
        deps.notifier.reply(thread, text, audience_of(req))
    return len(settled)


def start_sweeper(deps: SlackDeps, interval: float = 30.0) -> threading.Event:
    """Every `interval` seconds (and once at start) until the returned event is set: expire
    overdue approvals, so their messages say so even when nobody clicks, and settle sends that a
    stopped process left without an outcome."""
    stop = threading.Event()

    def loop() -> None:
        while True:
            try:
                sweep_expired(deps)
                settle_stale(deps)
            except Exception:
                log.exception("sweep failed")
            if stop.wait(interval):
                return

    threading.Thread(target=loop, name="smsbot-expiry", daemon=True).start()
    return stop
