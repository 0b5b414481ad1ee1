"""The send modal's submission: the core pipeline decides; this only maps its answer to Slack.

Field errors can only travel in the acknowledgement (`response_action: errors`), so the core's
`submit` — validation, authorization, recording: a few milliseconds of database work — runs in
the listener before it acks. The portal call (the core's `dispatch` job) and every Slack message
(the renderer, from the audit stream) happen after the ack.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext, BoltRequest

from bot import metrics
from bot.send_types import BUSY_REASON, SendCommand
from bot.slack.deps import deps_of
from bot.slack.modals import CALLBACK_SEND, ERROR_MAX, errors_for_modal, send_modal_for
from bot.slack.parsing import draft_from_view, view_metadata
from bot.slack.received_at import seconds_waited
from bot.slack.template_picker import pick_from_state, template_choices
from bot.templates import parse_values

log = logging.getLogger(__name__)


def register(app: App) -> None:
    app.view(CALLBACK_SEND)(handle_send_submission)


def _idempotency_key(view: dict[str, Any]) -> str:
    # One modal is one request: a double submit or a retried delivery maps to the same key.
    return f"slack-view:{view['id']}"


#: Slack gives up on an ack 3 s after it sent the form. Counted from when the request reached
#: us (queueing for a server thread included), the form's database work must be done within
#: this budget — its lock waits and statements are bounded by what is left of it — or the form
#: says "busy, try again" (nothing recorded, nothing sent). The last second is for the rest:
#: CPU under load, the answer's trip back.
ACK_BUDGET_SECONDS = 2.0
#: With less than this left, the database is not even asked.
ACK_DB_MIN_SECONDS = 0.2


def ack_wait_seconds(request: BoltRequest, what: str) -> float | None:
    """How long a form's database work may wait, from what is left of the ack budget; None: so
    little is left that the form must answer busy at once (counted as a busy submission)."""
    waited = seconds_waited(request.headers)
    left = ACK_BUDGET_SECONDS - waited
    if left >= ACK_DB_MIN_SECONDS:
        return left
    # Queued so long that recording it could not be acked in time: Slack would show an error
    # for a form that was then sent, and a retry from a new form would send it twice.
    log.warning("%s answered busy: it waited %.1f s for a server thread", what, waited)
    metrics.SUBMISSIONS.labels("busy", "slack").inc()
    return None


def confirm_box_value(view: dict[str, Any]) -> str | None:
    """The digest the form's confirm box stands for (None: the form shows no warnings)."""
    for block in view.get("blocks", []):
        if block.get("block_id") == "confirm":
            options = block.get("element", {}).get("options") or [{}]
            return str(options[0].get("value") or "") or None
    return None


def handle_send_submission(
    ack: Ack,
    body: dict[str, Any],
    view: dict[str, Any],
    context: BoltContext,
    request: BoltRequest,
) -> None:
    deps = deps_of(context)
    wait_seconds = ack_wait_seconds(request, "send form")
    if wait_seconds is None:
        ack(response_action="errors", errors={"iccid": BUSY_REASON[:ERROR_MAX]})
        return
    metadata = view_metadata(view)
    channel = metadata.get("channel")
    draft, confirmation = draft_from_view(view["state"]["values"])
    pick = pick_from_state(view["state"]["values"])
    variables, unreadable = parse_values(pick.values_text) if pick.name else ((), [])
    submission = deps.service.submit(
        SendCommand(
            principal=deps.principal(body["user"]["id"], channel),
            draft=draft,
            source="slack",
            idempotency_key=_idempotency_key(view),
            confirmed=confirmation is not None,
            confirmation=confirmation,
            template=pick.name,
            variables=variables,
            input_problems=tuple(unreadable),
        ),
        wait_seconds=wait_seconds,
    )
    status = submission.status
    if status == "busy":
        ack(response_action="errors", errors={"iccid": submission.reason[:ERROR_MAX]})
    elif status == "invalid":
        ack(response_action="errors", errors=errors_for_modal(submission.errors, view))
    elif status == "denied":
        ack(
            response_action="errors",
            errors={"iccid": f"Not sent: {submission.reason}"[:ERROR_MAX]},
        )
    elif status == "needs_confirmation":
        assert submission.checked is not None
        digest = submission.checked.warnings_digest
        if confirm_box_value(view) == digest and confirmation is None:
            # These very warnings are on the form already: only the tick is missing.
            ack(
                response_action="errors",
                errors={"confirm": "Tick the box to send anyway, or change the fields above."},
            )
        else:
            # New or changed warnings (or fields changed after a tick): show them, with every
            # value typed so far kept and a box that confirms exactly these.
            ack(
                response_action="update",
                view=send_modal_for(
                    draft,
                    metadata,
                    submission.sim,
                    submission.warnings,
                    digest,
                    templates=template_choices(deps.db),
                    pick=pick,
                ),
            )
    else:
        # Recorded, awaiting approval or a duplicate: the modal closes. The core sends it (its
        # `dispatch` job, woken by the commit) and the renderer posts its thread; a double
        # submit finds the idempotency key taken, so nothing is posted or sent twice.
        ack()
        if status in ("recorded", "awaiting_approval") and submission.request is not None:
            deps.response_urls.remember(submission.request.id, metadata.get("response_url"))
