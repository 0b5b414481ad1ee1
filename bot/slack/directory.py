"""Who is asking: a Slack user's user groups, looked up with a short-lived cache.

Slack has no "groups of a user" call, so we ask `usergroups.users.list` only for the user groups
that appear in grants (the only ones that can matter) and cache each member list for `ttl`
seconds. A group whose lookup fails counts as "not a member": default deny.
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


class UserGroups:
    def __init__(self, client: WebClient, db: Database, ttl: float = 60.0) -> None:
        self._client = client
        self._db = db
        self._ttl = ttl
        self._members: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def _granted_groups(self) -> list[str]:
        with self._db.read() as session:
            return granted_usergroups(session)

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
        return tuple(g for g in self._granted_groups() if user_id in self._members_of(g, fresh))
