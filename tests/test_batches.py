"""Fleet sends: one request for every active SIM of a group (or a list), one decision for the
whole batch, each SIM sent exactly once with bounded concurrency by the jobs, a summary and a
CSV of per-SIM outcomes, and a stop midway — in the core and the CLI, on both databases."""

from __future__ import annotations

import csv
import io
import threading

from sqlalchemy import select, text

from bot.authz import Principal
from bot.batches import BatchCommand
from bot.batches import BatchSubmission as Submitted
from bot.batches.report import as_csv, rows
from bot.batches.run import finish, release
from bot.runtime import Runtime
from bot.service import SendCommand
from bot.sms.message import Draft
from bot.store import audit
from bot.store.db import Database
from bot.store.grants import create_grant
from bot.store.inventory import import_csv, set_group_policy
from bot.store.models import Approval, SmsBatch, SmsRequest
from tests.support.lifecycle import run_job, runtime_on, wait_until

# The sandbox portal's SIMs: five it accepts messages for, and one open-user-group SIM.
FLEET = (
    "iccid,label,sim_type,group\n"
    "89440000000000000010,pump 7,Manx Telecom,pumps\n"
    "89310000000000000023,meter 3,Multinet KPN C,pumps\n"
    "89310000000000000049,meter offline,Multinet KPN C,pumps\n"
    "89330000000000000062,tracker,Multinet Orange,pumps\n"
    "89310000000000000031,gate,Multinet KPN O,pumps\n"
    "89440000000000000051,old pump,Manx Telecom,other\n"
)
SENDABLE = {
    "89440000000000000010",
    "89310000000000000023",
    "89310000000000000049",
    "89330000000000000062",
}
GATE = "89310000000000000031"


def _fleet(db: Database, *, approval: bool = False) -> None:
    with db.session() as session:
        import_csv(session, io.StringIO(FLEET), "cli:test")
        if approval:
            set_group_policy(
                session, "pumps", actor="UADMIN", approval_required=True, approvals_needed=1
            )


def _events(db: Database) -> list[str]:
    with db.read() as session:
        return [r.event for r in audit.query(session)]


def _members(db: Database, batch_id: int) -> list[SmsRequest]:
    with db.read() as session:
        return list(
            session.execute(
                select(SmsRequest).where(SmsRequest.batch_id == batch_id).order_by(SmsRequest.id)
            ).scalars()
        )


def test_a_group_send_from_the_cli_reaches_each_sim_once(smsbot, database: Database) -> None:  # type: ignore[no-untyped-def]
    _fleet(database)
    unconfirmed = smsbot("send", "--as", "UADMIN", "--group", "pumps", "--text", "reset modem")
    assert unconfirmed.code == 1
    assert "this sends to 4 SIM(s)" in unconfirmed.err and "re-run with --yes" in unconfirmed.err
    assert f"skipped {GATE} (gate): This SIM is of type Multinet KPN O" in unconfirmed.err
    sent = smsbot(
        "send", "--as", "UADMIN", "--group", "pumps", "--text", "reset modem", "--yes",
        "--idempotency-key", "fleet-1",
    )  # fmt: skip
    assert sent.code == 0, sent.err
    assert "batch #1: 4 accepted, 1 skipped" in sent.out
    members = _members(database, 1)
    assert {m.iccid for m in members} == SENDABLE  # each SIM once; the other group untouched
    assert len({m.sms_uid for m in members}) == 4  # each its own uid
    assert all(m.state == "accepted" for m in members)
    # The same key again sends nothing more.
    again = smsbot(
        "send", "--as", "UADMIN", "--group", "pumps", "--text", "reset modem", "--yes",
        "--idempotency-key", "fleet-1",
    )  # fmt: skip
    assert "already submitted as batch #1" in again.out
    with database.read() as session:
        assert len(session.execute(select(SmsRequest.id)).all()) == 4
    # The summary is recorded once, and the CSV lists every SIM named, skipped ones too.
    events = _events(database)
    assert events.count("batch_requested") == 1 and events.count("batch_done") == 1
    assert events.count("sent") == 4
    exported = smsbot("batches", "show", "1", "--csv")
    table = list(csv.DictReader(io.StringIO(exported.out)))
    assert {r["iccid"]: r["state"] for r in table} == {
        **dict.fromkeys(SENDABLE, "accepted"),
        GATE: "skipped",
    }
    listed = smsbot("batches", "list")
    assert "#1  done" in listed.out and "4 SIM(s)  group pumps" in listed.out


