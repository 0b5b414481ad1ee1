"""`/sms` and its subcommands. Only input parsing and formatting here: the rules live in the core
(validation and sending in bot.service, authorization in bot.store.grants)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.authz import AuthzInputError, Principal, Role
from bot.rate_limits import standings
from bot.sim_names import split_name_and_text, starts_a_name
from bot.slack import blocks
from bot.slack.deps import SlackDeps, deps_of
from bot.slack.fleet import open_fleet_modal
from bot.slack.modals import ICCID_MAX_LENGTH, send_modal
from bot.slack.mrkdwn import channel_link, clip, code, escape, fit_lines, mention, subteam
from bot.slack.notify import Audience, SlackFailure
from bot.slack.parsing import (
    CommandText,
    parse_command,
    plain_text,
    prefill_from_command,
    subject_id,
)
from bot.slack.template_picker import template_choices
from bot.sms.iccid import normalize_iccid
from bot.status import sim_status
from bot.store import audit
from bot.store.grants import (
    command_refusal,
    describe,
    grant_or_refuse,
    list_grants,
    revoke_grant,
)
from bot.store.inventory import get_sim, list_sims

log = logging.getLogger(__name__)


def register(app: App) -> None:
    app.command("/sms")(handle_sms)


def handle_sms(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """Acknowledge at once (help is answered in the ack itself); the rest runs after it."""
    deps = deps_of(context)
    text = body.get("text") or ""
    parsed = parse_command(text)
    first = parsed.raw.split(" ", 1)[0] if parsed.raw else ""
    if (
        parsed.subcommand is None
        and first
        and not first[0].isdigit()
        and not _names_a_sim(deps, plain_text(first))
    ):
        unknown = code(plain_text(first)[:40])
        ack(text=f"Unknown subcommand {unknown}.\n\n{blocks.HELP}")
        return
    if parsed.subcommand == "help":
        ack(text=blocks.HELP)
        return
    ack()
    asker = Audience(body["user_id"], body.get("channel_id"), body.get("response_url"))
    if parsed.subcommand is None:
        deps.later(open_send_modal, deps, client, body["trigger_id"], asker, text, ui=True)
    elif parsed.subcommand == "fleet":
        trigger = body["trigger_id"]
        deps.later(open_fleet_modal, deps, client, trigger, asker, parsed.args, ui=True)
    else:
        deps.later(run_subcommand, deps, parsed, asker)


def _names_a_sim(deps: SlackDeps, word: str) -> bool:
    """`/sms pump 7 …` opens the form for the SIM called that; an unknown word is a typo'd
    subcommand. (A read of the inventory: it never waits for a writer.)"""
    with deps.db.read() as session:
        return starts_a_name(session, word)


def run_subcommand(deps: SlackDeps, parsed: CommandText, asker: Audience) -> None:
    try:
        answer = _SUBCOMMANDS[str(parsed.subcommand)](
            deps, deps.principal(asker.user, asker.channel), parsed.args
        )
    except Exception:
        log.exception("/sms %s failed", parsed.subcommand)
        answer = ":warning: Something went wrong; it was logged."
    # The response_url may have expired or been used up: the answer still reaches the user.
    deps.notifier.answer(asker, answer)


def open_send_modal(
    deps: SlackDeps, client: WebClient, trigger_id: str, asker: Audience, text: str
) -> None:
    """The send form, prefilled from the command; when Slack will not open it, the user is told
    why and what to do (through the command's response_url)."""
    iccid, message = prefill_from_command(text)
    sim = None
    with deps.db.read() as session:
        if iccid:
            sim = get_sim(session, normalize_iccid(iccid))
        elif message:
            # `/sms pump 7 reset modem`: the SIM by its name. Several SIMs of that name: the
            # name stays in the field, and the form's check lists the choices (never a guess).
            named, rest = split_name_and_text(session, plain_text(message))
            if named is not None:
                iccid = named.iccid or named.given[:ICCID_MAX_LENGTH]
                message = rest
                sim = get_sim(session, named.iccid) if named.iccid else None
    metadata = {"channel": asker.channel, "response_url": asker.response_url}
    try:
        client.views_open(
            trigger_id=trigger_id,
            view=send_modal(
                metadata=metadata,
                iccid=iccid,
                message_text=message,
                sim=sim,
                templates=template_choices(deps.db),
            ),
        )
    except SlackFailure as exc:
        deps.notifier.form_did_not_open(asker, exc, "send form", "/sms")


def _refusal(
    deps: SlackDeps,
    principal: Principal,
    command: str,
    roles: tuple[Role, ...] = ("admin",),
    iccid: str = "*",
    group: str | None = None,
) -> str | None:
    with deps.db.session() as session:
        refusal = command_refusal(
            session, principal, f"/sms {command}", roles, deps.admins, iccid, group
        )
    return f":no_entry: {refusal}" if refusal else None


def cmd_grant(deps: SlackDeps, principal: Principal, args: list[str]) -> str:
    refusal = _refusal(deps, principal, "grant")
    if refusal:
        return refusal
    usage = (
        "Usage: `/sms grant @user|@group|#channel &lt;sims&gt; &lt;role&gt; [approval] "
        "[expires 30d]`"
    )
    if len(args) < 3:
        return usage
    subject, sims, role = subject_id(args[0]), plain_text(args[1]), args[2]
    rest = [a.lower() for a in args[3:]]
    approval = "approval" in rest
    expires = None
    if "expires" in rest:
        index = rest.index("expires")
        expires = rest[index + 1] if index + 1 < len(rest) else ""
    unknown = [a for a in rest if a not in ("approval", "expires", expires)]
    if unknown:
        return f":x: unknown option {code(unknown[0][:40])}.\n{usage}"
    try:
        info = grant_or_refuse(
            deps.db,
            subject=subject,
            scope=sims,
            role=role,
            actor=principal.user_id,
            approval_required=approval,
            expires=expires,
        )
    except AuthzInputError as exc:
        return f":x: {escape(str(exc))}.\n{usage}"
    return f":white_check_mark: Grant #{info['grant_id']}: {_grant_line_from(info)}"


def _grant_line_from(info: dict[str, object]) -> str:
    subject = str(info["subject"])
    who = (
        subteam(subject)
        if subject.startswith("S")
        else (channel_link(subject) if subject[:1] in "CG" else mention(subject))
    )
    extras = []
    if info.get("approval_required"):
        extras.append("approval required")
    if info.get("expires_at"):
        extras.append(f"expires {escape(str(info['expires_at']))}")
    suffix = f" ({', '.join(extras)})" if extras else ""
    return f"{code(str(info['role']))} for {who} on {code(str(info['scope']))}{suffix}"


def cmd_revoke(deps: SlackDeps, principal: Principal, args: list[str]) -> str:
    refusal = _refusal(deps, principal, "revoke")
    if refusal:
        return refusal
    if len(args) != 1 or not args[0].lstrip("#").isdigit():
        return "Usage: `/sms revoke &lt;grant id&gt;` (see `/sms grants`)"
    grant_id = int(args[0].lstrip("#"))
    with deps.db.session() as session:
        revoked = revoke_grant(session, grant_id, principal.user_id)
    if revoked is None:
        return f":x: There is no active grant #{grant_id}."
    return f":white_check_mark: Grant #{grant_id} revoked."


def cmd_grants(deps: SlackDeps, principal: Principal, args: list[str]) -> str:
    refusal = _refusal(deps, principal, "grants")
    if refusal:
        return refusal
    with deps.db.read() as session:
        rows = [describe(g) for g in list_grants(session)]
    if not rows:
        return "No grants yet. `/sms grant @user &lt;sims&gt; sender` gives one."
    lines = [f"#{r['grant_id']} {_grant_line_from(r)}" for r in rows]
    return fit_lines(f"*Active grants* ({len(rows)})", lines, " (`smsbot grants` lists all)")


def cmd_sims(deps: SlackDeps, principal: Principal, args: list[str]) -> str:
    refusal = _refusal(deps, principal, "sims")
    if refusal:
        return refusal
    with deps.db.read() as session:
        sims = list_sims(session)
    if not sims:
        return "The inventory is empty: `smsbot sims import FILE.csv`."
    lines = [
        f"{code(s.iccid)} {escape(s.label or '-')} · {escape(s.sim_type or 'type unknown')}"
        f"{' · group ' + code(s.group_name) if s.group_name else ''}"
        f"{'' if s.active else ' · inactive'}"
        for s in sims
    ]
    return fit_lines(f"*SIM inventory* ({len(sims)})", lines, " (`smsbot sims list` lists all)")


def cmd_audit(deps: SlackDeps, principal: Principal, args: list[str]) -> str:
    iccid = normalize_iccid(args[0]) if args else None
    refusal = _refusal(deps, principal, "audit", ("auditor",), iccid or "*")
    if refusal:
        return refusal
    with deps.db.read() as session:
        rows = audit.query(session, iccid=iccid, limit=15, newest_first=True)
    if not rows:
        return "No audit entries" + (f" for {code(iccid)}." if iccid else ".")
    title = "*Latest audit entries*" + (f" for {code(iccid)}" if iccid else "")
    lines = [blocks.audit_line(r) for r in reversed(rows)]
    return fit_lines(title, lines, " (`smsbot audit list` shows them all)")


def cmd_status(deps: SlackDeps, principal: Principal, args: list[str]) -> str:
    if not args:
        return "Usage: `/sms status &lt;iccid&gt;`"
    iccid = normalize_iccid(" ".join(args))
    with deps.db.read() as session:
        sim = get_sim(session, iccid)
    group = sim.group_name if sim else None
    refusal = _refusal(deps, principal, "status", ("sender", "auditor"), iccid, group)
    if refusal:
        return refusal
    status = sim_status(deps.service, iccid)
    lines = []
    for req in status.requests:
        facts = status.about(req)
        seen = status.in_portal(req)
        lines.append(
            blocks.request_line(req)
            + (f" · portal log: *{escape(seen)}*" if seen else "")
            + (
                " · approved by " + ", ".join(mention(a) for a in facts.approvers)
                if facts.approvers
                else ""
            )
            + (f" · audit #{facts.last_audit}" if facts.last_audit else "")
        )
    if not lines:
        lines.append("No requests from this bot yet.")
    if status.portal_error is not None:
        lines.append(f"Portal SMS log unavailable: {escape(status.portal_error)}")
    else:
        lines.append("*Portal SMS log*" + ("" if status.portal_log else ": no messages"))
        for e in status.portal_log:
            ours = status.ours(e)
            lines.append(
                f"{escape(e.sent_timestamp or '-')} {code(e.sms_uid or '-')} "
                f"{escape(e.status or '-')}"
                + (f" · request #{ours}" if ours else " · _not sent by this bot_")
            )
    if status.replies:
        lines.append("*Device replies*")
        lines += [
            f"{escape(r.sent_timestamp or '-')}: {escape(clip(r.message_text, 300))}"
            for r in status.replies
        ]
    return fit_lines(blocks.sim_line(sim, iccid), lines, "")


def cmd_usage(deps: SlackDeps, principal: Principal, args: list[str]) -> str:
    refusal = _refusal(deps, principal, "usage")
    if refusal:
        return refusal
    settings = deps.runtime.settings
    lines: list[str] = []
    with deps.db.read() as session:
        found = standings(session, settings.rate_user, settings.rate_sim)
    for standing in found:
        rate = standing.rate
        if rate is None:
            lines.append(f"*Per {standing.kind}*: no limit")
            continue
        lines.append(f"*Per {standing.kind}*: {rate.limit} per {escape(rate.window_text)}")
        show = mention if standing.kind == "user" else code
        lines += [
            f"{show(r.subject)} {r.count}/{r.limit}" + (" · *full*" if r.count >= r.limit else "")
            for r in standing.rows
        ] or ["nothing in the current window"]
    return fit_lines("*Rate limits now*", lines, " (`smsbot usage` lists them all)")


_SUBCOMMANDS = {
    "grant": cmd_grant,
    "revoke": cmd_revoke,
    "grants": cmd_grants,
    "sims": cmd_sims,
    "audit": cmd_audit,
    "status": cmd_status,
    "usage": cmd_usage,
}
