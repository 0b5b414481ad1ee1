"""Options Slack loads while someone types in the send form's SIM picker (`block_suggestion`).

Answered in the listener: Slack shows nothing until the ack, and the search is one indexed read.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext

from bot.sim_search import search_sims
from bot.slack.deps import deps_of
from bot.slack.parsing import view_metadata
from bot.slack.sim_picker import suggestion_answer


def register(app: App) -> None:
    app.block_suggestion("iccid")(handle_sim_search)


def handle_sim_search(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
    deps = deps_of(context)
    channel = view_metadata(body.get("view") or {}).get("channel")
    principal = deps.principal(body["user"]["id"], channel)
    search = search_sims(deps.db, principal, deps.admins, str(body.get("value") or ""))
    ack(**suggestion_answer(search))
