"""The httpx client against the sandbox portal on a real HTTP server: outcomes and faults."""

from __future__ import annotations

import base64
import socket
import time

import pytest

from bot.portal.client import PortalClient, PortalError
from bot.portal.protocol import Credentials, SendSms
from bot.portal.sandbox import (
    KPN_QUEUE_LIMIT,
    SANDBOX_CREDENTIALS,
    SandboxPortal,
    SandboxServer,
)

MANX = "89440000000000000010"
KPN_C = "89310000000000000023"
KPN_O = "89310000000000000031"
KPN_C_OFFLINE = "89310000000000000049"
MANX_INACTIVE = "89440000000000000051"


def test_accepted_send_is_logged_by_the_portal(
    sandbox: SandboxServer, portal: PortalClient
) -> None:
    outcome = portal.send_sms(SendSms(MANX, "reset <modem> & ]]>", sms_uid="abc123"))
    assert outcome.status == "accepted" and outcome.http_status == 200
    assert outcome.sandbox and "sandbox: nothing was sent" in outcome.summary
    (received,) = sandbox.portal.requests_for("send_sms")
    assert received.findtext("message_text") == "reset <modem> & ]]>"
    (entry,) = portal.query_sms_mt_details(MANX)
    assert entry.sms_uid == "abc123" and entry.message_text == "reset <modem> & ]]>"


@pytest.mark.parametrize(
    ("message", "category", "words"),
    [
        (SendSms("89440000000000000999", "hi"), "unknown_sim", "unknown iccid"),
        (SendSms(KPN_O, "hi"), "not_permitted_for_sim_type", "not available"),
        (SendSms(MANX, "x" * 161), "invalid_parameter", "invalid content"),
        (SendSms(MANX, "€" * 81), "invalid_parameter", "invalid content"),
        (SendSms(MANX, "AAH//oB/", "binary"), "not_permitted_for_sim_type", "binary"),
        (SendSms(MANX_INACTIVE, "hi"), "other", "not active"),
    ],
)
def test_sandbox_enforces_the_seed_rules(
    portal: PortalClient, message: SendSms, category: str, words: str
) -> None:
    outcome = portal.send_sms(message)
    assert outcome.status == "rejected"
    assert outcome.category == category
    assert words in outcome.reason


def test_binary_is_accepted_for_kpn_c(portal: PortalClient) -> None:
    payload = base64.b64encode(bytes(range(120))).decode()
    assert portal.send_sms(SendSms(KPN_C, payload, "binary")).status == "accepted"


def test_wrong_credentials_are_rejected_as_credentials(sandbox: SandboxServer) -> None:
    creds = Credentials(SANDBOX_CREDENTIALS.api_id, "sandbox", "wrong-password-xyz")
    with PortalClient(sandbox.url, creds) as client:
        outcome = client.send_sms(SendSms(MANX, "hi"))
    assert outcome.status == "rejected" and outcome.category == "credentials"
    assert "wrong-password-xyz" not in outcome.reason + outcome.summary


def test_kpn_queue_cap_of_60(sandbox: SandboxServer, portal: PortalClient) -> None:
    for i in range(KPN_QUEUE_LIMIT):
        assert portal.send_sms(SendSms(KPN_C_OFFLINE, f"m{i}")).status == "accepted"
    outcome = portal.send_sms(SendSms(KPN_C_OFFLINE, "one too many"))
    assert outcome.status == "rejected" and outcome.category == "operator_queue_full"


def test_query_answers_newest_first_and_empty_sms_for_none(portal: PortalClient) -> None:
    assert portal.query_sms_mt_details(KPN_C) == []
    for text in ("first", "second", "third"):
        portal.send_sms(SendSms(KPN_C, text))
    entries = portal.query_sms_mt_details(KPN_C, lastx=2)
    assert [e.message_text for e in entries] == ["third", "second"]
    assert all(e.status == "delivered" for e in entries)


def test_offline_sim_messages_stay_pending(portal: PortalClient) -> None:
    portal.send_sms(SendSms(KPN_C_OFFLINE, "wake"))
    (entry,) = portal.query_sms_mt_details(KPN_C_OFFLINE)
    assert entry.status == "pending" and entry.delivered_timestamp is None


def test_query_failure_raises_without_secrets(sandbox: SandboxServer) -> None:
    creds = Credentials(SANDBOX_CREDENTIALS.api_id, "sandbox", "topsecret-zz")
    with PortalClient(sandbox.url, creds) as client, pytest.raises(PortalError) as info:
        client.query_sms_mt_details(MANX)
    assert "topsecret-zz" not in str(info.value)


# ---- faults -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fault", "status", "http_status"),
    [
        ("timeout", "unknown", None),
        ("500", "unknown", 500),
        ("non_xml", "unknown", 200),
        ("malformed", "unknown", 200),
        ("reset", "unknown", None),
    ],
)
def test_faults_after_sending_are_unknown_and_never_retried(
    sandbox: SandboxServer, fault: str, status: str, http_status: int | None
) -> None:
    sandbox.portal.set_fault(fault)  # type: ignore[arg-type]
    sandbox.portal.hang_seconds = 3.0
    with PortalClient(sandbox.url, SANDBOX_CREDENTIALS, read_timeout=0.3) as client:
        outcome = client.send_sms(SendSms(MANX, "hi"))
    assert outcome.status == status
    assert outcome.http_status == http_status
    assert outcome.attempts == 1
    assert len(sandbox.portal.requests_for("send_sms")) == 1  # never resent
    assert "check the SIM's SMS log" in outcome.summary


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_connect_failure_is_retried_and_reported_not_sent() -> None:
    url = f"http://127.0.0.1:{_closed_port()}/"
    with PortalClient(url, SANDBOX_CREDENTIALS, connect_attempts=3, retry_backoff=0.01) as client:
        outcome = client.send_sms(SendSms(MANX, "hi"))
    assert outcome.status == "rejected"
    assert not outcome.reached_portal
    assert outcome.attempts == 3
    assert "nothing was sent" in outcome.reason and "safe to try again" in outcome.summary


def test_connect_retry_succeeds_once_the_portal_is_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """A portal that comes up during the retries gets exactly one request."""
    port = _closed_port()
    portal = SandboxPortal()
    started: list[SandboxServer] = []
    real_sleep = time.sleep

    def backoff_then_start(seconds: float) -> None:
        # The first refused connect is followed by the retry backoff: bring the portal up there,
        # so the order "refused, then accepted" is certain rather than a race with a timer.
        if not started:
            started.append(SandboxServer(portal, port=port).start())
        real_sleep(seconds)

    monkeypatch.setattr("bot.portal.client.time.sleep", backoff_then_start)
    try:
        with PortalClient(
            f"http://127.0.0.1:{port}/",
            SANDBOX_CREDENTIALS,
            connect_attempts=3,
            retry_backoff=0.01,
        ) as client:
            outcome = client.send_sms(SendSms(MANX, "hi"))
    finally:
        for server in started:
            server.stop()
    assert outcome.status == "accepted"
    assert outcome.attempts == 2
    assert len(portal.requests_for("send_sms")) == 1


def test_latency_switch_delays_answers(sandbox: SandboxServer, portal: PortalClient) -> None:
    sandbox.portal.set_fault("none", latency=0.2)
    outcome = portal.send_sms(SendSms(MANX, "hi"))
    assert outcome.status == "accepted" and outcome.elapsed_ms >= 200
