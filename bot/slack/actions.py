"""Block actions in the send modal: live SIM details and the character counter."""

from __future__ import annotations

import json
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack import blocks
from bot.slack.deps import SlackDeps, deps_of
from bot.slack.parsing import draft_from_view
from bot.sms.iccid import normalize_iccid
from bot.store.inventory import get_sim


def register(app: App) -> None:
    for action_id in ("iccid", "message_text"):
        app.block_action(action_id)(handle_typing)


def handle_typing(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    ack()
    deps = deps_of(context)
    deps.later(refresh_send_modal, deps, body, client, ui=True)


def refresh_send_modal(deps: SlackDeps, body: dict[str, Any], client: WebClient) -> None:
    """Re-render the modal around what was typed: the SIM's label/type and the 160 counter."""
    view = body["view"]
    draft, _ = draft_from_view(view["state"]["values"])
    iccid = normalize_iccid(draft.iccid)
    sim = None
    if iccid:
        with deps.db.session() as session:
            sim = get_sim(session, iccid)
    metadata = json.loads(view.get("private_metadata") or "{}")
    updated = blocks.send_modal(
        channel_id=metadata.get("channel"),
        iccid=draft.iccid,
        message_text=draft.message_text,
        data_coding=draft.data_coding,
        origin=draft.origin or "",
        sms_uid=draft.sms_uid or "",
        sim=sim,
        replace=draft.apply_replacements,
    )
    try:
        # The hash makes Slack refuse a stale update when the user typed on meanwhile.
        client.views_update(view_id=view["id"], hash=view.get("hash"), view=updated)
    except SlackApiError as exc:
        if exc.response.get("error") != "hash_conflict":
            raise
