"""The send pipeline end to end: database (both backends) + sandbox portal on real HTTP."""

from __future__ import annotations

import base64
import io
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from bot.authz import Principal
from bot.portal.sandbox import SandboxServer
from bot.service import SendCommand, SendService
from bot.sms.message import Draft
from bot.store import audit
from bot.store.db import Database
from bot.store.grants import create_grant, revoke_grant
from bot.store.inventory import import_csv
from bot.store.models import SimGroup, SmsRequest

MANX = "89440000000000000010"
KPN_C = "89310000000000000023"
KPN_O = "89310000000000000031"
SENDER = Principal("USENDER", ("S0OPS",), "C0NOC")


@pytest.fixture
def granted(database: Database) -> None:
    with database.session() as session:
        create_grant(session, subject="USENDER", scope="*", role="sender", actor="UADMIN")


def cmd(text: str = "reset modem", iccid: str = MANX, **kw: object) -> SendCommand:
    draft_fields = {
        k: kw.pop(k)
        for k in list(kw)
        if k in ("data_coding", "origin", "sms_uid", "apply_replacements")
    }
    return SendCommand(
        principal=kw.pop("principal", SENDER),  # type: ignore[arg-type]
        draft=Draft(iccid, text, **draft_fields),  # type: ignore[arg-type]
        source="cli",
        **kw,  # type: ignore[arg-type]
    )


def events(database: Database) -> list[str]:
    """The request events in order (grant and inventory changes left out)."""
    with database.session() as session:
        return [
            r.event for r in audit.query(session) if not r.event.startswith(("grant_", "sims_"))
        ]


def sends(sandbox: SandboxServer) -> int:
    return len(sandbox.portal.requests_for("send_sms"))


@pytest.mark.usefixtures("granted")
def test_accepted_send_records_every_step(
    service: SendService, database: Database, sandbox: SandboxServer
) -> None:
    submission, execution = service.send(cmd("reset <modem> & ]]>"))
    assert submission.status == "recorded"
    assert execution is not None and execution.sent_by_this_call
    req = execution.request
    assert req.state == "accepted" and req.sandbox
    assert len(req.sms_uid) == 12
    assert "sandbox: nothing was sent" in (req.outcome_reason or "")
    assert events(database) == ["requested", "sending", "sent"]
    (xml,) = sandbox.portal.requests_for("send_sms")
    assert xml.findtext("message_text") == "reset <modem> & ]]>"
    assert xml.findtext("sms_uid") == req.sms_uid
    assert "sandbox-password" not in (req.portal_request_xml or "")
    with database.session() as session:
        assert audit.verify(session).ok


BAD_INPUTS = [
    pytest.param({"text": "x" * 161}, "message_text", "161/160", id="overlong"),
    pytest.param(
        {"text": "a" * 159 + "€"},
        "message_text",
        "161/160 — `€` counts as two",
        id="extension-at-boundary",
    ),
    pytest.param({"text": "reboot 😀"}, "message_text", "not in the GSM alphabet", id="emoji"),
    pytest.param({"text": "Let’s go"}, "message_text", "use `'`", id="curly-quote"),
    pytest.param({"text": "a\x00b"}, "message_text", "U+0000", id="nul"),
    pytest.param({"text": "a\x07b"}, "message_text", "Control character", id="control"),
    pytest.param(
        {"text": "AAH//oB", "data_coding": "binary", "iccid": KPN_C},
        "message_text",
        "base64",
        id="malformed-base64",
    ),
    pytest.param(
        {"text": base64.b64encode(bytes(121)).decode(), "data_coding": "binary", "iccid": KPN_C},
        "message_text",
        "121/120 bytes",
        id="121-byte-binary",
    ),
    pytest.param({"iccid": "8944000000000000001O"}, "iccid", "digits only", id="iccid-letters"),
    pytest.param({"sms_uid": "abcdefghijklm"}, "sms_uid", "13/12", id="13-char-uid"),
    pytest.param({"data_coding": "ucs2"}, "data_coding", "`default`", id="bad-coding"),
    pytest.param({"origin": "+4478"}, "origin", "without `+`", id="origin-plus"),
]


@pytest.mark.usefixtures("granted")
@pytest.mark.parametrize(("fields", "field", "words"), BAD_INPUTS)
def test_bad_input_is_refused_audited_and_never_sent(
    service: SendService,
    database: Database,
    sandbox: SandboxServer,
    fields: dict[str, str],
    field: str,
    words: str,
) -> None:
    submission, execution = service.send(cmd(**fields))
    assert submission.status == "invalid" and execution is None
    assert any(p.field == field and words in p.message for p in submission.errors), [
        p.message for p in submission.errors
    ]
    assert events(database) == ["invalid"]
    with database.session() as session:
        (row,) = [r for r in audit.query(session) if r.event == "invalid"]
        assert words in row.details  # the audit row says what was wrong
        assert session.execute(select(func.count()).select_from(SmsRequest)).scalar() == 0
    assert sends(sandbox) == 0


