"""Guard rails: how many requests one user, and one SIM, may have in a sliding window
(SMSBOT_RATE_USER, SMSBOT_RATE_SIM: `N/s`, `N/m`, `N/h`, `N/10m`…). Counted in the database — the
requests themselves — so the limits hold across replicas and the CLI. A request that never
reached the portal and never will (refused, declined, expired, cancelled, abandoned, not sent)
does not count. A fleet send (bot.batches) counts once against its requester's limit; each of its
SIMs counts against that SIM's limit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, select, union_all
from sqlalchemy.orm import InstrumentedAttribute, Session

from bot.config import Rate
from bot.request_facts import NOT_SENT_STATES
from bot.store import audit
from bot.store.grants import aware
from bot.store.models import SmsBatch, SmsRequest


def _counted() -> ColumnElement[bool]:
    return SmsRequest.state.not_in(sorted(NOT_SENT_STATES))


def _user_usage(session: Session, user: str, since: datetime) -> tuple[int, datetime | None]:
    """The user's counted requests since `since`, a fleet send counting once: one round trip
    (this is on every send's path)."""
    singles = select(SmsRequest.created_at.label("at")).where(
        SmsRequest.requester == user,
        SmsRequest.created_at > since,
        _counted(),
        SmsRequest.batch_id.is_(None),
    )
    batches = select(SmsBatch.created_at.label("at")).where(
        SmsBatch.requester == user,
        SmsBatch.created_at > since,
        SmsBatch.state.not_in(("declined", "expired", "refused")),
    )
    both = union_all(singles, batches).subquery()
    count, oldest = session.execute(select(func.count(), func.min(both.c.at))).one()
    return int(count), aware(oldest)


def _sim_usage(session: Session, iccid: str, since: datetime) -> tuple[int, datetime | None]:
    count, oldest = session.execute(
        select(func.count(), func.min(SmsRequest.created_at)).where(
            SmsRequest.iccid == iccid, SmsRequest.created_at > since, _counted()
        )
    ).one()
    return int(count), aware(oldest)


def refusal(
    session: Session, user: str, iccid: str, per_user: Rate | None, per_sim: Rate | None
) -> tuple[str, str] | None:
    """(guard, reason) when one more request would pass a limit; None when it may go ahead."""
    now = audit.utc_now()
    if per_user is not None:
        count, oldest = _user_usage(session, user, now - per_user.window)
        if count >= per_user.limit:
            why = _reason(f"you ({user}) have", count, oldest, per_user, "SMSBOT_RATE_USER", now)
            return "rate_user", why
    if per_sim is not None:
        count, oldest = _sim_usage(session, iccid, now - per_sim.window)
        if count >= per_sim.limit:
            why = _reason(f"SIM {iccid} has", count, oldest, per_sim, "SMSBOT_RATE_SIM", now)
            return "rate_sim", why
    return None


def _reason(
    who: str, count: int, oldest: datetime | None, rate: Rate, setting: str, now: datetime
) -> str:
    free = (aware(oldest) or now) + rate.window
    return (
        f"rate limit: {who} {count} request(s) in the last {_span(rate.window)} "
        f"({setting}={rate}); try again after {free:%H:%M:%S} UTC"
    )


def sim_refusals(session: Session, iccids: list[str], per_sim: Rate | None) -> dict[str, str]:
    """SMSBOT_RATE_SIM for many SIMs in one query (a fleet send): iccid → why, for each SIM
    that may not take one more request now."""
    if per_sim is None or not iccids:
        return {}
    now = audit.utc_now()
    rows = session.execute(
        select(SmsRequest.iccid, func.count(), func.min(SmsRequest.created_at))
        .where(
            SmsRequest.iccid.in_(iccids),
            SmsRequest.created_at > now - per_sim.window,
            _counted(),
        )
        .group_by(SmsRequest.iccid)
    ).all()
    return {
        str(iccid): _reason(f"SIM {iccid} has", int(n), first, per_sim, "SMSBOT_RATE_SIM", now)
        for iccid, n, first in rows
        if int(n) >= per_sim.limit
    }


@dataclass(frozen=True)
class Usage:
    subject: str
    count: int
    limit: int


def top_usage(
    session: Session, column: InstrumentedAttribute[str], rate: Rate, n: int = 20
) -> list[Usage]:
    """Who (or which SIM) is nearest its limit now."""
    since = audit.utc_now() - rate.window
    rows = session.execute(
        select(column, func.count())
        .where(SmsRequest.created_at > since, _counted())
        .group_by(column)
        .order_by(func.count().desc(), column)
        .limit(n)
    ).all()
    return [Usage(str(subject), int(count), rate.limit) for subject, count in rows]


def _span(window: timedelta) -> str:
    seconds = int(window.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0 and seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n > 1 else ''}" if n > 1 else unit
    return f"{seconds} s"


@dataclass(frozen=True)
class Standing:
    """One limit (per user or per SIM) and who is nearest it now; `rate` None: no limit."""

    kind: str
    rate: Rate | None
    rows: list[Usage]


def standings(session: Session, per_user: Rate | None, per_sim: Rate | None) -> list[Standing]:
    """Where users and SIMs stand against the limits now (`smsbot usage`, `/sms usage`)."""
    out = []
    for kind, rate, column in (
        ("user", per_user, SmsRequest.requester),
        ("SIM", per_sim, SmsRequest.iccid),
    ):
        out.append(Standing(kind, rate, top_usage(session, column, rate) if rate else []))
    return out
