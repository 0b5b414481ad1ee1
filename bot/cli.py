"""`smsbot`: the command line. Sends go through the same pipeline as Slack (bot.service)."""

from __future__ import annotations

import getpass
import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

import click
from sqlalchemy.exc import SQLAlchemyError

from bot.authz import AuthzInputError, Principal, parse_role
from bot.config import DEFAULT_DATABASE_URL, ConfigError, Settings, load_settings
from bot.portal.sandbox import DEMO_SIMS, SANDBOX_CREDENTIALS, SandboxServer
from bot.runtime import Runtime, build_runtime
from bot.service import Execution, SendCommand, Submission
from bot.sms.iccid import normalize_iccid
from bot.sms.message import Draft
from bot.status import sim_status
from bot.store import audit
from bot.store.db import Database
from bot.store.errors import describe as describe_db_error
from bot.store.errors import where as where_database
from bot.store.grants import (
    check_access,
    grant_or_refuse,
    has_role,
    list_grants,
    revoke_grant,
)
from bot.store.inventory import get_sim, import_csv, list_groups, list_sims, set_group_policy
from bot.store.migrate import ensure_schema
from bot.store.models import AuditEvent, SimGroup, SmsRequest
from bot.store.safe_text import for_terminal

#: Exit statuses of `smsbot send` (README): 0 only when the portal accepted the message.
EXIT_OK = 0
EXIT_REFUSED = 1
log = logging.getLogger("smsbot")
EXIT_USAGE = 2
EXIT_REJECTED = 3
EXIT_UNKNOWN = 4
EXIT_AWAITING = 5


class Fail(click.ClickException):
    """A one-line reason and an exit status."""

    def __init__(self, message: str, code: int = EXIT_REFUSED) -> None:
        super().__init__(message)
        self.status = code


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        raise Fail(str(exc), EXIT_USAGE) from None


def _say_database(url: str) -> None:
    """`--verbose`: which database this command opened."""
    log.info("database: %s", where_database(url))


@contextmanager
def _database() -> Iterator[Database]:
    """The database alone, migrated (commands that need no portal)."""
    url = _settings().DATABASE_URL
    _say_database(url)
    db = Database(url, busy_seconds=_settings().SMSBOT_SQLITE_BUSY_SECONDS)
    try:
        ensure_schema(db.engine)
        yield db
    finally:
        db.dispose()


@contextmanager
def _runtime() -> Iterator[Runtime]:
    runtime = build_runtime(_settings())  # logs the database it opens (--verbose)
    try:
        yield runtime
    finally:
        runtime.close()


def _operator() -> str:
    """Who ran a CLI admin command (recorded as the audit actor)."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log what happens to stderr.")
def cli(verbose: bool) -> None:
    """smsbot: send SMS to IoT/M2M SIMs through the operator portal, with authorization and an
    audit trail. Configuration comes from the environment (see README)."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


