"""Block actions in the send modal: live SIM details, the character counter, the template."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import metrics
from bot.sim_names import resolve
from bot.slack.deps import SlackDeps, deps_of
from bot.slack.fleet import refresh_fleet_modal
from bot.slack.fleet_modal import CALLBACK_BATCH
from bot.slack.modals import send_modal_for
from bot.slack.notify import why
from bot.slack.parsing import draft_from_view, view_metadata
from bot.slack.template_picker import pick_from_state, template_choices
from bot.store.inventory import get_sim

log = logging.getLogger(__name__)


def register(app: App) -> None:
    for action_id in ("iccid", "message_text", "template"):
        app.block_action(action_id)(handle_typing)


def handle_typing(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    ack()
    deps = deps_of(context)
    deps.later(refresh_send_modal, deps, body, client, ui=True)


def refresh_send_modal(deps: SlackDeps, body: dict[str, Any], client: WebClient) -> None:
    """Re-render the modal around what was typed: the SIM's label/type and the 160 counter."""
    view = body["view"]
    if view.get("callback_id") == CALLBACK_BATCH:
        _update(deps, client, view, refresh_fleet_modal(deps, view))
        return
    draft, _ = draft_from_view(view["state"]["values"])
    sim = None
    if draft.iccid.strip():
        with deps.db.read() as session:
            # A label or MSISDN shows the SIM it names (the field keeps what was typed).
            named = resolve(session, draft.iccid)
            sim = get_sim(session, named.iccid) if named.iccid else None
    updated = send_modal_for(
        draft,
        view_metadata(view),
        sim,
        templates=template_choices(deps.db),
        pick=pick_from_state(view["state"]["values"]),
    )
    _update(deps, client, view, updated)


def _update(
    deps: SlackDeps, client: WebClient, view: dict[str, Any], updated: dict[str, Any]
) -> None:
    try:
        # The hash makes Slack refuse a stale update when the user typed on meanwhile.
        client.views_update(view_id=view["id"], hash=view.get("hash"), view=updated)
    except SlackApiError as exc:
        if why(exc) != "hash_conflict":
            # The form stays usable (submitting it checks everything); only the live hints
            # are missing, so this is logged and counted rather than shown.
            log.warning("views.update of the send form failed: %s", why(exc))
            metrics.SLACK_UNDELIVERED.labels("modal_refresh").inc()
