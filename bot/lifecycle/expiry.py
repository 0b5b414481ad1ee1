"""Expiring overdue approval requests (the `expire_approvals` job); rendered from the audit
stream like every other change."""

from __future__ import annotations

from datetime import timedelta

from bot.jobs.registry import JobContext, job


@job(
    "expire_approvals",
    timedelta(seconds=30),
    "close approval requests past their expiry (SMSBOT_APPROVAL_TTL_MINUTES)",
)
def expire_approvals(ctx: JobContext) -> str:
    expired = ctx.runtime.approvals.expire_due()
    return f"{len(expired)} expired"
