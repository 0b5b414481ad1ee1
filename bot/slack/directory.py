"""Who is asking: a Slack user's user groups, looked up with a short-lived cache.

Slack has no "groups of a user" call, so we ask `usergroups.users.list` only for the user groups
that appear in grants (the only ones that can matter) and cache each member list for `ttl`
seconds. A group whose lookup fails counts as "not a member": default deny.

Which groups appear in grants is read from the database at most every GRANTED_TTL seconds (it
was a transaction of its own on every form and click). Stale, it can only deny: a group granted
a moment ago is not looked up yet, and a group whose grant was revoked is still looked up, but
the access check reads the grants themselves, in the request's own transaction.
"""

from __future__ import annotations

import logging
import threading
import time

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError

from bot.store.db import Database
from bot.store.grants import granted_usergroups

log = logging.getLogger(__name__)

#: Seconds the list of granted user groups is reused (see the module's docstring).
GRANTED_TTL = 5.0


class UserGroups:
    def __init__(self, client: WebClient, db: Database, ttl: float = 60.0) -> None:
        self._client = client
        self._db = db
        self._ttl = ttl
        self._members: dict[str, tuple[float, frozenset[str]]] = {}
        self._granted: tuple[float, list[str]] | None = None
        self._lock = threading.Lock()

    def _granted_groups(self, fresh: bool = False) -> list[str]:
        now = time.monotonic()
        cached = self._granted
        if cached is not None and cached[0] > now and not fresh:
            return cached[1]
        with self._db.read() as session:
            groups = granted_usergroups(session)
        self._granted = (now + GRANTED_TTL, groups)
        return groups

    def _members_of(self, group: str, fresh: bool = False) -> frozenset[str]:
        now = time.monotonic()
        with self._lock:
            cached = self._members.get(group)
            if cached and cached[0] > now and not fresh:
                return cached[1]
        try:
            response = self._client.usergroups_users_list(usergroup=group)
            members = frozenset(response.get("users") or [])
        except (SlackApiError, SlackRequestError, OSError) as exc:
            log.warning("usergroups.users.list %s failed: %s", group, type(exc).__name__)
            members = frozenset()
        with self._lock:
            self._members[group] = (now + self._ttl, members)
        return members

    def groups_of(self, user_id: str, *, fresh: bool = False) -> tuple[str, ...]:
        """The granted user groups `user_id` is in; `fresh`: asked of Slack now, not the cache
        (decisions and sends, where a removal must count at once)."""
        granted = self._granted_groups(fresh)
        return tuple(g for g in granted if user_id in self._members_of(g, fresh))
