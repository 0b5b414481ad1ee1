"""Fleet sends in the CLI: `smsbot send --group NAME …` (via bot.cli.send) and
`smsbot batches list|show|approve|reject|stop`."""

from __future__ import annotations

import json
import sys
from typing import Literal

import click
from sqlalchemy import select

from bot.authz import Principal
from bot.batches import BatchCommand, BatchSubmission
from bot.batches.report import as_csv, rows
from bot.batches.run import counts_of, finish, release, still_open
from bot.cli.common import (
    EXIT_AWAITING,
    EXIT_OK,
    EXIT_REJECTED,
    EXIT_UNKNOWN,
    Fail,
    _runtime,
    cli,
    say,
)
from bot.runtime import Runtime
from bot.store.models import SmsBatch

#: How long the CLI waits for sends in flight before looking again (they finish sooner).
WAIT_SECONDS = 0.5


def send_batch(runtime: Runtime, cmd: BatchCommand) -> None:
    """Submit a fleet send; when it may go out now, send it here SIM by SIM (the same claims a
    worker uses, so a worker running beside it shares the work without duplicates)."""
    submitted = runtime.batches.submit(cmd)
    _report_submission(submitted)
    assert submitted.batch is not None
    batch_id = submitted.batch.id
    if submitted.status == "awaiting_approval":
        say(f"batch #{batch_id} ({submitted.members} SIMs) awaits approval")
        sys.exit(EXIT_AWAITING)
    try:
        _drive(runtime, batch_id)
    except KeyboardInterrupt:
        stopped = runtime.batches.stop(batch_id, cmd.principal, via="cli")
        runtime.sender.drain(runtime.service.portal.deadline + 5)
        finish(runtime.db, batch_id)
        raise Fail(f"interrupted: {stopped.message}", EXIT_UNKNOWN) from None
    _report_outcome(runtime, batch_id)


def _drive(runtime: Runtime, batch_id: int) -> None:
    last = ""
    while True:
        for member in release(runtime.db, batch_id):
            runtime.sender.submit(member.request_id, member.requester)
        if finish(runtime.db, batch_id):
            return
        batch = runtime.batches.get(batch_id)
        if batch is None or batch.state not in ("sending", "stopped"):
            return
        runtime.sender.drain(WAIT_SECONDS)
        line = _progress(runtime, batch_id)
        if line != last:
            say(line)
            last = line


def _progress(runtime: Runtime, batch_id: int) -> str:
    counts = counts_of(runtime.db, batch_id)
    members = sum(n for state, n in counts.items() if state not in ("delivered", "skipped"))
    return f"batch #{batch_id}: {members - still_open(counts)}/{members} done"


def _report_submission(submitted: BatchSubmission) -> None:
    skipped = "".join(
        f"\n  skipped {s.iccid} ({s.label or '-'}): {s.reason}" for s in submitted.skipped[:20]
    )
    more = len(submitted.skipped) - 20
    if more > 0:
        skipped += f"\n  …and {more} more skipped"
    status = submitted.status
    if status in ("invalid", "denied"):
        raise Fail(f"{status} (audit #{submitted.audit_seq}): {submitted.reason}{skipped}")
    if status == "needs_confirmation":
        warned = "".join(f"\n  warning: {w}" for w in submitted.warnings[:10])
        raise Fail(
            f"not sent, confirm first (audit #{submitted.audit_seq}): this sends to "
            f"{submitted.members} SIM(s){skipped}{warned}\nre-run with --yes to send"
        )
    if status == "duplicate":
        say(f"already submitted with this idempotency key: {submitted.reason}")
        return
    say(f"{submitted.reason}{skipped}")


def _report_outcome(runtime: Runtime, batch_id: int) -> None:
    counts = counts_of(runtime.db, batch_id)
    ended = {state: n for state, n in counts.items() if state != "delivered" and n}
    say(f"batch #{batch_id}: " + ", ".join(f"{n} {s}" for s, n in sorted(ended.items())))
    if ended.get("unknown"):
        raise Fail(f"batch #{batch_id}: some outcomes are unknown", EXIT_UNKNOWN)
    if set(ended) - {"accepted", "skipped"}:
        raise Fail(f"batch #{batch_id}: not every SIM accepted it", EXIT_REJECTED)
    sys.exit(EXIT_OK)


