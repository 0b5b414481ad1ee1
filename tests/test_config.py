"""Configuration from the environment (SPEC.md names), validated at start."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.config import ConfigError, Settings, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "DATABASE_URL",
        "M2M_API_ID",
        "M2M_USERNAME",
        "M2M_PASSWORD",
        "SMSBOT_PORTAL",
        "M2M_PASSWORD_FILE",
        "SMSBOT_ADMINS",
        "PORT",
        "SLACK_APP_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)


def test_defaults() -> None:
    settings = load_settings()
    assert settings.DATABASE_URL == "sqlite:///smsbot.db"
    assert settings.portal_mode == "sandbox"
    assert settings.M2M_API_URL == "https://api.m2miportal.com"
    assert settings.SLACK_API_URL == "https://slack.com/api/"
    assert (settings.HOST, settings.PORT) == ("0.0.0.0", 3000)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres@127.0.0.1:5432/test",
        "postgres://postgres@127.0.0.1/test",
        "postgresql+psycopg://postgres@127.0.0.1/test",
    ],
)
def test_plain_postgres_urls_use_psycopg(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    assert load_settings().DATABASE_URL.startswith("postgresql+psycopg://postgres@127.0.0.1")


def test_credentials_switch_to_live_and_secret_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = tmp_path / "password"
    secret.write_text("hunter2-from-file\n")
    monkeypatch.setenv("M2M_API_ID", "123456")
    monkeypatch.setenv("M2M_USERNAME", "u")
    monkeypatch.setenv("M2M_PASSWORD_FILE", str(secret))
    settings = load_settings()
    assert settings.portal_mode == "live"
    assert settings.M2M_PASSWORD is not None
    assert settings.M2M_PASSWORD.get_secret_value() == "hunter2-from-file"
    assert "hunter2" not in repr(settings)
    monkeypatch.setenv("SMSBOT_PORTAL", "sandbox")
    assert load_settings().portal_mode == "sandbox"


def test_live_without_credentials_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSBOT_PORTAL", "live")
    monkeypatch.setenv("M2M_PASSWORD", "pw-should-not-leak")
    with pytest.raises(ConfigError, match="M2M_API_ID") as info:
        load_settings()
    assert "pw-should-not-leak" not in str(info.value)


def test_unreadable_secret_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("M2M_PASSWORD_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="M2M_PASSWORD_FILE"):
        load_settings()


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("PORT", "http", "must be"),
        ("PORT", "70000", "must be"),
        ("PORT", "30.5", "must be"),
        ("DATABASE_URL", "mysql://x/y", "only"),
        ("DATABASE_URL", "not a url", "is not"),
        ("SMSBOT_PORTAL", "prod", "must be"),
        ("SMSBOT_ADMINS", "bob", "must be"),
        ("M2M_API_URL", "ftp://x", "must start"),
        ("SMSBOT_APPROVAL_TTL_MINUTES", "0", "must be"),
        ("SMSBOT_SQLITE_BUSY_SECONDS", "nan", "must be"),
        ("SMSBOT_SQLITE_BUSY_SECONDS", "inf", "must be"),
        ("SMSBOT_SQLITE_BUSY_SECONDS", "0", "must be"),
        ("SMSBOT_SOCKET_GRACE_SECONDS", "-1", "must be"),
        ("SMSBOT_SERVE_JOBS", "yes", "must be"),
        ("SMSBOT_AUDIT_KEY", "short-key-under-32-bytes", "must be"),
        ("SMSBOT_RATE_USER", "many", "must be"),
        ("SMSBOT_POLL_SCHEDULE", "soon", "must be"),
        ("SMSBOT_QUEUE_CAPS", "lots", "must be"),
        ("SLACK_TEAM_ID", "acme", "must be"),
        ("SMSBOT_APPROVAL_CHANNEL", "#ops", "must be"),
    ],
)
def test_bad_values_name_the_variable_not_the_value(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert message.startswith(f"{name}: {says} ")
    assert "\n" not in message
    assert len(value) < 4 or value not in message


def test_values_are_parsed_to_their_types(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", " 8080 ")
    monkeypatch.setenv("SMSBOT_SQLITE_BUSY_SECONDS", "2.5")
    monkeypatch.setenv("SLACK_TEAM_ID", "")
    monkeypatch.setenv("SMSBOT_ADMINS", "U1, W2 U3")
    settings = load_settings(SMSBOT_BATCH_CONCURRENCY=4, SLACK_BOT_TOKEN="xoxb-secret-token")
    assert (settings.PORT, settings.SMSBOT_SQLITE_BUSY_SECONDS) == (8080, 2.5)
    assert settings.SMSBOT_BATCH_CONCURRENCY == 4
    assert settings.SLACK_TEAM_ID is None
    assert settings.admins == {"U1", "W2", "U3"}
    assert settings.SLACK_BOT_TOKEN is not None
    assert settings.SLACK_BOT_TOKEN.get_secret_value() == "xoxb-secret-token"
    assert "xoxb" not in repr(settings) and "xoxb" not in str(settings.SLACK_BOT_TOKEN)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.PORT = 1  # type: ignore[misc]


def test_an_unknown_override_is_a_programming_error() -> None:
    with pytest.raises(TypeError, match="SMSBOT_NO_SUCH"):
        load_settings(SMSBOT_NO_SUCH="1")


@given(st.text(max_size=40))
def test_every_parser_accepts_or_says_what_to_fix_without_echoing(value: str) -> None:
    for item in dataclasses.fields(Settings):
        try:
            item.metadata["parse"](value)
        except ValueError as exc:
            message = str(exc)
            assert message.startswith(("must", "is not", "only"))
            if len(value) > 3:
                assert value not in message