# ---- db --------------------------------------------------------------------------------------
@cli.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration (safe to repeat)."""
    with _database() as database:
        click.echo(f"database at head: {database.url.render_as_string(hide_password=True)}")


# ---- send ------------------------------------------------------------------------------------
@cli.command()
@click.option("--as", "user", required=True, help="Slack user ID the send is made for (U…).")
@click.option("--group", "groups", multiple=True, help="A user group ID of that user (S…).")
@click.option("--channel", default=None, help="Channel ID the request comes from (C…).")
@click.option("--iccid", required=True, help="Target SIM (18–22 digits; spaces/dashes allowed).")
@click.option("--text", "text", required=True, help="Message text (GSM 7-bit, ≤160 septets).")
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
    iccid: str,
    text: str,
    binary: bool,
    origin: str | None,
    sms_uid: str | None,
    idempotency_key: str | None,
    replace_unsupported: bool,
    confirmed: bool,
) -> None:
    """Send one SMS through the full pipeline; exit 0 only when the portal accepted it."""
    command = SendCommand(
        principal=Principal(user, groups, channel),
        draft=Draft(
            iccid=iccid,
            message_text=text,
            data_coding="binary" if binary else "default",
            origin=origin,
            sms_uid=sms_uid,
            apply_replacements=replace_unsupported,
        ),
        source="cli",
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
        click.echo(f"request #{request.id} sms_uid={request.sms_uid} awaits approval")
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
    click.echo("\n".join(lines))
    code = {
        "accepted": EXIT_OK,
        "rejected": EXIT_REJECTED,
        "unknown": EXIT_UNKNOWN,
        "awaiting_approval": EXIT_AWAITING,
    }.get(request.state, EXIT_REFUSED)
    if code != EXIT_OK:
        raise Fail(f"request #{request.id} is {request.state}", code)


# ---- sims ------------------------------------------------------------------------------------
@cli.group()
def sims() -> None:
    """The SIM inventory."""


@sims.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def sims_import(file: Path) -> None:
    """Import or update SIMs from CSV with the header: iccid,label,sim_type,group,active.

    Any bad row imports nothing; every bad row is reported with its line number."""
    with _database() as database, file.open(newline="", encoding="utf-8-sig") as source:
        try:
            with database.session() as session:
                result = import_csv(session, source, _operator())
                if result.errors:
                    raise _ImportFailed(result.errors)
        except UnicodeDecodeError as exc:
            raise Fail(
                f"{file} is not UTF-8 text (byte {exc.start + 1}): save it as UTF-8 CSV",
                EXIT_USAGE,
            ) from None
        except _ImportFailed as failed:
            with database.session() as session:
                audit.append(
                    session,
                    "sims_import_refused",
                    _operator(),
                    details={"file": file.name, "errors": failed.errors[:50]},
                )
            for line in failed.errors[1:]:
                click.echo(line, err=True)
            raise Fail(f"nothing imported: {failed.errors[0]}") from None
    click.echo(f"imported {result.imported} new SIM(s), updated {result.updated}")


class _ImportFailed(Exception):
    def __init__(self, errors: list[str]) -> None:
        super().__init__(errors[0])
        self.errors = errors


@sims.command("list")
def sims_list() -> None:
    """List the inventory."""
    with _database() as database, database.read() as session:
        rows = list_sims(session)
        for sim in rows:
            state = "active" if sim.active else "inactive"
            click.echo(
                f"{sim.iccid}  {sim.sim_type or '-':<16} {sim.group_name or '-':<12} "
                f"{state:<8} {sim.label or ''}"
            )
        if not rows:
            click.echo("no SIMs in the inventory (smsbot sims import FILE.csv)")


# ---- grants ----------------------------------------------------------------------------------
@cli.command()
@click.argument("subject")
@click.argument("sims")
@click.option("--role", required=True, help="sender, approver, admin or auditor.")
@click.option("--approval-required", is_flag=True, help="Sends under this grant need approval.")
@click.option("--expires", default=None, help="30d, 12h, 90m, 2w or an ISO date.")
def grant(subject: str, sims: str, role: str, approval_required: bool, expires: str | None) -> None:
    """Grant ROLE to SUBJECT (U…/W… user, S… group, C…/G… channel) over SIMS (an ICCID, a
    prefix like 894412*, group:NAME, or *)."""
    with _database() as database:
        try:
            info = grant_or_refuse(
                database,
                subject=subject,
                scope=sims,
                role=role,
                actor=_operator(),
                approval_required=approval_required,
                expires=expires,
            )
        except AuthzInputError as exc:
            raise Fail(str(exc)) from None
    click.echo(f"grant #{info['grant_id']}: {json.dumps(info, ensure_ascii=False)}")


@cli.command()
@click.argument("grant_id", type=int)
def revoke(grant_id: int) -> None:
    """Revoke a grant (it stays in the table, marked revoked)."""
    with _database() as database, database.session() as session:
        revoked = revoke_grant(session, grant_id, _operator())
        if revoked is None:
            raise Fail(f"no active grant #{grant_id}")
    click.echo(f"grant #{grant_id} revoked")


@cli.command()
@click.option("--all", "include_inactive", is_flag=True, help="Include revoked and expired.")
def grants(include_inactive: bool) -> None:
    """List grants."""
    with _database() as database, database.read() as session:
        rows = list_grants(session, include_inactive=include_inactive)
        for g in rows:
            flags = []
            if g.approval_required:
                flags.append("approval")
            if g.expires_at:
                flags.append(f"expires {g.expires_at:%Y-%m-%d %H:%M}")
            if g.revoked_at:
                flags.append(f"revoked by {g.revoked_by}")
            click.echo(f"#{g.id:<4} {g.role:<8} {g.subject:<12} {g.scope:<24} {' '.join(flags)}")
        if not rows:
            click.echo("no grants")


@cli.command()
@click.argument("user")
@click.argument("iccid")
@click.option("--group", "groups", multiple=True, help="A user group ID of that user (S…).")
@click.option("--channel", default=None, help="The channel the request would come from.")
@click.option("--role", default="sender", help="The role to check (default sender).")
def can(user: str, iccid: str, groups: tuple[str, ...], channel: str | None, role: str) -> None:
    """Say which grant lets USER act on ICCID, or why not (exit 1)."""
    settings = _settings()
    try:
        wanted = parse_role(role)
    except AuthzInputError as exc:
        raise Fail(str(exc), EXIT_USAGE) from None
    with _database() as database, database.read() as session:
        number = normalize_iccid(iccid)
        sim = get_sim(session, number)
        decision = check_access(
            session,
            Principal(user, groups, channel),
            wanted,
            number,
            sim.group_name if sim else None,
            settings.admins,
        )
    if not decision.allowed:
        raise Fail(f"no: {decision.reason}")
    approval = " (approval required)" if decision.approval_required else ""
    click.echo(f"yes: {decision.basis}{approval}")


# ---- approvals --------------------------------------------------------------------------------
# ---- what became of requests ---------------------------------------------------------------
@cli.command("status")
@click.argument("sim")
@click.option("--limit", default=10, show_default=True, help="How many messages to show.")
def status_command(sim: str, limit: int) -> None:
    """A SIM's latest requests (state, delivery) tied by sms_uid to the portal's SMS log.

    SIM is an ICCID (spaces and dashes are fine)."""
    with _runtime() as runtime:
        found = sim_status(runtime.service, sim, limit=max(1, min(limit, 50)))
    label = (
        f"{found.sim.label or '-'} · {found.sim.sim_type or 'type unknown'}"
        if found.sim
        else ("not in the inventory")
    )
    lines = [f"SIM {found.iccid}: {label}"]
    lines += [
        f"#{req.id} {req.created_at:%Y-%m-%d %H:%M} {req.requester} {req.state}"
        f" sms_uid={req.sms_uid} delivery={req.delivery_status or '-'}"
        f" portal={found.in_portal(req) or '-'}"
        for req in found.requests
    ] or ["no requests from this bot yet"]
    if found.portal_error is not None:
        lines.append(f"portal SMS log unavailable: {found.portal_error}")
    else:
        lines.append("portal SMS log:" + ("" if found.portal_log else " no messages"))
        lines += [
            f"  {e.sent_timestamp or '-'} {e.sms_uid or '-'} {e.status or '-'}"
            for e in found.portal_log
        ]
    click.echo("\n".join(for_terminal(line) for line in lines))


@cli.group()
def requests() -> None:
    """One request: what was asked and everything that happened to it."""


@requests.command("show")
@click.argument("request_id", type=int)
def requests_show(request_id: int) -> None:
    """The request (every field sent, who asked, state, outcome) and its audit timeline."""
    with _database() as database, database.read() as session:
        req = session.get(SmsRequest, request_id)
        if req is None:
            raise Fail(f"there is no request #{request_id}")
        timeline = audit.query(session, request_id=request_id)
    facts = [
        f"request #{req.id}  state={req.state}  sms_uid={req.sms_uid}  source={req.source}",
        f"requester {req.requester}  channel={req.channel_id or '-'}",
        f"iccid {req.iccid}  coding={req.data_coding}  origin={req.origin or '-'}",
        f"text {req.message_text!r}",
        f"outcome {req.outcome_reason or '-'}  delivery={req.delivery_status or '-'}",
    ]
    if req.decided_by:
        facts.append(f"decided by {req.decided_by}: {req.decision_reason or '-'}")
    click.echo("\n".join(for_terminal(line) for line in facts))
    click.echo("timeline:")
    for row in timeline:
        click.echo("  " + audit.to_text(row))


@cli.group()
def approvals() -> None:
    """Requests waiting for approval; break-glass decisions by admins."""


@approvals.command("list")
def approvals_list() -> None:
    """Requests awaiting approval, oldest first."""
    with _runtime() as runtime:
        runtime.approvals.expire_due()
        waiting = runtime.approvals.pending()
        for req in waiting:
            have = len(runtime.approvals.approvals_of(req.id))
            expires = f"{req.expires_at:%Y-%m-%d %H:%M}" if req.expires_at else "-"
            click.echo(
                for_terminal(
                    f"#{req.id:<5} {req.requester:<12} {req.iccid} {have}/{req.approvals_needed} "
                    f"approvals, expires {expires} UTC, asked in {req.approval_channel}: "
                    f"{req.message_text!r}"
                )
            )
        if not waiting:
            click.echo("no requests await approval")


def _break_glass(request_id: int, admin: str, reason: str, verdict: str) -> None:
    if not reason.strip():
        raise Fail("--reason must say why approvers were bypassed", EXIT_USAGE)
    with _runtime() as runtime:
        principal = Principal(admin)
        with runtime.db.session() as session:
            allowed = has_role(session, principal, "admin", runtime.settings.admins)
        if not allowed:
            with runtime.db.session() as session:
                audit.append(
                    session,
                    "approver_refused",
                    admin,
                    request_id=request_id,
                    details={
                        "verdict": verdict,
                        "reason": "break-glass needs an admin",
                        "via": "cli",
                        "operator": _operator(),
                    },
                )
            raise Fail(f"{admin} is not an admin: break-glass decisions are for admins")
        decision = runtime.approvals.decide(
            request_id,
            principal,
            "approve" if verdict == "approve" else "reject",
            reason=f"{reason.strip()} (break-glass by {_operator()})",
            via="cli",
            break_glass=True,
        )
    click.echo(decision.message)
    if decision.execution is not None:
        req = decision.execution.request
        click.echo(f"request #{req.id} {req.state}: {req.outcome_reason or ''}")
    ok = decision.status in ("approved", "declined", "pending")
    if not ok:
        raise Fail(f"request #{request_id}: {decision.status}")


@approvals.command("approve")
@click.argument("request_id", type=int)
@click.option("--as", "admin", required=True, help="The admin's Slack user ID (U…).")
@click.option("--reason", required=True, help="Why the approvers were bypassed (audited).")
def approvals_approve(request_id: int, admin: str, reason: str) -> None:
    """Break-glass approval by an admin (never of their own request); sends if the quorum is met."""
    _break_glass(request_id, admin, reason, "approve")


@approvals.command("reject")
@click.argument("request_id", type=int)
@click.option("--as", "admin", required=True, help="The admin's Slack user ID (U…).")
@click.option("--reason", required=True, help="Why (audited, shown to the requester).")
def approvals_reject(request_id: int, admin: str, reason: str) -> None:
    """Break-glass rejection by an admin."""
    _break_glass(request_id, admin, reason, "reject")


# ---- groups -----------------------------------------------------------------------------------
@cli.group()
def groups() -> None:
    """SIM groups and their approval policy."""


@groups.command("set")
@click.argument("name")
@click.option("--approval-required/--no-approval-required", default=None)
@click.option("--approval-channel", default=None, help="Channel ID (C…) where approvals go.")
@click.option("--approvals-needed", type=click.IntRange(1, 5), default=None)
def groups_set(
    name: str,
    approval_required: bool | None,
    approval_channel: str | None,
    approvals_needed: int | None,
) -> None:
    """Create or change a SIM group's approval policy."""
    if not (len(name) <= 64 and name.replace("-", "").replace("_", "").replace(".", "").isalnum()):
        raise Fail("NAME: letters, digits, _ . - (at most 64)", EXIT_USAGE)
    if approval_channel is not None and not (
        approval_channel[:1] in ("C", "G") and approval_channel[1:].isalnum()
    ):
        raise Fail("--approval-channel must be a channel ID (C… or G…)", EXIT_USAGE)
    with _database() as database, database.session() as session:
        group = set_group_policy(
            session,
            name,
            actor=_operator(),
            approval_required=approval_required,
            approval_channel=approval_channel,
            approvals_needed=approvals_needed,
        )
        line = _group_line(group)
    click.echo(line)


