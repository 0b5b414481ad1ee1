"""manifest.yml validates against Slack's app-manifest schema (../shared/schemas), in both modes."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_NAME = "slack-app-manifest.schema.1.0.0.json"
# The project's shared copy beside the checkout when there is one; else the vendored copy
# (Slack's MIT-licensed schema, tests/data/slack-app-manifest.LICENSE).
_SHARED = ROOT.parent / "shared" / "schemas" / SCHEMA_NAME
SCHEMA = Path(
    os.environ.get("SMSBOT_MANIFEST_SCHEMA")
    or (_SHARED if _SHARED.exists() else ROOT / "tests" / "data" / SCHEMA_NAME)
)


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "manifest.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_manifest_is_valid(
    validator: jsonschema.protocols.Validator, manifest: dict[str, Any]
) -> None:
    errors = sorted(validator.iter_errors(manifest), key=str)
    assert errors == [], [e.message for e in errors]


def test_http_variant_is_valid(
    validator: jsonschema.protocols.Validator, manifest: dict[str, Any]
) -> None:
    http = copy.deepcopy(manifest)
    http["settings"]["socket_mode_enabled"] = False
    http["features"]["slash_commands"][0]["url"] = "https://smsbot.example.com/slack/events"
    http["settings"]["interactivity"]["request_url"] = "https://smsbot.example.com/slack/events"
    # The send form's SIM picker loads its options from the same endpoint.
    http["settings"]["interactivity"]["message_menu_options_url"] = (
        "https://smsbot.example.com/slack/events"
    )
    assert sorted(validator.iter_errors(http), key=str) == []


def test_an_invalid_manifest_is_caught(
    validator: jsonschema.protocols.Validator, manifest: dict[str, Any]
) -> None:
    broken = copy.deepcopy(manifest)
    broken["features"]["slash_commands"][0]["command"] = "sms"  # must start with /
    assert list(validator.iter_errors(broken))


def test_command_scopes_and_modes(manifest: dict[str, Any]) -> None:
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == "/sms" and command["should_escape"] is True
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == {
        "commands",
        "chat:write",
        "im:write",
        "usergroups:read",
        "files:write",
    }
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
