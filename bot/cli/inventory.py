"""The SIM inventory, SIM groups and the authorization table."""

from __future__ import annotations

import json
from pathlib import Path

import click

from bot.authz import AuthzInputError, Principal, parse_role
from bot.cli.common import (
    EXIT_USAGE,
    Fail,
    _database,
    _operator,
    _settings,
    cli,
    say,
)
from bot.sms.iccid import normalize_iccid
from bot.store import audit
from bot.store.grants import (
    check_access,
    grant_or_refuse,
    list_grants,
    revoke_grant,
)
from bot.store.inventory import get_sim, import_csv, list_groups, list_sims, set_group_policy
from bot.store.models import SimGroup


# ---- sims ------------------------------------------------------------------------------------
@cli.group()
def sims() -> None:
    """The SIM inventory."""


@sims.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def sims_import(file: Path) -> None:
    """Import or update SIMs from CSV with the header: iccid,label,sim_type,group,active.

    Any bad row imports nothing; every bad row is reported with its line number."""
    with _database() as database, file.open(newline="", encoding="utf-8-sig") as source:
        try:
            with database.session() as session:
                result = import_csv(session, source, _operator())
                if result.errors:
                    raise _ImportFailed(result.errors)
        except UnicodeDecodeError as exc:
            raise Fail(
                f"{file} is not UTF-8 text (byte {exc.start + 1}): save it as UTF-8 CSV",
                EXIT_USAGE,
            ) from None
        except _ImportFailed as failed:
            with database.session() as session:
                audit.append(
                    session,
                    "sims_import_refused",
                    _operator(),
                    details={"file": file.name, "errors": failed.errors[:50]},
                )
            for line in failed.errors[1:]:
                say(line, err=True)
            raise Fail(f"nothing imported: {failed.errors[0]}") from None
    say(f"imported {result.imported} new SIM(s), updated {result.updated}")


class _ImportFailed(Exception):
    def __init__(self, errors: list[str]) -> None:
        super().__init__(errors[0])
        self.errors = errors


@sims.command("list")
def sims_list() -> None:
    """List the inventory."""
    with _database() as database, database.read() as session:
        rows = list_sims(session)
        for sim in rows:
            state = "active" if sim.active else "inactive"
            say(
                f"{sim.iccid}  {sim.sim_type or '-':<16} {sim.group_name or '-':<12} "
                f"{state:<8} {sim.label or ''}"
            )
        if not rows:
            say("no SIMs in the inventory (smsbot sims import FILE.csv)")


# ---- grants ----------------------------------------------------------------------------------
@cli.command()
@click.argument("subject")
@click.argument("sims")
@click.option("--role", required=True, help="sender, approver, admin or auditor.")
@click.option("--approval-required", is_flag=True, help="Sends under this grant need approval.")
@click.option("--expires", default=None, help="30d, 12h, 90m, 2w or an ISO date.")
def grant(subject: str, sims: str, role: str, approval_required: bool, expires: str | None) -> None:
    """Grant ROLE to SUBJECT (U…/W… user, S… group, C…/G… channel) over SIMS (an ICCID, a
    prefix like 894412*, group:NAME, or *)."""
    with _database() as database:
        try:
            info = grant_or_refuse(
                database,
                subject=subject,
                scope=sims,
                role=role,
                actor=_operator(),
                approval_required=approval_required,
                expires=expires,
            )
        except AuthzInputError as exc:
            raise Fail(str(exc)) from None
    say(f"grant #{info['grant_id']}: {json.dumps(info, ensure_ascii=False)}")


@cli.command()
@click.argument("grant_id", type=int)
def revoke(grant_id: int) -> None:
    """Revoke a grant (it stays in the table, marked revoked)."""
    with _database() as database, database.session() as session:
        revoked = revoke_grant(session, grant_id, _operator())
        if revoked is None:
            raise Fail(f"no active grant #{grant_id}")
    say(f"grant #{grant_id} revoked")


@cli.command()
@click.option("--all", "include_inactive", is_flag=True, help="Include revoked and expired.")
def grants(include_inactive: bool) -> None:
    """List grants."""
    with _database() as database, database.read() as session:
        rows = list_grants(session, include_inactive=include_inactive)
        for g in rows:
            flags = []
            if g.approval_required:
                flags.append("approval")
            if g.expires_at:
                flags.append(f"expires {g.expires_at:%Y-%m-%d %H:%M}")
            if g.revoked_at:
                flags.append(f"revoked by {g.revoked_by}")
            say(f"#{g.id:<4} {g.role:<8} {g.subject:<12} {g.scope:<24} {' '.join(flags)}")
        if not rows:
            say("no grants")


@cli.command()
@click.argument("user")
@click.argument("iccid")
@click.option("--group", "groups", multiple=True, help="A user group ID of that user (S…).")
@click.option("--channel", default=None, help="The channel the request would come from.")
@click.option("--role", default="sender", help="The role to check (default sender).")
def can(user: str, iccid: str, groups: tuple[str, ...], channel: str | None, role: str) -> None:
    """Say which grant lets USER act on ICCID, or why not (exit 1)."""
    settings = _settings()
    try:
        wanted = parse_role(role)
    except AuthzInputError as exc:
        raise Fail(str(exc), EXIT_USAGE) from None
    with _database() as database, database.read() as session:
        number = normalize_iccid(iccid)
        sim = get_sim(session, number)
        decision = check_access(
            session,
            Principal(user, groups, channel),
            wanted,
            number,
            sim.group_name if sim else None,
            settings.admins,
        )
    if not decision.allowed:
        raise Fail(f"no: {decision.reason}")
    approval = " (approval required)" if decision.approval_required else ""
    say(f"yes: {decision.basis}{approval}")


# ---- groups -----------------------------------------------------------------------------------
@cli.group()
def groups() -> None:
    """SIM groups and their approval policy."""


@groups.command("set")
@click.argument("name")
@click.option("--approval-required/--no-approval-required", default=None)
@click.option("--approval-channel", default=None, help="Channel ID (C…) where approvals go.")
@click.option("--approvals-needed", type=click.IntRange(1, 5), default=None)
def groups_set(
    name: str,
    approval_required: bool | None,
    approval_channel: str | None,
    approvals_needed: int | None,
) -> None:
    """Create or change a SIM group's approval policy."""
    if not (len(name) <= 64 and name.replace("-", "").replace("_", "").replace(".", "").isalnum()):
        raise Fail("NAME: letters, digits, _ . - (at most 64)", EXIT_USAGE)
    if approval_channel is not None and not (
        approval_channel[:1] in ("C", "G") and approval_channel[1:].isalnum()
    ):
        raise Fail("--approval-channel must be a channel ID (C… or G…)", EXIT_USAGE)
    with _database() as database, database.session() as session:
        group = set_group_policy(
            session,
            name,
            actor=_operator(),
            approval_required=approval_required,
            approval_channel=approval_channel,
            approvals_needed=approvals_needed,
        )
        line = _group_line(group)
    say(line)


def _group_line(group: SimGroup) -> str:
    policy = (
        f"approval required ({group.approvals_needed} approver(s)) in "
        f"{group.approval_channel or 'SMSBOT_APPROVAL_CHANNEL'}"
        if group.approval_required
        else "no approval"
    )
    return f"{group.name}: {policy}"


@groups.command("list")
def groups_list() -> None:
    """SIM groups and their policies."""
    with _database() as database, database.read() as session:
        rows = list_groups(session)
        for group in rows:
            say(_group_line(group))
        if not rows:
            say("no SIM groups (they come from `sims import` or `groups set`)")