def _group_line(group: SimGroup) -> str:
    policy = (
        f"approval required ({group.approvals_needed} approver(s)) in "
        f"{group.approval_channel or 'SMSBOT_APPROVAL_CHANNEL'}"
        if group.approval_required
        else "no approval"
    )
    return f"{group.name}: {policy}"


@groups.command("list")
def groups_list() -> None:
    """SIM groups and their policies."""
    with _database() as database, database.read() as session:
        rows = list_groups(session)
        for group in rows:
            click.echo(_group_line(group))
        if not rows:
            click.echo("no SIM groups (they come from `sims import` or `groups set`)")


# ---- audit -----------------------------------------------------------------------------------
@cli.group("audit")
def audit_group() -> None:
    """The audit log: list, export, verify."""


@audit_group.command("list")
@click.option("--iccid", default=None)
@click.option("--since", default=None, help="ISO date/time (UTC unless an offset is given).")
@click.option("--limit", default=50, show_default=True)
def audit_list(iccid: str | None, since: str | None, limit: int) -> None:
    """The latest entries, oldest first."""
    since_at = None
    if since:
        try:
            since_at = datetime.fromisoformat(since)
        except ValueError:
            raise Fail(f"--since: `{since}` is not an ISO date/time", EXIT_USAGE) from None
        if since_at.tzinfo is None:
            since_at = since_at.replace(tzinfo=UTC)
    with _database() as database, database.read() as session:
        rows = audit.query(session, iccid=iccid, since=since_at, limit=limit, newest_first=True)
        for row in reversed(rows):
            click.echo(audit.to_text(row))


