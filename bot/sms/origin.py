"""`origin`: a custom originating number (acts on Manx Telecom SIMs only)."""

from __future__ import annotations

from bot.sms.problems import Problem

MAX_ORIGIN_DIGITS = 15  # E.164


def check_origin(raw: str | None) -> tuple[str | None, list[Problem]]:
    """The origin to send (None: let the portal choose) and what is wrong with it."""
    if raw is None or raw.strip() == "":
        return None, []
    origin = raw.strip()
    if origin.startswith("+"):
        return origin, [
            Problem(
                "origin",
                "plus",
                f"Give the origin as digits only, without `+`: `{origin[1:]}`.",
            )
        ]
    if not (origin.isascii() and origin.isdigit()):
        return origin, [
            Problem(
                "origin",
                "not_digits",
                "The origin is a phone number: digits only, e.g. 447890123456.",
            )
        ]
    if len(origin) > MAX_ORIGIN_DIGITS:
        return origin, [
            Problem(
                "origin",
                "too_long",
                f"{len(origin)}/{MAX_ORIGIN_DIGITS} digits: an origin number has at most "
                f"{MAX_ORIGIN_DIGITS}.",
            )
        ]
    return origin, []
