"""What listeners get from the context (one object, injected by a middleware)."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from slack_bolt import BoltContext

from bot.authz import Principal
from bot.runtime import Runtime
from bot.service import SendService
from bot.slack.directory import UserGroups
from bot.slack.home_viewers import HomeViewers
from bot.slack.notify import Notifier
from bot.store.db import Database

CONTEXT_KEY = "smsbot"
log = logging.getLogger(__name__)


class ResponseUrls:
    """The slash command's response_url of each request recorded in this process: the last
    route to the requester when neither a thread nor a DM works (Slack keeps it valid 30 min).
    In memory only (it is a credential to post to the user), bounded."""

    LIMIT = 1000

    def __init__(self) -> None:
        self._urls: OrderedDict[int, str] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, request_id: int, url: str | None) -> None:
        if not url:
            return
        with self._lock:
            self._urls[request_id] = url
            while len(self._urls) > self.LIMIT:
                self._urls.popitem(last=False)

    def get(self, request_id: int) -> str | None:
        with self._lock:
            return self._urls.get(request_id)


@dataclass
class SlackDeps:
    runtime: Runtime
    notifier: Notifier
    groups: UserGroups

    # Work that runs after the acknowledgement, in our own pools rather than Bolt's lazy
    # listeners (those deep-copy every request, which cost more than the rest of the ack).
    #: Sends, decisions, subcommands: may wait on the portal for seconds.
    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(16, thread_name_prefix="smsbot-work")
    )
    #: Opening and refreshing modals: must happen within 3 s of the trigger, so it never
    #: queues behind a slow portal; few threads, so a burst does not starve the server.
    ui_executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(4, thread_name_prefix="smsbot-ui")
    )

    response_urls: ResponseUrls = field(default_factory=ResponseUrls)
    #: Users whose App Home is open in this process (refreshed by the renderer).
    home_viewers: HomeViewers = field(default_factory=HomeViewers)

    #: Work handed over and not finished yet (what a stop waits for).
    pending: set[Future[None]] = field(default_factory=set)

    def later(self, fn: Callable[..., None], *args: Any, ui: bool = False) -> Future[None]:
        """Run `fn(*args)` after the ack (`ui=True`: in the modal lane); failures are logged,
        never lost silently."""

        def run() -> None:
            try:
                fn(*args)
            except Exception:
                log.exception("background work %s failed", getattr(fn, "__name__", fn))

        future = (self.ui_executor if ui else self.executor).submit(run)
        self.pending.add(future)
        future.add_done_callback(self.pending.discard)
        return future

    def settle(self, timeout: float) -> bool:
        """Wait up to `timeout` s for the work handed over so far (nothing is shut down)."""
        _, not_done = wait(set(self.pending), timeout=max(0.0, timeout))
        return not not_done

    def drain(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the work handed over; True when all of it finished.
        Nothing new is started afterwards."""
        _, not_done = wait(set(self.pending), timeout=max(0.0, timeout))
        self.ui_executor.shutdown(wait=False, cancel_futures=True)
        self.executor.shutdown(wait=False, cancel_futures=True)
        return not not_done

    def shutdown(self) -> None:
        """Let the work already handed over finish (used when stopping)."""
        self.ui_executor.shutdown(wait=True)
        self.executor.shutdown(wait=True)
        # The Web API client's kept-alive connections (bot.slack.web_client).
        closer = getattr(self.notifier.client, "close", None)
        if callable(closer):
            closer()

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
