"""The queue guard: operators queue a limited number of undelivered messages per SIM (KPN: 60,
past which the portal rejects the send). We count our own accepted messages without a final
delivery state and refuse before the portal would, with a reason that says what to do."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.lifecycle.delivery import not_final
from bot.sms.simtypes import canonical_type
from bot.store.models import SmsRequest


def waiting(session: Session, iccid: str) -> int:
    """The SIM's accepted messages not known to be delivered (or otherwise final)."""
    return int(
        session.execute(
            select(func.count())
            .select_from(SmsRequest)
            .where(SmsRequest.iccid == iccid, SmsRequest.state == "accepted", not_final())
        ).scalar_one()
    )


def refusal(session: Session, iccid: str, sim_type: str | None, caps: dict[str, int]) -> str | None:
    """Why one more message to this SIM must not be sent now; None when it may."""
    canon = canonical_type(sim_type)
    cap = caps.get(canon) if canon is not None else None
    if cap is None:
        return None
    queued = waiting(session, iccid)
    if queued < cap:
        return None
    return (
        f"SIM {iccid} already has {queued} messages waiting for delivery, the operator's cap "
        f"for {sim_type} SIMs is {cap}: wait until the device takes some (`smsbot status "
        f"{iccid}` shows them) and send again"
    )
