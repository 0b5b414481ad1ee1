"""What validation reports: errors refuse a request, warnings need the user's confirmation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]
#: The fields of the send form (SPEC.md block ids), plus `request` for whole-request problems.
Field = Literal[
    "iccid",
    "message_text",
    "data_coding",
    "origin",
    "sms_uid",
    "request",
    "template",
    "template_vars",
]


@dataclass(frozen=True)
class Problem:
    """One finding about one field, worded for a tired person: what is wrong and how to fix it."""

    field: Field
    code: str
    message: str
    severity: Severity = "error"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


def errors(problems: list[Problem]) -> list[Problem]:
    """The problems that refuse the request."""
    return [p for p in problems if p.is_error]


def warnings(problems: list[Problem]) -> list[Problem]:
    """The problems the user must confirm before anything is sent."""
    return [p for p in problems if not p.is_error]
