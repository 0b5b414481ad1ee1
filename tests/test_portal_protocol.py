"""The portal XML: building, hardened parsing, outcome classification."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from bot.portal.client import classify_send_response
from bot.portal.outcome import categorize
from bot.portal.protocol import (
    MAX_XML_BYTES,
    REDACTED,
    Credentials,
    SendSms,
    XmlError,
    build_query_sms_mt_details,
    build_response,
    build_send_sms,
    parse_response,
    parse_xml,
)
from bot.sms.gsm7 import char_septets

CREDS = Credentials("123456", "user", "s3cr3t-pa55")
xml_safe_gsm = st.text(
    alphabet=st.characters(codec="utf-8").filter(lambda c: char_septets(c) is not None),
    min_size=1,
    max_size=160,
)


def test_send_sms_matches_the_documented_shape() -> None:
    body = build_send_sms(
        SendSms(
            "1234567890123456789",
            "Let's meet at the station",
            "default",
            "447890123456",
            "123abcde4567",
        ),
        CREDS,
    )
    root = etree.fromstring(body)
    assert root.tag == "send_sms"
    assert root.get("version") == "1" and root.get("api_id") == "123456"
    assert [c.tag for c in root] == [
        "authentication",
        "iccid",
        "message_text",
        "data_coding",
        "origin",
        "sms_uid",
    ]
    assert root.findtext("authentication/username") == "user"
    assert root.findtext("authentication/password") == "s3cr3t-pa55"
    assert root.findtext("sms_uid") == "123abcde4567"


def test_optional_elements_are_omitted() -> None:
    root = etree.fromstring(build_send_sms(SendSms("89440000000000000010", "hi"), CREDS))
    assert [c.tag for c in root] == ["authentication", "iccid", "message_text"]


def test_redacted_copy_hides_the_password() -> None:
    body = build_send_sms(SendSms("89440000000000000010", "hi"), CREDS, redact=True)
    assert b"s3cr3t-pa55" not in body
    assert etree.fromstring(body).findtext("authentication/password") == REDACTED
    assert "s3cr3t" not in repr(CREDS)


def test_query_builds_lastx_and_checks_its_range() -> None:
    root = etree.fromstring(build_query_sms_mt_details("89440000000000000010", CREDS, lastx=3))
    assert root.tag == "query_sms_mt_details" and root.findtext("lastx") == "3"
    with pytest.raises(ValueError):
        build_query_sms_mt_details("89440000000000000010", CREDS, lastx=21)


@given(xml_safe_gsm)
def test_xml_round_trip_keeps_any_gsm_text(text: str) -> None:
    body = build_send_sms(SendSms("89440000000000000010", text, sms_uid="abc"), CREDS)
    assert parse_xml(body).findtext("message_text") == text


def test_metacharacters_reach_the_portal_intact() -> None:
    text = "a<b>&c]]>\r\n'\""
    body = build_send_sms(SendSms("89440000000000000010", text), CREDS)
    assert parse_xml(body).findtext("message_text") == text


# ---- hardened parsing -------------------------------------------------------------------------
BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<send_sms_response><api_outcome>&lol2;</api_outcome></send_sms_response>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<send_sms_response><api_outcome>&x;</api_outcome></send_sms_response>"""
NETWORK_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE r SYSTEM "http://127.0.0.1:9/evil.dtd">
<send_sms_response><api_outcome>success</api_outcome></send_sms_response>"""


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL_ENTITY, NETWORK_DTD])
def test_dtds_and_entities_are_refused(body: bytes) -> None:
    with pytest.raises(XmlError):
        parse_xml(body)


def test_oversized_body_is_refused_before_parsing() -> None:
    body = b"<a>" + b"x" * MAX_XML_BYTES + b"</a>"
    with pytest.raises(XmlError, match="cap"):
        parse_xml(body)


@pytest.mark.parametrize("body", [b"", b"   ", b"<a>", b"not xml", b"<a></b>"])
def test_malformed_bodies_raise_xml_error(body: bytes) -> None:
    with pytest.raises(XmlError):
        parse_xml(body)


# ---- responses and outcomes -------------------------------------------------------------------
def test_success_response() -> None:
    body = build_response("send_sms", "123456", "success")
    parsed = parse_response(body, "send_sms")
    assert parsed.succeeded and parsed.api_id == "123456"
    assert classify_send_response(200, body).status == "accepted"


@pytest.mark.parametrize("outcome", [" Success ", "SUCCESS", "success\n"])
def test_success_is_trimmed_and_case_insensitive(outcome: str) -> None:
    body = build_response("send_sms", "1", outcome)
    assert classify_send_response(200, body).status == "accepted"


@pytest.mark.parametrize("element", ["error_description", "api_error", "error", "description"])
def test_failure_reason_is_read_from_any_child(element: str) -> None:
    body = build_response("send_sms", "1", "failure", [(element, "Invalid content")])
    outcome = classify_send_response(200, body)
    assert outcome.status == "rejected"
    assert outcome.reason == "Invalid content"
    assert outcome.category == "invalid_parameter"


@pytest.mark.parametrize(
    ("reason", "category"),
    [
        ("Invalid authentication credentials", "credentials"),
        ("Unknown ICCID 894400", "unknown_sim"),
        ("invalid or missing parameters", "invalid_parameter"),
        ("Value not permitted for the specified SIM type", "not_permitted_for_sim_type"),
        ("Insufficient permissions", "permissions"),
        ("rejected by operator: queue limit exceeded", "operator_queue_full"),
        ("Something odd happened", "other"),
    ],
)
def test_failure_categories(reason: str, category: str) -> None:
    assert categorize(reason) == category


def test_http_5xx_is_unknown_even_with_a_failure_body() -> None:
    body = build_response("send_sms", "1", "failure", [("error", "x")])
    assert classify_send_response(503, body).status == "unknown"


def test_http_4xx_non_xml_is_rejected_with_the_body() -> None:
    outcome = classify_send_response(401, b"Unauthorized: bad credentials")
    assert outcome.status == "rejected" and outcome.category == "credentials"
    assert "401" in outcome.reason


def test_wrong_root_or_missing_outcome_is_unknown() -> None:
    assert classify_send_response(200, b"<html><body>hi</body></html>").status == "unknown"
    assert classify_send_response(200, b"<send_sms_response/>").status == "unknown"


def test_success_with_a_non_2xx_status_is_unknown() -> None:
    body = build_response("send_sms", "1", "success")
    assert classify_send_response(302, body).status == "unknown"


def test_scrub_removes_an_echoed_password() -> None:
    body = build_response("send_sms", "1", "failure", [("error", "bad password s3cr3t-pa55")])
    outcome = classify_send_response(200, body, lambda t: t.replace("s3cr3t-pa55", REDACTED))
    assert "s3cr3t" not in outcome.reason and REDACTED in outcome.reason
