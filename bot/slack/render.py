"""The Slack renderer: the audit stream (bot.events) shown in Slack, each event once.

Whoever caused a change — a Slack click, the CLI, a job, a pushed receipt, another replica — the
core wrote an audit row; this consumer turns it into the request message and its thread, the
approval message and its buttons, and the parent's state. It runs as the `slack_render` job
(claimed: one replica at a time) and takes no decisions: it reads the request as it stands.

Where a request is shown: the thread started for it (Slack requests: in the channel where /sms
ran, else a DM); for a request made in the CLI, the approval message's thread when it needed
approval, else nowhere (the CLI printed the outcome).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bot import events
from bot.foreground import Foreground
from bot.jobs.registry import Job, JobContext
from bot.service import retryable
from bot.slack import blocks
from bot.slack.approval_blocks import approval_asked, approval_closed, approval_request, with_retry
from bot.slack.approval_post import ask_for_approval
from bot.slack.deps import ResponseUrls
from bot.slack.home_viewers import HomeViewers
from bot.slack.mrkdwn import clip, code, escape, mention
from bot.slack.notify import Audience, Notifier, SlackFailure, Thread, thread_at, why
from bot.slack.render_batches import BatchRenderer
from bot.sms.message import SimInfo
from bot.store.db import Database
from bot.store.grants import aware
from bot.store.inventory import get_sim
from bot.store.models import AuditEvent, SmsRequest
from bot.store.requests import attach_approval_message, attach_thread

log = logging.getLogger(__name__)

CONSUMER = "slack"
#: The cursor of the audit checkpoints posted to SMSBOT_AUDIT_CHANNEL (by checkpoint id).
CHECKPOINT_CONSUMER = "slack_checkpoints"
#: Events handled per run, and the most seconds one run spends (the job runs again soon).
BATCH = 200
RUN_SECONDS = 30.0


def thread_of(req: SmsRequest) -> Thread | None:
    return thread_at(req.slack_channel, req.slack_ts)


def approval_thread(req: SmsRequest) -> Thread | None:
    return thread_at(req.approval_channel, req.approval_ts)


def audience_of(req: SmsRequest, response_url: str | None = None) -> Audience:
    """The requester, reachable in the channel where they asked (and the command's
    response_url, when this process took the command)."""
    return Audience(req.requester, req.channel_id, response_url)


def _warnings(req: SmsRequest) -> list[str]:
    try:
        return [str(w.get("message")) for w in json.loads(req.warnings or "[]")]
    except (ValueError, AttributeError):
        return []


def _details(event: AuditEvent) -> dict[str, Any]:
    try:
        value = json.loads(event.details)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _is_user(actor: str | None) -> bool:
    return bool(actor) and str(actor)[:1] in ("U", "W")


_DECIDED = {
    "approved": ":white_check_mark: Approved by {who} at {at} UTC",
    "declined": ":x: Rejected by {who} at {at} UTC{reason}",
    "expired": ":hourglass: Expired at {at} UTC: not sent, it can no longer be approved",
    "refused": ":no_entry: Closed at {at} UTC: {reason}",
    "cancelled": ":heavy_multiplication_x: Cancelled by {who} at {at} UTC: nothing was sent",
}


#: Events that change what approvers' Homes show ("waiting for my approval").
_APPROVAL_EVENTS = frozenset(
    {"approval_requested", "approved", "rejected", "expired", "cancelled", "denied"}
)
_BATCH_APPROVAL_EVENTS = frozenset(
    {"batch_approval_requested", "batch_approved", "batch_rejected", "batch_expired",
     "batch_stopped"}
)  # fmt: skip
#: The most Homes one approval event republishes (each is a views.publish).
HOME_REFRESH_MAX = 50


@dataclass
class HomeRefresh:
    viewers: HomeViewers
    #: Republishes one user's Home (the caller decides on which thread).
    publish: Callable[[str], object]

    def refresh(self, requester: str, *, everyone: bool) -> None:
        users = self.viewers.all()[-HOME_REFRESH_MAX:] if everyone else []
        if requester in self.viewers and requester not in users:
            users.append(requester)
        for user in users:
            self.publish(user)


class SlackRenderer:
    def __init__(
        self,
        db: Database,
        notifier: Notifier,
        response_urls: ResponseUrls | None = None,
        home: HomeRefresh | None = None,
        audit_channel: str | None = None,
        foreground: Foreground | None = None,
    ) -> None:
        self.db = db
        self.notifier = notifier
        #: Each event is shown after the Slack requests being answered here (bot.foreground).
        self.foreground = foreground or Foreground()
        self.response_urls = response_urls or ResponseUrls()
        #: Who has the App Home open here, and how to republish one (None: no Home here).
        self.home = home
        #: Where audit checkpoints are posted (SMSBOT_AUDIT_CHANNEL), if anywhere.
        self.audit_channel = audit_channel
        #: Fleet sends: one message per batch, not one thread per SIM.
        self.batches = BatchRenderer(db, notifier)
        self._handlers: dict[str, Callable[[SmsRequest, AuditEvent, dict[str, Any]], None]] = {
            "requested": self.requested,
            "approval_requested": self.approval_requested,
            "approved": self.approved,
            "rejected": self.closed,
            "expired": self.closed,
            "cancelled": self.closed,
            "denied": self.denied,
            "sent": self.outcome,
            "failed": self.outcome,
            "outcome_unknown": self.outcome,
            "abandoned": self.outcome,
            "not_sent": self.outcome,
            "reconciled": self.reconciled,
            "delivered": self.delivery,
            "delivery_status": self.delivery,
            "reply_received": self.device_reply,
        }

    # ---- the job -----------------------------------------------------------------------------
    def run(self, ctx: JobContext | None = None) -> str:
        """Render the events after the cursor, advancing it after each one."""
        start = events.position(self.db, CONSUMER)
        batch = events.after(self.db, start, BATCH)
        failed = 0
        # Well inside the job's lease (runner.LEASE): a run that outlived its lease could be
        # joined by another replica's, and the same event shown twice.
        stop_at = time.monotonic() + RUN_SECONDS
        done = 0
        for event in batch:
            if time.monotonic() > stop_at:
                break
            done += 1
            if not self.shows(event):
                continue  # nothing to show: the cursor passes it with the next one
            self.foreground.yield_to()
            try:
                self.handle(event)
            except Exception:
                # A bug must not stop every later event from being shown: logged, counted,
                # and the stream moves on (the audit row itself is untouched).
                failed += 1
                log.exception("rendering audit #%s (%s) failed", event.seq, event.event)
            events.advance(self.db, CONSUMER, event.seq)
        last = batch[done - 1].seq if done else start
        if last > start:
            events.advance(self.db, CONSUMER, last)
        self.batches.flush()
        posted = self.post_checkpoints()
        extra = f", {posted} checkpoint(s) posted" if posted else ""
        return f"{done} event(s) rendered up to #{last}, {failed} failed{extra}"

    def post_checkpoints(self) -> int:
        """Each new audit checkpoint, posted to the audit channel: a copy of the signed head
        outside the database (deleting checkpoint rows then no longer hides a rewrite)."""
        if self.audit_channel is None:
            return 0
        start = events.position(self.db, CHECKPOINT_CONSUMER, start_at_zero=True)
        posted = 0
        for cp in events.checkpoints_after(self.db, start):
            text = (
                f":lock: Audit checkpoint #{cp.id}: row {cp.seq}, hash {code(cp.hash)}, taken "
                f"{escape(cp.taken_at)}, key {code(cp.key_id)}, signature {code(cp.mac)}"
            )
            try:
                self.notifier.client.chat_postMessage(channel=self.audit_channel, text=text)
            except SlackFailure as exc:
                log.warning("posting checkpoint #%s failed: %s", cp.id, why(exc))
                break  # posted on a later run, in order
            events.advance(self.db, CHECKPOINT_CONSUMER, cp.id)
            posted += 1
        return posted

    def job(self) -> Job:
        return Job(
            "slack_render",
            timedelta(seconds=2),
            self.run,
            "show each audit event once in Slack (request threads, approval messages)",
            wakeable=True,
        )

    def shows(self, event: AuditEvent) -> bool:
        """Whether this event can change anything in Slack (most refusals and `sending` do
        not: they were answered where they were asked)."""
        if event.event.startswith("batch_"):
            return True
        return event.event in self._handlers and event.request_id is not None

    def handle(self, event: AuditEvent) -> None:
        if event.event.startswith("batch_"):
            requester = self.batches.handle(event, _details(event))
            if self.home is not None and requester is not None:
                self.home.refresh(requester, everyone=event.event in _BATCH_APPROVAL_EVENTS)
            return
        handler = self._handlers.get(event.event)
        if handler is None or event.request_id is None:
            return
        with self.db.read() as session:
            req = session.get(SmsRequest, event.request_id)
        if req is None:
            return
        if req.batch_id is not None:
            # One SIM of a fleet send: its batch's progress line shows it.
            self.batches.member_changed(req.batch_id)
            return
        handler(req, event, _details(event))
        if self.home is not None:
            self.home.refresh(req.requester, everyone=event.event in _APPROVAL_EVENTS)

    # ---- helpers -----------------------------------------------------------------------------
    def _sim(self, req: SmsRequest) -> SimInfo | None:
        with self.db.read() as session:
            return get_sim(session, req.iccid)

    def _parent(self, req: SmsRequest) -> tuple[str, list[blocks.Block]]:
        return blocks.request_message(
            request_id=req.id,
            requester=req.requester,
            iccid=req.iccid,
            sim=self._sim(req),
            text=req.message_text,
            coding=req.data_coding,
            state=req.state,
            sandbox=req.sandbox,
            delivery=req.delivery_status,
        )

    def _audience(self, req: SmsRequest) -> Audience:
        return audience_of(req, self.response_urls.get(req.id))

    def _where(self, req: SmsRequest) -> Thread | None:
        """The thread the request's news goes to."""
        return thread_of(req) or approval_thread(req)

    def _say(self, req: SmsRequest, text: str, extra: list[blocks.Block] | None = None) -> None:
        """A thread reply; without a thread, a DM to a Slack requester; a CLI request without
        any Slack message is not shown (its command printed the outcome)."""
        thread = self._where(req)
        if thread is None and req.source != "slack":
            return
        self.notifier.reply(thread, text, self._audience(req), extra)

    def _refresh_parent(self, req: SmsRequest) -> None:
        thread = thread_of(req)
        if thread is not None:
            text, parent = self._parent(req)
            self.notifier.update(thread, text, parent)

    def _close_approval(self, req: SmsRequest, line: str) -> None:
        thread = approval_thread(req)
        if thread is not None:
            _, original = approval_request(req, self._sim(req), _warnings(req))
            self.notifier.update(thread, line, approval_closed(original, line))

    # ---- events ------------------------------------------------------------------------------
    def requested(self, req: SmsRequest, event: AuditEvent, details: dict[str, Any]) -> None:
        """A new Slack request gets its message (the thread everything else goes to)."""
        if req.retry_of is not None:
            with self.db.read() as session:
                original = session.get(SmsRequest, req.retry_of)
            if original is not None and self._where(original) is not None:
                self._say(original, f":repeat: Retried as request #{req.id}.")
        if req.source != "slack" or thread_of(req) is not None:
            return
        text, parent = self._parent(req)
        thread = self.notifier.start_thread(self._audience(req), text, parent)
        if thread is not None:
            with self.db.session() as session:
                attach_thread(session, req.id, thread.channel, thread.ts)

    def approval_requested(
        self, req: SmsRequest, event: AuditEvent, details: dict[str, Any]
    ) -> None:
        """Approve / Reject in the approval channel; the requester told where it was asked."""
        channel = req.approval_channel
        if channel is None or approval_thread(req) is not None:
            return
        text, approval_blocks = approval_request(req, self._sim(req), _warnings(req))
        posted, note = ask_for_approval(
            self.notifier.client,
            channel,
            text,
            approval_blocks,
            expires_at=req.expires_at,
            approvers=req.approvals_needed,
            otherwise=f"`smsbot approvals approve {req.id}`",
        )
        if posted is not None:
            with self.db.session() as session:
                attach_approval_message(session, req.id, *posted)
        thread = thread_of(req)
        if thread is not None or req.source == "slack":
            self.notifier.reply(thread, note, self._audience(req), approval_asked(note, req.id))

    def approved(self, req: SmsRequest, event: AuditEvent, details: dict[str, Any]) -> None:
        count, needed = int(details.get("approvals") or 0), int(details.get("needed") or 1)
        if count < needed:
            self._say(
                req,
                f":ballot_box_with_check: {mention(event.actor)} approved. Approval {count} of "
                f"{needed} recorded; {needed - count} more needed.",
            )
            return
        glass = " (break-glass)" if details.get("break_glass") else ""
        line = _DECIDED["approved"].format(who=mention(event.actor), at=_at(event)) + glass
        self._close_approval(req, line)
        if thread_of(req) is not None:
            self._say(req, line)

    def closed(self, req: SmsRequest, event: AuditEvent, details: dict[str, Any]) -> None:
        """Rejected, expired or cancelled: the buttons replaced, the requester told."""
        status = {"rejected": "declined", "expired": "expired", "cancelled": "cancelled"}[
            event.event
        ]
        reason = escape(clip(str(details.get("reason") or ""), 1000))
        line = _DECIDED[status].format(
            who=mention(event.actor) if _is_user(event.actor) else "an admin",
            at=_at(event),
            reason=f": {reason}" if reason else "",
        )
        self._close_approval(req, line)
        self._closing(req, line)

    def denied(self, req: SmsRequest, event: AuditEvent, details: dict[str, Any]) -> None:
        """A request closed because its requester may no longer send (at decision or send
        time), or the queue guard stopped it; other refusals were answered where they were
        asked."""
        if details.get("at") not in ("decision", "send"):
            return
        reason = escape(clip(str(details.get("reason") or "refused"), 1000))
        line = _DECIDED["refused"].format(at=_at(event), reason=reason, who="")
        if details.get("at") == "decision":
            self._close_approval(req, line)
        self._closing(req, line)

    def _closing(self, req: SmsRequest, line: str) -> None:
        """A request closed without a send: said where its news goes (named when outside its
        own thread), with Retry, and the parent's state updated."""
        self._say(
            req, line if thread_of(req) else f"Request #{req.id}: {line}", self._retry(line, req)
        )
        self._refresh_parent(req)

    def outcome(self, req: SmsRequest, event: AuditEvent, details: dict[str, Any]) -> None:
        """The portal's answer (or what became of a request that never got one), with the
        audit record; Retry where nothing reached the portal."""
        created, completed = aware(req.created_at), aware(req.completed_at)
        total = (completed - created).total_seconds() * 1000 if created and completed else None
        state = {"sent": "accepted", "failed": "rejected", "outcome_unknown": "unknown"}.get(
            event.event, req.state
        )
        text = blocks.outcome_text(
            state=state,
            reason=req.outcome_reason if req.state == state else details.get("reason"),
            category=req.outcome_category,
            sms_uid=req.sms_uid,
            portal_ms=req.portal_ms if event.event in ("sent", "failed") else None,
            total_ms=total if event.event in ("sent", "failed") else None,
            audit_seq=event.seq,
            approver=req.decided_by if _is_user(req.decided_by) else None,
            iccid=req.iccid,
        )
        if thread_of(req) is None and req.source == "slack":
            text = f"Request #{req.id}: {text}"
        offer = self._retry(text, req) if req.state == state else None
        self._say(req, text, offer)
        self._refresh_parent(req)

    def reconciled(self, req: SmsRequest, event: AuditEvent, details: dict[str, Any]) -> None:
        status = escape(str(details.get("portal_status") or "?"))
        self._say(
            req,
            f":mag: Request #{req.id}: the outcome was unknown, and the portal's SMS log has it "
            f"(status *{status}*): *accepted* · audit #{event.seq}",
        )
        self._refresh_parent(req)

    def delivery(self, req: SmsRequest, event: AuditEvent, details: dict[str, Any]) -> None:
        status = str(details.get("status") or "")
        if status == "delivered":
            after = details.get("seconds_after_sending")
            at = str(details.get("delivered_at") or "")[11:19]
            took = f", {float(after):.0f} s after sending" if isinstance(after, int | float) else ""
            line = f":inbox_tray: Delivered {escape(at)} UTC{took} · audit #{event.seq}"
        elif status == "not_confirmed":
            line = (
                ":grey_question: Delivery *not confirmed*: the portal reported no final status "
                f"in time; check the device · audit #{event.seq}"
            )
        elif status == "pending":
            # Queued at the operator: the parent says so; no thread message for it.
            self._refresh_parent(req)
            return
        else:
            source = "receipt" if details.get("source") == "receipt" else "portal"
            line = (
                f":information_source: Delivery ({source}): *{escape(status)}* · audit #{event.seq}"
            )
        self._say(req, line)
        self._refresh_parent(req)

    def device_reply(self, req: SmsRequest, event: AuditEvent, details: dict[str, Any]) -> None:
        # The device's words are data: escaped, so a reply cannot ping, mention or link.
        stamp = escape(str(details.get("timestamp") or "no time"))
        text = str(details.get("message_text") or "")
        self._say(
            req,
            f":incoming_envelope: Reply from the device ({stamp}):\n"
            f"{blocks.quoted(clip(text, 2000))}",
        )

    @staticmethod
    def _retry(text: str, req: SmsRequest) -> list[blocks.Block] | None:
        """Retry where nothing reached the portal (never for `unknown`: it may have gone out)."""
        return with_retry(text, req.id) if retryable(req) and thread_of(req) else None


def _at(event: AuditEvent) -> str:
    return blocks.audit_minute(event.ts)
