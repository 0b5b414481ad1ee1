"""Authorization rules, pure: who is asking, which subjects and SIM scopes grants name."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, Protocol

Role = Literal["sender", "approver", "admin", "auditor"]
ROLES: tuple[Role, ...] = ("sender", "approver", "admin", "auditor")
SubjectKind = Literal["user", "usergroup", "channel"]

_SUBJECT = re.compile(r"\A([UWSCG])[A-Z0-9]{2,30}\Z")
_KIND_BY_PREFIX: dict[str, SubjectKind] = {
    "U": "user",
    "W": "user",
    "S": "usergroup",
    "C": "channel",
    "G": "channel",
}
_DURATION = re.compile(r"\A(\d{1,5})([mhdw])\Z")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class AuthzInputError(ValueError):
    """A subject, scope, role or expiry that cannot be used; the message says how to fix it."""


class GroupDirectory(Protocol):
    """Where user-group membership is looked up (Slack's usergroups.users.list)."""

    def groups_of(self, user_id: str, *, fresh: bool = False) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class Principal:
    """Who is asking: the user, their user groups and the channel they asked from."""

    user_id: str
    group_ids: tuple[str, ...] = field(default_factory=tuple)
    channel_id: str | None = None

    @property
    def subjects(self) -> tuple[str, ...]:
        return (self.user_id, *self.group_ids, *((self.channel_id,) if self.channel_id else ()))


def subject_kind(subject: str) -> SubjectKind:
    """The kind of a Slack ID: U…/W… user, S… user group, C…/G… channel."""
    match = _SUBJECT.match(subject)
    if not match:
        raise AuthzInputError(
            f"`{subject}` is not a Slack user (U…/W…), user group (S…) or channel (C…/G…) ID"
        )
    return _KIND_BY_PREFIX[match.group(1)]


def parse_role(role: str) -> Role:
    value = role.strip().lower()
    for known in ROLES:
        if value == known:
            return known
    raise AuthzInputError(f"unknown role `{role}`: use one of {', '.join(ROLES)}")


def parse_scope(scope: str) -> str:
    """`*`, a full ICCID, an ICCID prefix ending in `*`, or `group:NAME`."""
    value = scope.strip()
    if value == "*":
        return value
    if not value.startswith("group:"):
        value = value.replace(" ", "").replace("-", "")
    if value.startswith("group:"):
        name = value.removeprefix("group:")
        if re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name):
            return value
        raise AuthzInputError("a group scope is `group:NAME` (letters, digits, _ . -)")
    # ASCII digits only: `８９４４*` passes str.isdigit() and would never match an ICCID.
    digits = value[:-1] if value.endswith("*") else value
    if not (digits.isascii() and digits.isdigit()):
        raise AuthzInputError(
            f"`{scope}` is not a SIM scope: use an ICCID, a prefix like `894412*` (digits 0-9), "
            "`group:NAME` or `*`"
        )
    if value.endswith("*") and 1 <= len(digits) <= 21:
        return value
    if 18 <= len(value) <= 22:
        return value
    raise AuthzInputError(
        f"`{scope}` is not a SIM scope: use an ICCID, a prefix like `894412*`, `group:NAME` or `*`"
    )


def scope_matches(scope: str, iccid: str, group_name: str | None) -> bool:
    if scope == "*":
        return True
    if scope.startswith("group:"):
        return group_name is not None and scope == f"group:{group_name}"
    if scope.endswith("*"):
        return iccid.startswith(scope[:-1])
    return scope == iccid


def parse_expiry(text: str | None, now: datetime) -> datetime | None:
    """`30d`, `12h`, `90m`, `2w`, or an ISO date/time; None for no expiry."""
    if text is None or text.strip() == "":
        return None
    value = text.strip().lower()
    match = _DURATION.match(value)
    if match:
        seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        if seconds <= 0:
            raise AuthzInputError("an expiry must be in the future")
        return now + timedelta(seconds=seconds)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise AuthzInputError(
            f"`{text}` is not an expiry: use 30d, 12h, 90m, 2w or an ISO date"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=now.tzinfo)
    if moment <= now:
        raise AuthzInputError("an expiry must be in the future")
    return moment
