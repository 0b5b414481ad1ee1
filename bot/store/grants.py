"""The authorization table: grants, revocations and the access check (default deny)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from bot.authz import (
    AuthzInputError,
    Principal,
    Role,
    parse_expiry,
    parse_role,
    parse_scope,
    scope_matches,
    subject_kind,
)
from bot.store import audit
from bot.store.db import Database
from bot.store.models import Grant


def aware(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything is stored in UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def is_active(grant: Grant, now: datetime) -> bool:
    expires = aware(grant.expires_at)
    return grant.revoked_at is None and (expires is None or expires > now)


def create_grant(
    session: Session,
    *,
    subject: str,
    scope: str,
    role: str,
    actor: str,
    approval_required: bool = False,
    expires_at: datetime | None = None,
) -> Grant:
    """Validate and store a grant, audited. AuthzInputError (audited by the caller) when bad."""
    kind = subject_kind(subject)
    grant = Grant(
        subject=subject,
        subject_kind=kind,
        role=parse_role(role),
        scope=parse_scope(scope),
        approval_required=approval_required,
        expires_at=expires_at,
        created_by=actor,
        created_at=audit.utc_now(),
    )
    session.add(grant)
    session.flush()
    audit.append(
        session,
        "grant_created",
        actor,
        details=describe(grant),
    )
    return grant


def revoke_grant(session: Session, grant_id: int, actor: str) -> Grant | None:
    """Mark a grant revoked (never delete it); None when there is no such active grant."""
    grant = session.get(Grant, grant_id, with_for_update=True)
    if grant is None or grant.revoked_at is not None:
        return None
    grant.revoked_at = audit.utc_now()
    grant.revoked_by = actor
    audit.append(session, "grant_revoked", actor, details=describe(grant))
    return grant


def describe(grant: Grant) -> dict[str, object]:
    expires = aware(grant.expires_at)
    return {
        "grant_id": grant.id,
        "subject": grant.subject,
        "role": grant.role,
        "scope": grant.scope,
        "approval_required": grant.approval_required,
        "expires_at": audit.format_ts(expires) if expires else None,
    }


def list_grants(session: Session, *, include_inactive: bool = False) -> list[Grant]:
    now = audit.utc_now()
    grants = list(session.execute(select(Grant).order_by(Grant.id)).scalars())
    return grants if include_inactive else [g for g in grants if is_active(g, now)]


@dataclass(frozen=True)
class AccessDecision:
    """The answer to "may this principal act in this role on this SIM?"."""

    allowed: bool
    role: Role
    grant: Grant | None = None
    via_env_admin: bool = False
    approval_required: bool = False
    reason: str = ""

    @property
    def basis(self) -> str:
        if self.via_env_admin:
            return "admin via SMSBOT_ADMINS"
        if self.grant is not None:
            g = self.grant
            return f"grant #{g.id}: {g.role} for {g.subject} on {g.scope}"
        return "no grant"


def matching_grants(
    session: Session,
    principal: Principal,
    role: Role,
    iccid: str,
    group_name: str | None,
    now: datetime | None = None,
) -> list[Grant]:
    """Active grants of `role` (or admin, which implies every role) that cover this SIM."""
    return [
        g
        for g in grants_of(session, principal, role, now)
        if scope_matches(g.scope, iccid, group_name)
    ]


def grants_of(
    session: Session, principal: Principal, role: Role, now: datetime | None = None
) -> list[Grant]:
    """The principal's active grants of `role` (or admin) over any SIMs: one query, for callers
    that check many SIMs (match each with `scope_matches`)."""
    now = now or audit.utc_now()
    candidates = session.execute(
        _GRANTS_OF, {"subjects": list(principal.subjects), "roles": sorted({role, "admin"})}
    ).scalars()
    return [g for g in candidates if is_active(g, now)]


#: Built once (on every send's path): expanding parameters take the lists.
_GRANTS_OF = select(Grant).where(
    Grant.subject.in_(bindparam("subjects", expanding=True)),
    Grant.role.in_(bindparam("roles", expanding=True)),
    Grant.revoked_at.is_(None),
)


def held_grants(
    session: Session, principal: Principal, role: Role, admins: frozenset[str]
) -> list[Grant] | None:
    """`grants_of` for callers that match many SIMs; None stands for an env admin (every SIM)."""
    return None if principal.user_id in admins else grants_of(session, principal, role)


def covering(grants: list[Grant] | None, iccid: str, group_name: str | None) -> list[Grant]:
    """The grants (from `held_grants`) that cover this SIM; [] when none. An env admin (None)
    needs no grant: a list with no grant in it is not returned for them, see `covers`."""
    return [g for g in grants or [] if scope_matches(g.scope, iccid, group_name)]


def covers(grants: list[Grant] | None, iccid: str, group_name: str | None) -> bool:
    """Whether the grants (from `held_grants`; None: an env admin) cover this SIM."""
    return grants is None or bool(covering(grants, iccid, group_name))


def check_access(
    session: Session,
    principal: Principal,
    role: Role,
    iccid: str,
    group_name: str | None,
    admins: frozenset[str],
) -> AccessDecision:
    """Default deny. With several matching grants, one that needs no approval wins."""
    if principal.user_id in admins:
        return AccessDecision(True, role, via_env_admin=True)
    grants = matching_grants(session, principal, role, iccid, group_name)
    if not grants:
        granters = who_can_grant(session, admins)
        ask = ", ".join(f"<@{u}>" for u in granters) if granters else "an smsbot admin"
        return AccessDecision(
            False,
            role,
            reason=(
                f"you have no `{role}` grant for SIM {iccid}"
                + (f" (group {group_name})" if group_name else "")
                + f". Ask {ask} to grant it: `/sms grant <@{principal.user_id}> {iccid} {role}`"
            ),
        )
    grants.sort(key=lambda g: (g.approval_required and g.role != "admin", g.id))
    best = grants[0]
    return AccessDecision(
        True, role, grant=best, approval_required=best.approval_required and best.role != "admin"
    )


def who_can_grant(session: Session, admins: frozenset[str]) -> list[str]:
    """User IDs that can grant access: env admins, then users holding an admin grant on `*`."""
    now = audit.utc_now()
    rows = session.execute(
        select(Grant).where(Grant.role == "admin", Grant.subject_kind == "user")
    ).scalars()
    named = [g.subject for g in rows if is_active(g, now) and g.scope == "*"]
    out: list[str] = []
    for user in [*sorted(admins), *named]:
        if user not in out:
            out.append(user)
    return out[:5]


def has_role(
    session: Session,
    principal: Principal,
    role: Role,
    admins: frozenset[str],
    iccid: str = "*",
    group_name: str | None = None,
) -> bool:
    """Whether the principal holds `role` for this SIM (`*`: over all SIMs, e.g. to administer)."""
    return check_access(session, principal, role, iccid, group_name, admins).allowed


def command_refusal(
    session: Session,
    principal: Principal,
    command: str,
    roles: tuple[Role, ...],
    admins: frozenset[str],
    iccid: str = "*",
    group_name: str | None = None,
) -> str | None:
    """None when the principal holds one of `roles` for these SIMs (`*`: all of them). Otherwise
    the refusal is audited and the returned text says what is missing and who can grant it."""
    if any(has_role(session, principal, role, admins, iccid, group_name) for role in roles):
        return None
    audit.append(
        session,
        "denied",
        principal.user_id,
        iccid=iccid if iccid != "*" else None,
        details={"command": command, "roles": list(roles), "channel": principal.channel_id},
    )
    granters = who_can_grant(session, admins)
    ask = ", ".join(f"<@{u}>" for u in granters) if granters else "an smsbot admin"
    needed = " or ".join(f"`{r}`" for r in roles)
    # Only a well-formed ICCID is repeated back: the text goes to Slack and terminals.
    shown = f"SIM `{iccid}`" if iccid.isascii() and iccid.isdigit() else "this SIM"
    where = "over all SIMs" if iccid == "*" else f"for {shown}"
    return f"`{command}` needs the {needed} role {where}; ask {ask}."


def grant_or_refuse(
    db: Database,
    *,
    subject: str,
    scope: str,
    role: str,
    actor: str,
    approval_required: bool = False,
    expires: str | None = None,
) -> dict[str, object]:
    """Create a grant from what a person typed, in its own transaction. A bad subject, scope,
    role or expiry raises AuthzInputError after the refusal is audited (committed apart)."""
    try:
        with db.session() as session:
            grant = create_grant(
                session,
                subject=subject,
                scope=scope,
                role=role,
                actor=actor,
                approval_required=approval_required,
                expires_at=parse_expiry(expires, audit.utc_now()),
            )
            return describe(grant)
    except AuthzInputError as exc:
        with db.session() as session:
            audit.append(
                session,
                "grant_refused",
                actor,
                details={
                    "subject": subject[:64],
                    "scope": scope[:80],
                    "role": role[:32],
                    "reason": str(exc),
                },
            )
        raise


def granted_usergroups(session: Session) -> list[str]:
    """Every Slack user group that holds a live grant (whose members must be looked up)."""
    rows = session.execute(
        select(Grant.subject)
        .where(Grant.subject_kind == "usergroup", Grant.revoked_at.is_(None))
        .distinct()
    ).scalars()
    return sorted(rows)
