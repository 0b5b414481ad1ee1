"""The pieces bot.config declares its settings with: a secret that never prints, and one parser
per kind of value. A parser takes the variable's text and returns the value or raises ValueError
saying what is accepted, never echoing what was given (it may be a secret)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any


class ConfigError(Exception):
    """A configuration value is missing or malformed; the message names the variable only."""


class Secret:
    """A secret setting: its text only through `get_secret_value()`, never in repr or str."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


Parse = Callable[[str], Any]


def setting(default: Any, parse: Parse) -> Any:
    """A dataclass field with its default and the parser bot.config.load_settings applies to the
    environment's text (the default itself is trusted as written)."""
    return dataclasses.field(default=default, metadata={"parse": parse})


def text(value: str) -> str:
    return value


def secret(value: str) -> Secret:
    return Secret(value)


def number(
    *, ge: float | None = None, gt: float | None = None, le: float | None = None
) -> Callable[[str], float]:
    """A finite decimal number within bounds."""
    low = f"at least {ge:g}" if ge is not None else f"more than {gt:g}" if gt is not None else ""
    high = f"at most {le:g}" if le is not None else ""
    wanted = "must be a number" + (f" {low}" if low else "") + (f" and {high}" if high else "")

    def parse(value: str) -> float:
        try:
            result = float(value.strip())
        except ValueError:
            raise ValueError(wanted) from None
        if (
            not math.isfinite(result)
            or (ge is not None and result < ge)
            or (gt is not None and result <= gt)
            or (le is not None and result > le)
        ):
            raise ValueError(wanted)
        return result

    return parse


def whole(low: int, high: int) -> Callable[[str], int]:
    """A whole number from low to high."""
    wanted = f"must be a whole number from {low} to {high}"

    def parse(value: str) -> int:
        digits = value.strip()
        if not digits.isascii() or not digits.lstrip("+-").isdigit():
            raise ValueError(wanted)
        result = int(digits)
        if not low <= result <= high:
            raise ValueError(wanted)
        return result

    return parse


def one_of(*choices: str) -> Callable[[str], str]:
    wanted = "must be " + " or ".join(choices)

    def parse(value: str) -> str:
        if value not in choices:
            raise ValueError(wanted)
        return value

    return parse


def checked(check: Callable[[str], object]) -> Callable[[str], str]:
    """The text itself, once `check` (which raises ValueError) accepts it."""

    def parse(value: str) -> str:
        check(value)
        return value

    return parse


def http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return value


def slack_id(prefixes: str, what: str) -> Callable[[str], str | None]:
    """A Slack ID starting with one of `prefixes`; empty means unset."""

    def parse(value: str) -> str | None:
        if value and not (value[:1] in prefixes and value.isascii() and value[1:].isalnum()):
            raise ValueError(f"must be {what}")
        return value or None

    return parse


#: A channel (C…) or private channel (G…) ID; empty means unset.
channel_id = slack_id("CG", "a Slack channel ID (C… or G…)")


def split_ids(value: str) -> list[str]:
    """`U1, U2 U3` → the IDs, whatever the separators."""
    return [part.strip() for part in value.replace(" ", ",").split(",") if part.strip()]


def user_ids(value: str) -> str:
    """A comma- or space-separated list of Slack user IDs."""
    for item in split_ids(value):
        if not (item[:1] in ("U", "W") and item[1:].isalnum() and item.isupper()):
            raise ValueError("must be a comma-separated list of Slack user IDs (U… or W…)")
    return value
