"""The portal call against hostile answers: one overall deadline, a size cap enforced while
reading and before decompression, ambiguous outcomes taken as unknown, and the password
removed from anything echoed back, in every spelling."""

from __future__ import annotations

import gzip
import socket
import time
import tracemalloc
from urllib.parse import quote_plus

from hypothesis import given
from hypothesis import strategies as st

from bot.portal.client import PortalClient, classify_send_response, scrub_secret, secret_forms
from bot.portal.protocol import Credentials, SendSms, build_send_sms
from tests.support.raw_http import RawServer

CREDS = Credentials("api-1", "user-1", "pa<ss&wo>rd")
MESSAGE = SendSms("89440000000000000010", "hi", sms_uid="U1")
SUCCESS = b"<send_sms_response><api_outcome>success</api_outcome></send_sms_response>"


def _headers(conn: socket.socket, extra: str = "") -> None:
    conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\n{extra}\r\n".encode())


def test_a_trickling_answer_is_cut_at_the_overall_deadline() -> None:
    def trickle(conn: socket.socket, _: bytes) -> None:
        _headers(conn, f"Content-Length: {len(SUCCESS)}\r\n")
        for byte in SUCCESS:  # one byte every 0.4 s: each read is fast, the whole is not
            conn.sendall(bytes([byte]))
            time.sleep(0.4)

    with (
        RawServer(trickle) as server,
        PortalClient(server.url, CREDS, read_timeout=1.0, deadline=1.5) as client,
    ):
        started = time.monotonic()
        outcome = client.send_sms(MESSAGE)
        elapsed = time.monotonic() - started
    assert outcome.status == "unknown" and "within 1.5 s" in outcome.reason
    assert elapsed < 2.5, f"the call took {elapsed:.1f} s with a 1.5 s deadline"


def test_a_silent_portal_is_unknown_at_the_deadline() -> None:
    def silent(conn: socket.socket, _: bytes) -> None:
        time.sleep(5)

    with (
        RawServer(silent) as server,
        PortalClient(server.url, CREDS, read_timeout=30.0, deadline=1.0) as client,
    ):
        started = time.monotonic()
        outcome = client.send_sms(MESSAGE)
    assert outcome.status == "unknown" and time.monotonic() - started < 2.0


def _peak_during(call):  # type: ignore[no-untyped-def]
    tracemalloc.start()
    try:
        result = call()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_huge_body_is_refused_while_reading() -> None:
    def huge(conn: socket.socket, _: bytes) -> None:
        _headers(conn, "Transfer-Encoding: chunked\r\n")
        chunk = b"x" * 65536
        for _ in range(1600):  # 100 MiB, if anyone kept reading
            conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        conn.sendall(b"0\r\n\r\n")

    with RawServer(huge) as server, PortalClient(server.url, CREDS, deadline=10) as client:
        outcome, peak = _peak_during(lambda: client.send_sms(MESSAGE))
    assert outcome.status == "unknown" and "refused unread" in outcome.reason
    assert peak < 8 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB while refusing"


def test_a_declared_oversize_body_is_refused_before_reading() -> None:
    def declared(conn: socket.socket, _: bytes) -> None:
        _headers(conn, "Content-Length: 104857600\r\n")
        time.sleep(2)

    with RawServer(declared) as server, PortalClient(server.url, CREDS, deadline=10) as client:
        started = time.monotonic()
        outcome = client.send_sms(MESSAGE)
    assert outcome.status == "unknown" and "declared" in outcome.reason
    assert time.monotonic() - started < 1.5


def test_a_gzip_bomb_is_refused_before_it_expands() -> None:
    bomb = gzip.compress(b"<" + b" " * (200 * 1024 * 1024), compresslevel=9)

    def answer(conn: socket.socket, _: bytes) -> None:
        _headers(conn, f"Content-Encoding: gzip\r\nContent-Length: {len(bomb)}\r\n")
        conn.sendall(bomb)

    with RawServer(answer) as server, PortalClient(server.url, CREDS, deadline=10) as client:
        outcome, peak = _peak_during(lambda: client.send_sms(MESSAGE))
    assert len(bomb) < 256 * 1024  # it fits under the wire cap: only decoding can catch it
    assert outcome.status == "unknown" and "once decoded" in outcome.reason
    assert peak < 8 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB while refusing"


def test_a_small_gzip_answer_is_read() -> None:
    body = gzip.compress(SUCCESS)

    def answer(conn: socket.socket, _: bytes) -> None:
        _headers(conn, f"Content-Encoding: gzip\r\nContent-Length: {len(body)}\r\n")
        conn.sendall(body)

    with RawServer(answer) as server, PortalClient(server.url, CREDS) as client:
        assert client.send_sms(MESSAGE).status == "accepted"


def test_ambiguous_outcomes_are_unknown() -> None:
    twice = (
        b"<send_sms_response><api_outcome>failure</api_outcome>"
        b"<api_outcome>success</api_outcome></send_sms_response>"
    )
    mixed = b"<send_sms_response><api_outcome><b>succ</b>ess</api_outcome></send_sms_response>"
    for body in (twice, mixed):
        outcome = classify_send_response(200, body)
        assert outcome.status == "unknown" and "ambiguous" in outcome.reason
    assert classify_send_response(200, SUCCESS).status == "accepted"


PRINTABLE = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=40
)


@given(PRINTABLE)
def test_no_spelling_of_the_password_survives_an_echo(password: str) -> None:
    creds = Credentials("api-1", "user-1", password)
    request = build_send_sms(MESSAGE, creds).decode()
    echoes = [
        request,  # the XML as sent (lxml-escaped)
        request.replace("<", "[").replace(">", "]"),  # an echo that mangles the tags
        f"form: password={quote_plus(password)}&user=user-1",
        f'{{"password": "{password}"}}',
    ]
    for echo in echoes:
        cleaned = scrub_secret(f"HTTP 400: {echo}", password)
        for form in secret_forms(password):
            if len(form) >= 3 or form == password:
                assert form not in cleaned.replace("[redacted]", "\0"), (echo, form)
