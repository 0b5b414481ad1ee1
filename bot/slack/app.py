"""The Bolt app: listeners grouped by surface, each module with a `register(app)`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.error import URLError

from slack_bolt import App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.http_retry import default_retry_handlers
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.config import secret_value
from bot.runtime import Runtime
from bot.slack import actions, approvals, commands, views
from bot.slack.deps import CONTEXT_KEY, SlackDeps
from bot.slack.directory import UserGroups
from bot.slack.notify import Notifier

log = logging.getLogger(__name__)


class SlackConfigError(Exception):
    pass


def build_app(runtime: Runtime, *, group_ttl: float = 60.0) -> tuple[App, SlackDeps]:
    settings = runtime.settings
    token = secret_value(settings.SLACK_BOT_TOKEN)
    signing_secret = secret_value(settings.SLACK_SIGNING_SECRET)
    if not token:
        raise SlackConfigError("SLACK_BOT_TOKEN: required to run the Slack bot")
    if not signing_secret and settings.SLACK_APP_TOKEN is None:
        raise SlackConfigError("SLACK_SIGNING_SECRET: required in HTTP mode")
    client = WebClient(
        token=token,
        base_url=settings.SLACK_API_URL,
        timeout=10,
        # `ratelimited` (HTTP 429): wait as long as Retry-After says, then try again (twice).
        retry_handlers=[*default_retry_handlers(), RateLimitErrorRetryHandler(max_retry_count=2)],
    )
    try:
        app = _bolt_app(client, signing_secret)
    except (SlackApiError, SlackRequestError, URLError, OSError) as exc:
        # Bolt checks the token with auth.test at start: say so in one line.
        reason = exc.response.get("error") if isinstance(exc, SlackApiError) else exc
        raise SlackConfigError(
            f"SLACK_BOT_TOKEN: auth.test at {settings.SLACK_API_URL} failed ({reason})"
        ) from None
    deps = SlackDeps(runtime, Notifier(client), UserGroups(client, runtime.db, ttl=group_ttl))

    @app.middleware
    def inject_deps(context: BoltContext, next: Callable[[], Any]) -> Any:
        context[CONTEXT_KEY] = deps
        return next()

    commands.register(app)
    views.register(app)
    actions.register(app)
    approvals.register(app)
    return app, deps


def _bolt_app(client: WebClient, signing_secret: str | None) -> App:
    return App(
        signing_secret=signing_secret or "socket-mode-does-not-sign",
        client=client,
        # The response goes out the moment a listener returns (instead of Bolt polling for the
        # ack every 10 ms); listeners ack and hand slow work to SlackDeps.later.
        process_before_response=True,
        logger=logging.getLogger("slack_bolt"),
    )
