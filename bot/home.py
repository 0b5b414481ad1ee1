"""What a person's App Home shows, decided by the core: their latest requests (state, delivery),
the approvals waiting for them (requests they may decide, not their own), and the SIMs they may
message. Front ends render it (bot.slack.home)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from bot.authz import Principal
from bot.store.db import Database
from bot.store.grants import check_access
from bot.store.inventory import get_sim
from bot.store.models import Sim, SmsRequest

#: How many of each the Home shows (Slack allows 100 blocks in a Home view).
SHOWN = 10


@dataclass(frozen=True)
class HomeFacts:
    mine: list[SmsRequest]
    to_approve: list[SmsRequest]
    sims: list[Sim]
    sims_total: int


def home_facts(db: Database, principal: Principal, admins: frozenset[str]) -> HomeFacts:
    with db.read() as session:
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
            .limit(200)
        ).scalars()
        to_approve = []
        for req in waiting:
            sim = get_sim(session, req.iccid)
            group = sim.group_name if sim else None
            if check_access(session, principal, "approver", req.iccid, group, admins).allowed:
                to_approve.append(req)
            if len(to_approve) >= SHOWN:
                break
        sims: list[Sim] = []
        total = 0
        for sim_row in session.execute(
            select(Sim).where(Sim.active.is_(True)).order_by(Sim.label, Sim.iccid)
        ).scalars():
            allowed = check_access(
                session, principal, "sender", sim_row.iccid, sim_row.group_name, admins
            ).allowed
            if allowed:
                total += 1
                if len(sims) < SHOWN:
                    sims.append(sim_row)
    return HomeFacts(mine, to_approve, sims, total)
