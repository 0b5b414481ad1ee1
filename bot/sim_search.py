"""Finding a SIM to message: the SIMs a person may send to whose label, ICCID or MSISDN holds
what they typed. Feeds the send form's SIM picker (Slack's `block_suggestion`), which must answer
within Slack's 3 s and show at most 100 options."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, or_, select

from bot.authz import Principal
from bot.sim_names import looks_like_iccid
from bot.sms.iccid import normalize_iccid
from bot.store.db import Database
from bot.store.grants import covers, held_grants
from bot.store.models import Sim

#: Slack shows at most 100 options; a query longer than any label/ICCID finds nothing anyway.
FOUND_MAX = 100
QUERY_MAX = 200
#: How many matching rows are read to fill the list after the grant filter: bounds the work
#: for a broad query by someone whose grants cover few of the matches.
SCAN_MAX = 5000


@dataclass(frozen=True)
class FoundSim:
    iccid: str
    label: str | None
    sim_type: str | None


@dataclass(frozen=True)
class SimSearch:
    found: list[FoundSim]
    #: The query is a whole ICCID that is not in the list (not in the inventory, or not one the
    #: person may message): offered as typed, so the core's rules and refusal explain it.
    typed_iccid: str | None
    #: More matched than were listed: the person should type more.
    more: bool


def search_sims(
    db: Database, principal: Principal, admins: frozenset[str], query: str
) -> SimSearch:
    text = " ".join(query.split())[:QUERY_MAX]
    typed = normalize_iccid(text) if looks_like_iccid(text) else None
    wanted = select(Sim.iccid, Sim.label, Sim.sim_type, Sim.group_name).where(Sim.active.is_(True))
    if text and text.isprintable():
        lowered = text.casefold()
        digits = text.replace(" ", "").replace("-", "").removeprefix("+")
        matches = [func.lower(Sim.label).contains(lowered, autoescape=True)]
        if digits.isascii() and digits.isdigit():
            matches += [
                Sim.iccid.contains(digits, autoescape=True),
                Sim.msisdn.contains(digits, autoescape=True),
            ]
        wanted = wanted.where(or_(*matches))
    elif text:
        return SimSearch([], None, False)  # control characters: no label holds them
    with db.read() as session:
        grants = held_grants(session, principal, "sender", admins)
        rows = session.execute(wanted.order_by(Sim.label, Sim.iccid).limit(SCAN_MAX)).all()
    found: list[FoundSim] = []
    more = False
    for iccid, label, sim_type, group in rows:
        if not covers(grants, iccid, group):
            continue
        if len(found) == FOUND_MAX - (1 if typed else 0):
            more = True
            break
        found.append(FoundSim(iccid, label, sim_type))
    if typed is not None and any(f.iccid == typed for f in found):
        typed = None
    return SimSearch(found, typed, more or len(rows) == SCAN_MAX)
