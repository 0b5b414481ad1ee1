"""Queries over SMS requests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Update, bindparam, select, update
from sqlalchemy.orm import Session

from bot.store import audit
from bot.store.models import Base, SmsRequest

_REQUESTS = Base.metadata.tables["sms_requests"]


def transition(
    session: Session, request_id: int, from_states: tuple[str, ...], state: str, **values: Any
) -> bool:
    """The one way a request changes state: conditional on where it stands, decided in the
    database. True only for the one caller whose change took effect."""
    params = {f"v_{name}": value for name, value in values.items()}
    result = session.connection().execute(
        _transition_statement(frozenset(values)),
        {"t_id": request_id, "t_from": list(from_states), "t_state": state, **params},
    )
    return result.rowcount == 1


#: Built once per set of columns a caller changes (a handful in all): building and hashing the
#: UPDATE anew on every call was about a tenth of a send's CPU (issue 10).
_TRANSITIONS: dict[frozenset[str], Update] = {}


def _transition_statement(columns: frozenset[str]) -> Update:
    statement = _TRANSITIONS.get(columns)
    if statement is None:
        statement = (
            update(_REQUESTS)
            .where(
                _REQUESTS.c.id == bindparam("t_id"),
                _REQUESTS.c.state.in_(bindparam("t_from", expanding=True)),
            )
            # Bound names differ from the columns': SQLAlchemy reserves those for SET itself.
            .values(state=bindparam("t_state"), **{c: bindparam(f"v_{c}") for c in columns})
        )
        _TRANSITIONS[columns] = statement
    return statement


def transition_audited(
    session: Session,
    request_id: int,
    from_states: tuple[str, ...],
    state: str,
    *,
    event: str,
    actor: str,
    details: dict[str, Any],
    **values: Any,
) -> SmsRequest | None:
    """`transition`, and when it took effect the audit row that records it (with the request's
    sms_uid) in the same transaction; the request as it now stands, or None."""
    if not transition(session, request_id, from_states, state, **values):
        return None
    req = session.get(SmsRequest, request_id)
    assert req is not None
    audit.append(
        session,
        event,
        actor,
        request_id=req.id,
        iccid=req.iccid,
        details={"sms_uid": req.sms_uid, **details},
    )
    return req


def recent_for_sim(session: Session, iccid: str, limit: int = 5) -> list[SmsRequest]:
    return list(
        session.execute(
            select(SmsRequest)
            .where(SmsRequest.iccid == iccid)
            .order_by(SmsRequest.id.desc())
            .limit(limit)
        ).scalars()
    )


def attach_thread(session: Session, request_id: int, channel: str, ts: str) -> None:
    """Remember where a front end shows the request, so later updates land in that thread."""
    session.execute(
        update(SmsRequest)
        .where(SmsRequest.id == request_id)
        .values(slack_channel=channel, slack_ts=ts)
    )


def by_sms_uid(session: Session, sms_uid: str) -> SmsRequest | None:
    return session.execute(
        select(SmsRequest).where(SmsRequest.sms_uid == sms_uid)
    ).scalar_one_or_none()


def attach_approval_message(session: Session, request_id: int, channel: str, ts: str) -> None:
    """Where the Approve / Reject buttons are, so the decision can replace them."""
    session.execute(
        update(SmsRequest)
        .where(SmsRequest.id == request_id)
        .values(approval_channel=channel, approval_ts=ts)
    )


def latest_with_thread(session: Session, iccid: str) -> SmsRequest | None:
    """The SIM's most recent request that has a Slack thread (where a device reply belongs)."""
    return session.execute(
        select(SmsRequest)
        .where(SmsRequest.iccid == iccid, SmsRequest.slack_ts.is_not(None))
        .order_by(SmsRequest.id.desc())
        .limit(1)
    ).scalar_one_or_none()