@audit_group.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="jsonl")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
def audit_export(fmt: str, output: Path | None) -> None:
    """Write the whole log (with hashes) to stdout or a file."""
    with _database() as database, database.read() as session:
        if output is None:
            audit.export(session, sys.stdout, fmt)
            return
        with output.open("w", encoding="utf-8", newline="") as out:
            count = audit.export(session, out, fmt)
    click.echo(f"{count} rows written to {output}", err=True)


@audit_group.command("verify")
def audit_verify() -> None:
    """Check the hash chain; exit 1 naming the first bad row."""
    with _database() as database, database.read() as session:
        result = audit.verify(session)
    if not result.ok:
        raise Fail(f"audit log BROKEN at row {result.bad_seq}: {result.problem}")
    click.echo(f"audit log intact: {result.rows} rows")


# ---- sandbox ---------------------------------------------------------------------------------
@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8089, show_default=True, type=int)
@click.option("--latency-ms", default=0, type=int, help="Delay every answer.")
@click.option(
    "--fault",
    type=click.Choice(["none", "timeout", "500", "non_xml", "malformed", "reset"]),
    default="none",
    help="Answer every request with this fault.",
)
def sandbox(host: str, port: int, latency_ms: int, fault: str) -> None:
    """Run the simulated portal as a standalone HTTP server (nothing is ever sent)."""
    server = SandboxServer(host=host, port=port)
    server.portal.set_fault(fault, latency_ms / 1000)  # type: ignore[arg-type]
    creds = SANDBOX_CREDENTIALS
    click.echo(
        f"sandbox portal on {server.url}  api_id={creds.api_id} username={creds.username} "
        f"password={creds.password}"
    )
    for sim in DEMO_SIMS:
        extra = ("" if sim.active else " inactive") + ("" if sim.online else " offline")
        click.echo(f"  {sim.iccid}  {sim.sim_type}{extra}")
    with suppress(KeyboardInterrupt):
        server.serve_forever()


