"""Configuration from the environment (SPEC.md names), validated at start."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings


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


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "http"),
        ("DATABASE_URL", "mysql://x/y"),
        ("SMSBOT_PORTAL", "prod"),
        ("SMSBOT_ADMINS", "bob"),
        ("M2M_API_URL", "ftp://x"),
        ("DATABASE_URL", "not a url"),
    ],
)
def test_bad_values_name_the_variable_not_the_value(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert message.startswith(name)
    assert "\n" not in message


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
