"""Fleet sends shown in Slack, from the audit stream (called by bot.slack.render).

A batch has one message (in the channel where `/sms fleet` ran, else a DM; for a CLI batch, the
approval message's thread when it needed approval, else none) whose progress line is updated as
its SIMs' outcomes and deliveries come in — at most every PROGRESS_SECONDS per batch, so a big
batch does not spend Slack's rate limit on progress; the summary, with a CSV of every SIM's
outcome, is posted in its thread when the batch ends. Its SIMs' own events post nothing: one
thread per SIM would bury the channel.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from sqlalchemy import select, update

from bot.batches.report import as_csv, rows
from bot.batches.run import counts_of
from bot.slack.approval_post import ask_for_approval
from bot.slack.batch_blocks import approval_decided, batch_approval, batch_message, summary_text
from bot.slack.blocks import audit_minute
from bot.slack.mrkdwn import clip, code, escape, mention
from bot.slack.notify import Audience, Notifier, SlackFailure, Thread, thread_at, why
from bot.store.db import Database
from bot.store.models import AuditEvent, SmsBatch, SmsRequest

log = logging.getLogger(__name__)

#: The least seconds between two progress updates of one batch's message.
PROGRESS_SECONDS = 2.0


def _thread(batch: SmsBatch) -> Thread | None:
    return thread_at(batch.slack_channel, batch.slack_ts)


def _approval_thread(batch: SmsBatch) -> Thread | None:
    return thread_at(batch.approval_channel, batch.approval_ts)


class BatchRenderer:
    def __init__(self, db: Database, notifier: Notifier) -> None:
        self.db = db
        self.notifier = notifier
        #: Batches whose progress changed since their message was last updated.
        self._dirty: set[int] = set()
        self._updated: dict[int, float] = {}

    # ---- reading -------------------------------------------------------------------------------
    def _batch(self, batch_id: Any) -> SmsBatch | None:
        if not isinstance(batch_id, int):
            return None
        with self.db.read() as session:
            return session.get(SmsBatch, batch_id)

    def _counts(self, batch: SmsBatch) -> dict[str, int]:
        return counts_of(self.db, batch.id)

    def _sandbox(self, batch: SmsBatch) -> bool:
        with self.db.read() as session:
            return bool(
                session.execute(
                    select(SmsRequest.sandbox).where(SmsRequest.batch_id == batch.id).limit(1)
                ).scalar()
            )

    def _where(self, batch: SmsBatch) -> Thread | None:
        return _thread(batch) or _approval_thread(batch)

    def _say(self, batch: SmsBatch, text: str) -> None:
        thread = self._where(batch)
        if thread is None and batch.source != "slack":
            return  # a CLI batch without a Slack message: the CLI printed it
        self.notifier.reply(thread, text, Audience(batch.requester, batch.channel_id))

    def _refresh(self, batch: SmsBatch) -> None:
        thread = _thread(batch)
        if thread is not None:
            text, blocks = batch_message(batch, self._counts(batch), self._sandbox(batch))
            self.notifier.update(thread, text, blocks)
        self._updated[batch.id] = time.monotonic()
        self._dirty.discard(batch.id)

    def _set(self, batch_id: int, **values: Any) -> None:
        with self.db.session() as session:
            session.execute(update(SmsBatch).where(SmsBatch.id == batch_id).values(**values))

    # ---- events --------------------------------------------------------------------------------
    def member_changed(self, batch_id: int) -> None:
        self._dirty.add(batch_id)

    def flush(self) -> None:
        """Progress lines of batches that changed, each at most every PROGRESS_SECONDS."""
        now = time.monotonic()
        for batch_id in sorted(self._dirty):
            if now - self._updated.get(batch_id, 0.0) < PROGRESS_SECONDS:
                continue
            batch = self._batch(batch_id)
            if batch is None:
                self._dirty.discard(batch_id)
                continue
            self._refresh(batch)

    def handle(self, event: AuditEvent, details: dict[str, Any]) -> str | None:
        """Show a batch event; returns the batch's requester (whose Home changed)."""
        batch = self._batch(details.get("batch_id"))
        if batch is None:
            return None
        handler = {
            "batch_requested": self.requested,
            "batch_approval_requested": self.approval_requested,
            "batch_approved": self.approved,
            "batch_rejected": self.closed,
            "batch_expired": self.closed,
            "batch_stopped": self.stopped,
            "batch_done": self.done,
        }.get(event.event)
        if handler is not None:
            handler(batch, event, details)
        return batch.requester

    def requested(self, batch: SmsBatch, event: AuditEvent, details: dict[str, Any]) -> None:
        if batch.source != "slack" or _thread(batch) is not None:
            return
        text, blocks = batch_message(batch, self._counts(batch), self._sandbox(batch))
        audience = Audience(batch.requester, batch.channel_id)
        thread = self.notifier.start_thread(audience, text, blocks)
        if thread is not None:
            self._set(batch.id, slack_channel=thread.channel, slack_ts=thread.ts)
            self._updated[batch.id] = time.monotonic()
        skipped = json.loads(batch.skipped or "[]")
        if skipped and thread is not None:
            listed = "\n".join(
                f"• {code(str(s.get('iccid')))} {escape(str(s.get('label') or ''))}: "
                f"{escape(clip(str(s.get('reason')), 300))}"
                for s in skipped[:20]
            )
            more = f"\n…and {len(skipped) - 20} more" if len(skipped) > 20 else ""
            self.notifier.reply(
                thread, f"Not sent to {len(skipped)} SIM(s):\n{listed}{more}", audience
            )

    def approval_requested(
        self, batch: SmsBatch, event: AuditEvent, details: dict[str, Any]
    ) -> None:
        channel = batch.approval_channel
        if channel is None or _approval_thread(batch) is not None:
            return
        skipped = len(json.loads(batch.skipped or "[]"))
        warnings = [str(w) for w in details.get("confirmed_warnings") or []]
        text, blocks = batch_approval(batch, skipped, warnings)
        posted, note = ask_for_approval(
            self.notifier.client,
            channel,
            text,
            blocks,
            expires_at=batch.expires_at,
            approvers=batch.approvals_needed,
            otherwise=f"`smsbot batches approve {batch.id}`",
        )
        if posted is not None:
            self._set(batch.id, approval_channel=posted[0], approval_ts=posted[1])
        if _thread(batch) is not None or batch.source == "slack":
            self.notifier.reply(_thread(batch), note, Audience(batch.requester, batch.channel_id))

    def _close_approval(self, batch: SmsBatch, line: str) -> None:
        thread = _approval_thread(batch)
        if thread is None:
            return
        skipped = len(json.loads(batch.skipped or "[]"))
        _, original = batch_approval(batch, skipped, [])
        self.notifier.update(thread, line, approval_decided(original, line))

    def approved(self, batch: SmsBatch, event: AuditEvent, details: dict[str, Any]) -> None:
        count, needed = int(details.get("approvals") or 0), int(details.get("needed") or 1)
        who = mention(event.actor)
        if count < needed:
            self._say(
                batch, f":ballot_box_with_check: {who} approved ({count} of {needed}); "
                f"{needed - count} more needed.",
            )  # fmt: skip
            return
        line = f":white_check_mark: Approved by {who} at {_at(event)} UTC: sending"
        self._close_approval(batch, line)
        if _thread(batch) is not None:
            self._say(batch, line)
        self._refresh(batch)

    def closed(self, batch: SmsBatch, event: AuditEvent, details: dict[str, Any]) -> None:
        if event.event == "batch_rejected":
            reason = escape(clip(str(details.get("reason") or ""), 500))
            line = f":x: Rejected by {mention(event.actor)} at {_at(event)} UTC" + (
                f": {reason}" if reason else ""
            )
        else:
            line = f":hourglass: Expired at {_at(event)} UTC: nothing was sent"
        self._close_approval(batch, line)
        self._say(batch, line if _thread(batch) else f"Fleet send #{batch.id}: {line}")
        self._refresh(batch)

    def stopped(self, batch: SmsBatch, event: AuditEvent, details: dict[str, Any]) -> None:
        cancelled = int(details.get("cancelled") or 0)
        line = (
            f":octagonal_sign: Stopped by {mention(event.actor)} at {_at(event)} UTC: "
            f"{cancelled} SIM(s) will not be sent to; messages already on their way finish."
        )
        self._close_approval(batch, line)
        self._say(batch, line)
        self._refresh(batch)

    def done(self, batch: SmsBatch, event: AuditEvent, details: dict[str, Any]) -> None:
        counts = details.get("counts") if isinstance(details.get("counts"), dict) else None
        text = summary_text(batch, counts or self._counts(batch), event.seq)
        thread = self._where(batch)
        self._refresh(batch)
        if thread is None:
            if batch.source == "slack":
                self._say(batch, text)
            return
        table = as_csv(rows(self.db, batch.id))
        try:
            self.notifier.client.files_upload_v2(
                channel=thread.channel,
                thread_ts=thread.ts,
                content=table,
                filename=f"fleet-send-{batch.id}.csv",
                title=f"Fleet send #{batch.id}: every SIM's outcome",
                initial_comment=text,
            )
        except SlackFailure as exc:
            log.warning("uploading the CSV of batch #%s failed: %s", batch.id, why(exc))
            self._say(
                batch,
                f"{text}\n(The CSV could not be attached: {escape(why(exc))}; "
                f"`smsbot batches show {batch.id} --csv` prints it.)",
            )


def _at(event: AuditEvent) -> str:
    return audit_minute(event.ts)