# ---- serve -----------------------------------------------------------------------------------
@cli.command()
def serve() -> None:
    """Run the Slack bot (Socket Mode with SLACK_APP_TOKEN, else HTTP on HOST:PORT)."""
    # Imported here: Bolt and the Slack SDK are only needed by this command.
    from bot.slack.app import SlackConfigError
    from bot.slack.server import run

    try:
        finished = run(_settings())
    except SlackConfigError as exc:
        raise Fail(str(exc), EXIT_USAGE) from None
    if not finished:
        # Sends still waiting on the portal were recorded as unknown; their threads must not
        # hold the exit past the grace period.
        logging.shutdown()
        os._exit(EXIT_OK)


def main() -> NoReturn:
    """Entry point: click errors, database and file problems become one line `smsbot: …` and a
    non-zero status (2 for what the operator must fix), never a traceback."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("smsbot: aborted", err=True)
        sys.exit(EXIT_REFUSED)
    except click.ClickException as exc:
        click.echo(f"smsbot: {exc.format_message()}", err=True)
        sys.exit(exc.status if isinstance(exc, Fail) else exc.exit_code)
    except SQLAlchemyError as exc:
        url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
        click.echo(f"smsbot: {describe_db_error(exc, url)}", err=True)
        sys.exit(EXIT_USAGE)
    except OSError as exc:
        name = f" {exc.filename}" if exc.filename else ""
        click.echo(f"smsbot: cannot use{name}: {exc.strerror or exc}", err=True)
        sys.exit(EXIT_USAGE)
    sys.exit(EXIT_OK)
