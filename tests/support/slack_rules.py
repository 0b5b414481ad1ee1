"""Slack's own rules for what the bot sends, so the stand-in refuses what Slack refuses.

Each payload is rebuilt with `slack_sdk.models` (`View(**view).to_dict()` and
`Block.parse(b).to_dict()` run every nested validator) and then checked against the documented
limits the models do not enforce. A key the models drop is a key Slack does not know: refused
too. Problems come back in Slack's shape — `[ERROR] <what> [json-pointer:/path]` — to go in
`response_metadata.messages`.

Limits (api.slack.com/reference/block-kit): text objects 1–3000 characters; section fields ≤ 10
of ≤ 2000; option text ≤ 75 and value ≤ 150; button text ≤ 75 and value ≤ 2000; input label ≤ 2000;
`plain_text_input` `max_length` ≤ 3000 and `initial_value` no longer than it; an initial option
one of the options; ≤ 100 blocks in a
view, ≤ 50 in a message; block ids unique; a modal with inputs needs `submit`; message `text`
≤ 40,000 characters (`msg_too_long`).
"""

from __future__ import annotations

from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

VIEW_BLOCKS_MAX = 100
MESSAGE_BLOCKS_MAX = 50
TEXT_OBJECT_MAX = 3000
FIELD_MAX = 2000
MESSAGE_TEXT_MAX = 40_000
INPUT_MAX_LENGTH = 3000


def _error(what: str, pointer: str) -> str:
    return f"[ERROR] {what} [json-pointer:{pointer}]"


def _dropped_keys(given: Any, rebuilt: Any, pointer: str) -> list[str]:
    """Keys in `given` the model did not keep: unknown to Slack (or empty where not allowed)."""
    problems: list[str] = []
    if isinstance(given, dict) and isinstance(rebuilt, dict):
        for key, value in given.items():
            if key not in rebuilt:
                problems.append(_error(f"unknown or empty field `{key}`", f"{pointer}/{key}"))
            else:
                problems += _dropped_keys(value, rebuilt[key], f"{pointer}/{key}")
    elif isinstance(given, list) and isinstance(rebuilt, list) and len(given) == len(rebuilt):
        for i, (a, b) in enumerate(zip(given, rebuilt, strict=True)):
            problems += _dropped_keys(a, b, f"{pointer}/{i}")
    return problems


def _walk_limits(node: Any, pointer: str) -> list[str]:
    """The documented limits the models leave out, anywhere in a block tree."""
    problems: list[str] = []
    if isinstance(node, list):
        for i, item in enumerate(node):
            problems += _walk_limits(item, f"{pointer}/{i}")
        return problems
    if not isinstance(node, dict):
        return problems
    kind = node.get("type")
    if kind in ("plain_text", "mrkdwn"):
        text = node.get("text")
        if not isinstance(text, str) or not 1 <= len(text) <= TEXT_OBJECT_MAX:
            size = len(text) if isinstance(text, str) else "no"
            problems.append(
                _error(f"text must be 1–{TEXT_OBJECT_MAX} characters, got {size}", pointer)
            )
    if kind == "section":
        for i, field in enumerate(node.get("fields") or []):
            if len(str(field.get("text", ""))) > FIELD_MAX:
                problems.append(
                    _error(f"must be less than {FIELD_MAX + 1} characters", f"{pointer}/fields/{i}")
                )
    if kind == "plain_text_input":
        max_length = node.get("max_length")
        if max_length is not None and not 1 <= int(max_length) <= INPUT_MAX_LENGTH:
            problems.append(_error(f"max_length must be 1–{INPUT_MAX_LENGTH}", pointer))
        initial = node.get("initial_value")
        limit = min(int(max_length or INPUT_MAX_LENGTH), INPUT_MAX_LENGTH)
        if isinstance(initial, str) and len(initial) > limit:
            problems.append(
                _error(
                    f"initial_value is {len(initial)} characters, longer than max_length {limit}",
                    f"{pointer}/initial_value",
                )
            )
    if kind == "rich_text":
        problems += _rich_text(node, pointer)
    if kind in ("static_select", "radio_buttons", "checkboxes"):
        problems += _initial_options(node, pointer)
    for key, value in node.items():
        if isinstance(value, dict | list):
            problems += _walk_limits(value, f"{pointer}/{key}")
    return problems


