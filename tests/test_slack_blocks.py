"""Every Block Kit payload the bot can build passes Slack's rules (slack_sdk's models and the
documented limits), in every state; and text from data is shown exactly, never as markup."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.slack import blocks
from bot.slack.approval_blocks import approval_closed, approval_request
from bot.slack.batch_blocks import (
    BATCH_STATES,
    approval_decided,
    batch_approval,
    batch_message,
)
from bot.slack.fleet_modal import FleetDraft, FleetPreview, fleet_modal
from bot.slack.modals import errors_for_modal, reject_modal, send_modal
from bot.slack.mrkdwn import code, escape, fit_lines, mention
from bot.slack.template_picker import TemplateChoice, TemplatePick
from bot.sms.message import SimInfo
from bot.sms.problems import Problem
from tests.support import slack_rules
from tests.support.slack_display import (
    controls,
    message_controls,
    rich_texts,
    shown,
)

BASIC = "".join(b.to_bytes(1, "big").decode("gsm03.38") for b in range(128) if b != 0x1B)
GSM = BASIC + "^{}\\[~]|€"
gsm_text = st.text(alphabet=GSM, min_size=1, max_size=160)
HOSTILE = [
    "<!channel>",
    "<@U0ADMIN>",
    "<!subteam^S0ONCALL>",
    "<https://evil.example/login|portal login>",
    "```<!here>``` `x` *bold* &amp; &lt;",
    "a\nb\n\n> quoted\n",
    "x" * 3500,
]
LONG_LABEL = "pump 7 at Harbour Rd <!channel> " * 7
SIM = SimInfo("89440000000000000010", LONG_LABEL[:200], "Manx Telecom", "harbour<&>", False)
META = {"channel": "C0NOC", "response_url": "https://hooks.slack.com/commands/T1/1/" + "x" * 24}


def view_ok(view: dict[str, Any]) -> None:
    assert slack_rules.check_view(view) == []


def message_ok(text: str, message_blocks: list[dict[str, Any]] | None = None) -> None:
    body: dict[str, Any] = {"text": text}
    if message_blocks is not None:
        body["blocks"] = message_blocks
    assert slack_rules.check_message(body) is None


# ---- every builder, every state -----------------------------------------------------------------
WARNINGS = [Problem("iccid", "luhn", f"warning {i}: `<!channel>` & co " * 10) for i in range(12)]


@pytest.mark.parametrize(
    "state",
    [
        {},
        {"iccid": "8944 0000 0000 0000 0010", "message_text": "reset modem", "sim": SIM},
        {"iccid": "9" * 60, "message_text": "x" * 3500},  # a prefill longer than the inputs
        {"message_text": "€" * 80},  # 160 septets of double-count characters
        {"message_text": "AAECAwQ=", "data_coding": "binary"},
        {"message_text": "not base64", "data_coding": "binary"},
        {"warnings": WARNINGS, "replace": True, "origin": "4" * 32, "sms_uid": "u" * 32},
        {"iccid": "<!channel>", "message_text": HOSTILE[4], "sim": None},
    ],
)
def test_send_modal_passes_in_every_state(state: dict[str, Any]) -> None:
    view = send_modal(metadata=META, **state)
    view_ok(view)
    if len(state.get("message_text", "")) > 3000:
        counter = next(b for b in view["blocks"] if b["block_id"] == "counter")
        assert "3500 characters" in counter["elements"][0]["text"]


def test_modal_errors_ack_names_input_blocks_and_fits() -> None:
    problems = [
        Problem("message_text", "long", "y" * 1500),
        Problem("message_text", "x", "z" * 900),
    ]
    problems += [Problem("iccid", "digits", "ICCID is digits"), Problem("request", "dup", "dup")]
    view = send_modal(metadata=META)
    body = {"response_action": "errors", "errors": errors_for_modal(problems, view)}
    assert slack_rules.check_view_ack(body, view) == []


def test_reject_modal_passes() -> None:
    view_ok(reject_modal(123456789, {"channel": "C0APPROVE"}))


def _request(**kw: Any) -> SimpleNamespace:
    values: dict[str, Any] = {
        "id": 42,
        "requester": "U0SENDER",
        "iccid": "89440000000000000010",
        "message_text": "reset modem",
        "data_coding": "default",
        "origin": None,
        "approvals_needed": 2,
        "expires_at": datetime(2026, 11, 27, 13, 0, tzinfo=UTC),
        "sms_uid": "ABC123",
    }
    values.update(kw)
    return SimpleNamespace(**values)


@pytest.mark.parametrize("state", [*blocks.STATE_LABELS, "something_new<!here>"])
@pytest.mark.parametrize("coding,text", [("default", "€" * 80), ("binary", "AAECAwQFBgc=")])
def test_request_message_passes_in_every_state(state: str, coding: str, text: str) -> None:
    fallback, message_blocks = blocks.request_message(
        request_id=1,
        requester="U0SENDER",
        iccid=SIM.iccid,
        sim=SIM,
        text=text,
        coding=coding,
        state=state,
        sandbox=True,
    )
    message_ok(fallback, message_blocks)


@pytest.mark.parametrize("hostile", HOSTILE)
def test_approval_message_passes_open_and_closed(hostile: str) -> None:
    req = _request(origin=hostile[:15], requester=hostile[:64])
    fallback, message_blocks = approval_request(req, SIM, [hostile] * 5)
    message_ok(fallback, message_blocks)
    closed = approval_closed(message_blocks, f"Rejected: {escape(hostile)}")
    message_ok(fallback, closed)
    assert not any(b.get("block_id") == "approval_buttons" for b in closed)


def test_outcome_text_with_a_long_portal_reason_fits() -> None:
    text = blocks.outcome_text(
        state="rejected",
        reason="<!channel> " * 2000,
        category="other",
        sms_uid="ABC",
        portal_ms=1.0,
        total_ms=2.0,
        audit_seq=3,
        approver="U0APP",
    )
    message_ok(text)
    assert message_controls(text, None) == ["@U0APP"]


def test_long_lists_are_cut_with_a_count_never_by_slack() -> None:
    lines = [f"#{i} `sender` for <@U{i:08d}> on `8944*`" for i in range(500)]
    text = fit_lines("*Active grants* (500)", lines, " (`smsbot grants` lists all)")
    message_ok(text)
    assert len(text) <= 3800
    shown_lines = text.split("\n")
    assert shown_lines[-1].startswith("…and ") and shown_lines[-1].endswith("lists all)")
    kept = len(shown_lines) - 2
    assert shown_lines[-1].startswith(f"…and {500 - kept} more")
    assert fit_lines("head", ["a", "b"], "") == "head\na\nb"


def test_help_has_no_accidental_links() -> None:
    assert controls(blocks.HELP) == []
    assert "/sms <sim> <text…>" in shown(blocks.HELP)


# ---- text from data is never markup ----------------------------------------------------------
@given(st.text(max_size=300))
def test_escaped_text_is_shown_exactly_and_controls_nothing(text: str) -> None:
    assert controls(escape(text)) == []
    assert shown(escape(text)) == text


@given(st.text(max_size=100))
def test_code_spans_show_the_text_and_control_nothing(text: str) -> None:
    rendered = code(text)
    assert controls(rendered) == []
    assert shown(rendered) in (text, f"`{text or '-'}`")


@given(st.text(max_size=30))
def test_mentions_only_for_real_ids(actor: str) -> None:
    rendered = mention(actor)
    assert controls(rendered) in ([], [f"@{actor}"])


@given(gsm_text, st.text(max_size=200), st.text(max_size=64))
def test_request_message_shows_the_exact_text_and_no_data_markup(
    text: str, label: str, sim_type: str
) -> None:
    sim = SimInfo("89440000000000000010", label or None, sim_type or None, "g<!here>")
    fallback, message_blocks = blocks.request_message(
        request_id=7,
        requester="U0SENDER",
        iccid=sim.iccid,
        sim=sim,
        text=text,
        coding="default",
        state="recorded",
        sandbox=False,
    )
    # The approver and the requester read exactly the characters that are sent…
    assert rich_texts(message_blocks) == [text]
    # …and the only control sequence is the one our template put there.
    assert message_controls(fallback, message_blocks) == ["@U0SENDER"]


@given(gsm_text, st.text(max_size=200), st.lists(st.text(max_size=80), max_size=4))
def test_approval_message_shows_the_exact_text_and_no_data_markup(
    text: str, label: str, warnings: list[str]
) -> None:
    req = _request(message_text=text, origin="<!channel>")
    sim = SimInfo(req.iccid, label or None, "Manx <@U1>", None)
    fallback, message_blocks = approval_request(req, sim, warnings)
    assert rich_texts(message_blocks) == [text]
    assert sorted(set(message_controls(fallback, message_blocks))) == ["@U0SENDER"]
    message_ok(fallback, message_blocks)


@given(
    st.lists(
        st.tuples(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=1000)),
        max_size=130,
    ),
    st.integers(min_value=0, max_value=129),
)
def test_the_template_picker_fits_slack_for_any_templates(
    raw: list[tuple[str, str]], chosen: int
) -> None:
    choices = [
        TemplateChoice(f"t{i}-{name}", text, False, ("a", "b"), "group pumps")
        for i, (name, text) in enumerate(raw)
    ]
    pick = TemplatePick(choices[chosen].name if chosen < len(choices) else None, "a=1")
    view = send_modal(metadata=META, templates=choices, pick=pick)
    view_ok(view)
    ids = [b["block_id"] for b in view["blocks"]]
    assert ("template" in ids) == bool(choices)
    assert ("template_vars" in ids) == (pick.name is not None and chosen < 99)


# ---- fleet sends --------------------------------------------------------------------------------
def _batch(**kw: Any) -> SimpleNamespace:
    values: dict[str, Any] = {
        "id": 7,
        "requester": "U0SENDER",
        "group_name": "pumps",
        "members": 120,
        "message_text": "reset modem",
        "data_coding": "default",
        "state": "sending",
        "approvals_needed": 1,
        "expires_at": datetime(2026, 11, 27, 12, 0, tzinfo=UTC),
    }
    values.update(kw)
    return SimpleNamespace(**values)


@given(
    st.text(min_size=1, max_size=160),
    st.text(min_size=1, max_size=64),
    st.sampled_from(list(BATCH_STATES)),
    st.lists(st.text(max_size=300), max_size=15),
)
def test_fleet_messages_fit_slack_and_escape_data(
    text: str, group: str, state: str, warnings: list[str]
) -> None:
    batch = _batch(message_text=text, group_name=group, state=state)
    counts = {"accepted": 100, "rejected": 3, "sending": 2, "batched": 15, "skipped": 4}
    fallback, parent = batch_message(batch, counts, sandbox=True)
    message_ok(fallback, parent)
    assert "*103/120* done" in str(parent)  # 15 batched and 2 sending are still open
    fallback, asking = batch_approval(batch, 4, warnings)
    message_ok(fallback, asking)
    message_ok("x", approval_decided(asking, "Approved"))
    shown = str(parent) + str(asking)
    if "<" in group:
        assert f"`{group}`" not in shown  # escaped, never a link or mention


@given(
    st.lists(st.tuples(st.text(min_size=1, max_size=64), st.integers(0, 5000)), max_size=130),
    st.lists(
        st.tuples(st.text(max_size=22), st.none() | st.text(max_size=200), st.text(max_size=500)),
        max_size=60,
    ),
    st.text(max_size=4000),
)
def test_the_fleet_form_fits_slack_in_every_state(
    groups: list[tuple[str, int]], skipped: list[tuple[str, str | None, str]], text: str
) -> None:
    draft = FleetDraft(groups[0][0] if groups else None, text, "default", TemplatePick(None), None)
    view_ok(fleet_modal(metadata=META, groups=groups, draft=draft))
    preview = FleetPreview(len(groups), skipped, ["<!here> warning"] * 3)
    view = fleet_modal(metadata=META, groups=groups, draft=draft, preview=preview)
    view_ok(view)
    box = next(b for b in view["blocks"] if b["block_id"] == "batch_confirm")
    assert box["element"]["options"][0]["value"] == str(len(groups))
