"""Requests awaiting approval and break-glass decisions by admins."""

from __future__ import annotations

import click

from bot.authz import Principal
from bot.cli.common import (
    EXIT_USAGE,
    Fail,
    _operator,
    _runtime,
    cli,
    say,
)
from bot.store import audit
from bot.store.grants import (
    has_role,
)


# ---- approvals --------------------------------------------------------------------------------
@cli.group()
def approvals() -> None:
    """Requests waiting for approval; break-glass decisions by admins."""


@approvals.command("list")
def approvals_list() -> None:
    """Requests awaiting approval, oldest first."""
    with _runtime() as runtime:
        runtime.approvals.expire_due()
        waiting = runtime.approvals.pending()
        for req in waiting:
            have = len(runtime.approvals.approvals_of(req.id))
            expires = f"{req.expires_at:%Y-%m-%d %H:%M}" if req.expires_at else "-"
            say(
                f"#{req.id:<5} {req.requester:<12} {req.iccid} {have}/{req.approvals_needed} "
                f"approvals, expires {expires} UTC, asked in {req.approval_channel}: "
                f"{req.message_text!r}"
            )
        if not waiting:
            say("no requests await approval")


def _break_glass(request_id: int, admin: str, reason: str, verdict: str) -> None:
    if not reason.strip():
        raise Fail("--reason must say why approvers were bypassed", EXIT_USAGE)
    with _runtime() as runtime:
        principal = Principal(admin)
        with runtime.db.session() as session:
            allowed = has_role(session, principal, "admin", runtime.settings.admins)
        if not allowed:
            with runtime.db.session() as session:
                audit.append(
                    session,
                    "approver_refused",
                    admin,
                    request_id=request_id,
                    details={
                        "verdict": verdict,
                        "reason": "break-glass needs an admin",
                        "via": "cli",
                        "operator": _operator(),
                    },
                )
            raise Fail(f"{admin} is not an admin: break-glass decisions are for admins")
        decision = runtime.approvals.decide(
            request_id,
            principal,
            "approve" if verdict == "approve" else "reject",
            reason=f"{reason.strip()} (break-glass by {_operator()})",
            via="cli",
            break_glass=True,
        )
    say(decision.message)
    if decision.execution is not None:
        req = decision.execution.request
        say(f"request #{req.id} {req.state}: {req.outcome_reason or ''}")
    ok = decision.status in ("approved", "declined", "pending")
    if not ok:
        raise Fail(f"request #{request_id}: {decision.status}")


@approvals.command("approve")
@click.argument("request_id", type=int)
@click.option("--as", "admin", required=True, help="The admin's Slack user ID (U…).")
@click.option("--reason", required=True, help="Why the approvers were bypassed (audited).")
def approvals_approve(request_id: int, admin: str, reason: str) -> None:
    """Break-glass approval by an admin (never of their own request); sends if the quorum is met."""
    _break_glass(request_id, admin, reason, "approve")


@approvals.command("reject")
@click.argument("request_id", type=int)
@click.option("--as", "admin", required=True, help="The admin's Slack user ID (U…).")
@click.option("--reason", required=True, help="Why (audited, shown to the requester).")
def approvals_reject(request_id: int, admin: str, reason: str) -> None:
    """Break-glass rejection by an admin."""
    _break_glass(request_id, admin, reason, "reject")
