"""`sms_uid`: the client's trace id for a message (at most 12 ASCII letters/digits)."""

from __future__ import annotations

import secrets
import string

from bot.sms.problems import Problem

MAX_UID_LENGTH = 12
_ALPHABET = string.ascii_letters + string.digits
_ALLOWED = frozenset(_ALPHABET)


def generate_sms_uid() -> str:
    """A random 12-character uid (62^12 ≈ 3·10^21: collisions are left to the unique index)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(MAX_UID_LENGTH))


def check_sms_uid(raw: str | None) -> tuple[str | None, list[Problem]]:
    """The uid to use (None: generate one) and what is wrong with the one given."""
    if raw is None or raw.strip() == "":
        return None, []
    uid = raw.strip()
    if len(uid) > MAX_UID_LENGTH:
        return uid, [
            Problem(
                "sms_uid",
                "too_long",
                f"{len(uid)}/{MAX_UID_LENGTH} characters: shorten the SMS uid, or leave it empty "
                "to have one generated.",
            )
        ]
    if not set(uid) <= _ALLOWED:
        return uid, [
            Problem(
                "sms_uid",
                "not_alphanumeric",
                "The SMS uid may hold only letters A–Z, a–z and digits 0–9.",
            )
        ]
    return uid, []
