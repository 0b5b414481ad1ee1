"""The checks `submit` makes on who asks and how, and the refusal details it audits."""

from __future__ import annotations

from typing import Any

from bot.send_types import SendCommand
from bot.sms.message import CheckedMessage
from bot.sms.problems import Problem
from bot.store.safe_text import storable

#: Sizes of the request columns that carry who asked and how (models.SmsRequest).
_PRINCIPAL_LIMITS = {"user": 64, "channel": 32, "idempotency key": 200}


def input_details(cmd: SendCommand) -> dict[str, Any]:
    """What the user typed, for refusal rows: nothing they entered is lost."""
    d = cmd.draft
    # Whole values: audit.append caps each string (with its length and digest).
    return {
        "input": {
            "iccid": d.iccid,
            "message_text": d.message_text,
            "message_length": len(d.message_text),
            "data_coding": d.data_coding,
            "origin": d.origin or None,
            "sms_uid": d.sms_uid or None,
        },
        "template": cmd.template,
        "variables": dict(cmd.variables) if cmd.template else None,
        "source": cmd.source,
        "groups": list(cmd.principal.group_ids),
        "channel": cmd.principal.channel_id,
    }


def confirmed(cmd: SendCommand, checked: CheckedMessage) -> bool:
    """Confirmed, and for these warnings: a box ticked for other fields or warnings is not."""
    if not cmd.confirmed:
        return False
    return cmd.confirmation is None or cmd.confirmation == checked.warnings_digest


def principal_problem(cmd: SendCommand) -> Problem | None:
    """Who asks and how must fit their columns and be storable; else a refusal (audited)."""
    values = {
        "user": cmd.principal.user_id,
        "channel": cmd.principal.channel_id or "",
        "idempotency key": cmd.idempotency_key or "",
    }
    for name, value in values.items():
        limit = _PRINCIPAL_LIMITS[name]
        if len(value) > limit or storable(value) != value or not value.isprintable():
            return Problem(
                "request",
                "bad_principal",
                f"the {name} must be at most {limit} printable characters",
            )
    return None


def problem_list(problems: list[Problem]) -> list[dict[str, str]]:
    return [
        {"field": p.field, "code": p.code, "severity": p.severity, "message": p.message}
        for p in problems
    ]


def uid_taken_problem(uid: str | None) -> Problem:
    return Problem(
        "sms_uid",
        "duplicate",
        f"SMS uid {uid} was already used: each message needs its own. "
        "Leave it empty to have one generated.",
    )
