"""`smsbot send`: one SMS through the same pipeline as Slack (bot.service)."""

from __future__ import annotations

import sys
from typing import NoReturn

import click
from sqlalchemy.exc import SQLAlchemyError

from bot.authz import Principal
from bot.batches import BatchCommand
from bot.cli.batches import send_batch
from bot.cli.common import (
    EXIT_AWAITING,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_REJECTED,
    EXIT_UNKNOWN,
    EXIT_USAGE,
    Fail,
    _runtime,
    cli,
    say,
)
from bot.runtime import Runtime
from bot.service import Execution, SendCommand, Submission
from bot.sms.message import Draft
from bot.store import audit
from bot.store.models import AuditEvent


# ---- send ------------------------------------------------------------------------------------
@cli.command()
@click.option("--as", "user", required=True, help="Slack user ID the send is made for (U…).")
@click.option("--user-group", "groups", multiple=True, help="A user group ID of that user (S…).")
@click.option("--channel", default=None, help="Channel ID the request comes from (C…).")
@click.option("--iccid", default=None, help="Target SIM (18–22 digits; spaces/dashes allowed).")
@click.option(
    "--sim",
    "sim_names",
    multiple=True,
    help="Target SIM by ICCID, MSISDN, label or an unambiguous label prefix; several: one batch.",
)
@click.option(
    "--group",
    "sim_group",
    default=None,
    help="Send to every active SIM of this SIM group, as one batch (a fleet send).",
)
@click.option("--text", "text", default=None, help="Message text (GSM 7-bit, ≤160 septets).")
@click.option("--template", default=None, help="Send this message template instead of --text.")
@click.option(
    "--var", "variables", multiple=True, help="A template placeholder's value, KEY=VALUE."
)
@click.option("--binary", is_flag=True, help="TEXT is a base64 payload (Multinet KPN C only).")
@click.option("--origin", default=None, help="Origination number (Manx Telecom SIMs only).")
@click.option("--sms-uid", default=None, help="Trace id, ≤12 letters/digits (default: generated).")
@click.option("--idempotency-key", default=None, help="Same key → sent at most once.")
@click.option("--replace-unsupported", is_flag=True, help="Use the suggested GSM replacements.")
@click.option(
    "--yes", "confirmed", is_flag=True, help="Send despite warnings (after reading them)."
)
def send(
    user: str,
    groups: tuple[str, ...],
    channel: str | None,
    iccid: str | None,
    sim_names: tuple[str, ...],
    sim_group: str | None,
    text: str | None,
    template: str | None,
    variables: tuple[str, ...],
    binary: bool,
    origin: str | None,
    sms_uid: str | None,
    idempotency_key: str | None,
    replace_unsupported: bool,
    confirmed: bool,
) -> None:
    """Send one SMS through the full pipeline; exit 0 only when the portal accepted it. With
    --group (or several --sim), a fleet send: one decision, then SIM by SIM."""
    if (text is None) == (template is None):
        raise Fail("give the message with --text or --template, one of them", EXIT_USAGE)
    pairs = []
    for item in variables:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise Fail(f"--var {item!r}: write KEY=VALUE", EXIT_USAGE)
        pairs.append((key, value))
    if sim_group is not None or len(sim_names) > 1:
        if iccid is not None or (sim_group is not None and sim_names) or origin or sms_uid:
            raise Fail(
                "a fleet send takes --group NAME or several --sim, without --iccid, --origin "
                "or --sms-uid (each SIM gets its own uid)",
                EXIT_USAGE,
            )
        batch = BatchCommand(
            principal=Principal(user, groups, channel),
            source="cli",
            message_text=text or "",
            data_coding="binary" if binary else "default",
            group=sim_group,
            sims=sim_names,
            idempotency_key=idempotency_key,
            template=template,
            variables=tuple(pairs),
            confirmed=confirmed,
        )
        with _runtime() as runtime:
            send_batch(runtime, batch)
        return
    if (iccid is None) == (not sim_names):
        raise Fail("give the SIM with --sim (or --iccid), once", EXIT_USAGE)
    sim_name = sim_names[0] if sim_names else None
    command = SendCommand(
        principal=Principal(user, groups, channel),
        draft=Draft(
            iccid=iccid if iccid is not None else str(sim_name),
            message_text=text or "",
            data_coding="binary" if binary else "default",
            origin=origin,
            sms_uid=sms_uid,
            apply_replacements=replace_unsupported,
        ),
        source="cli",
        template=template,
        variables=tuple(pairs),
        idempotency_key=idempotency_key,
        confirmed=confirmed,
    )
    with _runtime() as runtime:
        # A CLI-only deployment has no `serve` sweeping: sends a stopped process left without
        # an outcome are settled here too.
        runtime.service.settle_stale_sends()
        try:
            submission, execution = runtime.service.send(command)
        except KeyboardInterrupt:
            _cut_off(runtime, "the send was interrupted (Ctrl-C) after it was claimed")
            raise
        except SQLAlchemyError as exc:
            if not runtime.service.interrupted:
                raise
            _cut_off(runtime, f"the database failed while recording it ({type(exc).__name__})")
            raise
        trail: list[AuditEvent] = []
        if submission.request is not None:
            with runtime.db.session() as session:
                trail = audit.query(session, request_id=submission.request.id)
    _report(submission, execution, trail)


