"""Binary payloads (`data_coding=binary`): strict base64 of at most 120 bytes."""

from __future__ import annotations

import base64
import binascii
import re

from bot.sms.problems import Problem

MAX_BINARY_BYTES = 120
MAX_BASE64_CHARS = 160
_BASE64 = re.compile(r"\A(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?\Z")


def decode_payload(text: str) -> bytes | None:
    """The decoded bytes of canonical, padded base64; None for anything else."""
    if not _BASE64.match(text):
        return None
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    # Reject non-canonical encodings (stray bits in the last character) so the text is unambiguous.
    if base64.b64encode(data).decode("ascii") != text:
        return None
    return data


def payload_hex(text: str, coding: str) -> str | None:
    """A binary payload as hex, for people reading the records (None for text)."""
    if coding != "binary":
        return None
    data = decode_payload(text)
    return data.hex() if data is not None else None


def check_binary(text: str) -> list[Problem]:
    """Why `text` is not a sendable binary payload, if it is not."""
    if text == "":
        return [
            Problem(
                "message_text",
                "empty",
                "The binary payload is empty: give it as base64 (bytes 00 01 ff → `AAH/`).",
            )
        ]
    data = decode_payload(text)
    if data is not None and len(data) > MAX_BINARY_BYTES:
        return [
            Problem(
                "message_text",
                "too_long",
                f"{len(data)}/{MAX_BINARY_BYTES} bytes: remove {len(data) - MAX_BINARY_BYTES}.",
            )
        ]
    if len(text) > MAX_BASE64_CHARS:
        return [
            Problem(
                "message_text",
                "too_long",
                f"{len(text)}/{MAX_BASE64_CHARS} characters: the portal takes at most "
                f"{MAX_BASE64_CHARS} base64 characters ({MAX_BINARY_BYTES} bytes).",
            )
        ]
    if data is None:
        return [
            Problem(
                "message_text",
                "bad_base64",
                "Binary payloads must be standard base64 with padding and no spaces "
                "(A–Z a–z 0–9 + /, length a multiple of 4): e.g. bytes 00 01 ff fe 80 7f are "
                "`AAH//oB/`.",
            )
        ]
    return []
