"""The request lifecycle in the core, on SQLite and PostgreSQL: requests left behind are sent
once or abandoned, stale sends settled, delivery polled until final, unknown outcomes reconciled
both ways, and the queue guard stops the 61st message to a KPN SIM."""

from __future__ import annotations

import io
import threading
from datetime import timedelta

from sqlalchemy import update

from bot.authz import Principal
from bot.lifecycle.delivery import apply_delivery
from bot.runtime import Runtime
from bot.service import SendCommand, retryable
from bot.sms.message import Draft
from bot.store import audit
from bot.store.grants import aware
from bot.store.inventory import import_csv
from bot.store.models import SmsRequest
from tests.support.lifecycle import request_row, run_job, runtime_on, wait_until

MANX = "89440000000000000010"
KPN_OFFLINE = "89310000000000000049"


def record(runtime: Runtime, text: str = "reset modem", iccid: str = MANX) -> int:
    """A request recorded and not sent: what a crash right after the Slack ack leaves."""
    submission = runtime.service.submit(
        SendCommand(Principal("UADMIN"), Draft(iccid, text), "slack")
    )
    assert submission.status == "recorded" and submission.request is not None
    return submission.request.id


def portal_sends(*runtimes: Runtime) -> int:
    return sum(len(r.sandbox.portal.requests_for("send_sms")) for r in runtimes if r.sandbox)


def events_of(runtime: Runtime, request_id: int) -> list[str]:
    with runtime.db.read() as session:
        return [r.event for r in audit.query(session, request_id=request_id)]


def test_a_request_left_recorded_is_sent_once_by_any_number_of_replicas(db_url: str) -> None:
    with runtime_on(db_url) as a, runtime_on(db_url) as b, runtime_on(db_url) as c:
        rid = record(a)
        replicas = [a, b, c]
        barrier = threading.Barrier(3)

        def dispatch(rt: Runtime) -> None:
            barrier.wait(10)
            run = rt.jobs.registry.get("dispatch")
            assert run is not None
            rt.jobs.run(run, force=True)

        threads = [threading.Thread(target=dispatch, args=(rt,)) for rt in replicas]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        for rt in replicas:
            assert rt.sender.drain(20)
        # Whoever ran it, and however often: one POST, one claim.
        run_job(b, "dispatch")
        assert b.sender.drain(20)
        assert portal_sends(*replicas) == 1
        assert request_row(a, rid).state == "accepted"
        assert events_of(a, rid).count("sending") == 1


def test_a_request_older_than_the_cutoff_is_abandoned_not_sent_late(db_url: str) -> None:
    with runtime_on(db_url) as rt:
        rid = record(rt)
        with rt.db.session() as session:
            session.execute(
                update(SmsRequest)
                .where(SmsRequest.id == rid)
                .values(created_at=audit.utc_now() - timedelta(minutes=11))
            )
        assert run_job(rt, "dispatch").summary == "0 send(s) started, 1 abandoned"
        req = request_row(rt, rid)
        assert req.state == "abandoned" and "older than 10 minutes" in (req.outcome_reason or "")
        assert retryable(req)
        assert portal_sends(rt) == 0
        assert events_of(rt, rid)[-1] == "abandoned"
        # Once: a second run finds nothing.
        assert run_job(rt, "dispatch").summary == "0 send(s) started, 0 abandoned"


def test_a_send_cut_off_mid_call_is_settled_as_unknown(db_url: str) -> None:
    with runtime_on(db_url) as rt:
        rid = record(rt)
        with rt.db.session() as session:
            session.execute(
                update(SmsRequest)
                .where(SmsRequest.id == rid)
                .values(state="sending", sent_at=audit.utc_now() - timedelta(minutes=5))
            )
        assert run_job(rt, "settle_stale_sends").summary == "1 settled as unknown"
        assert request_row(rt, rid).state == "unknown"
        assert run_job(rt, "settle_stale_sends").summary == "0 settled as unknown"


