"""Text from anywhere made safe to store, print and export — losing nothing silently.

- `storable`: what PostgreSQL and the row hash cannot take (NUL, lone surrogates) replaced by a
  visible escape (`\\x00`, `\\ud800`); SQLite and PostgreSQL then store the same characters.
- `capped`: long text cut with its original length and the SHA-256 of the whole, so a refused
  attempt is recorded however large it was, at a bounded cost.
- `for_terminal`: control characters (C0, C1, DEL, bidirectional overrides) as escapes, so text
  typed by someone cannot move the cursor, recolour or hide lines on an operator's terminal.
- `for_csv_cell`: a cell a spreadsheet would run as a formula (`= + - @`, tab, CR) is prefixed
  with `'`.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")
#: C0 (newline included: one row is one line), DEL, C1, and the bidirectional controls.
_TERMINAL_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def storable(text: str) -> str:
    return _UNSTORABLE.sub(_escape, text) if _UNSTORABLE.search(text) else text


def capped(text: str, limit: int) -> str:
    """`text` (made storable) of at most about `limit` characters; a cut one says how long the
    whole was and carries its digest."""
    text = storable(text)
    if len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{text[:limit]}…[{len(text)} chars, sha256 {digest}]"


#: A list in a row's details keeps this many items and counts the rest (3,000 refused characters
#: make one line each otherwise).
LIST_LIMIT = 50


def clean_value(value: Any, limit: int) -> Any:
    """Every string in a JSON-like value made storable and capped at `limit` characters, every
    list cut at LIST_LIMIT items with a count of the rest."""
    if isinstance(value, str):
        return capped(value, limit)
    if isinstance(value, dict):
        return {capped(str(k), 200): clean_value(v, limit) for k, v in value.items()}
    if isinstance(value, list | tuple):
        kept = [clean_value(v, limit) for v in value[:LIST_LIMIT]]
        if len(value) > LIST_LIMIT:
            kept.append({"more": len(value) - LIST_LIMIT})
        return kept
    return value


def for_terminal(text: str) -> str:
    return _TERMINAL_UNSAFE.sub(_escape, text) if _TERMINAL_UNSAFE.search(text) else text


def for_csv_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value
