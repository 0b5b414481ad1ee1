"""Secrets never appear in logs, audit rows, request rows, error messages or exceptions."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import text

from bot.authz import Principal
from bot.portal.client import PortalClient
from bot.portal.protocol import Credentials, SendSms
from bot.portal.sandbox import SandboxPortal, SandboxServer
from bot.service import SendCommand, SendService
from bot.sms.message import Draft
from bot.store.db import Database

SECRET = "pw-Zq8-never-print-me"
CREDS = Credentials("123456", "acct", SECRET)


def _dump(database: Database) -> str:
    with database.engine.connect() as conn:
        rows = [
            *conn.execute(text("SELECT * FROM audit_log")).all(),
            *conn.execute(text("SELECT * FROM sms_requests")).all(),
        ]
    return "\n".join(repr(tuple(r)) for r in rows)


@pytest.mark.parametrize("fault", ["none", "500", "non_xml", "timeout", "reset"])
def test_the_portal_password_stays_secret(
    database: Database, caplog: pytest.LogCaptureFixture, fault: str
) -> None:
    portal = SandboxPortal(credentials=CREDS)
    portal.set_fault(fault)  # type: ignore[arg-type]
    portal.hang_seconds = 2
    caplog.set_level(logging.DEBUG)
    with (
        SandboxServer(portal) as server,
        PortalClient(server.url, CREDS, read_timeout=0.3) as client,
    ):
        service = SendService(database, client, admins=frozenset({"UADMIN"}))
        _, execution = service.send(
            SendCommand(Principal("UADMIN"), Draft("89440000000000000010", "hi"), "cli")
        )
        assert execution is not None
        assert portal.requests_for("send_sms")[0].findtext("authentication/password") == SECRET
    outcome = execution.outcome
    assert outcome is not None
    visible = "\n".join(
        [
            caplog.text,
            _dump(database),
            repr(outcome),
            outcome.summary,
            repr(CREDS),
            repr(execution.request.portal_request_xml),
        ]
    )
    assert SECRET not in visible
    assert "[redacted]" in (execution.request.portal_request_xml or "")


def test_a_proxy_echoing_the_request_is_scrubbed(database: Database) -> None:
    class Echo(SandboxPortal):
        def handle(self, body: bytes) -> bytes:
            return (
                b"<send_sms_response><api_outcome>failure</api_outcome><error>bad request: "
                + body.replace(b"<", b"[").replace(b">", b"]")
                + b"</error></send_sms_response>"
            )

    with SandboxServer(Echo(credentials=CREDS)) as server, PortalClient(server.url, CREDS) as c:
        outcome = c.send_sms(SendSms("89440000000000000010", "hi"))
    assert outcome.status == "rejected"
    assert SECRET not in outcome.reason and "[redacted]" in outcome.reason


@pytest.mark.parametrize("echo_status", [400, 200])
def test_an_escaped_password_echoed_back_is_not_stored_anywhere(
    database: Database, echo_status: int
) -> None:
    """A password with XML metacharacters reaches the wire escaped (`&amp;`, `&lt;`): a proxy
    echoing the body must not put that spelling into the reason, the audit row or the request."""
    secret = "p&ss<w>rd\"'%+ 1"
    creds = Credentials("123456", "acct", secret)

    class EchoAsIs(SandboxPortal):
        def handle(self, body: bytes) -> bytes:
            if echo_status == 200:
                return (
                    b"<send_sms_response><api_outcome>failure</api_outcome><error>"
                    + (body.replace(b"<", b"&lt;").replace(b">", b"&gt;"))
                    + b"</error></send_sms_response>"
                )
            return b"bad request: " + body

    class Status(EchoAsIs):
        def __call__(self, environ, start_response):  # type: ignore[no-untyped-def]
            if echo_status == 400:
                body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
                start_response("400 Bad Request", [("Content-Type", "text/plain")])
                return [self.handle(body)]
            return super().__call__(environ, start_response)

    with SandboxServer(Status(credentials=creds)) as server, PortalClient(server.url, creds) as c:
        service = SendService(database, c, admins=frozenset({"UADMIN"}))
        _, execution = service.send(
            SendCommand(Principal("UADMIN"), Draft("89440000000000000010", "hi"), "cli")
        )
    assert execution is not None and execution.request.state == "rejected"
    stored = _dump(database) + (execution.request.outcome_reason or "")
    for form in ("p&amp;ss&lt;w&gt;rd", secret, "p%26ss%3Cw%3Erd"):
        assert form not in stored, form
    assert "[redacted]" in stored