@pytest.mark.usefixtures("granted")
def test_duplicate_sms_uid_is_refused(
    service: SendService, database: Database, sandbox: SandboxServer
) -> None:
    first, _ = service.send(cmd(sms_uid="TRACE1"))
    assert first.status == "recorded"
    second, execution = service.send(cmd("again", sms_uid="TRACE1"))
    assert second.status == "invalid" and execution is None
    assert "already used" in second.errors[0].message
    assert events(database)[-1] == "invalid"
    assert sends(sandbox) == 1


def test_unauthorized_user_is_refused_and_audited(
    service: SendService, database: Database, sandbox: SandboxServer
) -> None:
    submission, execution = service.send(cmd(principal=Principal("UNOBODY")))
    assert submission.status == "denied" and execution is None
    assert "no `sender` grant" in submission.reason and "<@UADMIN>" in submission.reason
    assert events(database) == ["denied"]
    assert sends(sandbox) == 0


@pytest.mark.usefixtures("granted")
def test_warnings_need_confirmation_before_sending(
    service: SendService, database: Database, sandbox: SandboxServer
) -> None:
    seed_iccid = "1234567890123456789"  # fails Luhn, no 89 prefix: warnings, not errors
    submission, _ = service.send(cmd(iccid=seed_iccid))
    assert submission.status == "needs_confirmation"
    assert {p.code for p in submission.warnings} == {"luhn", "prefix"}
    assert sends(sandbox) == 0
    submission, execution = service.send(cmd(iccid=seed_iccid, confirmed=True))
    assert submission.status == "recorded"
    assert execution is not None and execution.request.state == "rejected"  # unknown to portal
    assert events(database) == ["needs_confirmation", "requested", "sending", "failed"]


@pytest.mark.usefixtures("granted")
def test_same_idempotency_key_sends_once(
    service: SendService, database: Database, sandbox: SandboxServer
) -> None:
    first, ex1 = service.send(cmd(idempotency_key="view-123"))
    second, ex2 = service.send(cmd(idempotency_key="view-123"))
    assert first.status == "recorded" and second.status == "duplicate"
    assert ex1 is not None and ex2 is not None
    assert ex2.request.id == ex1.request.id and not ex2.sent_by_this_call
    assert sends(sandbox) == 1
    assert events(database) == ["requested", "sending", "sent", "duplicate"]


@pytest.mark.usefixtures("granted")
def test_concurrent_submits_with_one_key_send_once(
    service: SendService, database: Database, sandbox: SandboxServer
) -> None:
    barrier = threading.Barrier(8)

    def go(_: int) -> str:
        barrier.wait(timeout=10)
        submission, _ = service.send(cmd(idempotency_key="double-click"))
        return submission.status

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(go, range(8)))
    assert statuses.count("recorded") == 1
    assert statuses.count("duplicate") == 7
    assert sends(sandbox) == 1
    with database.session() as session:
        assert audit.verify(session).ok


@pytest.mark.usefixtures("granted")
def test_execute_twice_sends_once(
    service: SendService, database: Database, sandbox: SandboxServer
) -> None:
    submission = service.submit(cmd())
    assert submission.request is not None
    rid = submission.request.id
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda _: service.execute(rid, "USENDER"), range(6)))
    assert sum(r.sent_by_this_call for r in results) == 1
    assert sends(sandbox) == 1


@pytest.mark.usefixtures("granted")
@pytest.mark.parametrize(
    ("fault", "state", "event"),
    [
        ("timeout", "unknown", "outcome_unknown"),
        ("500", "unknown", "outcome_unknown"),
        ("non_xml", "unknown", "outcome_unknown"),
        ("malformed", "unknown", "outcome_unknown"),
        ("reset", "unknown", "outcome_unknown"),
    ],
)
def test_portal_faults_give_the_right_outcome_and_audit_row(
    service: SendService,
    database: Database,
    sandbox: SandboxServer,
    fault: str,
    state: str,
    event: str,
) -> None:
    sandbox.portal.set_fault(fault)  # type: ignore[arg-type]
    sandbox.portal.hang_seconds = 3
    _, execution = service.send(cmd())
    assert execution is not None and execution.request.state == state
    assert events(database) == ["requested", "sending", event]
    # An unknown outcome is never resent, not even by executing the request again.
    again = service.execute(execution.request.id, "USENDER")
    assert not again.sent_by_this_call
    assert sends(sandbox) == 1


@pytest.mark.usefixtures("granted")
def test_portal_rejection_is_recorded_with_its_category(
    service: SendService, database: Database
) -> None:
    _, execution = service.send(cmd(iccid=KPN_O))
    assert execution is not None
    req = execution.request
    assert req.state == "rejected" and req.outcome_category == "not_permitted_for_sim_type"
    assert events(database)[-1] == "failed"


def test_sim_type_rules_from_the_inventory(
    service: SendService, database: Database, sandbox: SandboxServer, granted: None
) -> None:
    with database.session() as session:
        import_csv(
            session,
            io.StringIO(
                "iccid,label,sim_type,group\n"
                f"{KPN_O},gate,Multinet KPN O,\n{MANX},pump,Manx Telecom,\n"
            ),
            "cli:test",
        )
    assert service.send(cmd(iccid=KPN_O))[0].status == "invalid"
    binary = service.send(cmd("AAH//oB/", iccid=MANX, data_coding="binary"))[0]
    assert binary.status == "invalid" and binary.errors[0].code == "binary_not_allowed"
    assert sends(sandbox) == 0


