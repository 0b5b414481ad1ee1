"""Configuration from the environment (names and defaults from SPEC.md).

Settings are validated once at start. A bad value stops the program with one line that names the
variable; the offending value itself is never echoed, because it may be a secret.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.store.urls import normalize_database_url

#: Variables that may instead be given as ``<NAME>_FILE`` (Docker/Kubernetes secrets).
SECRET_FILE_VARIABLES = (
    "M2M_API_ID",
    "M2M_USERNAME",
    "M2M_PASSWORD",
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "SMSBOT_RECEIPT_PASSPHRASE",
    "SMSBOT_AUDIT_KEY",
)

DEFAULT_PORTAL_URL = "https://api.m2miportal.com"


#: Relative: the file `smsbot.db` in the directory the command runs in (`--verbose` names it).
DEFAULT_DATABASE_URL = "sqlite:///smsbot.db"


class ConfigError(Exception):
    """A configuration value is missing or malformed; the message names the variable only."""


class Settings(BaseSettings):
    """Everything the bot reads from its environment."""

    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore", frozen=True)

    DATABASE_URL: str = DEFAULT_DATABASE_URL
    SLACK_BOT_TOKEN: SecretStr | None = None
    SLACK_SIGNING_SECRET: SecretStr | None = None
    SLACK_APP_TOKEN: SecretStr | None = None
    SLACK_API_URL: str = "https://slack.com/api/"
    SLACK_TEAM_ID: str | None = None
    SLACK_APP_ID: str | None = None
    SMSBOT_SOCKET_GRACE_SECONDS: float = Field(default=15.0, ge=0, le=600)
    SMSBOT_SHUTDOWN_GRACE_SECONDS: float = Field(default=8.0, ge=0, le=600)
    SMSBOT_SQLITE_BUSY_SECONDS: float = Field(default=30.0, gt=0, le=600)
    HOST: str = "0.0.0.0"  # noqa: S104 - the documented default for HTTP mode in a container
    PORT: int = Field(default=3000, ge=0, le=65535)
    M2M_API_URL: str = DEFAULT_PORTAL_URL
    M2M_API_ID: SecretStr | None = None
    M2M_USERNAME: SecretStr | None = None
    M2M_PASSWORD: SecretStr | None = None
    SMSBOT_PORTAL: Literal["live", "sandbox"] | None = None
    SMSBOT_ADMINS: str = ""
    SMSBOT_APPROVAL_CHANNEL: str | None = None
    SMSBOT_RECEIPT_PASSPHRASE: SecretStr | None = None
    #: Signs audit checkpoints; kept out of the database (a file via SMSBOT_AUDIT_KEY_FILE).
    SMSBOT_AUDIT_KEY: SecretStr | None = None
    #: A Slack channel every checkpoint is also posted to (a copy outside the database).
    SMSBOT_AUDIT_CHANNEL: str | None = None
    SMSBOT_RECEIPTS: Literal["on", "off"] = "on"
    SMSBOT_APPROVAL_TTL_MINUTES: int = Field(default=60, ge=1, le=7 * 24 * 60)
    SMSBOT_PORTAL_CONNECT_TIMEOUT: float = Field(default=5.0, gt=0, le=120)
    SMSBOT_PORTAL_READ_TIMEOUT: float = Field(default=20.0, gt=0, le=600)
    SMSBOT_PORTAL_DEADLINE: float = Field(default=30.0, gt=0, le=600)
    # The request lifecycle (bot.lifecycle, docs/decisions.md "Lifecycle").
    #: A request left `recorded`/`approved` (a crash) is still sent if younger than this, else
    #: it is `abandoned` and the requester told: a command sent hours late can do harm.
    SMSBOT_RECOVER_CUTOFF_MINUTES: float = Field(default=10.0, gt=0, le=24 * 60)
    #: An `unknown` outcome not found in the portal's SMS log this long after sending is
    #: `not_sent`.
    SMSBOT_RECONCILE_GRACE_MINUTES: float = Field(default=10.0, gt=0, le=7 * 24 * 60)
    #: Delivery polls after sending (the last interval repeats) until final or the give-up age.
    SMSBOT_POLL_SCHEDULE: str = "1m,5m,15m,60m"
    SMSBOT_DELIVERY_GIVE_UP_HOURS: float = Field(default=72.0, gt=0, le=24 * 30)
    #: Messages waiting for delivery a SIM type's operator queues per SIM, `TYPE=N;TYPE=N`.
    SMSBOT_QUEUE_CAPS: str = "Multinet KPN C=60"
    #: The built-in sandbox: seconds until an online SIM's message is delivered, and where it
    #: pushes delivery receipts (unset: it pushes none; `smsbot serve` pushes to itself).
    SMSBOT_SANDBOX_DELIVER_SECONDS: float = Field(default=5.0, ge=0, le=24 * 3600)
    SMSBOT_SANDBOX_RECEIPTS_URL: str | None = None
    SMSBOT_SANDBOX_RECEIPTS: Literal["on", "off"] = "off"
    #: `off`: `smsbot serve` runs no background jobs (they run in `smsbot worker` processes).
    SMSBOT_SERVE_JOBS: Literal["on", "off"] = "on"
    #: Guard rails (bot.rate_limits): requests per user and per SIM in a sliding window.
    SMSBOT_RATE_USER: str = "20/h"
    SMSBOT_RATE_SIM: str = "5/10m"
    #: Fleet sends (bot.batches): SIMs of one batch on their way to the portal at once.
    SMSBOT_BATCH_CONCURRENCY: int = Field(default=8, ge=1, le=16)

    @model_validator(mode="before")
    @classmethod
    def _read_secret_files(cls, data: Any) -> Any:
        # pydantic-settings has no `<NAME>_FILE` convention. The file is read only when the value
        # itself is not given, so explicit keyword overrides (tests) still win.
        if not isinstance(data, dict):
            return data
        for name in SECRET_FILE_VARIABLES:
            path = os.environ.get(f"{name}_FILE")
            if path and not data.get(name):
                try:
                    data[name] = Path(path).read_text(encoding="utf-8").strip()
                except OSError as exc:
                    raise ValueError(
                        f"{name}_FILE: cannot read the file ({exc.strerror})"
                    ) from None
        return data

    @field_validator("DATABASE_URL")
    @classmethod
    def _database_url(cls, value: str) -> str:
        return normalize_database_url(value)

    @field_validator("SMSBOT_AUDIT_KEY")
    @classmethod
    def _audit_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().encode("utf-8")) < 32:
            raise ValueError("must be at least 32 bytes (e.g. `openssl rand -hex 32`)")
        return value

    @field_validator("SMSBOT_RATE_USER", "SMSBOT_RATE_SIM")
    @classmethod
    def _rate(cls, value: str) -> str:
        parse_rate(value)
        return value

    @field_validator("SMSBOT_POLL_SCHEDULE")
    @classmethod
    def _schedule(cls, value: str) -> str:
        parse_schedule(value)
        return value

    @field_validator("SMSBOT_QUEUE_CAPS")
    @classmethod
    def _caps(cls, value: str) -> str:
        parse_caps(value)
        return value

    @field_validator("SLACK_API_URL", "M2M_API_URL")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator("SMSBOT_ADMINS")
    @classmethod
    def _admins(cls, value: str) -> str:
        for item in _split_ids(value):
            if not (item[:1] in ("U", "W") and item[1:].isalnum() and item.isupper()):
                raise ValueError("must be a comma-separated list of Slack user IDs (U… or W…)")
        return value

    @field_validator("SLACK_TEAM_ID")
    @classmethod
    def _team(cls, value: str | None) -> str | None:
        if value and not (value[:1] in ("T", "E") and value.isascii() and value[1:].isalnum()):
            raise ValueError("must be a Slack workspace ID (T…) or Enterprise Grid org ID (E…)")
        return value or None

    @field_validator("SLACK_APP_ID")
    @classmethod
    def _app(cls, value: str | None) -> str | None:
        if value and not (value[:1] == "A" and value.isascii() and value[1:].isalnum()):
            raise ValueError("must be a Slack app ID (A…)")
        return value or None

    @field_validator("SMSBOT_APPROVAL_CHANNEL", "SMSBOT_AUDIT_CHANNEL")
    @classmethod
    def _channel(cls, value: str | None) -> str | None:
        if value and not (value[:1] in ("C", "G") and value[1:].isalnum()):
            raise ValueError("must be a Slack channel ID (C… or G…)")
        return value or None

    @model_validator(mode="after")
    def _live_needs_credentials(self) -> Settings:
        names = ("M2M_API_ID", "M2M_USERNAME", "M2M_PASSWORD")
        given = [name for name in names if getattr(self, name) is not None]
        missing = [name for name in names if name not in given]
        if self.SMSBOT_PORTAL == "live" and missing:
            raise ValueError(f"{missing[0]}: required when SMSBOT_PORTAL=live")
        if given and missing and self.SMSBOT_PORTAL != "sandbox":
            # Some credentials but not all is a mistake, not a wish for the sandbox: sending
            # "for real" into the sandbox would report messages accepted that never went out.
            raise ValueError(
                f"{missing[0]}: required with {', '.join(given)} (set all three portal "
                "credentials, or SMSBOT_PORTAL=sandbox)"
            )
        return self

    @property
    def admins(self) -> frozenset[str]:
        """Slack user IDs that are admins from the first start."""
        return frozenset(_split_ids(self.SMSBOT_ADMINS))

    @property
    def portal_mode(self) -> Literal["live", "sandbox"]:
        """`sandbox` when no portal credentials are set, unless SMSBOT_PORTAL says otherwise."""
        if self.SMSBOT_PORTAL is not None:
            return self.SMSBOT_PORTAL
        has_credentials = all(
            v is not None for v in (self.M2M_API_ID, self.M2M_USERNAME, self.M2M_PASSWORD)
        )
        return "live" if has_credentials else "sandbox"

    @property
    def poll_schedule(self) -> list[timedelta]:
        return parse_schedule(self.SMSBOT_POLL_SCHEDULE)

    @property
    def rate_user(self) -> Rate | None:
        return parse_rate(self.SMSBOT_RATE_USER)

    @property
    def rate_sim(self) -> Rate | None:
        return parse_rate(self.SMSBOT_RATE_SIM)

    @property
    def queue_caps(self) -> dict[str, int]:
        return parse_caps(self.SMSBOT_QUEUE_CAPS)


_UNITS = {"s": 1, "m": 60, "h": 3600}


def parse_duration(text: str) -> timedelta:
    """`90s`, `5m`, `1h`: a positive duration."""
    text = text.strip().lower()
    unit = _UNITS.get(text[-1:])
    number = text[:-1]
    if unit is None or not number.isascii() or not number.isdigit() or int(number) == 0:
        raise ValueError(f"{text!r} is not a duration such as 30s, 5m or 1h")
    return timedelta(seconds=int(number) * unit)


def parse_schedule(value: str) -> list[timedelta]:
    """`1m,5m,15m,60m`: intervals between delivery polls (the last one repeats)."""
    parts = [p for p in value.split(",") if p.strip()]
    if not parts:
        raise ValueError("must list at least one interval, e.g. 1m,5m,15m,60m")
    try:
        return [parse_duration(p) for p in parts]
    except ValueError as exc:
        raise ValueError(f"must be intervals such as 1m,5m,15m,60m ({exc})") from None


def parse_caps(value: str) -> dict[str, int]:
    """`Multinet KPN C=60;Other Type=10`: the queue cap per SIM type (case-insensitive)."""
    caps: dict[str, int] = {}
    for part in value.split(";"):
        if not part.strip():
            continue
        name, sep, number = part.rpartition("=")
        number = number.strip()
        if not sep or not name.strip() or not number.isascii() or not number.isdigit():
            raise ValueError("must be TYPE=N pairs separated by ';', e.g. Multinet KPN C=60")
        caps[" ".join(name.split()).casefold()] = int(number)
    return caps


_RATE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Rate:
    limit: int
    window: timedelta
    text: str

    def __str__(self) -> str:
        return self.text

    @property
    def window_text(self) -> str:
        """`10m` of `5/10m`."""
        return self.text.split("/", 1)[1]


def parse_rate(text: str) -> Rate | None:
    """`20/h`, `5/10m`, `100/d`; `off` → None. ValueError says what is accepted."""
    value = text.strip().lower()
    if value in ("off", "none", ""):
        return None
    count, sep, per = value.partition("/")
    unit = per[-1:]
    amount = per[:-1] or "1"
    if (
        not sep
        or not count.isascii()
        or not count.isdigit()
        or int(count) == 0
        or unit not in _RATE_UNITS
        or not amount.isascii()
        or not amount.isdigit()
        or int(amount) == 0
    ):
        raise ValueError("must be N/UNIT such as 20/h, 5/10m, 100/d (or off)")
    return Rate(int(count), timedelta(seconds=int(amount) * _RATE_UNITS[unit]), value)


def secret_value(value: SecretStr | None) -> str | None:
    """The plain value of an optional secret setting (only ever handed to the API that needs
    it, never logged)."""
    return value.get_secret_value() if value is not None else None


def _split_ids(value: str) -> list[str]:
    return [part.strip() for part in value.replace(" ", ",").split(",") if part.strip()]


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the environment; raise ConfigError naming the first bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        location = ".".join(str(part) for part in first["loc"]) or "configuration"
        message = str(first["msg"]).removeprefix("Value error, ")
        if ":" in message and message.split(":", 1)[0].isupper():
            raise ConfigError(message) from None
        raise ConfigError(f"{location}: {message}") from None
