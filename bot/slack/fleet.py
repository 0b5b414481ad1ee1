"""Fleet sends in Slack: `/sms fleet [group] [text…]` opens the form; its submission goes to the
core (bot.batches), which counts the SIMs and asks for that count to be confirmed before
anything is recorded; Approve / Reject / Stop buttons call the core's decisions. Everything
shown afterwards — the batch's message, progress, summary and CSV — is the renderer's."""

from __future__ import annotations

from typing import Any, Literal

from slack_bolt import Ack, App, BoltContext, BoltRequest
from slack_sdk import WebClient

from bot.batches import BatchCommand
from bot.send_types import BUSY_REASON
from bot.slack.approvals import button_id
from bot.slack.batch_blocks import APPROVE_BATCH, REJECT_BATCH, STOP_BATCH
from bot.slack.deps import SlackDeps, deps_of
from bot.slack.fleet_modal import (
    CALLBACK_BATCH,
    GROUP_BLOCK,
    FleetDraft,
    FleetPreview,
    draft_from_state,
    fleet_modal,
)
from bot.slack.modals import ERROR_MAX, errors_for_modal
from bot.slack.notify import Audience, SlackFailure
from bot.slack.parsing import plain_text, view_metadata
from bot.slack.template_picker import TemplatePick, template_choices
from bot.slack.views import ack_wait_seconds
from bot.store.inventory import groups_with_sims
from bot.templates import parse_values


def register(app: App) -> None:
    app.view(CALLBACK_BATCH)(handle_fleet_submission)
    app.action(APPROVE_BATCH)(handle_batch_button)
    app.action(REJECT_BATCH)(handle_batch_button)
    app.action(STOP_BATCH)(handle_batch_button)


def _groups(deps: SlackDeps) -> list[tuple[str, int]]:
    with deps.db.read() as session:
        return groups_with_sims(session)


def open_fleet_modal(
    deps: SlackDeps, client: WebClient, trigger_id: str, asker: Audience, args: list[str]
) -> None:
    """The form, with the group preselected when the first word names one."""
    groups = _groups(deps)
    words = plain_text(" ".join(args)).split()
    group = words[0] if words and any(n == words[0] for n, _ in groups) else None
    text = " ".join(words[1:] if group else words)
    draft = FleetDraft(group, text, "default", TemplatePick(None), None)
    metadata = {"channel": asker.channel}
    try:
        client.views_open(
            trigger_id=trigger_id,
            view=fleet_modal(
                metadata=metadata,
                groups=groups,
                draft=draft,
                templates=template_choices(deps.db),
            ),
        )
    except SlackFailure as exc:
        deps.notifier.form_did_not_open(asker, exc, "fleet-send form", "/sms fleet")


def refresh_fleet_modal(deps: SlackDeps, view: dict[str, Any]) -> dict[str, Any]:
    """The form again around what was chosen (a template picked)."""
    draft = draft_from_state(view["state"]["values"])
    return fleet_modal(
        metadata=view_metadata(view),
        groups=_groups(deps),
        draft=draft,
        templates=template_choices(deps.db),
    )


def handle_fleet_submission(
    ack: Ack,
    body: dict[str, Any],
    view: dict[str, Any],
    context: BoltContext,
    request: BoltRequest,
) -> None:
    deps = deps_of(context)
    wait_seconds = ack_wait_seconds(request, "fleet form")
    if wait_seconds is None:
        ack(response_action="errors", errors={GROUP_BLOCK: BUSY_REASON[:ERROR_MAX]})
        return
    metadata = view_metadata(view)
    draft = draft_from_state(view["state"]["values"])
    variables, unreadable = parse_values(draft.pick.values_text) if draft.pick.name else ((), [])
    submitted = deps.runtime.batches.submit(
        BatchCommand(
            principal=deps.principal(body["user"]["id"], metadata.get("channel")),
            source="slack",
            message_text=draft.message_text,
            data_coding=draft.data_coding,
            group=draft.group,
            idempotency_key=f"slack-view:{view['id']}",
            template=draft.pick.name,
            variables=variables,
            confirmed=draft.confirmed_count is not None,
            expected_members=draft.confirmed_count,
            input_problems=tuple(unreadable),
        ),
        wait_seconds=wait_seconds,
    )
    if submitted.status == "busy":
        ack(response_action="errors", errors={GROUP_BLOCK: submitted.reason[:ERROR_MAX]})
    elif submitted.status == "invalid":
        errors = errors_for_modal(submitted.problems, view, request_block=GROUP_BLOCK)
        ack(response_action="errors", errors=errors)
    elif submitted.status == "denied":
        ack(
            response_action="errors",
            errors={GROUP_BLOCK: f"Not sent: {submitted.reason}"[:ERROR_MAX]},
        )
    elif submitted.status == "needs_confirmation":
        preview = FleetPreview(
            submitted.members,
            [(s.iccid, s.label, s.reason) for s in submitted.skipped],
            submitted.warnings,
        )
        ack(
            response_action="update",
            view=fleet_modal(
                metadata=metadata,
                groups=_groups(deps),
                draft=draft,
                templates=template_choices(deps.db),
                preview=preview,
            ),
        )
    else:
        # Recorded (sending or awaiting approval) or a repeated submit: the form closes; the
        # renderer posts the batch's message and the jobs send it.
        ack()


def handle_batch_button(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
    ack()
    deps = deps_of(context)
    action = body["actions"][0]
    channel = (body.get("channel") or {}).get("id")
    clicker = Audience(body["user"]["id"], channel, body.get("response_url"))
    deps.later(batch_button, deps, str(action.get("action_id")), action.get("value"), clicker)


def batch_button(deps: SlackDeps, action: str, value: Any, clicker: Audience) -> None:
    """The core decides; the clicker hears only a refusal (everyone sees the rest rendered)."""
    batch_id = button_id(value)
    if batch_id is None:
        deps.notifier.ephemeral_first(clicker, ":no_entry: That button does not name a batch.")
        return
    principal = deps.principal(clicker.user, clicker.channel)
    batches = deps.runtime.batches
    ok: tuple[str, ...]
    if action == STOP_BATCH:
        decision = batches.stop(batch_id, principal, via="slack")
        ok = ("stopped",)
    else:
        verdict: Literal["approve", "reject"] = "approve" if action == APPROVE_BATCH else "reject"
        decision = batches.decide(batch_id, principal, verdict, via="slack")
        ok = ("approved", "declined")
    if decision.status == "pending":
        deps.notifier.ephemeral_first(clicker, decision.message)
    elif decision.status not in ok:
        deps.notifier.ephemeral_first(clicker, f":no_entry: {decision.message}")
