"""GSM 03.38 (3GPP TS 23.038) default alphabet rules for `message_text`.

The character table comes from the `gsm0338` codec; this module adds what the portal needs on top:
septet counting against the 160 limit, naming every refused character with its position and a
suggested replacement, and never rewriting text unless the caller asks for the suggestion.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import gsm0338  # noqa: F401 - registers the "gsm03.38" codec

from bot.sms.problems import Problem

MAX_SEPTETS = 160
_CODEC = "gsm03.38"
#: ESC is the extension-table prefix, not a character a user can send. Form feed is in the
#: extension table, but XML 1.0 cannot carry it (not even as &#12;), so it cannot reach the portal.
_NOT_SENDABLE = {"\x1b", "\x0c"}

#: Look-alikes that word processors and phones substitute, and what to type instead.
_SUGGESTIONS: dict[str, str] = {
    "\u2019": "'",  # right single quotation mark
    "\u2018": "'",  # left single quotation mark
    "\u201a": "'",
    "\u2032": "'",
    "`": "'",
    "\u00b4": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u2033": '"',
    "\u00ab": '"',
    "\u00bb": '"',
    "\u2013": "-",  # en dash
    "\u2014": "-",  # em dash
    "\u2012": "-",
    "\u2212": "-",
    "\u2010": "-",
    "\u2011": "-",
    "\u2026": "...",
    "\u00a0": " ",  # no-break space
    "\u202f": " ",
    "\u2007": " ",
    "\u2009": " ",
    "\u200a": " ",
    "\t": " ",
    "\u2022": "*",
}


@dataclass(frozen=True)
class SeptetCount:
    """How much of the 160-septet budget a text uses, and which characters cost two."""

    septets: int
    double_chars: tuple[str, ...]

    @property
    def over_by(self) -> int:
        return max(0, self.septets - MAX_SEPTETS)


@lru_cache(maxsize=512)
def char_septets(ch: str) -> int | None:
    """1 for the default alphabet, 2 for the extension table, None when it cannot be sent."""
    if ch in _NOT_SENDABLE:
        return None
    try:
        return len(ch.encode(_CODEC))
    except UnicodeEncodeError:
        return None


def suggestion_for(ch: str) -> str | None:
    """A GSM-alphabet replacement for `ch`, or None when there is nothing sensible to offer."""
    if ch in _SUGGESTIONS:
        return _SUGGESTIONS[ch]
    # Accented letters outside the alphabet: offer the bare letter when that is sendable (ç → c).
    base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    if base and base != ch and all(char_septets(c) is not None for c in base):
        return base
    return None


def count_septets(text: str) -> SeptetCount:
    """Septets the text needs; characters that cannot be sent are not counted."""
    total = 0
    doubles: list[str] = []
    for ch in text:
        cost = char_septets(ch)
        if cost is None:
            continue
        total += cost
        if cost == 2 and ch not in doubles:
            doubles.append(ch)
    return SeptetCount(total, tuple(doubles))


def _describe(ch: str) -> str:
    if ch == "\x0c":
        return "form feed"
    if ch.isprintable() and not ch.isspace():
        return f"`{ch}`"
    name = unicodedata.name(ch, "")
    return f"U+{ord(ch):04X}" + (f" ({name.lower()})" if name else "")


def _positions(positions: Iterable[int]) -> str:
    shown = [str(p) for p in list(positions)[:5]]
    more = len(list(positions)) - len(shown)
    text = ", ".join(shown)
    return text + (f" and {more} more" if more > 0 else "")


def check_text(text: str) -> list[Problem]:
    """Every reason `text` cannot go out as a default-coded SMS, in the order a user would fix."""
    if text == "":
        return [Problem("message_text", "empty", "The message is empty: type the text to send.")]
    problems: list[Problem] = []
    bad: dict[str, list[int]] = {}
    for index, ch in enumerate(text, start=1):
        if char_septets(ch) is None:
            bad.setdefault(ch, []).append(index)
    for ch, where in bad.items():
        at = f"at position {_positions(where)}"
        category = unicodedata.category(ch)
        fix = suggestion_for(ch)
        if category.startswith("C") and fix is None:
            problems.append(
                Problem(
                    "message_text",
                    "control_character",
                    f"Control character {_describe(ch)} {at} cannot be sent: remove it.",
                )
            )
        elif fix is not None:
            problems.append(
                Problem(
                    "message_text",
                    "not_gsm",
                    f"{_describe(ch)} {at} is not in the GSM alphabet: use `{fix}`.",
                )
            )
        else:
            problems.append(
                Problem(
                    "message_text",
                    "not_gsm",
                    f"{_describe(ch)} {at} is not in the GSM alphabet and has no equivalent: "
                    "remove it.",
                )
            )
    # Count the text as it will be once the suggested fixes are made, so the figure the user
    # sees is the one that matters after fixing the characters above.
    count = count_septets(apply_suggestions(text)[0] if bad else text)
    if count.over_by:
        doubles = ""
        if count.double_chars:
            listed = " and ".join(
                f"`{c}`" if c != "\x0c" else "form feed" for c in count.double_chars
            )
            verb = "count" if len(count.double_chars) > 1 else "counts"
            doubles = f" — {listed} {verb} as two"
        problems.append(
            Problem(
                "message_text",
                "too_long",
                f"{count.septets}/{MAX_SEPTETS}{doubles}: shorten the message by "
                f"{count.over_by} character{'s' if count.over_by > 1 else ''}.",
            )
        )
    return problems


def apply_suggestions(text: str) -> tuple[str, list[str]]:
    """Text with every suggested replacement made, and a note per distinct replacement.

    Only for when the user asked for it: the caller shows the notes as warnings to confirm.
    """
    out: list[str] = []
    notes: list[str] = []
    for ch in text:
        fix = suggestion_for(ch) if char_septets(ch) is None else None
        if fix is None:
            out.append(ch)
            continue
        out.append(fix)
        note = f"{_describe(ch)} → `{fix}`"
        if note not in notes:
            notes.append(note)
    return "".join(out), notes
