"""What a person's App Home shows, decided by the core: their latest requests (state, delivery),
the approvals waiting for them (requests they may decide, not their own), and the SIMs they may
message. Front ends render it (bot.slack.home).

The renderer republishes Homes on every approval event, so this reads the principal's grants
once and matches every SIM against them, instead of one access query per SIM."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from bot.authz import Principal, scope_matches
from bot.store.db import Database
from bot.store.grants import grants_of
from bot.store.models import Grant, Sim, SmsRequest

#: How many of each the Home shows (Slack allows 100 blocks in a Home view).
SHOWN = 10


@dataclass(frozen=True)
class HomeFacts:
    mine: list[SmsRequest]
    to_approve: list[SmsRequest]
    sims: list[Sim]
    sims_total: int


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
                .where(SmsRequest.requester == principal.user_id)
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
    return HomeFacts(mine, to_approve, sims[:SHOWN], len(sims))
