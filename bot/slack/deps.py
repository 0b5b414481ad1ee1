"""What listeners get from the context (one object, injected by a middleware)."""

from __future__ import annotations

from dataclasses import dataclass

from slack_bolt import BoltContext

from bot.authz import Principal
from bot.runtime import Runtime
from bot.service import SendService
from bot.slack.directory import UserGroups
from bot.slack.notify import Notifier
from bot.store.db import Database

CONTEXT_KEY = "smsbot"


@dataclass
class SlackDeps:
    runtime: Runtime
    notifier: Notifier
    groups: UserGroups

    @property
    def service(self) -> SendService:
        return self.runtime.service

    @property
    def db(self) -> Database:
        return self.runtime.db

    @property
    def admins(self) -> frozenset[str]:
        return self.runtime.settings.admins

    def principal(self, user_id: str, channel_id: str | None) -> Principal:
        return Principal(user_id, self.groups.groups_of(user_id), channel_id)


def deps_of(context: BoltContext) -> SlackDeps:
    deps = context[CONTEXT_KEY]
    assert isinstance(deps, SlackDeps)
    return deps
