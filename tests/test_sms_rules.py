"""Message rules: GSM 03.38 septets, binary payloads, ICCID, sms_uid, origin, SIM types."""

from __future__ import annotations

import base64

import gsm0338  # noqa: F401
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.sms.binary import check_binary, decode_payload
from bot.sms.gsm7 import MAX_SEPTETS, apply_suggestions, char_septets, check_text, count_septets
from bot.sms.iccid import check_iccid, luhn_ok, normalize_iccid
from bot.sms.message import Draft, SimInfo, check_draft
from bot.sms.origin import check_origin
from bot.sms.simtypes import check_sim_type
from bot.sms.uid import check_sms_uid, generate_sms_uid

EXTENSION = "^{}\\[~]|€"  # and form feed, which XML cannot carry (see below)
# The default alphabet, minus ESC (the extension prefix, not a character).
BASIC = "".join(b.to_bytes(1, "big").decode("gsm03.38") for b in range(128) if b != 0x1B)
gsm_text = st.text(alphabet=BASIC + EXTENSION, max_size=200)


def codes(problems):  # type: ignore[no-untyped-def]
    return [p.code for p in problems]


# ---- GSM 7-bit ------------------------------------------------------------------------------
def test_basic_alphabet_is_128_minus_escape() -> None:
    assert len(set(BASIC)) == 127
    assert all(char_septets(c) == 1 for c in BASIC)


@pytest.mark.parametrize("ch", list(EXTENSION))
def test_extension_characters_count_two(ch: str) -> None:
    assert char_septets(ch) == 2


def test_form_feed_is_refused_because_xml_cannot_carry_it() -> None:
    assert len("\x0c".encode("gsm03.38")) == 2  # in the extension table…
    (problem,) = check_text("a\x0cb")  # …but not sendable in the portal's XML
    assert problem.code == "control_character" and "form feed" in problem.message


def test_0x09_is_capital_c_cedilla() -> None:
    assert b"\x09".decode("gsm03.38") == "Ç"
    assert char_septets("Ç") == 1
    assert char_septets("ç") is None  # lower-case is not in the alphabet


def test_160_plain_characters_pass_161_fail() -> None:
    assert check_text("a" * 160) == []
    problems = check_text("a" * 161)
    assert codes(problems) == ["too_long"]
    assert problems[0].message.startswith("161/160")


def test_extension_characters_at_the_boundary() -> None:
    assert check_text("a" * 158 + "€") == []  # 158 + 2 = 160
    problems = check_text("a" * 159 + "€")  # 159 + 2 = 161
    assert codes(problems) == ["too_long"]
    assert "`€` counts as two" in problems[0].message


def test_too_long_message_names_every_double_character() -> None:
    problems = check_text("€[" + "a" * 159)
    assert problems[0].message.startswith("163/160 — `€` and `[` count as two")


def test_curly_quote_is_refused_with_a_suggestion() -> None:
    (problem,) = check_text("Let’s go")
    assert problem.code == "not_gsm"
    assert "`’` at position 4 is not in the GSM alphabet: use `'`" in problem.message


@pytest.mark.parametrize(
    ("ch", "fix"),
    [("‘", "'"), ("“", '"'), ("”", '"'), ("–", "-"), ("—", "-"), ("…", "..."), ("\u00a0", " ")],
)
def test_suggested_replacements(ch: str, fix: str) -> None:
    (problem,) = check_text(f"a{ch}b")
    assert f"use `{fix}`" in problem.message
    assert apply_suggestions(f"a{ch}b")[0] == f"a{fix}b"


def test_emoji_is_refused_without_a_replacement() -> None:
    (problem,) = check_text("reboot 😀")
    assert problem.code == "not_gsm"
    assert "remove it" in problem.message


@pytest.mark.parametrize("ch", ["\x00", "\x01", "\x1b", "\x7f", "\u200b"])
def test_control_characters_are_refused(ch: str) -> None:
    problems = check_text(f"a{ch}b")
    assert problems and problems[0].field == "message_text"
    assert problems[0].code in ("control_character", "not_gsm")


