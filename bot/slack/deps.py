"""What listeners get from the context (one object, injected by a middleware)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from slack_bolt import BoltContext

from bot.authz import Principal
from bot.runtime import Runtime
from bot.service import SendService
from bot.slack.directory import UserGroups
from bot.slack.notify import Notifier
from bot.store.db import Database

CONTEXT_KEY = "smsbot"
log = logging.getLogger(__name__)


@dataclass
class SlackDeps:
    runtime: Runtime
    notifier: Notifier
    groups: UserGroups

    #: Work that runs after the acknowledgement (portal calls, Slack messages, lookups).
    #: Our own pool rather than Bolt's lazy listeners: those deep-copy every request, which
    #: cost more than the rest of the acknowledgement together.
    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(16, thread_name_prefix="smsbot-after-ack")
    )

    def later(self, fn: Callable[..., None], *args: Any) -> Future[None]:
        """Run `fn(*args)` after the ack; failures are logged, never lost silently."""

        def run() -> None:
            try:
                fn(*args)
            except Exception:
                log.exception("background work %s failed", getattr(fn, "__name__", fn))

        return self.executor.submit(run)

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
