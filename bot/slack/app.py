"""The Bolt app: listeners grouped by surface, each module with a `register(app)`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.error import URLError

from slack_bolt import App, BoltContext, BoltResponse
from slack_bolt.error import BoltError
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.http_retry import default_retry_handlers
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.config import secret_value
from bot.runtime import Runtime
from bot.slack import actions, approvals, commands, fleet, home, suggestions, views
from bot.slack.deps import CONTEXT_KEY, SlackDeps
from bot.slack.directory import UserGroups
from bot.slack.notify import Notifier
from bot.slack.web_client import PooledWebClient
from bot.tenancy import Tenancy, record_foreign_request

log = logging.getLogger(__name__)


class SlackConfigError(Exception):
    """A Slack setting that cannot work: one line naming the variable (exit 2)."""


def build_app(
    runtime: Runtime, *, socket_mode: bool, group_ttl: float = 60.0
) -> tuple[App, SlackDeps]:
    """The Bolt app. HTTP mode refuses to start without SLACK_SIGNING_SECRET (the edge in front
    of the app checks every signature with it); Socket Mode receives requests over the app's own
    authenticated connection and holds no secret."""
    settings = runtime.settings
    token = secret_value(settings.SLACK_BOT_TOKEN)
    signing_secret = secret_value(settings.SLACK_SIGNING_SECRET)
    if not token:
        raise SlackConfigError("SLACK_BOT_TOKEN: required to run the Slack bot")
    if not socket_mode and not signing_secret:
        raise SlackConfigError(
            "SLACK_SIGNING_SECRET: required in HTTP mode (Basic Information → Signing Secret)"
        )
    client = web_client(settings.SLACK_API_URL, token)
    try:
        app = App(
            client=client,
            # HTTP mode: signatures are checked by bot.slack.edge.SlackEdge before a request
            # reaches Bolt (with a body cap, and without Bolt's habit of logging a refused body
            # in full). Socket Mode: requests come over the app's own authenticated connection.
            signing_secret="",
            request_verification_enabled=False,
            # The response goes out the moment a listener returns (instead of Bolt polling for
            # the ack every 10 ms); listeners ack and hand slow work to SlackDeps.later.
            process_before_response=True,
            logger=logging.getLogger("slack_bolt"),
        )
    except (BoltError, SlackApiError, SlackRequestError, URLError, OSError) as exc:
        # Bolt checks the token with auth.test at start: say so in one line.
        reason = _auth_error(exc)
        raise SlackConfigError(
            f"SLACK_BOT_TOKEN: auth.test at {settings.SLACK_API_URL} failed ({reason})"
        ) from None
    deps = SlackDeps(runtime, Notifier(client), UserGroups(client, runtime.db, ttl=group_ttl))
    # The core asks Slack again who is in which group when it decides and when it sends.
    runtime.service.directory = deps.groups
    tenancy = Tenancy(settings.SLACK_TEAM_ID, settings.SLACK_APP_ID)

    @app.middleware
    def refuse_foreign(body: dict[str, Any], next: Callable[[], Any]) -> Any:
        reason = tenancy.refusal(team_ids_of(body), body.get("api_app_id"))
        if reason is None:
            return next()
        actor = str((body.get("user") or {}).get("id") or body.get("user_id") or "unknown")
        kind = str(body.get("type") or body.get("command") or "request")
        log.warning("refused a foreign Slack request: %s", reason)
        record_foreign_request(runtime.db, actor, reason, kind)
        if body.get("command"):
            return BoltResponse(status=200, body="This bot does not serve this workspace or app.")
        return BoltResponse(status=200, body="")

    @app.middleware
    def inject_deps(context: BoltContext, next: Callable[[], Any]) -> Any:
        context[CONTEXT_KEY] = deps
        return next()

    commands.register(app)
    views.register(app)
    actions.register(app)
    approvals.register(app)
    home.register(app)
    suggestions.register(app)
    fleet.register(app)
    return app, deps


def web_client(base_url: str, token: str) -> WebClient:
    """The Web API client every part of the bot posts with (connections kept alive)."""
    return PooledWebClient(
        token=token,
        base_url=base_url,
        timeout=10,
        # `ratelimited` (HTTP 429): wait as long as Retry-After says, then try again (twice).
        retry_handlers=[*default_retry_handlers(), RateLimitErrorRetryHandler(max_retry_count=2)],
    )


def _auth_error(exc: Exception) -> str:
    """Slack's error code for a refused token (never the token itself)."""
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error", "error"))
    if isinstance(exc, BoltError):
        for code in ("invalid_auth", "not_authed", "account_inactive", "token_revoked"):
            if code in str(exc):
                return code
        return "refused"
    return type(exc).__name__


def team_ids_of(body: dict[str, Any]) -> set[str]:
    """Every workspace / Grid org id a command or interaction names. Enterprise Grid payloads may
    have `team: null` and carry the user's `team_id` and the `enterprise` instead."""
    ids = {body.get("team_id"), body.get("enterprise_id")}
    for key in ("team", "enterprise"):
        value = body.get(key)
        if isinstance(value, dict):
            ids.add(value.get("id"))
    user = body.get("user")
    if isinstance(user, dict):
        ids.add(user.get("team_id"))
    view = body.get("view")
    if isinstance(view, dict):
        ids.add(view.get("team_id"))
    return {str(i) for i in ids if i}