def _initial_options(node: dict[str, Any], pointer: str) -> list[str]:
    """Slack: an initial option must exactly match one of the element's options."""
    offered = [o for o in node.get("options") or []]
    initial = node.get("initial_options") or (
        [node["initial_option"]] if node.get("initial_option") else []
    )
    return [
        _error("initial option must match one of the options", f"{pointer}/initial_option")
        for option in initial
        if option not in offered
    ]


def _rich_text(node: dict[str, Any], pointer: str) -> list[str]:
    problems: list[str] = []
    for i, section in enumerate(node.get("elements") or []):
        for j, element in enumerate(section.get("elements") or []):
            if element.get("type") == "text" and not element.get("text"):
                problems.append(
                    _error("text must not be empty", f"{pointer}/elements/{i}/elements/{j}")
                )
    return problems


def _unique_block_ids(blocks: list[Any], pointer: str) -> list[str]:
    seen: set[str] = set()
    problems: list[str] = []
    for i, block in enumerate(blocks):
        block_id = block.get("block_id") if isinstance(block, dict) else None
        if block_id is None:
            continue
        if block_id in seen:
            problems.append(_error(f"duplicate block_id `{block_id}`", f"{pointer}/{i}/block_id"))
        seen.add(block_id)
    return problems


def check_blocks(blocks: Any, pointer: str, max_blocks: int) -> list[str]:
    """Every block as Slack would check it; [] when all is well."""
    if not isinstance(blocks, list):
        return [_error("must be an array", pointer)]
    problems: list[str] = []
    if len(blocks) > max_blocks:
        problems.append(_error(f"must be less than {max_blocks + 1} items", pointer))
    for i, block in enumerate(blocks):
        here = f"{pointer}/{i}"
        parsed = Block.parse(block) if isinstance(block, dict) else None
        if parsed is None:
            problems.append(_error("unknown or missing block type", here))
            continue
        try:
            rebuilt = parsed.to_dict()
        except SlackObjectFormationError as exc:
            problems.append(_error(str(exc), here))
            continue
        problems += _dropped_keys(block, rebuilt, here)
    problems += _walk_limits(blocks, pointer)
    problems += _unique_block_ids(blocks, pointer)
    return problems


def check_view(view: Any, pointer: str = "/view") -> list[str]:
    """A modal or App Home view, as `views.open|update|push` and `response_action` check it."""
    if not isinstance(view, dict):
        return [_error("must be an object", pointer)]
    problems: list[str] = []
    try:
        rebuilt = View(**view).to_dict()
    except (SlackObjectFormationError, TypeError) as exc:
        problems.append(_error(str(exc), pointer))
    else:
        top = {k: v for k, v in view.items() if k != "blocks"}
        problems += _dropped_keys(top, rebuilt, pointer)
    blocks = view.get("blocks")
    problems += check_blocks(blocks, f"{pointer}/blocks", VIEW_BLOCKS_MAX)
    has_inputs = isinstance(blocks, list) and any(
        isinstance(b, dict) and b.get("type") == "input" for b in blocks
    )
    if view.get("type") == "modal" and has_inputs and not view.get("submit"):
        problems.append(_error("submit is required when an input block is present", pointer))
    return problems


#: Keys a Home tab view may have (title, submit, close belong to modals).
HOME_KEYS = frozenset({"type", "blocks", "private_metadata", "callback_id", "external_id"})


def check_home_view(view: Any, pointer: str = "/view") -> list[str]:
    """views.publish: a `home` view, without the modal-only keys."""
    if not isinstance(view, dict):
        return [_error("must be an object", pointer)]
    problems = check_view(view, pointer)
    if view.get("type") != "home":
        problems.append(_error("type must be home", f"{pointer}/type"))
    for key in sorted(set(view) - HOME_KEYS):
        problems.append(_error(f"{key} is not allowed in a home view", f"{pointer}/{key}"))
    return problems