def test_nul_is_named_with_its_position() -> None:
    (problem,) = check_text("ab\x00")
    assert "U+0000" in problem.message and "position 3" in problem.message


def test_empty_text_is_refused() -> None:
    assert codes(check_text("")) == ["empty"]


def test_xml_metacharacters_are_valid_text() -> None:
    assert check_text("a<b & c>d ]]> e") == []


def test_text_is_never_rewritten_unless_asked() -> None:
    checked = check_draft(Draft("89440000000000000010", "Let’s go"), None)
    assert checked.message_text == "Let’s go"
    assert codes(checked.errors) == ["not_gsm"]
    asked = check_draft(Draft("89440000000000000010", "Let’s go", apply_replacements=True), None)
    assert asked.message_text == "Let's go"
    assert asked.errors == []
    assert codes(asked.warnings) == ["replaced"]


@given(gsm_text)
def test_septet_count_matches_the_codec(text: str) -> None:
    assert count_septets(text).septets == len(text.encode("gsm03.38"))


@given(gsm_text)
def test_gsm_text_is_accepted_exactly_when_it_fits(text: str) -> None:
    septets = len(text.encode("gsm03.38"))
    problems = check_text(text)
    if text == "":
        assert codes(problems) == ["empty"]
    elif septets <= MAX_SEPTETS:
        assert problems == []
    else:
        assert codes(problems) == ["too_long"]


@given(st.text(max_size=50))
def test_any_text_either_passes_or_says_why(text: str) -> None:
    problems = check_text(text)
    try:
        encoded = text.encode("gsm03.38")
        ok = not set(text) & {"\x1b", "\x0c"} and 0 < len(encoded) <= MAX_SEPTETS
    except UnicodeEncodeError:
        ok = False
    assert (problems == []) == ok
    assert all(p.message for p in problems)


# ---- binary ---------------------------------------------------------------------------------
def test_seed_binary_example() -> None:
    assert decode_payload("AAH//oB/") == bytes([0x00, 0x01, 0xFF, 0xFE, 0x80, 0x7F])
    assert check_binary("AAH//oB/") == []


def test_120_bytes_pass_121_fail() -> None:
    assert check_binary(base64.b64encode(bytes(120)).decode()) == []
    problems = check_binary(base64.b64encode(bytes(121)).decode())
    assert codes(problems) == ["too_long"]


@pytest.mark.parametrize(
    "bad",
    ["AAH", "AAH//oB", "AA H//oB/", "AAH_-oB/", "====", "AAH/\n/oB/", "AB==", "QUJD=", "Zm9vYg"],
)
def test_malformed_base64_is_refused(bad: str) -> None:
    assert codes(check_binary(bad)) in (["bad_base64"], ["too_long"])


@given(st.binary(max_size=120))
def test_binary_round_trip(data: bytes) -> None:
    text = base64.b64encode(data).decode()
    if data:
        assert check_binary(text) == []
        assert decode_payload(text) == data
        assert len(text) <= 160


@given(st.binary(min_size=121, max_size=300))
def test_binary_over_120_bytes_always_refused(data: bytes) -> None:
    assert check_binary(base64.b64encode(data).decode()) != []


# ---- ICCID ----------------------------------------------------------------------------------
def test_iccid_spaces_and_dashes_are_stripped() -> None:
    assert normalize_iccid(" 8944 0000-0000 0000 0010 ") == "89440000000000000010"
    assert check_iccid("8944 0000-0000 0000 0010") == ("89440000000000000010", [])


def test_letters_in_iccid_are_refused() -> None:
    _, problems = check_iccid("8944000000000000001O")
    assert codes(problems) == ["not_digits"]
    assert "`O`" in problems[0].message


