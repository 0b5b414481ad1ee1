"""The App Home tab: published when the user opens it, and again by the renderer whenever one of
their requests or an approval they may decide changes (bot.slack.render)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App, BoltContext

from bot import metrics
from bot.home import home_facts
from bot.slack.deps import SlackDeps, deps_of
from bot.slack.home_blocks import home_view
from bot.slack.notify import SlackFailure, why

log = logging.getLogger(__name__)


def register(app: App) -> None:
    app.event("app_home_opened")(handle_home_opened)


def handle_home_opened(event: dict[str, Any], context: BoltContext) -> None:
    deps = deps_of(context)
    if event.get("tab", "home") != "home":
        return
    user = str(event.get("user") or "")
    if user[:1] in ("U", "W"):
        deps.home_viewers.add(user)
        deps.later(publish_home, deps, user, ui=True)


def publish_home(deps: SlackDeps, user: str) -> None:
    facts = home_facts(deps.db, deps.principal(user, None), deps.admins)
    publish(deps.notifier.client, user, home_view(facts))


def publish(client: Any, user: str, view: dict[str, Any]) -> bool:
    try:
        client.views_publish(user_id=user, view=view)
        return True
    except SlackFailure as exc:
        log.warning("views.publish for %s failed: %s", user, why(exc))
        metrics.SLACK_UNDELIVERED.labels("home").inc()
        return False
