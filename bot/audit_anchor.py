"""The `audit_checkpoint` job: the audit chain's head signed every hour (bot.store.checkpoints),
so a rewritten history is caught by `audit verify` even when every hash was recomputed."""

from __future__ import annotations

from datetime import timedelta

from bot.config import secret_value
from bot.jobs.registry import JobContext, job
from bot.store import checkpoints


@job(
    "audit_checkpoint",
    timedelta(hours=1),
    "sign the audit chain's head with SMSBOT_AUDIT_KEY (a rewritten history then fails verify)",
)
def audit_checkpoint(ctx: JobContext) -> str:
    key = secret_value(ctx.runtime.settings.SMSBOT_AUDIT_KEY)
    if not key:
        return "skipped: SMSBOT_AUDIT_KEY is not set"
    with ctx.runtime.db.session() as session:
        taken = checkpoints.take(session, key.encode("utf-8"))
        if taken is None:
            return "nothing new since the last checkpoint"
        return f"checkpoint #{taken.id}: row {taken.seq}"