def test_revoked_between_record_and_send_is_refused(
    service: SendService, database: Database, sandbox: SandboxServer
) -> None:
    with database.session() as session:
        gid = create_grant(session, subject="USENDER", scope="*", role="sender", actor="UADMIN").id
    submission = service.submit(cmd())
    assert submission.request is not None
    with database.session() as session:
        revoke_grant(session, gid, "UADMIN")
    execution = service.execute(submission.request.id, "USENDER")
    assert execution.request.state == "refused" and not execution.sent_by_this_call
    assert events(database)[-1] == "denied"
    assert sends(sandbox) == 0


def test_approval_required_is_not_sent(
    service: SendService, database: Database, sandbox: SandboxServer
) -> None:
    with database.session() as session:
        create_grant(
            session,
            subject="USENDER",
            scope="*",
            role="sender",
            actor="UADMIN",
            approval_required=True,
        )
    submission, execution = service.send(cmd())
    assert submission.status == "awaiting_approval" and execution is None
    assert submission.request is not None
    assert service.execute(submission.request.id, "USENDER").sent_by_this_call is False
    assert sends(sandbox) == 0


def test_group_policy_requires_approval(
    service: SendService, database: Database, sandbox: SandboxServer, granted: None
) -> None:
    with database.session() as session:
        session.add(SimGroup(name="critical", approval_required=True, approvals_needed=1))
        session.flush()
        import_csv(session, io.StringIO(f"iccid,group\n{MANX},critical\n"), "cli:test")
    submission, _ = service.send(cmd())
    assert submission.status == "awaiting_approval"
    assert sends(sandbox) == 0


@pytest.mark.usefixtures("granted")
def test_a_send_interrupted_by_a_stopped_process_becomes_unknown(
    service: SendService, database: Database, sandbox: SandboxServer
) -> None:
    stopped = service.submit(cmd("first"), claim=True)  # claimed, then the process "stopped"
    fresh = service.submit(cmd("second"), claim=True)
    assert stopped.request is not None and fresh.request is not None
    with database.session() as session:
        session.execute(
            update(SmsRequest)
            .where(SmsRequest.id == stopped.request.id)
            .values(sent_at=audit.utc_now() - timedelta(minutes=10))
        )
    settled = service.settle_stale_sends(timedelta(minutes=5))
    assert [r.id for r in settled] == [stopped.request.id]
    assert settled[0].state == "unknown" and "check the SIM's SMS log" in settled[0].outcome_reason
    assert service.settle_stale_sends(timedelta(minutes=5)) == []
    assert service.get_request(fresh.request.id).state == "sending"  # type: ignore[union-attr]
    assert service.execute(stopped.request.id, "USENDER").sent_by_this_call is False
    assert sends(sandbox) == 0  # accounted for, never resent
    assert events(database).count("outcome_unknown") == 1


@pytest.mark.usefixtures("granted")
def test_an_idempotency_key_belongs_to_its_requester(
    service: SendService, database: Database, sandbox: SandboxServer
) -> None:
    with database.session() as session:
        create_grant(session, subject="UOTHER", scope="*", role="sender", actor="UADMIN")
    assert service.send(cmd(idempotency_key="k"))[0].status == "recorded"
    other = service.submit(cmd("other text", idempotency_key="k", principal=Principal("UOTHER")))
    assert other.status == "invalid" and "someone else" in other.reason
    assert sends(sandbox) == 1
    assert events(database)[-1] == "invalid"


@pytest.mark.usefixtures("granted")
def test_a_late_answer_never_contradicts_a_settled_row(
    service: SendService, database: Database, sandbox: SandboxServer
) -> None:
    """The portal answers while another process settles the row as unknown: the row stands,
    the answer is audited as evidence, and the caller reports the row."""
    claimed = service.submit(cmd(), claim=True)
    assert claimed.request is not None
    settled_first = threading.Event()
    real_send = service.portal.send_sms

    def slow_send(message):  # type: ignore[no-untyped-def]
        outcome = real_send(message)
        # Meanwhile another process found the row stale and settled it.
        service.settle_stale_sends(timedelta(0))
        settled_first.set()
        return outcome

    service.portal.send_sms = slow_send  # type: ignore[method-assign]
    execution = service.deliver(claimed.request, "USENDER")
    assert settled_first.is_set()
    assert execution.request.state == "unknown"
    assert service.get_request(claimed.request.id).state == "unknown"  # type: ignore[union-attr]
    trail = events(database)
    assert trail[-2:] == ["outcome_unknown", "late_outcome"] and "sent" not in trail


def test_the_stale_cutoff_follows_the_portal_deadline(service: SendService) -> None:
    assert service.stale_after == timedelta(seconds=service.portal.deadline + 60)
