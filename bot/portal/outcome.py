"""The one outcome a send has: accepted, rejected (with a category) or unknown."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

OutcomeStatus = Literal["accepted", "rejected", "unknown"]
RejectCategory = Literal[
    "credentials",
    "unknown_sim",
    "invalid_parameter",
    "not_permitted_for_sim_type",
    "permissions",
    "operator_queue_full",
    "other",
]

# The portal does not publish error codes, so the category is read from its words. Order matters:
# the most specific cause first ("queue limit … rejected by operator" before anything generic).
_CATEGORY_PATTERNS: list[tuple[RejectCategory, re.Pattern[str]]] = [
    ("operator_queue_full", re.compile(r"queue|rejected by operator", re.I)),
    ("credentials", re.compile(r"credential|authenticat|password|username|login|api.?id", re.I)),
    (
        "not_permitted_for_sim_type",
        re.compile(r"sim type|not (?:permitted|allowed|available)|open user group|binary", re.I),
    ),
    ("permissions", re.compile(r"permission|forbidden|not authori[sz]ed|access denied", re.I)),
    ("unknown_sim", re.compile(r"unknown|not found|no such|invalid (?:iccid|msisdn)", re.I)),
    ("invalid_parameter", re.compile(r"invalid|missing|parameter|content|too long|format", re.I)),
]


def categorize(reason: str) -> RejectCategory:
    """Best-effort category of a portal failure reason."""
    for category, pattern in _CATEGORY_PATTERNS:
        if pattern.search(reason):
            return category
    return "other"


@dataclass(frozen=True)
class SendOutcome:
    """What happened to one send_sms call. `reason` never contains credentials."""

    status: OutcomeStatus
    reason: str = ""
    category: RejectCategory | None = None
    http_status: int | None = None
    attempts: int = 1
    elapsed_ms: float = 0.0
    sandbox: bool = False
    #: False only when no connection could be made: then nothing was sent and a retry is safe.
    reached_portal: bool = True

    @property
    def summary(self) -> str:
        prefix = "sandbox: nothing was sent; " if self.sandbox else ""
        if self.status == "accepted":
            return prefix + "accepted by the portal"
        if not self.reached_portal:
            return f"{prefix}not sent: {self.reason}. It is safe to try again"
        if self.status == "rejected":
            return f"{prefix}rejected by the portal ({self.category}): {self.reason}"
        return (
            f"{prefix}outcome unknown: {self.reason}. The message may or may not have been sent; "
            "check the SIM's SMS log before sending again"
        )
