"""The Slack stand-in is at least as strict as Slack: each broken payload is refused, over real
HTTP, with Slack's error and `response_metadata.messages`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.error import URLError

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.app import web_client
from bot.slack.blocks import context, plain, section
from tests.support import slack_rules
from tests.support.slack_api import SlackStandIn

# The "nothing" case sends no text on purpose; slack_sdk warns about it.
pytestmark = pytest.mark.filterwarnings("ignore:The top-level `text`:UserWarning")


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    stand_in = SlackStandIn().start()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def client(slack: SlackStandIn) -> WebClient:
    return WebClient(token="xoxb-test", base_url=slack.url)


def raw_section(text: str) -> dict[str, Any]:
    """A section exactly as given (the bot's `section` clips its text; this one does not)."""
    return {"type": "section", "block_id": "s", "text": {"type": "mrkdwn", "text": text}}


def modal(blocks: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": "x",
        "title": plain("Test"),
        "submit": plain("Send"),
        "blocks": blocks,
        **extra,
    }


def text_input(block_id: str = "i", **element: Any) -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": block_id,
        "label": plain("Label"),
        "element": {"type": "plain_text_input", "action_id": block_id, **element},
    }


def checkbox(option_text: str) -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": "c",
        "label": plain("Options"),
        "element": {
            "type": "checkboxes",
            "action_id": "c",
            "options": [{"text": plain(option_text), "value": "v"}],
        },
    }


def button(value: str) -> dict[str, Any]:
    return {
        "type": "actions",
        "block_id": "a",
        "elements": [{"type": "button", "action_id": "b", "text": plain("Go"), "value": value}],
    }


BROKEN_VIEWS: dict[str, dict[str, Any]] = {
    "option text 76": modal([checkbox("x" * 76)]),
    "101 blocks": modal([section(f"s{i}", "x") for i in range(101)]),
    "section text 3001": modal([raw_section("x" * 3001)]),
    "context text 3001": modal(
        [{"type": "context", "elements": [{"type": "mrkdwn", "text": "x" * 3001}]}]
    ),
    "title 25": {**modal([section("s", "x")]), "title": plain("x" * 25)},
    "private_metadata 3001": modal([section("s", "x")], private_metadata="x" * 3001),
    "button value 2001": modal([button("x" * 2001)]),
    "initial_value over max_length": modal([text_input(max_length=10, initial_value="x" * 11)]),
    "initial_value over 3000": modal([text_input(initial_value="x" * 3001)]),
    "unknown field": modal([{**section("s", "x"), "colour": "red"}]),
    "unknown block type": modal([{"type": "sparkle", "block_id": "s"}]),
    "duplicate block_id": modal([section("s", "x"), section("s", "y")]),
    "input without submit": {k: v for k, v in modal([text_input()]).items() if k != "submit"},
    "empty text": modal([section("s", "")]),
}


@pytest.mark.parametrize("case", sorted(BROKEN_VIEWS))
def test_views_open_refuses_what_slack_refuses(
    client: WebClient, slack: SlackStandIn, case: str
) -> None:
    with pytest.raises(SlackApiError) as raised:
        client.views_open(trigger_id="T.1", view=BROKEN_VIEWS[case])
    answer = raised.value.response
    assert answer["error"] == "invalid_arguments"
    messages = answer["response_metadata"]["messages"]
    assert messages and all(
        m.startswith("[ERROR] ") and "json-pointer:/view" in m for m in messages
    )
    assert slack.calls("views.open") == [] and len(slack.calls("views.open", refused=True)) == 1


def test_a_valid_view_is_taken(client: WebClient) -> None:
    view = modal([checkbox("x" * 75), text_input(max_length=10, initial_value="x" * 10)])
    assert client.views_open(trigger_id="T.1", view=view)["ok"]


BROKEN_MESSAGES: dict[str, tuple[dict[str, Any], str]] = {
    "51 blocks": (
        {"text": "t", "blocks": [section(f"s{i}", "x") for i in range(51)]},
        "invalid_blocks",
    ),
    "section text 3001": ({"text": "t", "blocks": [raw_section("x" * 3001)]}, "invalid_blocks"),
    "11 fields": (
        {
            "text": "t",
            "blocks": [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}],
        },
        "invalid_blocks",
    ),
    "field 2001": (
        {
            "text": "t",
            "blocks": [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2001}]}],
        },
        "invalid_blocks",
    ),
    "text 40001": ({"text": "x" * 40_001}, "msg_too_long"),
    "nothing": ({"text": ""}, "no_text"),
    "context 11 elements": (
        {"text": "t", "blocks": [context("c", "x") | {"elements": [plain("x")] * 11}]},
        "invalid_blocks",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN_MESSAGES))