@pytest.mark.parametrize("length", [17, 23])
def test_iccid_length_is_18_to_22(length: int) -> None:
    _, problems = check_iccid("8" * length)
    assert codes(problems) == ["length"]


def test_seed_example_fails_luhn_and_prefix_as_warnings_only() -> None:
    iccid, problems = check_iccid("1234567890123456789")
    assert iccid == "1234567890123456789"
    assert sorted(codes(problems)) == ["luhn", "prefix"]
    assert all(p.severity == "warning" for p in problems)


@given(st.text(alphabet="0123456789", min_size=17, max_size=21))
def test_luhn_check_digit_is_found_for_any_body(body: str) -> None:
    valid = [d for d in "0123456789" if luhn_ok(body + d)]
    assert len(valid) == 1


@given(st.text(max_size=30))
def test_iccid_validator_never_crashes_and_errors_are_explained(raw: str) -> None:
    iccid, problems = check_iccid(raw)
    hard = [p for p in problems if p.is_error]
    if not hard:
        assert iccid.isdigit() and 18 <= len(iccid) <= 22
    assert all(p.message for p in problems)


# ---- sms_uid, origin --------------------------------------------------------------------------
def test_generated_uid_is_12_alphanumerics() -> None:
    uids = {generate_sms_uid() for _ in range(200)}
    assert len(uids) == 200
    assert all(len(u) == 12 and u.isalnum() and u.isascii() for u in uids)


def test_uid_rules() -> None:
    assert check_sms_uid("abcDEF123456") == ("abcDEF123456", [])
    assert check_sms_uid("") == (None, [])
    assert codes(check_sms_uid("abcDEF1234567")[1]) == ["too_long"]
    assert codes(check_sms_uid("abc-1")[1]) == ["not_alphanumeric"]
    assert codes(check_sms_uid("abcé")[1]) == ["not_alphanumeric"]


@given(st.text(max_size=20))
def test_uid_accepted_iff_ascii_alnum_up_to_12(raw: str) -> None:
    _, problems = check_sms_uid(raw)
    stripped = raw.strip()
    ok = stripped == "" or (len(stripped) <= 12 and stripped.isascii() and stripped.isalnum())
    assert (problems == []) == ok


def test_origin_rules() -> None:
    assert check_origin("447890123456") == ("447890123456", [])
    assert check_origin(None) == (None, [])
    assert codes(check_origin("+447890123456")[1]) == ["plus"]
    assert codes(check_origin("44789x")[1]) == ["not_digits"]
    assert codes(check_origin("1234567890123456")[1]) == ["too_long"]


@given(st.text(max_size=20))
def test_origin_accepted_iff_up_to_15_ascii_digits(raw: str) -> None:
    _, problems = check_origin(raw)
    stripped = raw.strip()
    ok = stripped == "" or (stripped.isascii() and stripped.isdigit() and len(stripped) <= 15)
    assert (problems == []) == ok
    assert all(p.message for p in problems)


# ---- SIM types ------------------------------------------------------------------------------
def test_open_user_group_cannot_receive() -> None:
    assert codes(check_sim_type("Multinet KPN O", "default", None)) == ["open_user_group"]


def test_binary_only_for_kpn_c() -> None:
    assert check_sim_type("Multinet KPN C", "binary", None) == []
    assert codes(check_sim_type("Manx Telecom", "binary", None)) == ["binary_not_allowed"]


def test_origin_only_acts_on_manx() -> None:
    assert check_sim_type("Manx Telecom", "default", "447890123456") == []
    (warning,) = check_sim_type("Multinet KPN C", "default", "447890123456")
    assert warning.code == "origin_ignored" and warning.severity == "warning"


def test_unknown_sim_type_lets_the_portal_decide() -> None:
    assert check_sim_type(None, "binary", "447890123456") == []


def test_inactive_sim_is_refused() -> None:
    checked = check_draft(
        Draft("89440000000000000051", "hi"), SimInfo("89440000000000000051", active=False)
    )
    assert codes(checked.errors) == ["inactive"]