def test_a_batch_is_approved_once_and_each_sim_carries_the_approval(db_url: str) -> None:
    with runtime_on(db_url, SMSBOT_BATCH_CONCURRENCY="2") as runtime:
        db = runtime.db
        _fleet(db, approval=True)
        with db.session() as session:
            create_grant(
                session, subject="U0SENDER", scope="group:pumps", role="sender", actor="UADMIN"
            )
            create_grant(
                session, subject="U0APPROVER", scope="8944*", role="approver", actor="UADMIN"
            )
            create_grant(session, subject="U0BOSS", scope="group:pumps", role="approver",
                         actor="UADMIN")  # fmt: skip
        sender = Principal("U0SENDER", (), "C0NOC")
        cmd = BatchCommand(sender, "cli", "reset modem", group="pumps", confirmed=True)
        submitted = runtime.batches.submit(cmd)
        assert submitted.status == "awaiting_approval" and submitted.members == 4
        assert submitted.batch is not None
        batch_id = submitted.batch.id
        assert all(m.state == "batched" for m in _members(db, batch_id))
        run_job(runtime, "send_batches")
        assert runtime.service.portal.sandbox and _portal_sends(runtime) == 0
        # Not your own; not without the approver role over every SIM of it.
        own = runtime.batches.decide(batch_id, sender, "approve")
        assert own.status == "refused" and "your own batch" in own.message
        partial = runtime.batches.decide(batch_id, Principal("U0APPROVER", (), None), "approve")
        assert partial.status == "refused" and "every SIM" in partial.message
        boss = Principal("U0BOSS", (), None)
        approved = runtime.batches.decide(batch_id, boss, "approve", via="cli")
        assert approved.status == "approved", approved.message
        twice = runtime.batches.decide(batch_id, boss, "approve")
        assert twice.status == "already_decided"
        with db.read() as session:
            bound = session.execute(select(Approval.request_id, Approval.approver)).all()
        assert sorted(a for _, a in bound) == ["U0BOSS"] * 4
        # Concurrency 2: the job releases two; the rest follow as outcomes are recorded.
        released = release(db, batch_id)
        assert len(released) == 2 and release(db, batch_id) == []
        for member in released:
            runtime.service.execute(member.request_id, "U0SENDER")
        wait_until(lambda: _drain(runtime, batch_id), what="the batch to finish")
        members = _members(db, batch_id)
        assert [m.state for m in members] == ["accepted"] * 4
        assert _portal_sends(runtime) == 4
        with db.read() as session:
            view = session.execute(
                text("SELECT iccid, approvers, batch_id FROM sms_audit_view ORDER BY request_id")
            ).all()
        assert [(r.approvers, r.batch_id) for r in view] == [("U0BOSS", batch_id)] * 4
        events = _events(db)
        assert events.count("batch_approved") == 1 and events.count("batch_done") == 1
        assert events.count("approver_refused") == 2


def _portal_sends(runtime: Runtime) -> int:
    assert runtime.sandbox is not None
    return len(runtime.sandbox.portal.requests_for("send_sms"))


def _drain(runtime: Runtime, batch_id: int) -> bool:
    """One round of what the jobs do: release, send, finish; True once the batch ended."""
    for member in release(runtime.db, batch_id):
        runtime.service.execute(member.request_id, member.requester)
    return finish(runtime.db, batch_id)


def test_a_batch_stopped_midway_sends_no_more(db_url: str) -> None:
    with runtime_on(db_url, SMSBOT_BATCH_CONCURRENCY="1") as runtime:
        db = runtime.db
        _fleet(db)
        admin = Principal("UADMIN", (), None)
        submitted = runtime.batches.submit(
            BatchCommand(admin, "cli", "reset modem", group="pumps", confirmed=True)
        )
        assert submitted.batch is not None
        batch_id = submitted.batch.id
        (first,) = release(db, batch_id)
        runtime.service.execute(first.request_id, "UADMIN")
        (second,) = release(db, batch_id)  # released, not yet claimed: stopping cancels it
        other = runtime.batches.stop(batch_id, Principal("U0OTHER", (), None), via="cli")
        assert other.status == "refused"
        stopped = runtime.batches.stop(batch_id, admin, via="cli")
        assert stopped.status == "stopped" and "3 SIM(s) will not be sent to" in stopped.message
        assert runtime.service.execute(second.request_id, "UADMIN").sent_by_this_call is False
        assert release(db, batch_id) == []
        assert finish(db, batch_id) and not finish(db, batch_id)
        states = [m.state for m in _members(db, batch_id)]
        assert states == ["accepted", "cancelled", "cancelled", "cancelled"]
        assert _portal_sends(runtime) == 1
        with db.read() as session:
            done = [r for r in audit.query(session) if r.event == "batch_done"]
            batch = session.get(SmsBatch, batch_id)
        assert batch is not None and batch.state == "stopped" and batch.finished_at is not None
        assert '"cancelled":3' in done[0].details and '"accepted":1' in done[0].details


