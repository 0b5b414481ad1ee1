"""Configuration from the environment (names and defaults from SPEC.md).

Settings are validated once at start. A bad value stops the program with one line that names the
variable; the offending value itself is never echoed, because it may be a secret.

Read by hand over a frozen dataclass, not pydantic-settings: importing that and building its model
took about 0.13 s of the CLI's start (issue 10), for a flat list of strings and numbers. Each field
declares its default and the parser that checks it (bot.config_values).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, cast

from bot.config_values import (
    ConfigError,
    Secret,
    channel_id,
    checked,
    http_url,
    number,
    one_of,
    secret,
    setting,
    slack_id,
    split_ids,
    text,
    user_ids,
    whole,
)
from bot.store.urls import normalize_database_url

__all__ = ["ConfigError", "Rate", "Secret", "Settings", "load_settings", "secret_value"]

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
    except ValueError:
        # Not the parser's message: it quotes the value, and settings are never echoed.
        raise ValueError(
            "must be intervals such as 1m,5m,15m,60m (a whole number, then s, m or h)"
        ) from None


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


def secret_value(value: Secret | None) -> str | None:
    """The plain value of an optional secret setting (only ever handed to the API that needs
    it, never logged)."""
    return value.get_secret_value() if value is not None else None


def _audit_key(value: str) -> Secret:
    if len(value.encode("utf-8")) < 32:
        raise ValueError("must be at least 32 bytes (e.g. `openssl rand -hex 32`)")
    return Secret(value)


@dataclass(frozen=True)
class Settings:
    """Everything the bot reads from its environment."""

    DATABASE_URL: str = setting(DEFAULT_DATABASE_URL, normalize_database_url)
    SLACK_BOT_TOKEN: Secret | None = setting(None, secret)
    SLACK_SIGNING_SECRET: Secret | None = setting(None, secret)
    SLACK_APP_TOKEN: Secret | None = setting(None, secret)
    SLACK_API_URL: str = setting("https://slack.com/api/", http_url)
    SLACK_TEAM_ID: str | None = setting(
        None, slack_id("TE", "a Slack workspace ID (T…) or Enterprise Grid org ID (E…)")
    )
    SLACK_APP_ID: str | None = setting(None, slack_id("A", "a Slack app ID (A…)"))
    SMSBOT_SOCKET_GRACE_SECONDS: float = setting(15.0, number(ge=0, le=600))
    SMSBOT_SHUTDOWN_GRACE_SECONDS: float = setting(8.0, number(ge=0, le=600))
    SMSBOT_SQLITE_BUSY_SECONDS: float = setting(30.0, number(gt=0, le=600))
    HOST: str = setting("0.0.0.0", text)  # noqa: S104 - the documented default in a container
    PORT: int = setting(3000, whole(0, 65535))
    M2M_API_URL: str = setting(DEFAULT_PORTAL_URL, http_url)
    M2M_API_ID: Secret | None = setting(None, secret)
    M2M_USERNAME: Secret | None = setting(None, secret)
    M2M_PASSWORD: Secret | None = setting(None, secret)
    SMSBOT_PORTAL: Literal["live", "sandbox"] | None = setting(None, one_of("live", "sandbox"))
    SMSBOT_ADMINS: str = setting("", user_ids)
    SMSBOT_APPROVAL_CHANNEL: str | None = setting(None, channel_id)
    SMSBOT_RECEIPT_PASSPHRASE: Secret | None = setting(None, secret)
    #: Signs audit checkpoints; kept out of the database (a file via SMSBOT_AUDIT_KEY_FILE).
    SMSBOT_AUDIT_KEY: Secret | None = setting(None, _audit_key)
    #: A Slack channel every checkpoint is also posted to (a copy outside the database).
    SMSBOT_AUDIT_CHANNEL: str | None = setting(None, channel_id)
    SMSBOT_RECEIPTS: Literal["on", "off"] = setting("on", one_of("on", "off"))
    SMSBOT_APPROVAL_TTL_MINUTES: int = setting(60, whole(1, 7 * 24 * 60))
    SMSBOT_PORTAL_CONNECT_TIMEOUT: float = setting(5.0, number(gt=0, le=120))
    SMSBOT_PORTAL_READ_TIMEOUT: float = setting(20.0, number(gt=0, le=600))
    SMSBOT_PORTAL_DEADLINE: float = setting(30.0, number(gt=0, le=600))
    # The request lifecycle (bot.lifecycle, docs/decisions.md "Lifecycle").
    #: A request left `recorded`/`approved` (a crash) is still sent if younger than this, else
    #: it is `abandoned` and the requester told: a command sent hours late can do harm.
    SMSBOT_RECOVER_CUTOFF_MINUTES: float = setting(10.0, number(gt=0, le=24 * 60))
    #: An `unknown` outcome not found in the portal's SMS log this long after sending is
    #: `not_sent`.
    SMSBOT_RECONCILE_GRACE_MINUTES: float = setting(10.0, number(gt=0, le=7 * 24 * 60))
    #: Delivery polls after sending (the last interval repeats) until final or the give-up age.
    SMSBOT_POLL_SCHEDULE: str = setting("1m,5m,15m,60m", checked(parse_schedule))
    SMSBOT_DELIVERY_GIVE_UP_HOURS: float = setting(72.0, number(gt=0, le=24 * 30))
    #: Messages waiting for delivery a SIM type's operator queues per SIM, `TYPE=N;TYPE=N`.
    SMSBOT_QUEUE_CAPS: str = setting("Multinet KPN C=60", checked(parse_caps))
    #: The built-in sandbox: seconds until an online SIM's message is delivered, and where it
    #: pushes delivery receipts (unset: it pushes none; `smsbot serve` pushes to itself).
    SMSBOT_SANDBOX_DELIVER_SECONDS: float = setting(5.0, number(ge=0, le=24 * 3600))
    SMSBOT_SANDBOX_RECEIPTS_URL: str | None = setting(None, text)
    SMSBOT_SANDBOX_RECEIPTS: Literal["on", "off"] = setting("off", one_of("on", "off"))
    #: `off`: `smsbot serve` runs no background jobs (they run in `smsbot worker` processes).
    SMSBOT_SERVE_JOBS: Literal["on", "off"] = setting("on", one_of("on", "off"))
    #: Guard rails (bot.rate_limits): requests per user and per SIM in a sliding window.
    SMSBOT_RATE_USER: str = setting("20/h", checked(parse_rate))
    SMSBOT_RATE_SIM: str = setting("5/10m", checked(parse_rate))
    #: Fleet sends (bot.batches): SIMs of one batch on their way to the portal at once.
    SMSBOT_BATCH_CONCURRENCY: int = setting(8, whole(1, 16))

    def _check(self) -> None:
        names = ("M2M_API_ID", "M2M_USERNAME", "M2M_PASSWORD")
        given = [name for name in names if getattr(self, name) is not None]
        missing = [name for name in names if name not in given]
        if self.SMSBOT_PORTAL == "live" and missing:
            raise ConfigError(f"{missing[0]}: required when SMSBOT_PORTAL=live")
        if given and missing and self.SMSBOT_PORTAL != "sandbox":
            # Some credentials but not all is a mistake, not a wish for the sandbox: sending
            # "for real" into the sandbox would report messages accepted that never went out.
            raise ConfigError(
                f"{missing[0]}: required with {', '.join(given)} (set all three portal "
                "credentials, or SMSBOT_PORTAL=sandbox)"
            )

    @property
    def admins(self) -> frozenset[str]:
        """Slack user IDs that are admins from the first start."""
        return frozenset(split_ids(self.SMSBOT_ADMINS))

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


def _raw_values(overrides: dict[str, Any]) -> dict[str, Any]:
    """Keyword overrides (tests) first, then the environment, then `<NAME>_FILE` for secrets
    given neither way: the file never beats an explicit value."""
    values: dict[str, Any] = {}
    for item in dataclasses.fields(Settings):
        name = item.name
        if name in overrides:
            values[name] = overrides[name]
        elif name in os.environ:
            values[name] = os.environ[name]
    for name in SECRET_FILE_VARIABLES:
        path = os.environ.get(f"{name}_FILE")
        if path and not values.get(name):
            try:
                values[name] = Path(path).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"{name}_FILE: cannot read the file ({exc.strerror})") from None
    return values


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the environment; raise ConfigError naming the first bad variable."""
    unknown = sorted(set(overrides) - {item.name for item in dataclasses.fields(Settings)})
    if unknown:
        raise TypeError(f"not a setting: {', '.join(unknown)}")
    parsed: dict[str, Any] = {}
    for name, value in _raw_values(overrides).items():
        if value is None:
            parsed[name] = None
            continue
        parse = cast("Any", Settings.__dataclass_fields__[name].metadata["parse"])
        try:
            parsed[name] = parse(str(value))
        except ValueError as exc:
            raise ConfigError(f"{name}: {exc}") from None
    settings = Settings(**parsed)
    settings._check()
    return settings
