"""One place that applies every message rule to a draft send."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Literal

from bot.sms.binary import check_binary
from bot.sms.gsm7 import apply_suggestions, check_text, count_septets
from bot.sms.iccid import check_iccid
from bot.sms.origin import check_origin
from bot.sms.problems import Problem, errors, warnings
from bot.sms.simtypes import check_sim_type
from bot.sms.uid import check_sms_uid

DataCoding = Literal["default", "binary"]
DATA_CODINGS: tuple[DataCoding, ...] = ("default", "binary")


@dataclass(frozen=True)
class SimInfo:
    """What the inventory knows of a SIM (None fields: unknown)."""

    iccid: str
    label: str | None = None
    sim_type: str | None = None
    group_name: str | None = None
    active: bool = True


@dataclass(frozen=True)
class Draft:
    """A send as the user typed it."""

    iccid: str
    message_text: str
    data_coding: str = "default"
    origin: str | None = None
    sms_uid: str | None = None
    #: The user asked to replace unsupported characters with the suggested ones.
    apply_replacements: bool = False


@dataclass(frozen=True)
class CheckedMessage:
    """A draft after the rules: normalised fields plus every problem found."""

    iccid: str
    message_text: str
    data_coding: str
    origin: str | None
    sms_uid: str | None
    problems: list[Problem] = field(default_factory=list)
    septets: int = 0

    @property
    def errors(self) -> list[Problem]:
        return errors(self.problems)

    @property
    def warnings_digest(self) -> str:
        """What a confirmation is bound to: these exact fields and these exact warnings. A
        different ICCID, text, coding, origin or warning needs a new confirmation."""
        form = json.dumps(
            [
                self.iccid,
                self.message_text,
                self.data_coding,
                self.origin,
                [(p.field, p.code, p.message) for p in self.warnings],
            ],
            ensure_ascii=False,
        )
        return hashlib.sha256(form.encode("utf-8", "surrogatepass")).hexdigest()

    @property
    def warnings(self) -> list[Problem]:
        return warnings(self.problems)


def normalize_iccid_only(raw: str) -> str:
    """The ICCID as the rules will see it, for looking the SIM up before full validation."""
    return check_iccid(raw)[0]


def check_draft(draft: Draft, sim: SimInfo | None) -> CheckedMessage:
    """Apply every message rule; `sim` is the inventory entry, None when the SIM is unknown."""
    problems: list[Problem] = []
    iccid, iccid_problems = check_iccid(draft.iccid)
    problems += iccid_problems

    coding = draft.data_coding.strip().lower() or "default"
    text = draft.message_text
    septets = 0
    if coding not in DATA_CODINGS:
        problems.append(
            Problem("data_coding", "unknown", "Data coding is `default` (text) or `binary`.")
        )
    elif coding == "binary":
        problems += check_binary(text)
        septets = len(text)
    else:
        if draft.apply_replacements:
            text, notes = apply_suggestions(text)
            if notes:
                problems.append(
                    Problem(
                        "message_text",
                        "replaced",
                        "Replaced " + ", ".join(notes) + ": check the text reads as intended.",
                        "warning",
                    )
                )
        problems += check_text(text)
        septets = count_septets(text).septets

    origin, origin_problems = check_origin(draft.origin)
    problems += origin_problems
    sms_uid, uid_problems = check_sms_uid(draft.sms_uid)
    problems += uid_problems

    if sim is not None:
        if not sim.active:
            problems.append(
                Problem(
                    "iccid",
                    "inactive",
                    f"SIM {sim.label or iccid} is inactive: only active SIMs receive SMS. "
                    "Activate it in the portal first.",
                )
            )
        problems += check_sim_type(sim.sim_type, coding, origin)

    return CheckedMessage(
        iccid=iccid,
        message_text=text,
        data_coding=coding,
        origin=origin,
        sms_uid=sms_uid,
        problems=problems,
        septets=septets,
    )
