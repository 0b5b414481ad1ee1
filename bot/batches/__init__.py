"""Fleet sends: one message to every active SIM of a group (or a list), decided once, sent SIM
by SIM with bounded concurrency by the jobs (see submit, decide, run, report)."""

from __future__ import annotations

from typing import Literal

from bot.authz import Principal
from bot.batches.decide import BatchDecision, decide_batch, stop_batch
from bot.batches.submit import BatchCommand, BatchPolicy, BatchSubmission, submit_batch
from bot.service import SendService
from bot.store.models import SmsBatch

__all__ = ["BatchCommand", "BatchDecision", "BatchSubmission", "Batches"]


class Batches:
    """The fleet-send side of the core, bound to the send pipeline's policy."""

    def __init__(self, service: SendService, concurrency: int = 8) -> None:
        self.service = service
        self.db = service.db
        self.concurrency = concurrency

    def policy(self) -> BatchPolicy:
        s = self.service
        return BatchPolicy(
            admins=s.admins,
            approval_channel=s.approval_channel,
            approval_ttl=s.approval_ttl,
            queue_caps=s.queue_caps,
            rate_user=s.rate_user,
            rate_sim=s.rate_sim,
            concurrency=self.concurrency,
            sandbox=s.portal.sandbox,
        )

    def submit(self, cmd: BatchCommand, *, wait_seconds: float | None = None) -> BatchSubmission:
        return submit_batch(self.db, cmd, self.policy(), wait_seconds)

    def decide(
        self,
        batch_id: int,
        principal: Principal,
        verdict: Literal["approve", "reject"],
        *,
        reason: str | None = None,
        via: str = "slack",
    ) -> BatchDecision:
        return decide_batch(
            self.db, batch_id, principal, verdict, self.service.admins, reason=reason, via=via
        )

    def stop(self, batch_id: int, principal: Principal, *, via: str) -> BatchDecision:
        return stop_batch(self.db, batch_id, principal, self.service.admins, via=via)

    def get(self, batch_id: int) -> SmsBatch | None:
        with self.db.read() as session:
            return session.get(SmsBatch, batch_id)