# ---- smsbot batches ----------------------------------------------------------------------------
@cli.group()
def batches() -> None:
    """Fleet sends: list, show (or export as CSV), approve, reject, stop."""


@batches.command("list")
def list_batches() -> None:
    """The latest fleet sends."""
    with _runtime() as runtime, runtime.db.read() as session:
        found = session.execute(select(SmsBatch).order_by(SmsBatch.id.desc()).limit(50)).scalars()
        for b in found:
            target = f"group {b.group_name}" if b.group_name else "listed SIMs"
            say(
                f"#{b.id}  {b.state:<17} {b.members:>4} SIM(s)  {target}  "
                f"by {b.requester}  {b.message_text[:40]!r}"
            )


@batches.command("show")
@click.argument("batch_id", type=int)
@click.option("--csv", "as_table", is_flag=True, help="Every SIM's outcome as CSV.")
def show(batch_id: int, as_table: bool) -> None:
    """A batch's SIMs and what became of each."""
    with _runtime() as runtime:
        batch = runtime.batches.get(batch_id)
        if batch is None:
            raise Fail(f"there is no batch #{batch_id}")
        table = rows(runtime.db, batch_id)
    if as_table:
        text = as_csv(table)
        if sys.stdout.isatty():
            say(text.rstrip("\n"))  # on a terminal, control characters from data escaped
        else:
            click.echo(text, nl=False)  # to a file or a pipe: the values exactly
        return
    skipped = len(json.loads(batch.skipped or "[]"))
    say(
        f"batch #{batch.id}  {batch.state}  {batch.members} SIM(s), {skipped} skipped  "
        f"text={batch.message_text!r}  coding={batch.data_coding}"
    )
    for r in table:
        say(
            f"  {r['iccid']}  {r['sim_label'] or '-':<20} {r['state']:<10} "
            f"{r['delivery_status'] or '-':<10} {r['reason']}"
        )


def _decide(
    batch_id: int,
    user: str,
    groups: tuple[str, ...],
    verdict: Literal["approve", "reject"],
    reason: str | None,
) -> None:
    with _runtime() as runtime:
        decision = runtime.batches.decide(
            batch_id, Principal(user, groups, None), verdict, reason=reason, via="cli"
        )
    if decision.status not in ("approved", "pending", "declined"):
        raise Fail(decision.message)
    sends = " (`smsbot worker` or `serve` sends it)" if decision.status == "approved" else ""
    say(decision.message + sends)


@batches.command("approve")
@click.argument("batch_id", type=int)
@click.option("--as", "user", required=True, help="The approver's Slack user ID.")
@click.option("--user-group", "groups", multiple=True, help="A user group ID of that user (S…).")
@click.option("--reason", default=None)
def approve(batch_id: int, user: str, groups: tuple[str, ...], reason: str | None) -> None:
    """Approve a batch (needs the approver role for every SIM of it; not your own)."""
    _decide(batch_id, user, groups, "approve", reason)


@batches.command("reject")
@click.argument("batch_id", type=int)
@click.option("--as", "user", required=True, help="The approver's Slack user ID.")
@click.option("--user-group", "groups", multiple=True, help="A user group ID of that user (S…).")
@click.option("--reason", default=None)
def reject(batch_id: int, user: str, groups: tuple[str, ...], reason: str | None) -> None:
    """Reject a batch: none of its SIMs is sent to."""
    _decide(batch_id, user, groups, "reject", reason)


@batches.command("stop")
@click.argument("batch_id", type=int)
@click.option("--as", "user", required=True, help="The requester's (or an admin's) user ID.")
def stop(batch_id: int, user: str) -> None:
    """Stop a batch midway: SIMs not yet on their way are not sent to."""
    with _runtime() as runtime:
        decision = runtime.batches.stop(batch_id, Principal(user, (), None), via="cli")
    if decision.status != "stopped":
        raise Fail(decision.message)
    say(decision.message)