def test_delivery_is_polled_until_final_then_left_alone(db_url: str) -> None:
    with runtime_on(db_url, SMSBOT_SANDBOX_DELIVER_SECONDS=0.0) as rt:
        first, _ = rt.service.send(SendCommand(Principal("UADMIN"), Draft(MANX, "one"), "cli"))
        second, _ = rt.service.send(SendCommand(Principal("UADMIN"), Draft(MANX, "two"), "cli"))
        assert first.request is not None and second.request is not None
        assert run_job(rt, "poll_delivery").summary.startswith("1 SIM(s) asked, 2 delivery")
        assert rt.sandbox is not None
        # One query covered both of the SIM's pending requests.
        assert len(rt.sandbox.portal.requests_for("query_sms_mt_details")) == 1
        for req in (first.request, second.request):
            row = request_row(rt, req.id)
            assert row.delivery_status == "delivered" and row.delivered_at is not None
            assert row.next_poll_at is None
        assert run_job(rt, "poll_delivery").summary.startswith("0 SIM(s) asked")
        assert events_of(rt, first.request.id).count("delivered") == 1


def test_polls_follow_the_back_off_and_give_up_as_not_confirmed(db_url: str) -> None:
    with runtime_on(db_url) as rt:
        sub, _ = rt.service.send(SendCommand(Principal("UADMIN"), Draft(KPN_OFFLINE, "cfg"), "cli"))
        assert sub.request is not None
        rid = sub.request.id
        sent = request_row(rt, rid)
        # The first poll is due a minute after sending: not yet.
        assert sent.next_poll_at is not None
        job = rt.jobs.registry.get("poll_delivery")
        assert job is not None
        assert rt.jobs.run(job, force=False).summary.startswith("0 SIM(s) asked")
        # Forced (jobs run / worker --once): asked now; the offline SIM's message is pending,
        # and the next poll is 5 minutes away (the schedule's second step).
        run_job(rt, "poll_delivery")
        row = request_row(rt, rid)
        assert row.delivery_status == "pending" and row.delivery_polls == 1
        next_poll = aware(row.next_poll_at)
        assert next_poll is not None
        assert timedelta(minutes=4) < next_poll - audit.utc_now() <= timedelta(minutes=5)
        with rt.db.session() as session:
            session.execute(
                update(SmsRequest)
                .where(SmsRequest.id == rid)
                .values(sent_at=audit.utc_now() - timedelta(hours=73))
            )
        assert ", 1 not_confirmed," in run_job(rt, "poll_delivery").summary
        assert request_row(rt, rid).delivery_status == "not_confirmed"
        assert events_of(rt, rid)[-1] == "delivery_status"


def test_an_unknown_outcome_found_in_the_portal_log_becomes_accepted(db_url: str) -> None:
    with runtime_on(db_url, SMSBOT_PORTAL_DEADLINE=1.0, SMSBOT_SANDBOX_DELIVER_SECONDS=0.0) as rt:
        assert rt.sandbox is not None
        # The portal takes the message but answers after the bot gave up waiting.
        rt.sandbox.portal.set_fault("none", latency=2.0)
        _, execution = rt.service.send(
            SendCommand(Principal("UADMIN"), Draft(MANX, "late answer"), "cli")
        )
        assert execution is not None and execution.request.state == "unknown"
        rt.sandbox.portal.set_fault("none")
        uid = execution.request.sms_uid
        wait_until(lambda: rt.sandbox.portal.state.log.newest(MANX, 1), what="logged")  # type: ignore[union-attr]
        assert rt.sandbox.portal.state.log.newest(MANX, 1)[0].sms_uid == uid
        assert "1 found (accepted)" in run_job(rt, "reconcile_unknown").summary
        row = request_row(rt, execution.request.id)
        assert row.state == "accepted" and row.delivery_status == "delivered"
        assert events_of(rt, row.id)[-2:] == ["reconciled", "delivered"]
        assert not retryable(row)