@pytest.mark.parametrize("method", ["chat_postMessage", "chat_update", "chat_postEphemeral"])
def test_messages_are_refused_like_slack_does(client: WebClient, case: str, method: str) -> None:
    body, error = BROKEN_MESSAGES[case]
    extra = {"ts": "1.2"} if method == "chat_update" else {}
    extra |= {"user": "U1"} if method == "chat_postEphemeral" else {}
    with pytest.raises(SlackApiError) as raised:
        getattr(client, method)(channel="C1", **body, **extra)
    assert raised.value.response["error"] == error
    if error == "invalid_blocks":
        assert raised.value.response["response_metadata"]["messages"]


def test_response_url_refuses_a_broken_body(slack: SlackStandIn) -> None:
    bad = httpx.post(slack.response_url("x"), json={"text": "t", "blocks": [section("s", "")]})
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_blocks"
    good = httpx.post(slack.response_url("x"), json={"text": "fine"})
    assert good.status_code == 200


@pytest.mark.parametrize(
    ("error", "setup"),
    [
        ("not_in_channel", lambda s: s.state.not_in_channel.add("C1")),
        ("is_archived", lambda s: s.state.archived.add("C1")),
        ("channel_not_found", lambda s: s.state.missing_channels.add("C1")),
    ],
)
def test_channel_faults(client: WebClient, slack: SlackStandIn, error: str, setup: Any) -> None:
    setup(slack)
    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel="C1", text="hi")
    assert raised.value.response["error"] == error


def test_expired_trigger_and_rate_limit(client: WebClient, slack: SlackStandIn) -> None:
    slack.state.expired_triggers.add("T.old")
    with pytest.raises(SlackApiError) as raised:
        client.views_open(trigger_id="T.old", view=modal([section("s", "x")]))
    assert raised.value.response["error"] == "expired_trigger_id"
    slack.state.fail["chat.postMessage"] = ["ratelimited"]
    with pytest.raises(SlackApiError) as limited:
        client.chat_postMessage(channel="C1", text="hi")
    assert limited.value.response.status_code == 429
    assert limited.value.response.headers["Retry-After"] == "1"


def test_view_ack_rules() -> None:
    submitted = modal([text_input("iccid"), section("info", "x")])
    assert (
        slack_rules.check_view_ack(
            {"response_action": "errors", "errors": {"iccid": "bad"}}, submitted
        )
        == []
    )
    assert slack_rules.check_view_ack(
        {"response_action": "errors", "errors": {"info": "bad"}}, submitted
    ), "errors may only name input blocks"
    assert slack_rules.check_view_ack(
        {"response_action": "update", "view": BROKEN_VIEWS["option text 76"]}, submitted
    )
    assert slack_rules.check_view_ack({"response_action": "launch"}, submitted)


@pytest.mark.parametrize(
    "view",
    [
        {"type": "modal", "blocks": [section("s", "x")]},  # a modal published as a Home
        {
            "type": "home",
            "title": {"type": "plain_text", "text": "t"},
            "blocks": [section("s", "x")],
        },
        {"type": "home", "blocks": [raw_section("x" * 3001)]},
        {"type": "home", "blocks": [section(f"s{i}", "x") for i in range(101)]},
    ],
)
def test_views_publish_refuses_what_slack_refuses(
    client: WebClient, slack: SlackStandIn, view: dict[str, Any]
) -> None:
    with pytest.raises(SlackApiError) as refused:
        client.views_publish(user_id="U0X", view=view)
    assert refused.value.response["error"] == "invalid_arguments"
    assert refused.value.response["response_metadata"]["messages"]
    assert client.views_publish(
        user_id="U0X", view={"type": "home", "blocks": [section("s", "x")]}
    )["ok"]


