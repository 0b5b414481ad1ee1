"""ICCID normalisation and checks (ITU-T E.118)."""

from __future__ import annotations

from bot.sms.problems import Problem

MIN_DIGITS = 18
MAX_DIGITS = 22


def normalize_iccid(raw: str) -> str:
    """Strip the spaces and dashes people paste from labels and spreadsheets."""
    return "".join(ch for ch in raw.strip() if ch not in " -\t")


def luhn_ok(digits: str) -> bool:
    """True when the last digit is the Luhn check digit of the others."""
    total = 0
    for index, ch in enumerate(reversed(digits)):
        value = ord(ch) - 48
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def check_iccid(raw: str) -> tuple[str, list[Problem]]:
    """The normalised ICCID and what is wrong with it.

    A failing Luhn digit or a missing `89` prefix is a warning, not a refusal: some operators
    issue ICCIDs without a check digit, and the portal's own example fails Luhn.
    """
    iccid = normalize_iccid(raw)
    if iccid == "":
        return iccid, [Problem("iccid", "empty", "Enter the SIM's ICCID (18–22 digits).")]
    if not (iccid.isascii() and iccid.isdigit()):
        bad = sorted({ch for ch in iccid if not (ch.isascii() and ch.isdigit())})
        shown = " ".join(f"`{ch}`" for ch in bad[:5])
        return iccid, [
            Problem(
                "iccid",
                "not_digits",
                f"An ICCID has digits only; remove {shown} (spaces and dashes are fine).",
            )
        ]
    if not MIN_DIGITS <= len(iccid) <= MAX_DIGITS:
        return iccid, [
            Problem(
                "iccid",
                "length",
                f"{len(iccid)} digits: an ICCID has {MIN_DIGITS}–{MAX_DIGITS}. "
                "Copy it again from the SIM inventory.",
            )
        ]
    problems: list[Problem] = []
    if not iccid.startswith("89"):
        problems.append(
            Problem(
                "iccid",
                "prefix",
                "This ICCID does not start with 89 (telecom): check it is a SIM number.",
                "warning",
            )
        )
    if not luhn_ok(iccid):
        problems.append(
            Problem(
                "iccid",
                "luhn",
                "The last digit is not a valid Luhn check digit: check for a typo.",
                "warning",
            )
        )
    return iccid, problems