def test_an_unknown_outcome_absent_after_the_grace_period_becomes_not_sent(db_url: str) -> None:
    with runtime_on(db_url, SMSBOT_PORTAL_DEADLINE=1.0, SMSBOT_RECONCILE_GRACE_MINUTES=0.001) as rt:
        assert rt.sandbox is not None
        rt.sandbox.portal.hang_seconds = 2.0
        rt.sandbox.portal.set_fault("timeout")  # the request never gets processed
        _, execution = rt.service.send(SendCommand(Principal("UADMIN"), Draft(MANX, "lost"), "cli"))
        assert execution is not None and execution.request.state == "unknown"
        rt.sandbox.portal.set_fault("none")
        # Never `unknown` → retry before it is reconciled.
        assert not retryable(execution.request)
        assert "1 not_sent" in run_job(rt, "reconcile_unknown").summary
        row = request_row(rt, execution.request.id)
        assert row.state == "not_sent" and retryable(row)
        with rt.db.read() as session:
            last = audit.query(session, request_id=row.id)[-1]
        assert last.event == "not_sent" and '"log_entries":0' in last.details


def test_the_queue_guard_stops_the_61st_message_before_the_portal(db_url: str) -> None:
    with runtime_on(db_url, SMSBOT_RATE_USER="off", SMSBOT_RATE_SIM="off") as rt:
        with rt.db.session() as session:
            import_csv(
                session,
                io.StringIO(f"iccid,label,sim_type\n{KPN_OFFLINE},meter,Multinet KPN C\n"),
                "cli:test",
            )
        accepted = []
        for i in range(60):
            sub, execution = rt.service.send(
                SendCommand(Principal("UADMIN"), Draft(KPN_OFFLINE, f"cfg {i}"), "cli")
            )
            assert execution is not None and execution.request.state == "accepted", sub.reason
            accepted.append(execution.request)
        sub, execution = rt.service.send(
            SendCommand(Principal("UADMIN"), Draft(KPN_OFFLINE, "one too many"), "cli")
        )
        assert sub.status == "denied" and execution is None
        assert "already has 60 messages waiting for delivery" in sub.reason
        assert "cap for Multinet KPN C SIMs is 60" in sub.reason
        assert portal_sends(rt) == 60
        # A receipt says one was delivered: our guard lets the next one through (this sandbox
        # device is offline, so the portal itself still holds 60 and refuses it).
        with rt.db.session() as session:
            apply_delivery(session, accepted[0], "delivered", source="receipt")
        sub, execution = rt.service.send(
            SendCommand(Principal("UADMIN"), Draft(KPN_OFFLINE, "now fits"), "cli")
        )
        assert execution is not None and execution.request.state == "rejected"
        assert "queue limit exceeded" in (execution.request.outcome_reason or "")


def test_replicas_polling_at_once_ask_the_portal_once_per_sim(db_url: str) -> None:
    with (
        runtime_on(db_url, SMSBOT_SANDBOX_DELIVER_SECONDS=0.0) as a,
        runtime_on(db_url, SMSBOT_SANDBOX_DELIVER_SECONDS=0.0) as b,
        runtime_on(db_url, SMSBOT_SANDBOX_DELIVER_SECONDS=0.0) as c,
    ):
        for text in ("one", "two", "three"):
            a.service.send(SendCommand(Principal("UADMIN"), Draft(MANX, text), "cli"))
        replicas = [a, b, c]
        barrier = threading.Barrier(3)
        ran: list[bool] = []

        def poll(rt: Runtime) -> None:
            barrier.wait(10)
            job = rt.jobs.registry.get("poll_delivery")
            assert job is not None
            ran.append(rt.jobs.run(job, force=True).ran)

        threads = [threading.Thread(target=poll, args=(rt,)) for rt in replicas]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        queries = sum(
            len(rt.sandbox.portal.requests_for("query_sms_mt_details"))
            for rt in replicas
            if rt.sandbox
        )
        # However the claims fell (one ran while the others were refused, or one ran after
        # another had found them all delivered): one query for the SIM's three requests, and
        # each delivery recorded once.
        assert queries == 1 and any(ran)
        with a.db.read() as session:
            delivered = [r for r in audit.query(session) if r.event == "delivered"]
        assert len(delivered) == 3
