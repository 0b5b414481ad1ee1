"""What a person's App Home shows, decided by the core: their latest requests (state, delivery),
the approvals waiting for them (requests they may decide, not their own), and the SIMs they may
message. Front ends render it (bot.slack.home).

The renderer republishes Homes on every approval event, so this reads the principal's grants
once and matches every SIM against them, instead of one access query per SIM."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from bot.authz import Principal, scope_matches
from bot.store.db import Database
from bot.store.grants import grants_of
from bot.store.models import Grant, Sim, SmsBatch, SmsRequest

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


def _covers(grants: list[Grant] | None, iccid: str, group: str | None) -> bool:
    """None stands for an env admin (every SIM)."""
    return grants is None or any(scope_matches(g.scope, iccid, group) for g in grants)


def home_facts(db: Database, principal: Principal, admins: frozenset[str]) -> HomeFacts:
    admin = principal.user_id in admins
    with db.read() as session:
        senders = None if admin else grants_of(session, principal, "sender")
        approvers = None if admin else grants_of(session, principal, "approver")
        groups = dict(session.execute(select(Sim.iccid, Sim.group_name)).all())
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
            req for req in waiting if _covers(approvers, req.iccid, groups.get(req.iccid))
        ][:SHOWN]
        active = select(Sim).where(Sim.active.is_(True)).order_by(Sim.label, Sim.iccid)
        sims = [
            sim
            for sim in session.execute(active).scalars()
            if _covers(senders, sim.iccid, sim.group_name)
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
        batches_to_approve = []
        for batch in open_batches:
            members = session.execute(
                select(SmsRequest.iccid).where(SmsRequest.batch_id == batch.id)
            ).scalars()
            if all(_covers(approvers, i, groups.get(i)) for i in members):
                batches_to_approve.append(batch)
            if len(batches_to_approve) == BATCHES_SHOWN:
                break
    return HomeFacts(mine, to_approve, sims[:SHOWN], len(sims), my_batches, batches_to_approve)
