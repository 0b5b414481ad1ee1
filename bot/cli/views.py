"""What became of requests: a SIM's messages and one request's timeline."""

from __future__ import annotations

import click

from bot.authz import Principal
from bot.cli.common import (
    Fail,
    _database,
    _runtime,
    cli,
    say,
)
from bot.status import sim_status
from bot.store import audit
from bot.store.models import SmsRequest


# ---- what became of requests ---------------------------------------------------------------
@cli.command("status")
@click.argument("sim")
@click.option("--limit", default=10, show_default=True, help="How many messages to show.")
def status_command(sim: str, limit: int) -> None:
    """A SIM's latest requests (state, delivery) tied by sms_uid to the portal's SMS log.

    SIM is an ICCID (spaces and dashes are fine)."""
    with _runtime() as runtime:
        found = sim_status(runtime.service, sim, limit=max(1, min(limit, 50)))
    label = (
        f"{found.sim.label or '-'} · {found.sim.sim_type or 'type unknown'}"
        if found.sim
        else ("not in the inventory")
    )
    lines = [f"SIM {found.iccid}: {label}"]
    for req in found.requests:
        facts = found.about(req)
        approved = f" approved_by={','.join(facts.approvers)}" if facts.approvers else ""
        lines.append(
            f"#{req.id} {req.created_at:%Y-%m-%d %H:%M} {req.requester} {req.state}"
            f" sms_uid={req.sms_uid} delivery={req.delivery_status or '-'}"
            f" portal={found.in_portal(req) or '-'}{approved} audit=#{facts.last_audit or '-'}"
        )
    if not found.requests:
        lines.append("no requests from this bot yet")
    if found.portal_error is not None:
        lines.append(f"portal SMS log unavailable: {found.portal_error}")
    else:
        lines.append("portal SMS log:" + ("" if found.portal_log else " no messages"))
        for e in found.portal_log:
            ours = found.ours(e)
            mine = f" request #{ours}" if ours else " (not sent by this bot)"
            lines.append(f"  {e.sent_timestamp or '-'} {e.sms_uid or '-'} {e.status or '-'}{mine}")
    if found.replies:
        lines.append("device replies:")
        lines += [f"  {r.sent_timestamp or '-'} {r.message_text!r}" for r in found.replies]
    say("\n".join(lines))


@cli.group()
def requests() -> None:
    """One request: what was asked and everything that happened to it."""


@requests.command("show")
@click.argument("request_id", type=int)
def requests_show(request_id: int) -> None:
    """The request (every field sent, who asked, state, outcome) and its audit timeline."""
    with _database() as database, database.read() as session:
        req = session.get(SmsRequest, request_id)
        if req is None:
            raise Fail(f"there is no request #{request_id}")
        timeline = audit.query(session, request_id=request_id)
    facts = [
        f"request #{req.id}  state={req.state}  sms_uid={req.sms_uid}  source={req.source}",
        f"requester {req.requester}  channel={req.channel_id or '-'}",
        f"iccid {req.iccid}  coding={req.data_coding}  origin={req.origin or '-'}",
        f"text {req.message_text!r}",
        f"outcome {req.outcome_reason or '-'}  delivery={req.delivery_status or '-'}",
    ]
    if req.decided_by:
        facts.append(f"decided by {req.decided_by}: {req.decision_reason or '-'}")
    say("\n".join(facts))
    say("timeline:")
    for row in timeline:
        say("  " + audit.to_text(row))


@requests.command("cancel")
@click.argument("request_id", type=int)
@click.option("--as", "user", required=True, help="The requester's Slack user ID (U…).")
def requests_cancel(request_id: int, user: str) -> None:
    """Withdraw your own request while it awaits approval (nothing is sent)."""
    with _runtime() as runtime:
        decision = runtime.approvals.cancel(request_id, Principal(user), via="cli")
    if decision.status != "cancelled":
        raise Fail(decision.message)
    say(decision.message)