def test_replicas_running_the_batch_jobs_send_each_sim_once(db_url: str) -> None:
    with runtime_on(db_url) as one, runtime_on(db_url) as two:
        _fleet(one.db)
        submitted = one.batches.submit(
            BatchCommand(Principal("UADMIN", (), None), "cli", "ping", group="pumps",
                         confirmed=True)
        )  # fmt: skip
        assert submitted.batch is not None
        batch_id = submitted.batch.id
        finished = []

        def replica(runtime: Runtime) -> None:
            def step() -> bool:
                for member in release(runtime.db, batch_id):
                    runtime.service.execute(member.request_id, member.requester)
                # Also what a crash left released: the dispatch job's path.
                for member in _members(runtime.db, batch_id):
                    if member.state in ("recorded", "approved"):
                        runtime.service.execute(member.id, member.requester)
                return finish(runtime.db, batch_id) or _ended(runtime.db, batch_id)

            finished.append(wait_until(step, what="the batch to end"))

        threads = [threading.Thread(target=replica, args=(r,)) for r in (one, two)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert finished == [True, True]
        sends = _portal_sends(one) + _portal_sends(two)
        assert sends == 4  # (each runtime has its own sandbox; together, once per SIM)
        assert _events(one.db).count("batch_done") == 1


def _ended(db: Database, batch_id: int) -> bool:
    with db.read() as session:
        batch = session.get(SmsBatch, batch_id)
        return batch is not None and batch.finished_at is not None


def test_what_a_batch_refuses_and_skips(db_url: str) -> None:
    with runtime_on(db_url, SMSBOT_RATE_SIM="1/h", SMSBOT_RATE_USER="2/h") as runtime:
        db = runtime.db
        _fleet(db)
        with db.session() as session:
            create_grant(session, subject="U0SENDER", scope="8944*", role="sender",
                         actor="UADMIN")  # fmt: skip
        sender = Principal("U0SENDER", (), None)

        def submit(text: str, group: str | None = None, sims: tuple[str, ...] = ()) -> Submitted:
            return runtime.batches.submit(
                BatchCommand(sender, "cli", text, group=group, sims=sims, confirmed=True)
            )

        too_long = submit("x" * 200, group="pumps")
        assert too_long.status == "invalid" and "160" in too_long.reason
        nobody = submit("hi", group="nope")
        assert nobody.status == "invalid" and "has no active SIMs" in nobody.reason
        unknown = submit("hi", sims=("pump 7", "no such pump"))
        assert unknown.status == "invalid" and "no such pump" in unknown.reason
        # Only the SIMs this sender may message are in the batch; the others are skipped.
        first = submit("hi", group="pumps")
        assert first.status == "sending" and first.members == 1
        assert any("no `sender` grant" in s.reason for s in first.skipped)
        # Per-SIM rate limit: pump 7 had its one message this hour; the batch counts once
        # against the user's limit (2/h), not once per SIM.
        second = submit("hi", sims=("pump 7",))
        assert second.status == "denied"
        assert "SMSBOT_RATE_SIM" in second.reason
        events = _events(db)
        assert events.count("invalid") == 3 and events.count("denied") == 1
        with db.read() as session:
            assert len(session.execute(select(SmsBatch.id)).all()) == 1


def test_an_unapproved_batch_expires_whole(db_url: str) -> None:
    with runtime_on(db_url) as runtime:
        db = runtime.db
        _fleet(db, approval=True)
        submitted = runtime.batches.submit(
            BatchCommand(Principal("UADMIN", (), None), "cli", "ping", group="pumps",
                         confirmed=True)
        )  # fmt: skip
        assert submitted.status == "awaiting_approval" and submitted.batch is not None
        batch_id = submitted.batch.id
        with db.session() as session:
            batch = session.get(SmsBatch, batch_id)
            assert batch is not None and batch.expires_at is not None
            batch.expires_at = audit.utc_now() - (batch.expires_at - batch.created_at)
        run_job(runtime, "send_batches")
        assert {m.state for m in _members(db, batch_id)} == {"expired"}
        late = runtime.batches.decide(batch_id, Principal("U0BOSS", (), None), "approve")
        assert late.status == "already_decided"
        run_job(runtime, "send_batches")
        assert _portal_sends(runtime) == 0
        events = _events(db)
        assert events.count("batch_expired") == 1 and events.count("expired") == 4


def test_the_per_sim_csv_never_holds_a_formula(db_url: str) -> None:
    with runtime_on(db_url) as runtime:
        with runtime.db.session() as session:
            import_csv(
                session,
                io.StringIO(
                    "iccid,label,sim_type,group\n"
                    '89440000000000000010,"=HYPERLINK(""http://x"")",Manx Telecom,g\n'
                    "89310000000000000031,@gate,Multinet KPN O,g\n"
                ),
                "cli:test",
            )
        submitted = runtime.batches.submit(
            BatchCommand(Principal("UADMIN", (), None), "cli", "=1+1", group="g", confirmed=True)
        )
        assert submitted.batch is not None
        table = list(csv.DictReader(io.StringIO(as_csv(rows(runtime.db, submitted.batch.id)))))
        labels = {r["iccid"]: r["sim_label"] for r in table}
        assert labels == {
            "89440000000000000010": '\'=HYPERLINK("http://x")',
            "89310000000000000031": "'@gate",
        }


def test_a_batch_counts_once_against_its_requesters_rate_limit(db_url: str) -> None:
    with runtime_on(db_url, SMSBOT_RATE_USER="2/h", SMSBOT_RATE_SIM="off") as runtime:
        _fleet(runtime.db)
        admin = Principal("UADMIN", (), None)
        first = runtime.batches.submit(
            BatchCommand(admin, "cli", "ping", group="pumps", confirmed=True)
        )
        assert first.status == "sending" and first.members == 4  # 4 SIMs, one request's worth
        single = runtime.service.submit(
            SendCommand(admin, Draft("89440000000000000010", "one more"), "cli")
        )
        assert single.status == "recorded"
        third = runtime.batches.submit(
            BatchCommand(admin, "cli", "again", group="pumps", confirmed=True)
        )
        assert third.status == "denied" and "SMSBOT_RATE_USER=2/h" in third.reason


def test_the_cli_decides_and_stops_batches(smsbot, database: Database, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SMSBOT_APPROVAL_CHANNEL", "C0APPROVE")
    _fleet(database, approval=True)
    with database.session() as session:
        for subject, role in (("U0SENDER", "sender"), ("U0BOSS", "approver")):
            create_grant(session, subject=subject, scope="group:pumps", role=role, actor="UADMIN")
    asked = smsbot("send", "--as", "U0SENDER", "--group", "pumps", "--text", "hi", "--yes")
    assert asked.code == 5 and "batch #1 (4 SIMs) awaits approval" in asked.out, asked.err
    own = smsbot("batches", "approve", "1", "--as", "U0SENDER")
    assert own.code == 1 and "your own batch" in own.err and "Traceback" not in own.err
    approved = smsbot("batches", "approve", "1", "--as", "U0BOSS", "--reason", "planned")
    assert approved.code == 0 and "approved: sending to 4 SIM(s)" in approved.out
    again = smsbot("batches", "reject", "1", "--as", "U0BOSS")
    assert again.code == 1 and "already sending" in again.err
    other = smsbot("batches", "stop", "1", "--as", "U0BOSS")
    assert other.code == 1 and "Only the requester or an admin" in other.err
    stopped = smsbot("batches", "stop", "1", "--as", "U0SENDER")
    assert stopped.code == 0 and "4 SIM(s) will not be sent to" in stopped.out
    shown = smsbot("batches", "show", "1")
    assert shown.out.count("cancelled") == 4
    missing = smsbot("batches", "show", "99")
    assert missing.code == 1 and missing.err.strip() == "smsbot: there is no batch #99"
