"""Naming a SIM the way people do: by ICCID, MSISDN, label ("pump 7 Harbour Rd"), or an
unambiguous prefix of the label. An ambiguous name gives the choices, never a guess."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from bot.sms.iccid import normalize_iccid
from bot.store.models import Sim

#: How many candidates an ambiguous name lists.
CHOICES = 5


@dataclass(frozen=True)
class SimName:
    """What a name resolved to: one ICCID, or the candidates, or nothing."""

    given: str
    iccid: str | None = None
    choices: list[tuple[str, str]] = field(default_factory=list)  # (iccid, label)

    @property
    def ambiguous(self) -> bool:
        return self.iccid is None and len(self.choices) > 1

    def problem(self) -> str | None:
        """What to tell the user when the name did not name one SIM (None when it did)."""
        if self.iccid is not None:
            return None
        if self.choices:
            shown = "; ".join(f"{label} ({iccid})" for iccid, label in self.choices[:CHOICES])
            more = (
                "" if len(self.choices) <= CHOICES else f"; and {len(self.choices) - CHOICES} more"
            )
            return (
                f"`{self.given}` names {len(self.choices)} SIMs: {shown}{more}. Type more of the "
                "label, or the ICCID."
            )
        return (
            f"No SIM is called `{self.given}`: give an ICCID, an MSISDN or a label from the "
            "inventory (`/sms sims`, `smsbot sims list`)."
        )


def mostly_digits(text: str) -> bool:
    """An ICCID with a typo ("8944…001O") rather than a name: the ICCID rules explain it best."""
    return sum(ch.isdigit() for ch in text) >= 15


def looks_like_iccid(text: str) -> bool:
    digits = normalize_iccid(text)
    return digits.isascii() and digits.isdigit() and 18 <= len(digits) <= 22


def resolve(session: Session, given: str) -> SimName:
    """ICCID-shaped input is an ICCID (in the inventory or not: the rules decide); otherwise an
    MSISDN, an exact label (any case), or the one label it starts."""
    text = " ".join(given.split())
    if not text or looks_like_iccid(text):
        return SimName(given, normalize_iccid(text) if text else None)
    if not text.isprintable() or any(0xD800 <= ord(ch) <= 0xDFFF for ch in text):
        return SimName(given)  # no label holds control characters (and PostgreSQL refuses NUL)
    number = text.replace(" ", "").replace("-", "").removeprefix("+")
    if number.isascii() and number.isdigit():
        found = session.execute(select(Sim.iccid).where(Sim.msisdn == number)).scalars().all()
        if len(found) == 1:
            return SimName(given, found[0])
    lowered = text.casefold()
    label = func.lower(Sim.label)
    labelled = session.execute(
        select(Sim.iccid, Sim.label)
        .where(
            Sim.label.is_not(None),
            or_(label == lowered, label.startswith(lowered, autoescape=True)),
        )
        .order_by(Sim.label, Sim.iccid)
        .limit(50)
    ).all()
    exact = [(i, str(name)) for i, name in labelled if str(name).casefold() == lowered]
    if len(exact) == 1:
        return SimName(given, exact[0][0])
    candidates = exact or [(i, str(name)) for i, name in labelled]
    if len(candidates) == 1:
        return SimName(given, candidates[0][0])
    return SimName(given, None, candidates)


def split_name_and_text(session: Session, text: str) -> tuple[SimName | None, str]:
    """`pump 7 reset modem` → (the SIM called "pump 7", "reset modem"): the longest run of
    leading words that names exactly one SIM. When no run does, the longest one that names
    several (so the user sees the choices); (None, text) when nothing matches."""
    words = text.split()
    ambiguous: tuple[SimName, str] | None = None
    for k in range(min(len(words), 8), 0, -1):
        name = " ".join(words[:k])
        found = resolve(session, name)
        rest = " ".join(words[k:])
        if found.iccid is not None:
            return found, rest
        if found.ambiguous and ambiguous is None:
            ambiguous = (found, rest)
    if ambiguous is not None:
        return ambiguous
    return None, text


def starts_a_name(session: Session, word: str) -> bool:
    """Could a command starting with `word` be naming a SIM (a label or an MSISDN)?"""
    found = resolve(session, word)
    return found.iccid is not None or bool(found.choices)