def _cut_off(runtime: Runtime, why: str) -> NoReturn:
    """A claimed send was cut off: its outcome is unknown. Settle it (when the database answers;
    otherwise the next command or `serve` does) and say so — exit 4, never "aborted"."""
    ids = list(runtime.service.interrupted)
    try:
        runtime.service.settle_interrupted(why)
        settled = "recorded as unknown"
    except SQLAlchemyError:
        settled = "to be recorded as unknown once the database answers"
    names = ", ".join(f"#{i}" for i in ids)
    raise Fail(
        f"request {names}: outcome unknown — {why}; the message may or may not have been sent. "
        f"Check the SIM's SMS log (`/sms status`) before sending again ({settled}).",
        EXIT_UNKNOWN,
    )


def _report(
    submission: Submission, execution: Execution | None, trail: list[AuditEvent] | None = None
) -> None:
    status = submission.status
    if status == "invalid":
        raise Fail(
            "refused (audit #{}): {}".format(
                submission.audit_seq,
                " | ".join(f"{p.field}: {p.message}" for p in submission.errors),
            )
        )
    if status == "denied":
        raise Fail(f"denied (audit #{submission.audit_seq}): {submission.reason}")
    if status == "needs_confirmation":
        warned = " | ".join(f"{p.field}: {p.message}" for p in submission.warnings)
        raise Fail(
            f"not sent, confirm first (audit #{submission.audit_seq}): {warned} — "
            "re-run with --yes to send anyway"
        )
    request = (execution.request if execution else None) or submission.request
    assert request is not None
    if status == "awaiting_approval":
        say(f"request #{request.id} sms_uid={request.sms_uid} awaits approval")
        sys.exit(EXIT_AWAITING)
    lines = [
        f"request #{request.id}  sms_uid={request.sms_uid}  state={request.state}",
        f"iccid {request.iccid}  coding={request.data_coding}  text={request.message_text!r}",
    ]
    if status == "duplicate":
        lines.insert(0, f"already submitted with this idempotency key: {submission.reason}")
    if request.outcome_reason:
        lines.append(f"outcome: {request.outcome_reason}")
    if execution is not None and execution.outcome is not None:
        lines.append(
            f"portal: {execution.outcome.elapsed_ms:.1f} ms, "
            f"{execution.outcome.attempts} attempt(s)"
        )
    if trail:
        lines.append("audit: " + ", ".join(f"#{r.seq} {r.event}" for r in trail))
    say("\n".join(lines))
    code = {
        "accepted": EXIT_OK,
        "rejected": EXIT_REJECTED,
        "unknown": EXIT_UNKNOWN,
        "awaiting_approval": EXIT_AWAITING,
    }.get(request.state, EXIT_REFUSED)
    if code != EXIT_OK:
        raise Fail(f"request #{request.id} is {request.state}", code)
