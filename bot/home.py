"""What a person's App Home shows, decided by the core: their latest requests (state, delivery),
the approvals waiting for them (requests they may decide, not their own), and the SIMs they may
message. Front ends render it (bot.slack.home).

The renderer republishes Homes on every approval event, so this reads the principal's grants
once and matches every SIM against them, instead of one access query per SIM."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from bot.authz import Principal
from bot.batches.decide import covers_every_sim
from bot.store.db import Database
from bot.store.grants import covers, held_grants
from bot.store.models import Sim, SmsBatch, SmsRequest

#: How many of each the Home shows (Slack allows 100 blocks in a Home view).
SHOWN = 10
BATCHES_SHOWN = 5


@dataclass(frozen=True)
class HomeFacts:
    mine: list[SmsRequest]
    to_approve: list[SmsRequest]
    sims: list[Sim]
    sims_total: int
    #: My latest fleet sends, and those waiting for my approval (the SIMs of a batch are not
    #: listed one by one).
    my_batches: list[SmsBatch] = field(default_factory=list)
    batches_to_approve: list[SmsBatch] = field(default_factory=list)


def home_facts(db: Database, principal: Principal, admins: frozenset[str]) -> HomeFacts:
    with db.read() as session:
        senders = held_grants(session, principal, "sender", admins)
        approvers = held_grants(session, principal, "approver", admins)
        # The inventory is read once: its groups decide approvals, its active SIMs are listed.
        inventory = list(session.execute(select(Sim).order_by(Sim.label, Sim.iccid)).scalars())
        groups = {sim.iccid: sim.group_name for sim in inventory}
        mine = list(
            session.execute(
                select(SmsRequest)
                .where(SmsRequest.requester == principal.user_id, SmsRequest.batch_id.is_(None))
                .order_by(SmsRequest.id.desc())
                .limit(SHOWN)
            ).scalars()
        )
        waiting = session.execute(
            select(SmsRequest)
            .where(
                SmsRequest.state == "awaiting_approval",
                SmsRequest.requester != principal.user_id,
            )
            .order_by(SmsRequest.id)
        ).scalars()
        to_approve = [
            req for req in waiting if covers(approvers, req.iccid, groups.get(req.iccid))
        ][:SHOWN]
        sims = [
            sim for sim in inventory if sim.active and covers(senders, sim.iccid, sim.group_name)
        ]
        my_batches = list(
            session.execute(
                select(SmsBatch)
                .where(SmsBatch.requester == principal.user_id)
                .order_by(SmsBatch.id.desc())
                .limit(BATCHES_SHOWN)
            ).scalars()
        )
        open_batches = session.execute(
            select(SmsBatch)
            .where(
                SmsBatch.state == "awaiting_approval",
                SmsBatch.requester != principal.user_id,
            )
            .order_by(SmsBatch.id)
        ).scalars()
        batches_to_approve = [
            batch for batch in open_batches if covers_every_sim(session, approvers, batch.id)
        ][:BATCHES_SHOWN]
    return HomeFacts(mine, to_approve, sims[:SHOWN], len(sims), my_batches, batches_to_approve)