def check_message(args: dict[str, Any]) -> tuple[str, list[str]] | None:
    """A message body (chat.postMessage/update/postEphemeral, response_url, a command's ack):
    None when Slack would take it, else (error, messages)."""
    text, blocks = args.get("text"), args.get("blocks")
    if not text and not blocks:
        return "no_text", []
    if isinstance(text, str) and len(text) > MESSAGE_TEXT_MAX:
        return "msg_too_long", []
    if blocks is not None:
        problems = check_blocks(blocks, "/blocks", MESSAGE_BLOCKS_MAX)
        if problems:
            return "invalid_blocks", problems
    return None


def check_view_ack(body: dict[str, Any], submitted: dict[str, Any] | None) -> list[str]:
    """A view_submission's acknowledgement: `update`/`push` carry a valid view; `errors` name
    input blocks of the submitted view."""
    action = body.get("response_action")
    if action in ("update", "push"):
        return check_view(body.get("view"), "/view")
    if action == "errors":
        errors = body.get("errors")
        if not isinstance(errors, dict) or not errors:
            return [_error("errors must be a non-empty object", "/errors")]
        inputs = {
            b.get("block_id")
            for b in (submitted or {}).get("blocks", [])
            if isinstance(b, dict) and b.get("type") == "input"
        }
        problems = [
            _error(f"no input block `{key}` in the view", f"/errors/{key}")
            for key in errors
            if submitted is not None and key not in inputs
        ]
        problems += [
            _error("must be 1–2000 characters", f"/errors/{key}")
            for key, message in errors.items()
            if not isinstance(message, str) or not 1 <= len(message) <= FIELD_MAX
        ]
        return problems
    if action in (None, "clear"):
        return []
    return [_error(f"unknown response_action `{action}`", "/response_action")]


OPTIONS_MAX = 100
OPTION_TEXT_MAX = 75
OPTION_VALUE_MAX = 150


def _option_problems(option: Any, pointer: str) -> list[str]:
    if not isinstance(option, dict):
        return [_error("must be an option object", pointer)]
    text = option.get("text") or {}
    problems: list[str] = []
    if text.get("type") != "plain_text":
        problems.append(_error("option text must be plain_text", f"{pointer}/text"))
    if not 1 <= len(str(text.get("text") or "")) <= OPTION_TEXT_MAX:
        problems.append(_error(f"must be 1–{OPTION_TEXT_MAX} characters", f"{pointer}/text"))
    if not 1 <= len(str(option.get("value") or "")) <= OPTION_VALUE_MAX:
        problems.append(_error(f"must be 1–{OPTION_VALUE_MAX} characters", f"{pointer}/value"))
    return problems


def check_options_ack(body: Any) -> list[str]:
    """A `block_suggestion` answer: `options` (≤ 100) or `option_groups` (≤ 100 groups of ≤ 100,
    label ≤ 75), each option plain text ≤ 75 with a value ≤ 150 (Slack shows nothing otherwise)."""
    if not isinstance(body, dict):
        return [_error("must be a JSON object", "")]
    unknown = set(body) - {"options", "option_groups"}
    problems = [_error(f"unknown field `{k}`", f"/{k}") for k in sorted(unknown)]
    if ("options" in body) == ("option_groups" in body):
        return [*problems, _error("give options or option_groups, one of them", "")]
    lists: list[tuple[str, Any]] = []
    if "options" in body:
        lists.append(("/options", body["options"]))
    else:
        groups = body["option_groups"]
        if not isinstance(groups, list) or len(groups) > OPTIONS_MAX:
            return [*problems, _error("must be an array of at most 100", "/option_groups")]
        for i, group in enumerate(groups):
            label = str(((group or {}).get("label") or {}).get("text") or "")
            if not 1 <= len(label) <= OPTION_TEXT_MAX:
                problems.append(_error("label must be 1–75 characters", f"/option_groups/{i}"))
            lists.append((f"/option_groups/{i}/options", (group or {}).get("options")))
    for pointer, options in lists:
        if not isinstance(options, list) or len(options) > OPTIONS_MAX:
            problems.append(_error(f"must be an array of at most {OPTIONS_MAX}", pointer))
            continue
        for i, option in enumerate(options):
            problems += _option_problems(option, f"{pointer}/{i}")
    return problems
