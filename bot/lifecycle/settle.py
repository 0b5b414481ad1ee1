"""Settling sends cut off mid-call (the `settle_stale_sends` job): a request `sending` longer than
the portal call's overall deadline plus a margin was abandoned by a process that stopped; its
outcome is `unknown` (never resent) until `reconcile` finds it in the portal's SMS log."""

from __future__ import annotations

from datetime import timedelta

from bot.jobs.registry import JobContext, job


@job(
    "settle_stale_sends",
    timedelta(seconds=30),
    "sends with no outcome past the portal deadline (+60 s) become unknown",
)
def settle_stale_sends(ctx: JobContext) -> str:
    settled = ctx.runtime.service.settle_stale_sends()
    return f"{len(settled)} settled as unknown"