def test_the_stand_in_refuses_an_initial_option_that_is_not_offered() -> None:
    select = {
        "type": "static_select",
        "action_id": "s",
        "options": [{"text": {"type": "plain_text", "text": "a"}, "value": "a"}],
        "initial_option": {"text": {"type": "plain_text", "text": "b"}, "value": "b"},
    }
    view = {
        "type": "modal",
        "title": {"type": "plain_text", "text": "x"},
        "submit": {"type": "plain_text", "text": "ok"},
        "blocks": [
            {"type": "input", "label": {"type": "plain_text", "text": "l"}, "element": select}
        ],
    }
    assert any("initial option must match" in p for p in slack_rules.check_view(view))
    select["initial_option"] = select["options"][0]
    assert slack_rules.check_view(view) == []


def test_the_rules_refuse_what_slack_refuses_in_an_options_answer() -> None:
    option = {"text": {"type": "plain_text", "text": "pump 7"}, "value": "8944"}
    assert slack_rules.check_options_ack({"options": [option]}) == []
    assert slack_rules.check_options_ack({"options": [option] * 101})
    long_text = {**option, "text": {"type": "plain_text", "text": "x" * 76}}
    assert slack_rules.check_options_ack({"options": [long_text]})
    assert slack_rules.check_options_ack({"options": [{**option, "value": "v" * 151}]})
    markup = {**option, "text": {"type": "mrkdwn", "text": "*x*"}}
    assert slack_rules.check_options_ack({"options": [markup]})
    assert slack_rules.check_options_ack({"options": [], "option_groups": []})
    group = {"label": {"type": "plain_text", "text": "g"}, "options": [option]}
    assert slack_rules.check_options_ack({"option_groups": [group]}) == []
    assert slack_rules.check_options_ack({"option_groups": [{**group, "label": None}]})


def test_file_uploads_go_through_slacks_three_steps(slack: SlackStandIn, client: WebClient) -> None:
    done = client.files_upload_v2(
        channel="C0NOC", thread_ts="1.2", content="a,b\n1,2\n", filename="x.csv", title="X"
    )
    assert done["ok"] and done["file"]["title"] == "X"
    (shared,) = slack.uploaded()
    assert shared["data"] == b"a,b\n1,2\n"
    assert shared["shared"]["channel"] == "C0NOC" and shared["shared"]["thread_ts"] == "1.2"
    # Completing a file that was never uploaded, or sharing where the bot cannot post: refused.
    with pytest.raises(SlackApiError) as never:
        client.files_completeUploadExternal(files=[{"id": "F404", "title": "x"}])
    assert never.value.response["error"] == "file_not_found"
    with pytest.raises(SlackApiError) as empty:
        client.files_getUploadURLExternal(filename="x.csv", length=0)
    assert empty.value.response["error"] == "invalid_arguments"
    slack.state.not_in_channel.add("C0PRIVATE")
    with pytest.raises(SlackApiError) as outside:
        client.files_upload_v2(channel="C0PRIVATE", content="x", filename="x.csv")
    assert outside.value.response["error"] == "not_in_channel"


def test_the_bots_web_client_keeps_its_connection_and_keeps_slack_sdks_behaviour(
    slack: SlackStandIn,
) -> None:
    pooled = web_client(slack.url, "xoxb-test")
    plain_client = WebClient(token="xoxb-test", base_url=slack.url)
    for i in range(10):
        pooled.chat_postMessage(channel="C0NOC", text=f"pooled {i}")
        plain_client.chat_postMessage(channel="C0NOC", text=f"plain {i}")
    posts = slack.calls("chat.postMessage")
    pooled_ports = {c.peer for c in posts if c.args["text"].startswith("pooled")}
    plain_ports = {c.peer for c in posts if c.args["text"].startswith("plain")}
    assert len(pooled_ports) == 1 and len(plain_ports) == 10
    # Slack's refusals, a 429 with Retry-After (retried by slack_sdk's handler) and a server
    # that is gone surface exactly as they do through urllib.
    slack.state.missing_channels.add("C0GONE")
    with pytest.raises(SlackApiError) as refused:
        pooled.chat_postMessage(channel="C0GONE", text="x")
    assert refused.value.response["error"] == "channel_not_found"
    slack.state.fail["chat.postMessage"] = ["ratelimited"]
    assert pooled.chat_postMessage(channel="C0NOC", text="after a 429")["ok"]
    slack.stop()  # its kept-alive connections close too, as when Slack goes away
    with pytest.raises(URLError):
        pooled.chat_postMessage(channel="C0NOC", text="nobody there")
